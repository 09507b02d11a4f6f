//! The HTTPS API: TLS setup (`tls`), dev certificates (`certs`), the accept loop with its
//! limits (`server`), who may call (`auth`, `tokens`) and the routes: health, readiness and
//! metrics (`routes`), then `/api/v1/...` (`v1`, `query`, `stream`) behind bearer tokens.

pub mod auth;
pub mod certs;
pub mod query;
pub mod routes;
pub mod server;
pub mod stream;
pub mod tls;
pub mod tokens;
pub mod v1;

#[cfg(test)]
pub(crate) mod testing;

pub use auth::{Authenticate, NoTokens, Principal, Role};
pub use routes::{ApiState, IngestError, IngestFn, Ingested, RulesFn};
pub use server::ApiServer;
pub use tokens::TokenFile;
