//! Enrichment: tags events with the tenants and zones their addresses belong to, the policy
//! verdict for traffic between tenants, and the tenant named by the VNI on the wire.
//!
//! The pipeline calls [`Tenants::enrich`] on every event between decoding and detection.

mod locate;
mod prefix;
pub mod tenants;

pub use tenants::{Policy, Tenants, TenantsError, Zone};
