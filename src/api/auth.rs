//! Who may call the API: the [`Principal`] a bearer token stands for, its [`Role`] and what
//! each role may do, the [`Authenticate`] trait the routes consult, and [`FailedAuth`], which
//! turns away a client address after too many bad tokens in a short time.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use serde::{Deserialize, Serialize};

/// What a token may do. Ordered by nothing: `ingest` is not "less" than `viewer`, it is
/// different; [`Role::may`] is the one place that says who may do what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads alerts, incidents, rules and the stream.
    Viewer,
    /// A viewer that also triages incidents (ack, resolve, reopen, assign, notes).
    Operator,
    /// Only pushes events (`POST /api/v1/ingest`).
    Ingest,
    /// Everything.
    Admin,
}

/// The kinds of operation the routes check a role against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Read,
    Triage,
    Ingest,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "viewer" => Role::Viewer,
            "operator" => Role::Operator,
            "ingest" => Role::Ingest,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        }
    }

    pub fn may(self, need: Need) -> bool {
        matches!(
            (self, need),
            (Role::Admin, _)
                | (Role::Viewer, Need::Read)
                | (Role::Operator, Need::Read | Need::Triage)
                | (Role::Ingest, Need::Ingest)
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s)
            .ok_or_else(|| format!("unknown role `{s}`: viewer, operator, ingest or admin"))
    }
}

/// Who a request comes from, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (or id when it has none): the actor in incident histories.
    pub subject: String,
    pub role: Role,
    /// When set, the caller sees only this tenant's alerts and incidents.
    pub tenant: Option<String>,
}

/// Checks the `Authorization` header of `/api/` requests.
pub trait Authenticate: Send + Sync {
    fn authenticate(&self, authorization: Option<&HeaderValue>) -> Option<Principal>;
}

/// No tokens at all: every `/api/` call is refused.
pub struct NoTokens;

impl Authenticate for NoTokens {
    fn authenticate(&self, _: Option<&HeaderValue>) -> Option<Principal> {
        None
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (scheme case-insensitive).
pub fn bearer(authorization: Option<&HeaderValue>) -> Option<&str> {
    let v = authorization?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Failures from one client address that lead to a block...
pub const MAX_FAILURES: u32 = 10;
/// ... when they fall within this window ...
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// ... and how long the block lasts.
pub const BLOCK_FOR: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past it, entries without a block are forgotten first.
const MAX_TRACKED: usize = 10_000;

/// Counts failed authentications per client address and blocks an address that fails
/// [`MAX_FAILURES`] times within [`FAILURE_WINDOW`]. A blocked address is refused before its
/// token is even looked at, so guessing stops for the whole block. IPv6 clients are counted
/// per /64, since one host usually owns a whole /64.
#[derive(Debug, Default)]
pub struct FailedAuth {
    clients: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    since: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

impl FailedAuth {
    /// `Some(seconds to wait)` while `ip` is blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        self.blocked_at(ip, Instant::now())
    }

    /// Counts one failure from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now())
    }

    fn blocked_at(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let until = clients.get(&client_key(ip))?.blocked_until?;
        let left = until.checked_duration_since(now).filter(|d| !d.is_zero())?;
        // Round up, so that a client waiting exactly Retry-After is let through.
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_TRACKED {
            clients.retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
        }
        let f = clients.entry(client_key(ip)).or_insert(Failures {
            since: now,
            count: 0,
            blocked_until: None,
        });
        let block_over = f.blocked_until.is_some_and(|u| u <= now);
        if block_over || now.duration_since(f.since) > FAILURE_WINDOW {
            *f = Failures {
                since: now,
                count: 0,
                blocked_until: None,
            };
        }
        f.count += 1;
        if f.count >= MAX_FAILURES {
            f.blocked_until = Some(now + BLOCK_FOR);
        }
    }
}

fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_may_what_the_design_says() {
        use Need::*;
        let table = [
            (Role::Viewer, [true, false, false]),
            (Role::Operator, [true, true, false]),
            (Role::Ingest, [false, false, true]),
            (Role::Admin, [true, true, true]),
        ];
        for (role, want) in table {
            assert_eq!(
                [role.may(Read), role.may(Triage), role.may(Ingest)],
                want,
                "{role}"
            );
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn bearer_tokens_are_taken_from_the_header() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer(Some(&h("Bearer vgl_abc"))), Some("vgl_abc"));
        assert_eq!(bearer(Some(&h("bearer  vgl_abc "))), Some("vgl_abc"));
        assert_eq!(bearer(Some(&h("Basic dXNlcg=="))), None);
        assert_eq!(bearer(Some(&h("Bearer "))), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn an_address_is_blocked_after_too_many_failures_and_let_go_later() {
        let f = FailedAuth::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(f.blocked_at(ip, t0), None, "after {i} failures");
            f.failed_at(ip, t0);
        }
        assert_eq!(f.blocked_at(ip, t0), Some(BLOCK_FOR.as_secs()));
        assert_eq!(f.blocked_at(other, t0), None);
        assert_eq!(f.blocked_at(ip, t0 + BLOCK_FOR), None);
        // Failures spread wider than the window never block.
        let slow: IpAddr = "2001:db8::1".parse().unwrap();
        for i in 0..3 * MAX_FAILURES {
            f.failed_at(slow, t0 + FAILURE_WINDOW / 2 * i);
        }
        assert_eq!(f.blocked_at(slow, t0 + FAILURE_WINDOW * 15), None);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let f = FailedAuth::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip: IpAddr = format!("2001:db8:0:1::{:x}", i + 1).parse().unwrap();
            f.failed_at(ip, t0);
        }
        let same_64: IpAddr = "2001:db8:0:1:ffff::1".parse().unwrap();
        let other_64: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(f.blocked_at(same_64, t0).is_some());
        assert_eq!(f.blocked_at(other_64, t0), None);
    }
}
