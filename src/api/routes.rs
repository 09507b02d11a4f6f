//! The API's routes. Health, readiness and metrics are open; everything under `/api/` first
//! passes [`Authenticate`] (401 without a valid bearer token, 429 for an address that sent
//! too many wrong ones) and only then is routed by [`v1`], so that an unauthenticated caller
//! learns nothing about which routes exist.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use crate::api::auth::{Authenticate, FailedAuth};
use crate::api::v1;
use crate::daemon::readiness::Readiness;
use crate::incident::Store;
use crate::metrics;
use crate::rules::RuleSet;
use crate::source::ingest::Shutdown;

/// Largest request body the API reads (ingest batches included).
pub const MAX_BODY: usize = 4 << 20;

/// Every response body: whole (most routes) or streamed (`/api/v1/stream`).
pub type Body = BoxBody<Bytes, Infallible>;

/// The rules loaded now (the daemon's `Rules::Fixed` or `Reloadable`).
pub type RulesFn = Arc<dyn Fn() -> Arc<RuleSet> + Send + Sync>;

/// Hands an ingest body (log lines or JSON lines) to the pipeline, attributed to the
/// token's tenant when it has one; says how many events were accepted, or why none were.
pub type IngestFn =
    Arc<dyn Fn(Bytes, Option<String>) -> Result<Ingested, IngestError> + Send + Sync>;

/// What an ingest body gave.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ingested {
    /// Events handed to the pipeline.
    pub accepted: usize,
    /// Lines that did not parse (counted in `vigil_parse_errors_total{source="api"}`).
    pub rejected: usize,
    /// The first of them: `line N: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Why an ingest body was refused whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is not a format vigil reads (400).
    #[error("{0}")]
    Invalid(String),
    /// The daemon cannot take it now (503), e.g. it is stopping.
    #[error("{0}")]
    Unavailable(String),
}

/// What the routes need. The daemon makes it early (so `/healthz` answers while the rest comes
/// up) and attaches the store, rules and ingest as they exist, through `&self`; until then the
/// routes that need them answer 503.
///
/// ```ignore
/// let state = Arc::new(ApiState::new(readiness, Arc::new(TokenFile::new(&data))));
/// // ... later
/// state.set_store(store);
/// state.set_rules(Arc::new(move || rule_store.current()));
/// state.set_ingest(Arc::new(move |body, tenant| ingest.push(body, tenant)));
/// ```
pub struct ApiState {
    pub readiness: Arc<Readiness>,
    pub auth: Arc<dyn Authenticate>,
    store: OnceLock<Arc<dyn Store>>,
    rules: OnceLock<RulesFn>,
    ingest: OnceLock<IngestFn>,
    pub(crate) failed_auth: FailedAuth,
    /// Fired when the server stops: open streams end so the stop does not wait on them.
    stop: OnceLock<Shutdown>,
    /// Open streams, at most [`MAX_STREAMS`], so streams cannot take every connection.
    pub(crate) streams: Arc<Semaphore>,
}

/// Streams open at once at most (of the server's 256 connections); past it `/stream` answers
/// 503 with Retry-After.
pub const MAX_STREAMS: usize = 128;

impl ApiState {
    pub fn new(readiness: Arc<Readiness>, auth: Arc<dyn Authenticate>) -> ApiState {
        ApiState {
            readiness,
            auth,
            store: OnceLock::new(),
            rules: OnceLock::new(),
            ingest: OnceLock::new(),
            failed_auth: FailedAuth::default(),
            stop: OnceLock::new(),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        }
    }

    pub fn with_store(self, store: Arc<dyn Store>) -> ApiState {
        self.set_store(store);
        self
    }
    pub fn with_rules(self, rules: RulesFn) -> ApiState {
        self.set_rules(rules);
        self
    }
    pub fn with_ingest(self, ingest: IngestFn) -> ApiState {
        self.set_ingest(ingest);
        self
    }

    /// Attaches the store; `false` (and no change) if one already is.
    pub fn set_store(&self, store: Arc<dyn Store>) -> bool {
        self.store.set(store).is_ok()
    }
    pub fn set_rules(&self, rules: RulesFn) -> bool {
        self.rules.set(rules).is_ok()
    }
    pub fn set_ingest(&self, ingest: IngestFn) -> bool {
        self.ingest.set(ingest).is_ok()
    }
    /// The server's stop signal (set by `ApiServer::serve`); streams end when it fires.
    pub fn set_stop(&self, stop: Shutdown) -> bool {
        self.stop.set(stop).is_ok()
    }

    pub(crate) fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store.get()
    }
    pub(crate) fn rules(&self) -> Option<&RulesFn> {
        self.rules.get()
    }
    pub(crate) fn ingest(&self) -> Option<&IngestFn> {
        self.ingest.get()
    }
    pub(crate) fn stop(&self) -> Option<Shutdown> {
        self.stop.get().cloned()
    }
}

/// Answers one request from `peer`.
pub async fn handle<B>(state: Arc<ApiState>, peer: IpAddr, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (route, resp) = route(&state, peer, req).await;
    metrics::API_REQUESTS
        .with_label_values(&[route, resp.status().as_str()])
        .inc();
    resp
}

/// The route label (a fixed set, so metrics stay bounded) and the response.
pub(crate) async fn route<B>(
    state: &Arc<ApiState>,
    peer: IpAddr,
    req: Request<B>,
) -> (&'static str, Response<Body>)
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_string();
    let api = path == "/api" || path.starts_with("/api/");
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY as u64 {
            let r = if api {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body too large",
                    &format!("at most {MAX_BODY} bytes per request"),
                )
            } else {
                text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n")
            };
            return ("other", r);
        }
    }
    match path.as_str() {
        "/healthz" => (
            "/healthz",
            only_get(&req).unwrap_or_else(|| text(StatusCode::OK, "ok\n")),
        ),
        "/readyz" => ("/readyz", only_get(&req).unwrap_or_else(|| readyz(state))),
        "/metrics" => (
            "/metrics",
            only_get(&req).unwrap_or_else(|| {
                with_type(
                    StatusCode::OK,
                    Bytes::from(metrics::render()),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            }),
        ),
        _ if api => {
            // A blocked address is turned away before its token is looked at.
            if let Some(wait) = state.failed_auth.blocked(peer) {
                return ("/api", too_many(wait));
            }
            let presented = req.headers().get(header::AUTHORIZATION);
            let Some(who) = state.auth.authenticate(presented) else {
                // Only a wrong credential counts: a request without one guesses nothing.
                if presented.is_some() {
                    state.failed_auth.failed(peer);
                }
                return ("/api", unauthorized());
            };
            v1::route(state, &who, req).await
        }
        _ => ("other", text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

/// Reads a request body of at most `limit` bytes; 413 past it.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Response<Body>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            &format!("at most {limit} bytes per request"),
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "unreadable body",
            &e.to_string(),
        )),
    }
}

fn readyz(state: &ApiState) -> Response<Body> {
    match state.readiness.check() {
        Ok(()) => text(StatusCode::OK, "ready\n"),
        Err(missing) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {}\n", missing.join(", ")),
        ),
    }
}

/// `None` for GET and HEAD, else a 405.
fn only_get<B>(req: &Request<B>) -> Option<Response<Body>> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return None;
    }
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(r)
}

fn unauthorized() -> Response<Body> {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send Authorization: Bearer TOKEN; make one with `vigil token create`",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="vigil""#),
    );
    r
}

fn too_many(wait: u64) -> Response<Body> {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed authentications",
        &format!("this address is refused for {wait} more seconds"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}

/// `{"error":..., "detail":...}` with `status`.
pub fn error(status: StatusCode, error: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": error, "detail": detail });
    json_value(status, &body)
}

/// A JSON response.
pub fn json_value<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response<Body> {
    match serde_json::to_vec(v) {
        Ok(b) => with_type(status, Bytes::from(b), "application/json"),
        Err(e) => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from(format!(r#"{{"error":"internal","detail":"{e}"}}"#)),
            "application/json",
        ),
    }
}

pub fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|e| match e {}).boxed()
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    with_type(
        status,
        Bytes::copy_from_slice(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

pub(crate) fn with_type(status: StatusCode, body: Bytes, ctype: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::{NoTokens, MAX_FAILURES};
    use crate::api::testing::{block, call, req, state, text, PEER};

    #[test]
    fn readyz_names_what_is_missing_until_everything_is_ready() {
        block(async {
            let st = state(None);
            st.readiness.register("rules");
            st.readiness.register("syslog_tcp");
            let (label, r) = route(&st, PEER, req("GET", "/readyz", None, "")).await;
            assert_eq!(
                (label, r.status()),
                ("/readyz", StatusCode::SERVICE_UNAVAILABLE)
            );
            assert_eq!(text(r).await, "not ready: rules, syslog_tcp\n");
            st.readiness.ready("rules");
            st.readiness.ready("syslog_tcp");
            let r = call(&st, req("GET", "/readyz", None, "")).await;
            assert_eq!(r.status(), StatusCode::OK);
        });
    }

    #[test]
    fn the_api_authenticates_before_it_routes() {
        block(async {
            let closed = Arc::new(ApiState::new(
                Arc::new(Readiness::default()),
                Arc::new(NoTokens),
            ));
            for p in ["/api/v1/alerts", "/api/v1/unknown", "/api"] {
                let (label, r) = route(&closed, PEER, req("GET", p, Some("admin"), "")).await;
                assert_eq!(
                    (label, r.status()),
                    ("/api", StatusCode::UNAUTHORIZED),
                    "{p}"
                );
                assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
            }
            let open = state(None);
            let r = call(&open, req("GET", "/api/v1/unknown", Some("admin"), "")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            let r = call(&open, req("GET", "/api/v1/unknown", Some("nobody"), "")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            let (label, r) = route(&open, PEER, req("GET", "/apix", None, "")).await;
            assert_eq!((label, r.status()), ("other", StatusCode::NOT_FOUND));
        });
    }

    #[test]
    fn repeated_bad_tokens_from_one_address_get_429_with_retry_after() {
        block(async {
            let st = state(None);
            let other: IpAddr = "198.51.100.9".parse().unwrap();
            // No credential at all guesses nothing and is not counted.
            for _ in 0..2 * MAX_FAILURES {
                let r = call(&st, req("GET", "/api/v1/rules", None, "")).await;
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            }
            for _ in 0..MAX_FAILURES {
                let r = call(&st, req("GET", "/api/v1/rules", Some("guess"), "")).await;
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            }
            // Blocked now, even with a good token: guessing must not go on.
            let r = call(&st, req("GET", "/api/v1/rules", Some("admin"), "")).await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            let wait: u64 = r.headers()[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
            assert!(text(r).await.contains("too many failed"));
            // Other addresses and the open routes are not affected.
            let (_, r) = route(&st, other, req("GET", "/api/v1/rules", Some("admin"), "")).await;
            assert_eq!(
                r.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "no rules attached"
            );
            let r = call(&st, req("GET", "/healthz", None, "")).await;
            assert_eq!(r.status(), StatusCode::OK);
        });
    }

    #[test]
    fn methods_sizes_and_content_types() {
        block(async {
            let st = state(None);
            let r = call(&st, req("POST", "/healthz", None, "")).await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
            let big = Request::get("/healthz")
                .header(header::CONTENT_LENGTH, (MAX_BODY + 1).to_string())
                .body(Full::new(Bytes::new()))
                .unwrap();
            assert_eq!(call(&st, big).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
            let r = call(&st, req("GET", "/metrics", None, "")).await;
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/plain; version=0.0.4; charset=utf-8"
            );
        });
    }
}
