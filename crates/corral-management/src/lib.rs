//! The management plane of Corral, built on the Kubernetes-compatible API of
//! `corral-apiserver` (management objects are custom resources in the
//! `management.corral.dev` group).
//!
//! Start with [`identity`]: who a person is (a [`identity::Identity`]: one
//! user principal plus group principals), as established by an auth
//! provider, is what Corral's tokens carry and what RBAC is granted to.
//! [`proxy`] is the authenticating proxy to downstream clusters.

pub mod client;
pub mod clusters;
pub mod crds;
pub mod identity;
pub mod proxy;
pub mod view;
