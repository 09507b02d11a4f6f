//! Outputs: where events and alerts leave vigil.
pub mod jsonl;
