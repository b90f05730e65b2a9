//! ClusterIP and NodePort allocation for Services.
//!
//! Each allocated address or port is one key in the store, created with
//! create-if-absent (`/registry/corral/serviceips/<ip>`,
//! `/registry/corral/servicenodeports/<port>`), the way upstream's
//! `IPAddress` objects (MultiCIDRServiceAllocator) work: two replicas
//! racing for the same address cannot both win, and nothing lives only in
//! memory, so restarts and HA need no extra coordination. The ranges
//! ([`range`]) are pure arithmetic.
//!
//! Wiring (the write path owns the request flow; `allocate_on_create`,
//! `allocate_on_update` and `release_on_delete` are the hooks, and do
//! nothing for other resources):
//! - create: after defaulting and validation, before the store write (not
//!   on dry run), `allocate_on_create`; if the store write then fails,
//!   [`ServiceAllocator::release`] what it returned.
//! - update: `allocate_on_update` before the compare-and-swap (new node
//!   ports when a Service becomes NodePort, ...); after the write succeeded
//!   [`ServiceAllocator::release`] the `freed` list, on failure or retry
//!   the `allocated` one.
//! - delete: when the Service is gone from the store, `release_on_delete`.
//! - [`ServiceAllocator::run_repair`] on every replica frees keys no Service
//!   owns (leaks after a crash between allocation and write).

mod hooks;
pub mod range;

pub(crate) use hooks::{allocate_on_create, allocate_on_update, release_on_delete};

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use corral_apimachinery::types::{needs_cluster_ip, needs_node_ports};
use corral_apimachinery::validation::FieldError;
use corral_store::{RangeRequest, Store, StoreError};
use serde_json::{Value, json};

pub use range::{CidrRange, PortRange, probe_order};

/// kube-apiserver's default `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// kube-apiserver's default `--service-node-port-range`.
pub const DEFAULT_NODE_PORT_RANGE: &str = "30000-32767";

const IP_PREFIX: &str = "/registry/corral/serviceips/";
const PORT_PREFIX: &str = "/registry/corral/servicenodeports/";

/// How many random probes before falling back to a scan of the range.
const RANDOM_PROBES: usize = 64;

/// One allocation: its store key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Allocated {
    Ip(IpAddr),
    Port(u16),
}

impl Allocated {
    fn key(&self) -> String {
        match self {
            Allocated::Ip(ip) => format!("{IP_PREFIX}{ip}"),
            Allocated::Port(p) => format!("{PORT_PREFIX}{p}"),
        }
    }
}

/// Why an allocation failed.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    #[error(
        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}"
    )]
    IpNotInRange { ip: IpAddr, range: String },
    #[error("failed to allocate IP {0}: provided IP is already allocated")]
    IpAllocated(IpAddr),
    #[error("provided port is not in the valid range. The range of valid ports is {range}")]
    PortNotInRange { port: u16, range: String },
    #[error("provided port is already allocated")]
    PortAllocated(u16),
    #[error("failed to allocate a serviceIP: range is full")]
    IpRangeFull,
    #[error("failed to allocate a nodePort: range is full")]
    PortRangeFull,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl AllocError {
    /// The field error upstream reports for a client-requested value
    /// (`path` is e.g. `spec.clusterIPs[0]` or `spec.ports[1].nodePort`);
    /// `None` for server-side failures (full range, store).
    pub fn field_error(&self, path: &str) -> Option<FieldError> {
        match self {
            AllocError::IpNotInRange { ip, .. } | AllocError::IpAllocated(ip) => {
                Some(FieldError::invalid(path, ip.to_string(), self.to_string()))
            }
            AllocError::PortNotInRange { port, .. } | AllocError::PortAllocated(port) => Some(
                FieldError::invalid(path, i64::from(*port), self.to_string()),
            ),
            _ => None,
        }
    }
}

/// Allocation failed on one field of a Service.
#[derive(Debug)]
pub struct ServiceAllocError {
    /// `spec.clusterIPs[0]`, `spec.ports[i].nodePort`.
    pub path: String,
    pub error: AllocError,
}

impl ServiceAllocError {
    /// The 422 field error, or `None` for a 500-class failure.
    pub fn field_error(&self) -> Option<FieldError> {
        self.error.field_error(&self.path)
    }

    /// The API error for a request on `target`: 422 Invalid for a value
    /// the client chose, 500 otherwise (upstream: "failed to allocate a
    /// serviceIP: range is full" is an internal error).
    pub fn into_api_error(self, target: crate::error::Target) -> crate::error::ApiError {
        match self.field_error() {
            Some(fe) => crate::error::ApiError::Invalid {
                target,
                kind: "Service".into(),
                errors: vec![fe],
            },
            None => crate::error::ApiError::Internal(self.error.to_string()),
        }
    }
}

/// What an update changed: new allocations (release on a failed write)
/// and the ones the Service no longer holds (release after the write).
#[derive(Debug, Default)]
pub struct UpdateAllocations {
    pub allocated: Vec<Allocated>,
    pub freed: Vec<Allocated>,
}

/// Cluster IPs from one service CIDR and node ports from one range.
pub struct ServiceAllocator {
    store: Arc<dyn Store>,
    ips: CidrRange,
    ports: PortRange,
}

fn owner_of(svc: &Value) -> String {
    let m = svc.get("metadata");
    let s = |k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    format!("{}/{}", s("namespace"), s("name"))
}

fn record(owner: &str) -> Bytes {
    Bytes::from(json!({ "service": owner }).to_string())
}

/// The cluster IPs a Service holds (not "None").
fn held_ips(svc: &Value) -> Vec<IpAddr> {
    if !needs_cluster_ip(svc) {
        return Vec::new();
    }
    let mut out: Vec<IpAddr> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|s| s.parse().ok())
        .collect();
    if out.is_empty()
        && let Some(ip) = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    {
        out.push(ip);
    }
    out
}

/// The node ports a Service holds.
/// The nodePort entry `i` of a Service's ports asks for (0 asks for none).
fn requested_node_port(svc: &Value, i: usize) -> Option<u64> {
    svc.pointer(&format!("/spec/ports/{i}/nodePort"))
        .and_then(Value::as_u64)
        .filter(|n| *n != 0)
}

fn held_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .filter_map(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0)
        .collect();
    if let Some(n) = svc
        .pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0)
    {
        out.push(n);
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl ServiceAllocator {
    pub fn new(store: Arc<dyn Store>, ips: CidrRange, ports: PortRange) -> ServiceAllocator {
        ServiceAllocator { store, ips, ports }
    }

    /// The defaults of kube-apiserver (10.96.0.0/12, 30000-32767).
    pub fn with_defaults(store: Arc<dyn Store>) -> ServiceAllocator {
        let ips = CidrRange::parse(DEFAULT_SERVICE_CIDR).expect("default service CIDR parses");
        let ports = PortRange::parse(DEFAULT_NODE_PORT_RANGE).expect("default port range parses");
        ServiceAllocator::new(store, ips, ports)
    }

    pub fn service_cidr(&self) -> CidrRange {
        self.ips
    }

    pub fn node_port_range(&self) -> PortRange {
        self.ports
    }

    async fn claim(&self, a: &Allocated, owner: &str) -> Result<bool, StoreError> {
        match self.store.create(&a.key(), record(owner)).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Allocates `requested` (if in range and free) or a free address.
    pub async fn allocate_ip(
        &self,
        requested: Option<IpAddr>,
        owner: &str,
    ) -> Result<IpAddr, AllocError> {
        if let Some(ip) = requested {
            if !self.ips.contains(ip) {
                return Err(AllocError::IpNotInRange {
                    ip,
                    range: self.ips.to_string(),
                });
            }
            return match self.claim(&Allocated::Ip(ip), owner).await? {
                true => Ok(ip),
                false => Err(AllocError::IpAllocated(ip)),
            };
        }
        let size = self.ips.size();
        let seed: u128 = rand::random();
        let band = self.ips.static_band();
        for (i, offset) in probe_order(size, band, seed).enumerate() {
            // Random probes first (cheap while the range is sparse), then
            // everything in order so a nearly full range still finds a gap.
            let offset = if i < RANDOM_PROBES && size > band {
                band + rand::random_range(0..size - band)
            } else {
                offset
            };
            let Some(ip) = self.ips.nth(offset) else {
                continue;
            };
            if self.claim(&Allocated::Ip(ip), owner).await? {
                return Ok(ip);
            }
        }
        Err(AllocError::IpRangeFull)
    }

    /// Allocates `requested` (if in range and free) or a free node port.
    pub async fn allocate_port(
        &self,
        requested: Option<u16>,
        owner: &str,
    ) -> Result<u16, AllocError> {
        if let Some(port) = requested {
            if !self.ports.contains(port) {
                return Err(AllocError::PortNotInRange {
                    port,
                    range: self.ports.to_string(),
                });
            }
            return match self.claim(&Allocated::Port(port), owner).await? {
                true => Ok(port),
                false => Err(AllocError::PortAllocated(port)),
            };
        }
        let size = u128::from(self.ports.size);
        let band = u128::from(self.ports.static_band());
        for offset in probe_order(size, band, rand::random()) {
            let Some(port) = self.ports.nth(offset as u32) else {
                continue;
            };
            if self.claim(&Allocated::Port(port), owner).await? {
                return Ok(port);
            }
        }
        Err(AllocError::PortRangeFull)
    }

    /// Frees allocations (already free is fine).
    pub async fn release(&self, items: &[Allocated]) -> Result<(), StoreError> {
        for a in items {
            match self.store.delete(&a.key(), None).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fills in a Service being created: `clusterIP`/`clusterIPs` (unless
    /// ExternalName or headless) and the `nodePort` of each port of a
    /// NodePort/LoadBalancer Service, honouring values the client chose.
    /// On failure nothing stays allocated.
    pub async fn allocate_service(
        &self,
        svc: &mut Value,
    ) -> Result<Vec<Allocated>, ServiceAllocError> {
        let mut taken = Vec::new();
        match self.fill_service(svc, None, &mut taken).await {
            Ok(()) => Ok(taken),
            Err(e) => {
                let _ = self.release(&taken).await;
                Err(e)
            }
        }
    }

    async fn fill_service(
        &self,
        svc: &mut Value,
        old: Option<&Value>,
        taken: &mut Vec<Allocated>,
    ) -> Result<(), ServiceAllocError> {
        let owner = owner_of(svc);
        let old_ips = old.map(held_ips).unwrap_or_default();
        let old_ports = old.map(held_ports).unwrap_or_default();
        if needs_cluster_ip(svc) {
            let current = svc
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if current != "None" {
                let requested = match current.as_str() {
                    "" => None,
                    s => Some(s.parse::<IpAddr>().map_err(|_| ServiceAllocError {
                        path: "spec.clusterIPs[0]".into(),
                        error: AllocError::IpNotInRange {
                            ip: IpAddr::from([0, 0, 0, 0]),
                            range: self.ips.to_string(),
                        },
                    })?),
                };
                let ip = match requested {
                    Some(ip) if old_ips.contains(&ip) => ip,
                    _ => {
                        let ip = self.allocate_ip(requested, &owner).await.map_err(|error| {
                            ServiceAllocError {
                                path: "spec.clusterIPs[0]".into(),
                                error,
                            }
                        })?;
                        taken.push(Allocated::Ip(ip));
                        ip
                    }
                };
                if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("clusterIP".into(), json!(ip.to_string()));
                    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                    spec.insert("ipFamilies".into(), json!([self.ips.family()]));
                    spec.entry("ipFamilyPolicy")
                        .or_insert_with(|| json!("SingleStack"));
                }
            }
        }
        if needs_node_ports(svc) {
            let mut in_use: HashSet<u16> = HashSet::new();
            let count = svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            // Requested ports first: a port picked at random for an earlier
            // entry must not take the one a later entry asks for.
            let (requested_first, dynamic): (Vec<usize>, Vec<usize>) =
                (0..count).partition(|&i| requested_node_port(svc, i).is_some());
            for i in requested_first.into_iter().chain(dynamic) {
                let path = format!("spec.ports[{i}].nodePort");
                let requested = match requested_node_port(svc, i) {
                    None => None,
                    Some(n) => Some(u16::try_from(n).map_err(|_| ServiceAllocError {
                        path: path.clone(),
                        error: AllocError::PortNotInRange {
                            port: 0,
                            range: self.ports.to_string(),
                        },
                    })?),
                };
                let port = match requested {
                    // Kept from the old object, or shared by two ports of
                    // this Service (same port, TCP and UDP).
                    Some(p) if old_ports.contains(&p) || in_use.contains(&p) => p,
                    _ => {
                        let p = self
                            .allocate_port(requested, &owner)
                            .await
                            .map_err(|error| ServiceAllocError { path, error })?;
                        taken.push(Allocated::Port(p));
                        p
                    }
                };
                in_use.insert(port);
                if let Some(p) = svc
                    .pointer_mut(&format!("/spec/ports/{i}"))
                    .and_then(Value::as_object_mut)
                {
                    p.insert("nodePort".into(), json!(port));
                }
            }
        }
        Ok(())
    }

    /// An update: allocates what the new Service needs and the old did not
    /// hold; reports what the old held and the new no longer does.
    pub async fn update_service(
        &self,
        old: &Value,
        new: &mut Value,
    ) -> Result<UpdateAllocations, ServiceAllocError> {
        let mut taken = Vec::new();
        if let Err(e) = self.fill_service(new, Some(old), &mut taken).await {
            let _ = self.release(&taken).await;
            return Err(e);
        }
        let new_ips = held_ips(new);
        let new_ports = held_ports(new);
        let mut freed: Vec<Allocated> = held_ips(old)
            .into_iter()
            .filter(|ip| !new_ips.contains(ip))
            .map(Allocated::Ip)
            .collect();
        freed.extend(
            held_ports(old)
                .into_iter()
                .filter(|p| !new_ports.contains(p))
                .map(Allocated::Port),
        );
        Ok(UpdateAllocations {
            allocated: taken,
            freed,
        })
    }

    /// Frees everything a deleted Service held.
    pub async fn release_service(&self, svc: &Value) -> Result<(), StoreError> {
        let mut items: Vec<Allocated> = held_ips(svc)
            .into_iter()
            .filter(|ip| self.ips.contains(*ip))
            .map(Allocated::Ip)
            .collect();
        items.extend(held_ports(svc).into_iter().map(Allocated::Port));
        self.release(&items).await
    }

    /// One repair pass: allocation keys no stored Service holds are
    /// suspects; those that were already suspects in `previous` (the last
    /// pass's result) are freed, so an allocation whose Service write is in
    /// flight survives. Returns this pass's suspects.
    pub async fn repair(&self, previous: &HashSet<String>) -> Result<HashSet<String>, StoreError> {
        let mut held: HashSet<String> = HashSet::new();
        let services = list_all(&*self.store, "/registry/core/services/").await?;
        for kv in services {
            let Ok(svc) = serde_json::from_slice::<Value>(&kv) else {
                continue;
            };
            held.extend(held_ips(&svc).into_iter().map(|ip| Allocated::Ip(ip).key()));
            held.extend(
                held_ports(&svc)
                    .into_iter()
                    .map(|p| Allocated::Port(p).key()),
            );
        }
        let mut suspects = HashSet::new();
        for prefix in [IP_PREFIX, PORT_PREFIX] {
            let keys = self
                .store
                .range(RangeRequest {
                    prefix: prefix.to_string(),
                    ..Default::default()
                })
                .await?;
            for kv in keys.kvs {
                if held.contains(&kv.key) {
                    continue;
                }
                if previous.contains(&kv.key) {
                    match self.store.delete(&kv.key, Some(kv.mod_revision)).await {
                        Ok(_)
                        | Err(StoreError::NotFound { .. })
                        | Err(StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    suspects.insert(kv.key);
                }
            }
        }
        Ok(suspects)
    }
}

impl ServiceAllocator {
    /// Runs [`repair`](ServiceAllocator::repair) every `every` until
    /// `shutdown` turns true (start it with the server, on every replica:
    /// passes are idempotent).
    pub async fn run_repair(
        self: Arc<Self>,
        every: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut suspects = HashSet::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            match self.repair(&suspects).await {
                Ok(next) => suspects = next,
                Err(e) => tracing::warn!(error = %e, "service allocation repair failed"),
            }
        }
    }
}

async fn list_all(store: &dyn Store, prefix: &str) -> Result<Vec<Bytes>, StoreError> {
    let mut out = Vec::new();
    let mut start_after = None;
    loop {
        let resp = store
            .range(RangeRequest {
                prefix: prefix.to_string(),
                start_after: start_after.clone(),
                revision: None,
                limit: Some(500),
            })
            .await?;
        start_after = resp.kvs.last().map(|kv| kv.key.clone());
        out.extend(resp.kvs.into_iter().map(|kv| kv.value));
        if !resp.more {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_store::sqlite::{SqliteOptions, SqliteStore};

    fn allocator(cidr: &str, ports: &str) -> (tempfile::TempDir, ServiceAllocator) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            SqliteStore::open(&dir.path().join("db"), SqliteOptions::default()).expect("store");
        let a = ServiceAllocator::new(
            store,
            CidrRange::parse(cidr).expect("cidr"),
            PortRange::parse(ports).expect("ports"),
        );
        (dir, a)
    }

    fn svc(name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": "default", "name": name}, "spec": spec})
    }

    #[tokio::test]
    async fn cluster_ips_are_unique_until_the_range_is_full() {
        let (_d, a) = allocator("10.0.0.0/29", "30000-30001");
        let mut seen = HashSet::new();
        for i in 0..6 {
            let ip = a
                .allocate_ip(None, &format!("default/s{i}"))
                .await
                .expect("ip");
            assert!(a.service_cidr().contains(ip));
            assert!(seen.insert(ip), "{ip} twice");
        }
        assert!(matches!(
            a.allocate_ip(None, "default/full").await,
            Err(AllocError::IpRangeFull)
        ));
        let one = *seen.iter().next().expect("one");
        a.release(&[Allocated::Ip(one)]).await.expect("release");
        assert_eq!(a.allocate_ip(None, "default/again").await.expect("ip"), one);
    }

    #[tokio::test]
    async fn requested_values_are_checked() {
        let (_d, a) = allocator("10.96.0.0/12", "30000-32767");
        let ip: IpAddr = "10.96.0.10".parse().expect("ip");
        assert_eq!(
            a.allocate_ip(Some(ip), "default/dns").await.expect("ok"),
            ip
        );
        let e = a
            .allocate_ip(Some(ip), "default/other")
            .await
            .expect_err("taken");
        assert_eq!(
            e.field_error("spec.clusterIPs[0]")
                .expect("field")
                .to_string(),
            "spec.clusterIPs[0]: Invalid value: \"10.96.0.10\": failed to allocate IP 10.96.0.10: provided IP is already allocated"
        );
        let e = a
            .allocate_ip(Some("192.168.0.1".parse().expect("ip")), "default/x")
            .await
            .expect_err("outside");
        assert_eq!(
            e.to_string(),
            "failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
        assert_eq!(
            a.allocate_port(Some(30080), "default/np")
                .await
                .expect("ok"),
            30080
        );
        let e = a
            .allocate_port(Some(30080), "default/np2")
            .await
            .expect_err("taken");
        assert_eq!(
            e.field_error("spec.ports[0].nodePort")
                .expect("field")
                .to_string(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        let e = a
            .allocate_port(Some(80), "default/np3")
            .await
            .expect_err("range");
        assert_eq!(
            e.to_string(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
    }

    #[tokio::test]
    async fn a_random_node_port_never_takes_one_a_later_port_asks_for() {
        // Two ports in the range: a random pick for the first entry would
        // take the second entry's port half of the time.
        for _ in 0..20 {
            let (_d, a) = allocator("10.0.0.0/24", "30000-30001");
            let mut s = svc(
                "web",
                json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP", "nodePort": 30000}]}),
            );
            let taken = a.allocate_service(&mut s).await.expect("allocate");
            assert_eq!(taken.len(), 3, "a cluster IP and two node ports");
            assert_eq!(s["spec"]["ports"][0]["nodePort"], 30001);
            assert_eq!(s["spec"]["ports"][1]["nodePort"], 30000);
        }
    }

    #[tokio::test]
    async fn services_get_ips_and_node_ports_and_give_them_back() {
        let (_d, a) = allocator("10.0.0.0/24", "30000-30010");
        let mut s = svc(
            "web",
            json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP", "nodePort": 30005}]}),
        );
        let taken = a.allocate_service(&mut s).await.expect("allocate");
        assert_eq!(taken.len(), 3);
        let ip = s["spec"]["clusterIP"].as_str().expect("ip").to_string();
        assert_eq!(s["spec"]["clusterIPs"], json!([ip]));
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["ports"][1]["nodePort"], 30005);
        assert!(s["spec"]["ports"][0]["nodePort"].as_u64().is_some());
        assert_ne!(s["spec"]["ports"][0]["nodePort"], 30005);

        // Headless and ExternalName services take nothing.
        let mut headless = svc("h", json!({"clusterIP": "None", "ports": []}));
        assert!(
            a.allocate_service(&mut headless)
                .await
                .expect("ok")
                .is_empty()
        );
        assert_eq!(headless["spec"]["clusterIP"], "None");
        let mut ext = svc(
            "e",
            json!({"type": "ExternalName", "externalName": "x.example"}),
        );
        assert!(a.allocate_service(&mut ext).await.expect("ok").is_empty());

        // A conflicting request fails without leaking what was taken first.
        let mut clash = svc(
            "clash",
            json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30005}]}),
        );
        let e = a.allocate_service(&mut clash).await.expect_err("clash");
        assert_eq!(e.path, "spec.ports[0].nodePort");
        assert_eq!(a.store.count(IP_PREFIX).await.expect("count"), 1);

        // Turning it into a ClusterIP service frees the node ports.
        let mut updated = s.clone();
        updated["spec"]["type"] = json!("ClusterIP");
        for p in updated["spec"]["ports"].as_array_mut().expect("ports") {
            p.as_object_mut().expect("obj").remove("nodePort");
        }
        let u = a.update_service(&s, &mut updated).await.expect("update");
        assert!(u.allocated.is_empty());
        assert_eq!(u.freed.len(), 2);
        a.release(&u.freed).await.expect("release");
        assert_eq!(a.store.count(PORT_PREFIX).await.expect("count"), 0);

        a.release_service(&updated).await.expect("release");
        assert_eq!(a.store.count(IP_PREFIX).await.expect("count"), 0);
    }

    #[tokio::test]
    async fn repair_frees_leaks_on_the_second_pass() {
        let (_d, a) = allocator("10.0.0.0/24", "30000-30010");
        let leaked = a.allocate_ip(None, "default/gone").await.expect("ip");
        let first = a.repair(&HashSet::new()).await.expect("repair");
        assert!(first.contains(&Allocated::Ip(leaked).key()));
        assert_eq!(a.store.count(IP_PREFIX).await.expect("count"), 1);
        let second = a.repair(&first).await.expect("repair");
        assert!(second.is_empty());
        assert_eq!(a.store.count(IP_PREFIX).await.expect("count"), 0);
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn allocation_errors_become_invalid_or_internal() {
        let target = crate::error::Target::new("", "services", "s");
        let e = ServiceAllocError {
            path: "spec.ports[0].nodePort".into(),
            error: AllocError::PortAllocated(30080),
        };
        match e.into_api_error(target.clone()) {
            crate::error::ApiError::Invalid { errors, kind, .. } => {
                assert_eq!(kind, "Service");
                assert_eq!(
                    errors[0].to_string(),
                    "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
                );
            }
            other => panic!("{other:?}"),
        }
        let e = ServiceAllocError {
            path: "spec.clusterIPs[0]".into(),
            error: AllocError::IpRangeFull,
        };
        assert!(matches!(
            e.into_api_error(target),
            crate::error::ApiError::Internal(m) if m == "failed to allocate a serviceIP: range is full"
        ));
    }
}
