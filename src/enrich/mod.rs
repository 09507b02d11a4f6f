//! Enrichment: tenants, zones, tenant policy.
