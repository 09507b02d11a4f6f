//! vigil: streaming situational awareness for multi-tenant clouds.
//!
//! Packets, flow records and logs come in through `source`, become typed `event`s, are tagged
//! with tenants and zones by `enrich`, matched by `rules`, and leave through the outputs.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod drill;
pub mod enrich;
pub mod event;
pub mod flow;
pub mod hex;
pub mod incident;
pub mod logs;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod replay;
pub mod rules;
pub mod scenario;
pub mod source;
