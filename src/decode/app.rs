//! Application-layer dispatch.
