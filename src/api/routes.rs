//! The API's routes. Health, readiness and metrics are open; everything under `/api/` first
//! passes [`Authenticate`] (401 without a valid bearer token) and only then is routed, so
//! that an unauthenticated caller learns nothing about which routes exist.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::daemon::readiness::Readiness;
use crate::metrics;

/// Largest request body the API reads (ingest batches included).
pub const MAX_BODY: usize = 4 << 20;

pub type Body = Full<Bytes>;

/// Who a request comes from, once authenticated. Roles and tenant scoping come with tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    /// When set, the caller sees only this tenant's alerts and incidents.
    pub tenant: Option<String>,
}

/// Checks the `Authorization` header of `/api/` requests.
pub trait Authenticate: Send + Sync {
    fn authenticate(&self, authorization: Option<&HeaderValue>) -> Option<Principal>;
}

/// No tokens exist yet (they come with the store): every `/api/` call is refused.
pub struct NoTokens;

impl Authenticate for NoTokens {
    fn authenticate(&self, _: Option<&HeaderValue>) -> Option<Principal> {
        None
    }
}

/// What the routes need.
pub struct ApiState {
    pub readiness: Arc<Readiness>,
    pub auth: Arc<dyn Authenticate>,
}

/// Answers one request.
pub async fn handle(state: Arc<ApiState>, req: Request<Incoming>) -> Response<Body> {
    let (route, resp) = route(&state, req).await;
    metrics::API_REQUESTS
        .with_label_values(&[route, resp.status().as_str()])
        .inc();
    resp
}

/// The route label (a fixed set, so metrics stay bounded) and the response.
async fn route<B>(state: &ApiState, req: Request<B>) -> (&'static str, Response<Body>) {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY as u64 {
            return (
                "other",
                text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
            );
        }
    }
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/healthz" => (
            "/healthz",
            only_get(&req).unwrap_or_else(|| text(StatusCode::OK, "ok\n")),
        ),
        "/readyz" => ("/readyz", only_get(&req).unwrap_or_else(|| readyz(state))),
        "/metrics" => (
            "/metrics",
            only_get(&req).unwrap_or_else(|| {
                let mut r = Response::new(Full::new(Bytes::from(metrics::render())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }),
        ),
        p if p == "/api" || p.starts_with("/api/") => {
            let Some(who) = state
                .auth
                .authenticate(req.headers().get(header::AUTHORIZATION))
            else {
                return ("/api", unauthorized());
            };
            ("/api", v1(&who, req).await)
        }
        _ => ("other", text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

/// `/api/v1/...` for an authenticated caller. The alert, incident, rule, stream and ingest
/// routes are added here as their stores and engines land.
async fn v1<B>(_who: &Principal, req: Request<B>) -> Response<Body> {
    let _ = req.uri().path().strip_prefix("/api/v1/");
    json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#)
}

/// Reads a request body of at most `limit` bytes; 413 past it.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(json(
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"error":"body too large"}"#,
        )),
        Err(_) => Err(json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unreadable body"}"#,
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
    let mut r = json(
        StatusCode::UNAUTHORIZED,
        r#"{"error":"unauthorized","detail":"send Authorization: Bearer TOKEN; make one with `vigil token create`"}"#,
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="vigil""#),
    );
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn json(status: StatusCode, body: &str) -> Response<Body> {
    with_type(status, body, "application/json")
}

fn with_type(status: StatusCode, body: &str, ctype: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Anyone;
    impl Authenticate for Anyone {
        fn authenticate(&self, _: Option<&HeaderValue>) -> Option<Principal> {
            Some(Principal {
                subject: "test".into(),
                tenant: None,
            })
        }
    }

    fn state(auth: Arc<dyn Authenticate>) -> ApiState {
        ApiState {
            readiness: Arc::new(Readiness::default()),
            auth,
        }
    }

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).unwrap()
    }

    async fn body(r: Response<Body>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn readyz_names_what_is_missing_until_everything_is_ready() {
        block(async {
            let st = state(Arc::new(NoTokens));
            st.readiness.register("rules");
            st.readiness.register("syslog_tcp");
            let (label, r) = route(&st, get("/readyz")).await;
            assert_eq!(
                (label, r.status()),
                ("/readyz", StatusCode::SERVICE_UNAVAILABLE)
            );
            assert_eq!(body(r).await, "not ready: rules, syslog_tcp\n");
            st.readiness.ready("rules");
            st.readiness.ready("syslog_tcp");
            let (_, r) = route(&st, get("/readyz")).await;
            assert_eq!(r.status(), StatusCode::OK);
        });
    }

    #[test]
    fn the_api_authenticates_before_it_routes() {
        block(async {
            let closed = state(Arc::new(NoTokens));
            for p in ["/api/v1/alerts", "/api/v1/unknown", "/api"] {
                let (label, r) = route(&closed, get(p)).await;
                assert_eq!(
                    (label, r.status()),
                    ("/api", StatusCode::UNAUTHORIZED),
                    "{p}"
                );
                assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
            }
            let open = state(Arc::new(Anyone));
            let (_, r) = route(&open, get("/api/v1/unknown")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            let (label, r) = route(&open, get("/apix")).await;
            assert_eq!((label, r.status()), ("other", StatusCode::NOT_FOUND));
        });
    }

    #[test]
    fn methods_sizes_and_content_types() {
        block(async {
            let st = state(Arc::new(NoTokens));
            let post = Request::post("/healthz").body(()).unwrap();
            let (_, r) = route(&st, post).await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
            let big = Request::get("/healthz")
                .header(header::CONTENT_LENGTH, (MAX_BODY + 1).to_string())
                .body(())
                .unwrap();
            assert_eq!(
                route(&st, big).await.1.status(),
                StatusCode::PAYLOAD_TOO_LARGE
            );
            let (_, r) = route(&st, get("/metrics")).await;
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/plain; version=0.0.4; charset=utf-8"
            );
        });
    }
}
