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
use crate::api::routes::{error, json_value, read_body, ApiState, Body, MAX_BODY};
use crate::api::stream;
use crate::incident::{Action, Scope, Store, StoreError};

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
        Endpoint::Alerts => list(state, &scope, query.as_deref(), Kind::Alerts),
        Endpoint::Incidents => list(state, &scope, query.as_deref(), Kind::Incidents),
        Endpoint::Incident(id) => with_store(state, |s| match s.incident(&scope, &id) {
            Ok(Some(i)) => json_value(StatusCode::OK, &i),
            Ok(None) => not_found(&id),
            Err(e) => store_error(e),
        }),
        Endpoint::Act(id, act) => {
            let action = match action(act, req.into_body()).await {
                Ok(a) => a,
                Err(r) => return (label, r),
            };
            with_store(state, |s| {
                match s.update_incident(&scope, &id, action, &who.subject) {
                    Ok(Some(i)) => json_value(StatusCode::OK, &i),
                    Ok(None) => not_found(&id),
                    Err(e) => store_error(e),
                }
            })
        }
        Endpoint::Stream => {
            let resume = req
                .headers()
                .get("last-event-id")
                .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
            match (resume, query::parse(query.as_deref(), Kind::Stream)) {
                (Some(None), _) => error(
                    StatusCode::BAD_REQUEST,
                    "bad request",
                    "header `Last-Event-ID`: expected an event id (a number)",
                ),
                (_, Err(e)) => bad_query(e),
                (header_id, Ok(q)) => match state.store() {
                    None => unavailable("store"),
                    Some(s) => {
                        let after = header_id.flatten().or(q.last_event_id);
                        stream::open(s.clone(), scope, q.filter, after)
                    }
                },
            }
        }
        Endpoint::Rules => match (query::parse(query.as_deref(), Kind::None), state.rules()) {
            (Err(e), _) => bad_query(e),
            (_, None) => unavailable("rules"),
            (Ok(_), Some(rules)) => {
                let set = rules();
                let items: Vec<_> = set.rules().collect();
                json_value(StatusCode::OK, &serde_json::json!({ "items": items }))
            }
        },
        Endpoint::Ingest => ingest(state, who, req.into_body()).await,
    };
    (label, resp)
}

/// `GET /api/v1/alerts` and `/api/v1/incidents`.
fn list(state: &ApiState, scope: &Scope, query: Option<&str>, kind: Kind) -> Response<Body> {
    let q: ListQuery = match query::parse(query, kind) {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    with_store(state, |s| {
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
                let items: Vec<_> = p.items.into_iter().map(|a| a.json).collect();
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
    let text_ok = |s: &str, what: &str| {
        if s.trim().is_empty() {
            Err(error(
                StatusCode::BAD_REQUEST,
                "bad request",
                &format!("`{what}` is empty"),
            ))
        } else {
            Ok(())
        }
    };
    Ok(match act {
        "ack" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        "reopen" => Action::Reopen,
        "assign" => {
            let b = read_body(body, MAX_ACTION_BODY).await?;
            let a: Assign =
                serde_json::from_slice(&b).map_err(|e| parse_err(e, r#"{"assignee":"..."}"#))?;
            text_ok(&a.assignee, "assignee")?;
            Action::Assign(a.assignee)
        }
        _ => {
            let b = read_body(body, MAX_ACTION_BODY).await?;
            let n: Note =
                serde_json::from_slice(&b).map_err(|e| parse_err(e, r#"{"note":"..."}"#))?;
            text_ok(&n.note, "note")?;
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
    match ingest(body, who.tenant.clone()) {
        Ok(n) => json_value(StatusCode::OK, &serde_json::json!({ "accepted": n })),
        Err(why) => error(StatusCode::SERVICE_UNAVAILABLE, "ingest refused", &why),
    }
}

fn with_store(state: &ApiState, f: impl FnOnce(&dyn Store) -> Response<Body>) -> Response<Body> {
    match state.store() {
        Some(s) => f(s.as_ref()),
        None => unavailable("store"),
    }
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
    use super::*;

    #[test]
    fn paths_map_to_endpoints() {
        let p = Endpoint::parse;
        assert_eq!(p("/api/v1/alerts"), Some(Endpoint::Alerts));
        assert_eq!(
            p("/api/v1/incidents/i-01"),
            Some(Endpoint::Incident("i-01".into()))
        );
        assert_eq!(
            p("/api/v1/incidents/i-01/ack"),
            Some(Endpoint::Act("i-01".into(), "ack"))
        );
        for bad in [
            "/api/v1/incidents/i-01/delete",
            "/api/v1/incidents/../x",
            "/api/v1/incidents//ack",
            "/api/v1/alerts/",
            "/api/v2/alerts",
            "/api/v1/posture",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
