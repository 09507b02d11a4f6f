//! `/api/v1/...` for an authenticated caller: find the route, check the method and the
//! caller's role, then answer with JSON (`{"error":...,"detail":...}` on failure).
//!
//! Tenant isolation: a token with a tenant reads through `Scope::Tenant`, so the store never
//! hands out another tenant's data; asking for `tenant=other` yields an empty list, and another
//! tenant's incident is "not found" (404), exactly as if it did not exist.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use crate::api::auth::{Need, Principal};
use crate::api::query::{self, Kind, ListQuery};
use crate::api::routes::{error, json_value, read_body, ApiState, Body, IngestError, MAX_BODY};
use crate::api::stream;
use crate::incident::grouping::wall_ms;
use crate::incident::posture;
use crate::incident::{open_incidents, Action, Scope, Store, StoreError};

/// Largest body of an incident action (`assign`, `notes`).
const MAX_ACTION_BODY: usize = 64 * 1024;

/// One route of the API: its metric label, method and what the caller's role must allow.
#[derive(Clone, Debug, PartialEq)]
enum Endpoint {
    Alerts,
    Incidents,
    Incident(String),
    Act(String, &'static str),
    Stream,
    Rules,
    Ingest,
    Posture,
}

impl Endpoint {
    fn parse(path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix("/api/v1/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        Some(match parts.as_slice() {
            ["alerts"] => Endpoint::Alerts,
            ["incidents"] => Endpoint::Incidents,
            ["incidents", id] if plausible_id(id) => Endpoint::Incident(id.to_string()),
            ["incidents", id, act] if plausible_id(id) => {
                let act = ["ack", "resolve", "reopen", "assign", "notes"]
                    .into_iter()
                    .find(|a| a == act)?;
                Endpoint::Act(id.to_string(), act)
            }
            ["stream"] => Endpoint::Stream,
            ["rules"] => Endpoint::Rules,
            ["ingest"] => Endpoint::Ingest,
            ["posture"] => Endpoint::Posture,
            _ => return None,
        })
    }

    fn label(&self) -> &'static str {
        match self {
            Endpoint::Alerts => "/api/v1/alerts",
            Endpoint::Incidents => "/api/v1/incidents",
            Endpoint::Incident(_) => "/api/v1/incidents/{id}",
            Endpoint::Act(..) => "/api/v1/incidents/{id}/{action}",
            Endpoint::Stream => "/api/v1/stream",
            Endpoint::Rules => "/api/v1/rules",
            Endpoint::Ingest => "/api/v1/ingest",
            Endpoint::Posture => "/api/v1/posture",
        }
    }

    fn method(&self) -> Method {
        match self {
            Endpoint::Act(..) | Endpoint::Ingest => Method::POST,
            _ => Method::GET,
        }
    }

    fn need(&self) -> Need {
        match self {
            Endpoint::Act(..) => Need::Triage,
            Endpoint::Ingest => Need::Ingest,
            _ => Need::Read,
        }
    }
}

/// Ids are the store's (`i-0000...`); anything else cannot exist, so it is not found.
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Routes an authenticated request; returns the metric label and the response.
pub(crate) async fn route<B>(
    state: &Arc<ApiState>,
    who: &Principal,
    req: Request<B>,
) -> (&'static str, Response<Body>)
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(ep) = Endpoint::parse(req.uri().path()) else {
        return (
            "/api/other",
            error(StatusCode::NOT_FOUND, "not found", "no such API route"),
        );
    };
    let label = ep.label();
    let method = req.method();
    let head_ok = ep.method() == Method::GET && method == Method::HEAD;
    if method != ep.method() && !head_ok {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
            &format!("use {}", ep.method()),
        );
        let allow = if ep.method() == Method::GET {
            "GET, HEAD"
        } else {
            "POST"
        };
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return (label, r);
    }
    if !who.role.may(ep.need()) {
        return (
            label,
            error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("a token with role `{}` may not do this", who.role),
            ),
        );
    }
    let scope = match &who.tenant {
        Some(t) => Scope::Tenant(t.clone()),
        None => Scope::All,
    };
    let query = req.uri().query().map(str::to_string);
    let resp = match ep {
        Endpoint::Alerts => list(state, scope, query.as_deref(), Kind::Alerts).await,
        Endpoint::Incidents => list(state, scope, query.as_deref(), Kind::Incidents).await,
        Endpoint::Incident(id) => {
            with_store(state, move |s| match s.incident(&scope, &id) {
                Ok(Some(i)) => json_value(StatusCode::OK, &i),
                Ok(None) => not_found(&id),
                Err(e) => store_error(e),
            })
            .await
        }
        Endpoint::Act(id, act) => {
            let action = match action(act, req.into_body()).await {
                Ok(a) => a,
                Err(r) => return (label, r),
            };
            let actor = who.subject.clone();
            with_store(state, move |s| {
                match s.update_incident(&scope, &id, action, &actor) {
                    Ok(Some(i)) => json_value(StatusCode::OK, &i),
                    Ok(None) => not_found(&id),
                    Err(e) => store_error(e),
                }
            })
            .await
        }
        Endpoint::Stream => {
            let resume = req.headers().get("last-event-id").cloned();
            stream(state, scope, resume, query.as_deref()).await
        }
        Endpoint::Rules => rules(state, query.as_deref()),
        Endpoint::Ingest => ingest(state, who, req.into_body()).await,
        Endpoint::Posture => {
            with_store(state, move |s| match open_incidents(s, &scope) {
                Ok(open) => json_value(
                    StatusCode::OK,
                    &posture::compute(&open, wall_ms(), posture::HALF_LIFE_HOURS),
                ),
                Err(e) => store_error(e),
            })
            .await
        }
    };
    (label, resp)
}

/// `GET /api/v1/stream`, resuming after the `Last-Event-ID` header or `last_event_id`.
async fn stream(
    state: &ApiState,
    scope: Scope,
    last_event_id: Option<HeaderValue>,
    query: Option<&str>,
) -> Response<Body> {
    let header_id = match last_event_id {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(id) => Some(id),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad request",
                    "header `Last-Event-ID`: expected an event id (a number)",
                )
            }
        },
    };
    let q = match query::parse(query, Kind::Stream) {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let Some(store) = state.store() else {
        return unavailable("store");
    };
    let Ok(slot) = state.streams.clone().try_acquire_owned() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many streams",
            &format!(
                "{} streams are open, the most this server keeps; close one or retry later",
                crate::api::routes::MAX_STREAMS
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    };
    let open = stream::Open {
        store: store.clone(),
        scope,
        filter: q.filter,
        after: header_id.or(q.last_event_id),
        stop: state.stop(),
        slot,
    };
    stream::open(open).await
}

/// `GET /api/v1/rules`: the rules loaded now (rules are not per tenant).
fn rules(state: &ApiState, query: Option<&str>) -> Response<Body> {
    if let Err(e) = query::parse(query, Kind::None) {
        return bad_query(e);
    }
    let Some(rules) = state.rules() else {
        return unavailable("rules");
    };
    let set = rules();
    let items: Vec<_> = set.rules().collect();
    json_value(StatusCode::OK, &serde_json::json!({ "items": items }))
}

/// `GET /api/v1/alerts` and `/api/v1/incidents`.
async fn list(state: &ApiState, scope: Scope, query: Option<&str>, kind: Kind) -> Response<Body> {
    let q: ListQuery = match query::parse(query, kind) {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    with_store(state, move |s| {
        let scope = &scope;
        // Another tenant's data is asked for: the answer is empty, whatever the store holds.
        if let (Scope::Tenant(mine), Some(asked)) = (scope, &q.filter.tenant) {
            if mine != asked {
                return json_value(
                    StatusCode::OK,
                    &serde_json::json!({ "items": [], "next_cursor": null }),
                );
            }
        }
        let cursor = q.cursor.as_deref();
        let page = if kind == Kind::Alerts {
            s.alerts(scope, &q.filter, q.limit, cursor).map(|p| {
                let items: Vec<_> = p.items.iter().map(|a| a.json.value()).collect();
                serde_json::json!({ "items": items, "next_cursor": p.next })
            })
        } else {
            s.incidents(scope, &q.filter, q.limit, cursor)
                .map(|p| serde_json::json!({ "items": p.items, "next_cursor": p.next }))
        };
        match page {
            Ok(v) => json_value(StatusCode::OK, &v),
            Err(e) => store_error(e),
        }
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    assignee: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    note: String,
}

/// The action a POST asks for; `assign` and `notes` read their JSON body.
async fn action<B>(act: &str, body: B) -> Result<Action, Response<Body>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let parse_err = |e: serde_json::Error, want: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "bad request",
            &format!("expected {want}: {e}"),
        )
    };
    let empty = |what: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "bad request",
            &format!("`{what}` is empty"),
        )
    };
    Ok(match act {
        "ack" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        "reopen" => Action::Reopen,
        "assign" => {
            let b = read_body(body, MAX_ACTION_BODY).await?;
            let a: Assign =
                serde_json::from_slice(&b).map_err(|e| parse_err(e, r#"{"assignee":"..."}"#))?;
            if a.assignee.trim().is_empty() {
                return Err(empty("assignee"));
            }
            Action::Assign(a.assignee)
        }
        _ => {
            let b = read_body(body, MAX_ACTION_BODY).await?;
            let n: Note =
                serde_json::from_slice(&b).map_err(|e| parse_err(e, r#"{"note":"..."}"#))?;
            if n.note.trim().is_empty() {
                return Err(empty("note"));
            }
            Action::Note(n.note)
        }
    })
}

/// `POST /api/v1/ingest`: the body goes to the daemon's ingest, attributed to the token's
/// tenant if it has one.
async fn ingest<B>(state: &ApiState, who: &Principal, body: B) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(ingest) = state.ingest() else {
        return unavailable("ingest");
    };
    let body: Bytes = match read_body(body, MAX_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (ingest, tenant) = (ingest.clone(), who.tenant.clone());
    // The daemon's ingest may wait for room in its queue: not on the runtime's threads.
    blocking(move || match ingest(body, tenant) {
        Ok(report) => json_value(StatusCode::OK, &report),
        Err(IngestError::Invalid(why)) => error(StatusCode::BAD_REQUEST, "unreadable body", &why),
        Err(IngestError::Unavailable(why)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "ingest refused", &why)
        }
    })
    .await
}

/// Runs `f` against the store on the blocking pool: store reads may wait for the disk.
async fn with_store<F>(state: &ApiState, f: F) -> Response<Body>
where
    F: FnOnce(&dyn Store) -> Response<Body> + Send + 'static,
{
    let Some(store) = state.store().cloned() else {
        return unavailable("store");
    };
    blocking(move || f(store.as_ref())).await
}

pub(crate) async fn blocking<F>(f: F) -> Response<Body>
where
    F: FnOnce() -> Response<Body> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        )
    })
}

fn unavailable(what: &str) -> Response<Body> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        &format!("the {what} is not attached yet; try again shortly"),
    )
}

fn not_found(id: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "not found",
        &format!("no incident `{id}`"),
    )
}

fn bad_query(e: query::QueryError) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "bad request", &e.to_string())
}

fn store_error(e: StoreError) -> Response<Body> {
    match e {
        StoreError::BadCursor => error(
            StatusCode::BAD_REQUEST,
            "bad request",
            "query parameter `cursor`: not a cursor this server gave out",
        ),
        StoreError::Conflict(..) => error(StatusCode::CONFLICT, "conflict", &e.to_string()),
        e => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store error",
            &e.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::api::routes::RulesFn;
    use crate::api::testing::{block, call, json, req, state, MemStore, TOKENS};
    use crate::incident::Level;
    use crate::rules::{LoadOptions, RuleSet};

    const RULE: &str = "title: Metadata access\nid: 11111111-2222-3333-4444-555555555555\nlevel: high\ntags: [cloud.metadata_abuse]\nlogsource: {category: flow}\ndetection:\n  sel: {dst_ip: 169.254.169.254}\n  condition: sel\n";

    type Ingested = Arc<Mutex<Vec<(Bytes, Option<String>)>>>;

    /// acme's alert/incident is seq 1, globex's seq 2, an untenanted one seq 3.
    fn fixture() -> (Arc<ApiState>, Arc<MemStore>, Ingested) {
        let store = MemStore::new(64);
        store.push(Some("acme"), Level::High, "r-1", &["attack.t1611"]);
        store.push(Some("globex"), Level::Low, "r-2", &["cloud.vm_escape"]);
        store.push(None, Level::Medium, "r-3", &[]);
        let st = state(Some(store.clone()));
        let (set, report) =
            RuleSet::from_sources(&[(Path::new("meta.yml"), RULE)], &LoadOptions::default());
        assert!(report.errors.is_empty(), "{report:?}");
        let set = Arc::new(set);
        let rules: RulesFn = Arc::new(move || set.clone());
        st.set_rules(rules);
        let seen: Ingested = Arc::default();
        let sink = seen.clone();
        st.set_ingest(Arc::new(move |body: Bytes, tenant| {
            let n = body
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            sink.lock().unwrap().push((body, tenant));
            Ok(crate::api::Ingested {
                accepted: n,
                ..Default::default()
            })
        }));
        (st, store, seen)
    }

    const ACME_INC: &str = "/api/v1/incidents/i-0000000000000001";
    const GLOBEX_INC: &str = "/api/v1/incidents/i-0000000000000002";

    /// (method, path, body, what it needs)
    fn endpoints() -> Vec<(&'static str, String, &'static str, Need)> {
        let mut v = vec![
            ("GET", "/api/v1/alerts".to_string(), "", Need::Read),
            ("GET", "/api/v1/incidents".to_string(), "", Need::Read),
            ("GET", ACME_INC.to_string(), "", Need::Read),
            ("GET", "/api/v1/stream".to_string(), "", Need::Read),
            ("GET", "/api/v1/rules".to_string(), "", Need::Read),
            ("GET", "/api/v1/posture".to_string(), "", Need::Read),
            ("POST", "/api/v1/ingest".to_string(), "line\n", Need::Ingest),
        ];
        for (act, body) in [
            ("ack", ""),
            ("resolve", ""),
            ("reopen", ""),
            ("assign", r#"{"assignee":"bob"}"#),
            ("notes", r#"{"note":"looked at it"}"#),
        ] {
            v.push(("POST", format!("{ACME_INC}/{act}"), body, Need::Triage));
        }
        v
    }

    #[test]
    fn every_endpoint_checks_token_and_role() {
        block(async {
            let (st, _, _) = fixture();
            for (method, path, body, need) in endpoints() {
                let r = call(&st, req(method, &path, None, body)).await;
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
                assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
                for (token, role, _) in TOKENS {
                    let r = call(&st, req(method, &path, Some(token), body)).await;
                    let want = if role.may(need) {
                        StatusCode::OK
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    assert_eq!(r.status(), want, "{method} {path} as {token}");
                    if want == StatusCode::FORBIDDEN {
                        let v = json(r).await;
                        assert_eq!(v["error"], "forbidden");
                        assert!(v["detail"].as_str().unwrap().contains(role.as_str()));
                    }
                }
            }
        });
    }

    #[test]
    fn posture_ranks_tenants_within_the_tokens_scope() {
        block(async {
            let (st, _, _) = fixture();
            let all =
                json(call(&st, req("GET", "/api/v1/posture", Some("viewer"), "")).await).await;
            let mut tenants: Vec<&str> = all["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["tenant"].as_str().unwrap())
                .collect();
            tenants.sort();
            assert_eq!(tenants, ["", "acme", "globex"], "{all}");
            let acme_open = all["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["tenant"] == "acme")
                .map(|t| t["open"]["high"].clone());
            assert_eq!(acme_open, Some(serde_json::json!(1)), "{all}");
            let acme =
                json(call(&st, req("GET", "/api/v1/posture", Some("acme-viewer"), "")).await).await;
            assert_eq!(acme["tenants"].as_array().unwrap().len(), 1, "{acme}");
            assert_eq!(acme["tenants"][0]["tenant"], "acme");
        });
    }

    #[test]
    fn wrong_methods_get_405_with_allow() {
        block(async {
            let (st, _, _) = fixture();
            let r = call(&st, req("POST", "/api/v1/alerts", Some("admin"), "")).await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
            let r = call(&st, req("GET", "/api/v1/ingest", Some("admin"), "")).await;
            assert_eq!(r.headers()[header::ALLOW], "POST");
        });
    }

    #[test]
    fn lists_filter_and_page() {
        block(async {
            let (st, _, _) = fixture();
            let get = |q: &str| req("GET", &format!("/api/v1/alerts{q}"), Some("viewer"), "");
            let v = json(call(&st, get("")).await).await;
            let ids: Vec<_> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].clone())
                .collect();
            assert_eq!(ids.len(), 3);
            assert_eq!(ids[0], "a-0000000000000003", "newest first");
            assert!(v["next_cursor"].is_null());

            let v = json(call(&st, get("?level=medium")).await).await;
            assert_eq!(v["items"].as_array().unwrap().len(), 2);
            let v = json(call(&st, get("?tag=cloud.vm_escape&tenant=globex")).await).await;
            assert_eq!(v["items"][0]["id"], "a-0000000000000002");
            let v = json(call(&st, get("?rule=r-1&since=1764000000")).await).await;
            assert_eq!(v["items"][0]["id"], "a-0000000000000001");

            let v = json(call(&st, get("?limit=2")).await).await;
            assert_eq!(v["items"].as_array().unwrap().len(), 2);
            let cursor = v["next_cursor"].as_str().unwrap().to_string();
            let v = json(call(&st, get(&format!("?limit=2&cursor={cursor}"))).await).await;
            assert_eq!(v["items"][0]["id"], "a-0000000000000001");
            assert!(v["next_cursor"].is_null());

            let inc = |q: &str| req("GET", &format!("/api/v1/incidents{q}"), Some("viewer"), "");
            let v = json(call(&st, inc("?status=open&level=high")).await).await;
            assert_eq!(v["items"].as_array().unwrap().len(), 1);
            assert_eq!(v["items"][0]["id"], "i-0000000000000001");
            let v = json(call(&st, inc("?status=resolved")).await).await;
            assert_eq!(v["items"], serde_json::json!([]));
        });
    }

    #[test]
    fn malformed_queries_get_400_naming_the_parameter() {
        block(async {
            let (st, _, _) = fixture();
            for (path, param) in [
                ("/api/v1/alerts?levle=high", "levle"),
                ("/api/v1/alerts?level=severe", "level"),
                ("/api/v1/alerts?since=monday", "since"),
                ("/api/v1/alerts?limit=0", "limit"),
                ("/api/v1/alerts?limit=5000", "limit"),
                ("/api/v1/alerts?cursor=garbage", "cursor"),
                ("/api/v1/alerts?status=open", "status"),
                ("/api/v1/incidents?status=closed", "status"),
                ("/api/v1/stream?limit=3", "limit"),
                ("/api/v1/rules?x=1", "x"),
            ] {
                let r = call(&st, req("GET", path, Some("admin"), "")).await;
                assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
                let v = json(r).await;
                assert_eq!(v["error"], "bad request");
                let detail = v["detail"].as_str().unwrap();
                assert!(detail.contains(&format!("`{param}`")), "{path}: {detail}");
            }
            let r = call(
                &st,
                req(
                    "POST",
                    &format!("{ACME_INC}/assign"),
                    Some("operator"),
                    "{}",
                ),
            )
            .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let r = call(
                &st,
                req(
                    "POST",
                    &format!("{ACME_INC}/notes"),
                    Some("operator"),
                    r#"{"note":" "}"#,
                ),
            )
            .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        });
    }

    #[test]
    fn a_tenant_token_never_sees_or_touches_another_tenant() {
        block(async {
            let (st, store, _) = fixture();
            let as_acme = |m: &str, p: &str, body: &str| req(m, p, Some("acme-operator"), body);
            for list in ["/api/v1/alerts", "/api/v1/incidents"] {
                let v = json(call(&st, as_acme("GET", list, "")).await).await;
                let items = v["items"].as_array().unwrap();
                assert_eq!(items.len(), 1, "{list}");
                assert_eq!(items[0]["tenant"], "acme", "{list}");
                for q in ["?tenant=globex", "?tenant=globex&level=low"] {
                    let v = json(call(&st, as_acme("GET", &format!("{list}{q}"), "")).await).await;
                    assert_eq!(v["items"], serde_json::json!([]), "{list}{q}");
                }
            }
            let r = call(&st, as_acme("GET", GLOBEX_INC, "")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            let r = call(
                &st,
                as_acme("GET", "/api/v1/incidents/i-0000000000000003", ""),
            )
            .await;
            assert_eq!(
                r.status(),
                StatusCode::NOT_FOUND,
                "untenanted is not acme's"
            );
            for (act, body) in [
                ("ack", ""),
                ("resolve", ""),
                ("assign", r#"{"assignee":"x"}"#),
                ("notes", r#"{"note":"x"}"#),
            ] {
                let r = call(&st, as_acme("POST", &format!("{GLOBEX_INC}/{act}"), body)).await;
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{act}");
            }
            let globex = store
                .incident(&Scope::All, "i-0000000000000002")
                .unwrap()
                .unwrap();
            assert!(globex.history.is_empty() && globex.assignee.is_none());
            let v = json(call(&st, as_acme("GET", ACME_INC, "")).await).await;
            assert_eq!(v["tenant"], "acme");
        });
    }

    #[test]
    fn operators_triage_with_their_name_as_actor() {
        block(async {
            let (st, _, _) = fixture();
            let post = |act: &str, body: &str| {
                req("POST", &format!("{ACME_INC}/{act}"), Some("operator"), body)
            };
            let v = json(call(&st, post("ack", "")).await).await;
            assert_eq!(v["status"], "acknowledged");
            let v = json(call(&st, post("assign", r#"{"assignee":"bob"}"#)).await).await;
            assert_eq!(v["assignee"], "bob");
            let v = json(call(&st, post("resolve", "")).await).await;
            assert_eq!(v["status"], "resolved");
            let h = v["history"].as_array().unwrap();
            assert!(h.iter().all(|c| c["actor"] == "operator"), "{h:?}");
            let r = call(
                &st,
                req("POST", "/api/v1/incidents/i-ffff/ack", Some("operator"), ""),
            )
            .await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
        });
    }

    #[test]
    fn ingest_hands_the_body_over_with_the_tokens_tenant() {
        block(async {
            let (st, _, seen) = fixture();
            let r = call(
                &st,
                req("POST", "/api/v1/ingest", Some("acme-ingest"), "a\nb\n"),
            )
            .await;
            assert_eq!(
                json(r).await,
                serde_json::json!({"accepted": 2, "rejected": 0})
            );
            let r = call(&st, req("POST", "/api/v1/ingest", Some("ingest"), "c\n")).await;
            assert_eq!(r.status(), StatusCode::OK);
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen[0], (Bytes::from("a\nb\n"), Some("acme".to_string())));
            assert_eq!(seen[1].1, None);
        });
    }

    #[test]
    fn oversize_bodies_get_413() {
        block(async {
            let (st, _, seen) = fixture();
            // Without a Content-Length (as when chunked): the limit applies while reading.
            let big = "x".repeat(MAX_BODY + 1);
            let r = call(&st, req("POST", "/api/v1/ingest", Some("ingest"), &big)).await;
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(json(r).await["error"], "body too large");
            // With one: refused before reading.
            let mut r = req("POST", "/api/v1/ingest", Some("ingest"), "");
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(MAX_BODY + 1));
            assert_eq!(call(&st, r).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert!(seen.lock().unwrap().is_empty());
        });
    }

    #[test]
    fn rules_list_the_loaded_rules_and_503_until_attached() {
        block(async {
            let (st, _, _) = fixture();
            let v = json(call(&st, req("GET", "/api/v1/rules", Some("viewer"), "")).await).await;
            let r = &v["items"][0];
            assert_eq!(r["id"], "11111111-2222-3333-4444-555555555555");
            assert_eq!(
                (r["title"].as_str(), r["level"].as_str()),
                (Some("Metadata access"), Some("high"))
            );
            assert_eq!(r["tags"], serde_json::json!(["cloud.metadata_abuse"]));
            assert_eq!(r["file"], "meta.yml");

            let bare = state(None);
            for (m, p) in [
                ("GET", "/api/v1/rules"),
                ("GET", "/api/v1/alerts"),
                ("GET", "/api/v1/stream"),
                ("POST", "/api/v1/ingest"),
            ] {
                let r = call(&bare, req(m, p, Some("admin"), "")).await;
                assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{p}");
            }
        });
    }
}
