//! The HTTPS API: TLS setup (`tls`), dev certificates (`certs`), the accept loop with its
//! limits (`server`) and the routes (`routes`): health, readiness, metrics, and `/api/v1/...`
//! behind bearer-token authentication.

pub mod certs;
pub mod routes;
pub mod server;
pub mod tls;

pub use routes::{ApiState, Authenticate, NoTokens, Principal};
pub use server::ApiServer;
