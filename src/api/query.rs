//! Query strings of the list and stream routes, parsed into a [`Filter`] and paging.
//!
//! Pure functions over the raw query: unknown, repeated or malformed parameters are errors
//! naming the parameter, so a typo (`levle=high`) never silently widens a result.

use crate::incident::{Filter, Level, Status};
use crate::logs::parse_rfc3339;

/// Items per page when `limit` is not given, and the most a page may hold.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// What a route accepts besides the common filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Alerts,
    Incidents,
    Stream,
    /// No parameters at all.
    None,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: usize,
    pub cursor: Option<String>,
    /// Streams only: resume after this sequence number.
    pub last_event_id: Option<u64>,
}

/// A parameter that is unknown, repeated or malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{param}`: {reason}")]
pub struct QueryError {
    pub param: String,
    pub reason: String,
}

fn bad(param: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_string(),
        reason: reason.into(),
    }
}

/// Parses `query` (the part after `?`, if any) for a route of `kind`.
pub fn parse(query: Option<&str>, kind: Kind) -> Result<ListQuery, QueryError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k).ok_or_else(|| bad(k, "bad percent-encoding"))?;
        let v = decode(v).ok_or_else(|| bad(&k, "bad percent-encoding"))?;
        if seen.contains(&k) {
            return Err(bad(&k, "given more than once"));
        }
        seen.push(k.clone());
        let allowed = match (kind, k.as_str()) {
            (Kind::None, _) => false,
            (_, "since" | "tenant" | "level" | "rule" | "tag") => true,
            (Kind::Alerts | Kind::Incidents, "limit" | "cursor") => true,
            (Kind::Incidents, "status") => true,
            (Kind::Stream, "last_event_id") => true,
            _ => false,
        };
        if !allowed {
            return Err(bad(&k, "unknown parameter"));
        }
        if v.is_empty() {
            return Err(bad(&k, "empty value"));
        }
        let f = &mut q.filter;
        match k.as_str() {
            "since" => {
                f.since_ms = Some(since(&v).ok_or_else(|| {
                    bad(
                        &k,
                        "expected RFC 3339 (2025-11-24T16:00:00Z) or Unix seconds",
                    )
                })?)
            }
            "tenant" => f.tenant = Some(v),
            "level" => {
                f.level = Some(Level::parse(&v).ok_or_else(|| {
                    bad(&k, "expected informational, low, medium, high or critical")
                })?)
            }
            "rule" => f.rule = Some(v),
            "tag" => f.tag = Some(v),
            "status" => {
                f.status = Some(match v.as_str() {
                    "open" => Status::Open,
                    "acknowledged" => Status::Acknowledged,
                    "resolved" => Status::Resolved,
                    _ => return Err(bad(&k, "expected open, acknowledged or resolved")),
                })
            }
            "limit" => {
                q.limit = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => return Err(bad(&k, format!("expected 1 to {MAX_LIMIT}"))),
                }
            }
            "cursor" => q.cursor = Some(v),
            "last_event_id" => {
                q.last_event_id = Some(
                    v.parse()
                        .map_err(|_| bad(&k, "expected an event id (a number)"))?,
                )
            }
            _ => return Err(bad(&k, "unknown parameter")),
        }
    }
    Ok(q)
}

/// RFC 3339, or whole Unix seconds; Unix milliseconds.
fn since(v: &str) -> Option<i64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<i64>().ok()?.checked_mul(1000);
    }
    parse_rfc3339(v).map(|t| t.0.div_euclid(1_000_000))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; UTF-8 only.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_paging_are_parsed() {
        let q = parse(
            Some("since=2025-11-24T16:00:00Z&tenant=acme&level=high&rule=r%2D1&tag=attack.t1611&limit=5&cursor=abc"),
            Kind::Alerts,
        )
        .unwrap();
        assert_eq!(q.filter.since_ms, Some(1_764_000_000_000));
        assert_eq!(q.filter.tenant.as_deref(), Some("acme"));
        assert_eq!(q.filter.level, Some(Level::High));
        assert_eq!(q.filter.rule.as_deref(), Some("r-1"));
        assert_eq!(q.filter.tag.as_deref(), Some("attack.t1611"));
        assert_eq!((q.limit, q.cursor.as_deref()), (5, Some("abc")));
        let q = parse(Some("since=1764000000&status=resolved"), Kind::Incidents).unwrap();
        assert_eq!(q.filter.since_ms, Some(1_764_000_000_000));
        assert_eq!(q.filter.status, Some(Status::Resolved));
        assert_eq!(parse(None, Kind::Alerts).unwrap().limit, DEFAULT_LIMIT);
        let q = parse(Some("last_event_id=42&level=low"), Kind::Stream).unwrap();
        assert_eq!(q.last_event_id, Some(42));
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        let cases = [
            ("levle=high", Kind::Alerts, "levle"),
            ("level=severe", Kind::Alerts, "level"),
            ("since=yesterday", Kind::Alerts, "since"),
            ("limit=0", Kind::Alerts, "limit"),
            ("limit=1001", Kind::Alerts, "limit"),
            ("limit=ten", Kind::Alerts, "limit"),
            ("status=open", Kind::Alerts, "status"),
            ("status=closed", Kind::Incidents, "status"),
            ("tenant=a&tenant=b", Kind::Alerts, "tenant"),
            ("tenant=", Kind::Alerts, "tenant"),
            ("tenant=%zz", Kind::Alerts, "tenant"),
            ("cursor=x", Kind::Stream, "cursor"),
            ("last_event_id=-1", Kind::Stream, "last_event_id"),
            ("x=1", Kind::None, "x"),
        ];
        for (q, kind, param) in cases {
            let e = parse(Some(q), kind).unwrap_err();
            assert_eq!(e.param, param, "{q}: {e}");
        }
    }
}
