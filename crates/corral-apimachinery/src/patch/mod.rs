//! Strategic merge patch (`application/strategic-merge-patch+json`), pure
//! logic: [`meta`] describes which lists of a kind merge and on which key
//! (upstream's `patchStrategy` / `patchMergeKey` struct tags), [`strategic`]
//! applies a patch to an object the way kube-apiserver does.
//!
//! ```
//! use corral_apimachinery::patch::{meta::schema_for, strategic::strategic_merge};
//! use serde_json::json;
//!
//! let schema = schema_for("", "Pod").expect("described");
//! let pod = json!({"spec": {"containers": [{"name": "a", "image": "nginx"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}]}});
//! let patched = strategic_merge(&pod, &patch, schema).expect("valid patch");
//! assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:1.27");
//! ```

mod error;
mod kinds;
pub mod meta;
pub mod strategic;

pub use error::PatchError;
