//! The garbage collector's dependency graph (upstream's `GraphBuilder`):
//! every watched object as a uid-keyed node holding only what deletion needs
//! — its coordinates, owner references, a few flags — and the uids of its
//! dependents. Owners that are referenced but not (yet) observed are
//! "virtual" nodes, verified against the API by the workers.
//!
//! Pure bookkeeping: applying a change returns the work it creates (uids to
//! try to delete, owners to orphan); the workers do all the talking.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub type Uid = Arc<str>;

/// Monitor id of nodes nobody has observed.
pub const NO_MONITOR: u32 = u32::MAX;

pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// An ownerReference, kept whole so that a dependent's list can be written back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: Uid,
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub name: Box<str>,
    pub controller: Option<bool>,
    pub block_owner_deletion: Option<bool>,
}

impl OwnerRef {
    pub fn blocks(&self) -> bool {
        self.block_owner_deletion == Some(true)
    }

    pub fn to_k8s(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            uid: self.uid.to_string(),
            controller: self.controller,
            block_owner_deletion: self.block_owner_deletion,
        }
    }
}

/// Where an object lives: enough to GET, PATCH or DELETE it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    /// The namespace the object is in (for a virtual node: its first dependent's).
    pub namespace: Option<Arc<str>>,
    pub name: Arc<str>,
    pub uid: Uid,
}

/// Deletion state of an object, from its metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub being_deleted: bool,
    pub orphan_finalizer: bool,
    pub foreground_finalizer: bool,
}

impl Flags {
    pub fn from_meta(meta: &ObjectMeta) -> Flags {
        let has = |f: &str| {
            meta.finalizers
                .as_ref()
                .is_some_and(|l| l.iter().any(|x| x == f))
        };
        Flags {
            being_deleted: meta.deletion_timestamp.is_some(),
            orphan_finalizer: has(FINALIZER_ORPHAN),
            foreground_finalizer: has(FINALIZER_FOREGROUND),
        }
    }

    /// Upstream `isDeletingDependents`: deleting in the foreground.
    pub fn deleting_dependents(&self) -> bool {
        self.being_deleted && self.foreground_finalizer
    }

    fn orphaning(&self) -> bool {
        self.being_deleted && self.orphan_finalizer
    }
}

#[derive(Debug)]
struct Node {
    identity: Identity,
    owners: Vec<OwnerRef>,
    dependents: HashSet<Uid>,
    flags: Flags,
    resource_version: Option<u64>,
    /// The monitor that observed it, or [`NO_MONITOR`] for a virtual node.
    monitor: u32,
}

impl Node {
    fn is_virtual(&self) -> bool {
        self.monitor == NO_MONITOR
    }
}

/// An observed object, reduced to what the graph keeps.
#[derive(Clone, Debug)]
pub struct Observed {
    pub identity: Identity,
    pub owners: Vec<OwnerRef>,
    pub flags: Flags,
    pub resource_version: Option<u64>,
}

/// What the workers read about one node.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub identity: Identity,
    pub owners: Vec<OwnerRef>,
    pub flags: Flags,
    pub resource_version: Option<u64>,
    pub is_virtual: bool,
    pub has_dependents: bool,
}

/// Work a change produced.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Work {
    pub attempt_to_delete: Vec<Uid>,
    pub attempt_to_orphan: Vec<Uid>,
}

impl Work {
    fn delete(&mut self, uid: &Uid) {
        self.attempt_to_delete.push(uid.clone());
    }
}

/// Owners verified absent, by uid and the namespace they were looked up in.
/// A uid is never reused, so an entry stays true; the bound only limits memory.
#[derive(Default)]
struct AbsentOwners {
    set: HashSet<(Uid, Option<Arc<str>>)>,
}

const ABSENT_CACHE_LIMIT: usize = 8192;

impl AbsentOwners {
    fn insert(&mut self, uid: Uid, namespace: Option<Arc<str>>) {
        if self.set.len() >= ABSENT_CACHE_LIMIT {
            self.set.clear();
        }
        self.set.insert((uid, namespace));
    }
}

#[derive(Default)]
pub struct Graph {
    nodes: HashMap<Uid, Node>,
    absent: AbsentOwners,
    /// Interned apiVersions, kinds and namespaces, shared by many nodes.
    strings: HashSet<Arc<str>>,
}

impl Graph {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        // Bounded: namespaces come and go, and an unshared copy is only a little waste.
        if self.strings.len() < 65_536 {
            self.strings.insert(a.clone());
        }
        a
    }

    /// The graph's form of an object's metadata. `None` without a uid or name.
    pub fn observed(
        &mut self,
        api_version: &str,
        kind: &str,
        meta: &ObjectMeta,
    ) -> Option<Observed> {
        let uid = self.existing_uid(meta.uid.as_deref().filter(|u| !u.is_empty())?);
        let name: Arc<str> = Arc::from(meta.name.as_deref()?);
        let owners = meta
            .owner_references
            .iter()
            .flatten()
            .map(|r| OwnerRef {
                // Ten thousand dependents of one owner share its uid's allocation.
                uid: self.existing_uid(&r.uid),
                api_version: self.intern(&r.api_version),
                kind: self.intern(&r.kind),
                name: r.name.as_str().into(),
                controller: r.controller,
                block_owner_deletion: r.block_owner_deletion,
            })
            .collect();
        Some(Observed {
            identity: Identity {
                api_version: self.intern(api_version),
                kind: self.intern(kind),
                namespace: meta.namespace.as_deref().map(|n| self.intern(n)),
                name,
                uid,
            },
            owners,
            flags: Flags::from_meta(meta),
            resource_version: meta
                .resource_version
                .as_deref()
                .and_then(|v| v.parse().ok()),
        })
    }

    fn existing_uid(&self, uid: &str) -> Uid {
        match self.nodes.get_key_value(uid) {
            Some((k, _)) => k.clone(),
            None => Arc::from(uid),
        }
    }

    pub fn snapshot(&self, uid: &str) -> Option<Snapshot> {
        let n = self.nodes.get(uid)?;
        Some(Snapshot {
            identity: n.identity.clone(),
            owners: n.owners.clone(),
            flags: n.flags,
            resource_version: n.resource_version,
            is_virtual: n.is_virtual(),
            has_dependents: !n.dependents.is_empty(),
        })
    }

    pub fn is_absent(&self, uid: &Uid, namespace: &Option<Arc<str>>) -> bool {
        self.absent.set.contains(&(uid.clone(), namespace.clone()))
    }

    pub fn mark_absent(&mut self, uid: Uid, namespace: Option<Arc<str>>) {
        self.absent.insert(uid, namespace);
    }

    /// Upstream `blockingDependents`: dependents whose reference to `uid`
    /// has `blockOwnerDeletion`, each with whether it deletes in the foreground itself.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<(Uid, bool)> {
        let Some(n) = self.nodes.get(uid) else {
            return Vec::new();
        };
        n.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| d.owners.iter().any(|o| &*o.uid == uid && o.blocks()))
            .map(|d| (d.identity.uid.clone(), d.flags.deleting_dependents()))
            .collect()
    }

    pub fn dependents(&self, uid: &str) -> Vec<Identity> {
        self.nodes
            .get(uid)
            .map(|n| {
                n.dependents
                    .iter()
                    .filter_map(|d| self.nodes.get(d))
                    .map(|d| d.identity.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An object was added or changed (upstream's add/update events).
    pub fn upsert(&mut self, monitor: u32, o: Observed) -> Work {
        let mut work = Work::default();
        let uid = o.identity.uid.clone();
        let Some(node) = self.nodes.get_mut(&uid) else {
            let node = Node {
                identity: o.identity,
                owners: Vec::new(),
                dependents: HashSet::new(),
                flags: o.flags,
                resource_version: o.resource_version,
                monitor,
            };
            self.nodes.insert(uid.clone(), node);
            self.add_dependent_to_owners(&uid, &o.owners, &mut work);
            if let Some(n) = self.nodes.get_mut(&uid) {
                n.owners = o.owners;
            }
            self.transitions(&uid, None, o.flags, &mut work);
            return work;
        };
        let was_virtual = node.is_virtual();
        let old_flags = (!was_virtual).then_some(node.flags);
        if was_virtual && node.identity != o.identity {
            // Dependents named this owner by other coordinates: let them check theirs.
            work.attempt_to_delete
                .extend(node.dependents.iter().cloned());
        }
        node.identity = o.identity;
        node.monitor = monitor;
        node.resource_version = o.resource_version;
        // Being deleted is a one-way trip (upstream `markBeingDeleted`).
        let being_deleted = node.flags.being_deleted && !was_virtual;
        node.flags = o.flags;
        node.flags.being_deleted |= being_deleted;
        let old_owners = std::mem::take(&mut node.owners);
        let added: Vec<OwnerRef> = o
            .owners
            .iter()
            .filter(|r| !old_owners.iter().any(|x| x.uid == r.uid))
            .cloned()
            .collect();
        let mut unblocked: Vec<Uid> = Vec::new();
        for old in &old_owners {
            match o.owners.iter().find(|r| r.uid == old.uid) {
                // Removed: no longer a dependent of that owner.
                None => {
                    if let Some(owner) = self.nodes.get_mut(&old.uid) {
                        owner.dependents.remove(&uid);
                    }
                    if old.blocks() {
                        unblocked.push(old.uid.clone());
                    }
                }
                // No longer blocking its owner's foreground deletion.
                Some(new) if old.blocks() && !new.blocks() => unblocked.push(old.uid.clone()),
                Some(_) => {}
            }
        }
        for owner in unblocked {
            if self
                .nodes
                .get(&owner)
                .is_some_and(|n| n.flags.deleting_dependents())
            {
                work.delete(&owner);
            }
        }
        self.add_dependent_to_owners(&uid, &added, &mut work);
        if let Some(n) = self.nodes.get_mut(&uid) {
            n.owners = o.owners;
        }
        self.transitions(&uid, old_flags, o.flags, &mut work);
        work
    }

    /// Upstream `addDependentToOwners`: unknown owners become virtual nodes to verify.
    fn add_dependent_to_owners(&mut self, uid: &Uid, owners: &[OwnerRef], work: &mut Work) {
        let Some(namespace) = self.nodes.get(uid).map(|n| n.identity.namespace.clone()) else {
            return;
        };
        let mut suspicious = false;
        for r in owners {
            match self.nodes.get_mut(&r.uid) {
                Some(owner) => {
                    owner.dependents.insert(uid.clone());
                    let coordinates_differ = *owner.identity.kind != *r.kind
                        || *owner.identity.name != *r.name
                        || (owner.identity.namespace.is_some()
                            && owner.identity.namespace != namespace);
                    suspicious |= coordinates_differ;
                }
                None => {
                    let mut dependents = HashSet::new();
                    dependents.insert(uid.clone());
                    self.nodes.insert(
                        r.uid.clone(),
                        Node {
                            identity: Identity {
                                api_version: r.api_version.clone(),
                                kind: r.kind.clone(),
                                namespace: namespace.clone(),
                                name: Arc::from(&*r.name),
                                uid: r.uid.clone(),
                            },
                            owners: Vec::new(),
                            dependents,
                            flags: Flags::default(),
                            resource_version: None,
                            monitor: NO_MONITOR,
                        },
                    );
                    work.delete(&r.uid);
                }
            }
        }
        if suspicious {
            // The owner exists under other coordinates: the dependent's reference may dangle.
            work.delete(uid);
        }
    }

    /// Upstream `processTransitions`: deletion starting with a GC finalizer.
    fn transitions(&mut self, uid: &Uid, old: Option<Flags>, new: Flags, work: &mut Work) {
        if new.orphaning() && !old.is_some_and(|o| o.orphaning()) {
            work.attempt_to_orphan.push(uid.clone());
            return;
        }
        if new.deleting_dependents() && !old.is_some_and(|o| o.deleting_dependents()) {
            if let Some(n) = self.nodes.get(uid) {
                work.attempt_to_delete.extend(n.dependents.iter().cloned());
            }
            work.delete(uid);
        }
    }

    /// An object is gone (observed, or found absent through the API for a
    /// virtual node). Its dependents are checked; owners waiting for it in
    /// the foreground are looked at again.
    pub fn remove(&mut self, uid: &str) -> Work {
        let mut work = Work::default();
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        if !node.dependents.is_empty() {
            self.absent
                .insert(node.identity.uid.clone(), node.identity.namespace.clone());
        }
        work.attempt_to_delete
            .extend(node.dependents.iter().cloned());
        for r in &node.owners {
            let Some(owner) = self.nodes.get_mut(&r.uid) else {
                continue;
            };
            owner.dependents.remove(uid);
            if owner.flags.deleting_dependents() {
                work.delete(&r.uid);
            } else if owner.is_virtual() && owner.dependents.is_empty() {
                // It existed in the graph only for this dependent.
                self.nodes.remove(&r.uid);
            }
        }
        work
    }

    /// A worker verified that `uid` does not exist at the coordinates it was
    /// looked up with (upstream's virtual delete event).
    pub fn absent_verified(&mut self, uid: &Uid, namespace: Option<Arc<str>>) -> Work {
        self.absent.insert(uid.clone(), namespace);
        match self.nodes.get(uid) {
            Some(n) if n.is_virtual() => self.remove(uid),
            // Observed elsewhere: only the dependents that named these coordinates dangle,
            // and each of them checks its own.
            Some(n) => Work {
                attempt_to_delete: n.dependents.iter().cloned().collect(),
                attempt_to_orphan: Vec::new(),
            },
            None => Work::default(),
        }
    }

    /// Uids a monitor had observed that are not in `seen` (after a re-list):
    /// they were deleted while the watch was away.
    pub fn missing_after_relist(&self, monitor: u32, seen: &HashSet<Uid>) -> Vec<Uid> {
        self.nodes
            .values()
            .filter(|n| n.monitor == monitor && !seen.contains(&n.identity.uid))
            .map(|n| n.identity.uid.clone())
            .collect()
    }

    /// A monitor stopped (its resource is no longer served): its nodes that
    /// others depend on become virtual so that the API is asked about them;
    /// the rest leave the graph.
    pub fn forget_monitor(&mut self, monitor: u32) -> Work {
        let mut work = Work::default();
        let uids: Vec<Uid> = self
            .nodes
            .values()
            .filter(|n| n.monitor == monitor)
            .map(|n| n.identity.uid.clone())
            .collect();
        for uid in uids {
            let keep = self
                .nodes
                .get(&uid)
                .is_some_and(|n| !n.dependents.is_empty());
            if keep {
                if let Some(n) = self.nodes.get_mut(&uid) {
                    n.monitor = NO_MONITOR;
                }
                work.delete(&uid);
            } else {
                let w = self.remove(&uid);
                work.attempt_to_delete.extend(w.attempt_to_delete);
            }
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(uid: &str, name: &str, owners: &[(&str, &str, bool)]) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            name: Some(name.into()),
            namespace: Some("ns".into()),
            resource_version: Some("7".into()),
            owner_references: Some(
                owners
                    .iter()
                    .map(|(uid, name, block)| OwnerReference {
                        api_version: "v1".into(),
                        kind: "ConfigMap".into(),
                        name: (*name).into(),
                        uid: (*uid).into(),
                        block_owner_deletion: Some(*block),
                        controller: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn add(g: &mut Graph, m: ObjectMeta) -> Work {
        let o = g.observed("v1", "ConfigMap", &m).expect("observed");
        g.upsert(0, o)
    }

    fn uids(w: &[Uid]) -> Vec<String> {
        let mut v: Vec<String> = w.iter().map(|u| u.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn unknown_owners_become_virtual_and_are_verified() {
        let mut g = Graph::default();
        let w = add(&mut g, meta("d1", "dep", &[("o1", "owner", false)]));
        assert_eq!(uids(&w.attempt_to_delete), ["o1"]);
        assert!(
            g.snapshot("o1")
                .is_some_and(|s| s.is_virtual && s.has_dependents)
        );
        // The owner shows up: no longer virtual, nothing to do.
        let w = add(&mut g, meta("o1", "owner", &[]));
        assert_eq!(w, Work::default());
        assert!(g.snapshot("o1").is_some_and(|s| !s.is_virtual));
    }

    #[test]
    fn an_owner_deleted_enqueues_its_dependents_and_is_remembered_absent() {
        let mut g = Graph::default();
        add(&mut g, meta("o1", "owner", &[]));
        add(&mut g, meta("d1", "a", &[("o1", "owner", false)]));
        add(&mut g, meta("d2", "b", &[("o1", "owner", true)]));
        let w = g.remove("o1");
        assert_eq!(uids(&w.attempt_to_delete), ["d1", "d2"]);
        assert!(g.is_absent(&Arc::from("o1"), &Some(Arc::from("ns"))));
        assert!(!g.is_absent(&Arc::from("o1"), &None));
    }

    #[test]
    fn foreground_deletion_waits_for_blocking_dependents() {
        let mut g = Graph::default();
        add(&mut g, meta("o1", "owner", &[]));
        add(&mut g, meta("d1", "a", &[("o1", "owner", true)]));
        add(&mut g, meta("d2", "b", &[("o1", "owner", false)]));
        let mut m = meta("o1", "owner", &[]);
        m.deletion_timestamp = Some(Time(Timestamp::now()));
        m.finalizers = Some(vec![FINALIZER_FOREGROUND.into()]);
        let w = add(&mut g, m.clone());
        assert_eq!(uids(&w.attempt_to_delete), ["d1", "d2", "o1"]);
        // The same state again is not a transition.
        assert_eq!(add(&mut g, m), Work::default());
        let blocking: Vec<String> = g
            .blocking_dependents("o1")
            .iter()
            .map(|(u, _)| u.to_string())
            .collect();
        assert_eq!(blocking, ["d1"]);
        // The blocking dependent goes: the owner is looked at again.
        let w = g.remove("d1");
        assert_eq!(uids(&w.attempt_to_delete), ["o1"]);
        assert!(g.blocking_dependents("o1").is_empty());
    }

    #[test]
    fn orphaning_starts_once() {
        let mut g = Graph::default();
        add(&mut g, meta("o1", "owner", &[]));
        add(&mut g, meta("d1", "a", &[("o1", "owner", false)]));
        let mut m = meta("o1", "owner", &[]);
        m.deletion_timestamp = Some(Time(Timestamp::now()));
        m.finalizers = Some(vec![FINALIZER_ORPHAN.into()]);
        let w = add(&mut g, m.clone());
        assert_eq!(uids(&w.attempt_to_orphan), ["o1"]);
        assert_eq!(add(&mut g, m), Work::default());
        assert_eq!(g.dependents("o1").len(), 1);
        // The dependent drops its reference: the owner no longer lists it.
        add(&mut g, meta("d1", "a", &[]));
        assert!(g.dependents("o1").is_empty());
    }

    #[test]
    fn unblocking_a_reference_wakes_a_foreground_owner() {
        let mut g = Graph::default();
        let mut m = meta("o1", "owner", &[]);
        m.deletion_timestamp = Some(Time(Timestamp::now()));
        m.finalizers = Some(vec![FINALIZER_FOREGROUND.into()]);
        add(&mut g, m);
        add(&mut g, meta("d1", "a", &[("o1", "owner", true)]));
        let w = add(&mut g, meta("d1", "a", &[("o1", "owner", false)]));
        assert_eq!(uids(&w.attempt_to_delete), ["o1"]);
    }

    #[test]
    fn verified_absent_virtual_owner_releases_its_dependents() {
        let mut g = Graph::default();
        add(&mut g, meta("d1", "a", &[("ghost", "owner", false)]));
        let w = g.absent_verified(&Arc::from("ghost"), Some(Arc::from("ns")));
        assert_eq!(uids(&w.attempt_to_delete), ["d1"]);
        assert!(g.snapshot("ghost").is_none());
        // Removing the dependent leaves nothing behind.
        g.remove("d1");
        assert!(g.is_empty());
    }

    #[test]
    fn relist_finds_what_was_deleted_meanwhile() {
        let mut g = Graph::default();
        add(&mut g, meta("a", "a", &[]));
        add(&mut g, meta("b", "b", &[]));
        let seen: HashSet<Uid> = [Arc::from("a")].into_iter().collect();
        assert_eq!(uids(&g.missing_after_relist(0, &seen)), ["b"]);
        assert!(g.missing_after_relist(1, &seen).is_empty());
    }
}
