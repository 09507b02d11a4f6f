//! `GET /api/v1/stream`: alerts as server-sent events (`id: SEQ`, `event: alert`,
//! `data: JSON`), filtered like the alert list and confined to the token's tenant.
//!
//! Nothing is skipped: the stream subscribes to the store's notices first, then replays the
//! stored alerts after the client's `Last-Event-ID` (or after the newest one, for a new
//! client), then follows the notices, dropping ones it already sent. A receiver that falls
//! behind the broadcast buffer replays from the store again instead of losing alerts.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit};

use crate::api::routes::{error, Body};
use crate::incident::{AlertRecord, Filter, Notice, Scope, Store};
use crate::source::ingest::Shutdown;

/// A comment line this often keeps proxies and clients from timing the stream out.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Alerts read from the store at a time while replaying.
const REPLAY_PAGE: usize = 500;
/// Events buffered for a slow client; past it the stream waits (and may lag the broadcast,
/// which is then made up from the store).
const BUFFER: usize = 64;

/// What a stream needs.
pub(crate) struct Open {
    pub store: Arc<dyn Store>,
    pub scope: Scope,
    pub filter: Filter,
    /// Resume after this alert (`Last-Event-ID`).
    pub after: Option<u64>,
    /// The server's stop signal: the stream ends when it fires.
    pub stop: Option<Shutdown>,
    /// One of the server's stream slots, held until the stream ends.
    pub slot: OwnedSemaphorePermit,
}

/// Starts a stream for `scope` and `filter`, resuming after `after` if given.
pub(crate) async fn open(o: Open) -> Response<Body> {
    let Open {
        store,
        scope,
        filter,
        after,
        stop,
        slot,
    } = o;
    // The newest alert of all (only its number is used): where a new client starts, and the
    // most a returning one may claim (an id from before a store was wiped would otherwise
    // hide every alert up to it).
    let head = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .alerts(&Scope::All, &Filter::default(), 1, None)
                .map(|p| p.items.first().map_or(0, |a| a.seq))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    };
    let head = match head {
        Ok(h) => h,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store error", &e),
    };
    let start = after.map_or(head, |a| a.min(head));
    let notices = store.subscribe();
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(follow(
        Follow {
            store,
            scope,
            filter,
            last: start,
            tx,
            _slot: slot,
        },
        notices,
        stop,
    ));
    let mut r = Response::new(ChannelBody(rx).boxed());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

struct Follow {
    store: Arc<dyn Store>,
    scope: Scope,
    filter: Filter,
    /// The highest sequence number sent or known not to match.
    last: u64,
    tx: mpsc::Sender<Bytes>,
    _slot: OwnedSemaphorePermit,
}

impl Follow {
    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(b).await.is_ok()
    }

    /// Sends every stored alert after `last`; `false` once the client is gone.
    async fn replay(&mut self) -> bool {
        loop {
            let (store, scope, filter, last) = (
                self.store.clone(),
                self.scope.clone(),
                self.filter.clone(),
                self.last,
            );
            let batch = tokio::task::spawn_blocking(move || {
                store
                    .alerts_after(&scope, &filter, last, REPLAY_PAGE)
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // The client reconnects with its Last-Event-ID and nothing is lost.
                    let msg = format!(": store error: {e}\n\n");
                    let _ = self.send(Bytes::from(msg)).await;
                    return false;
                }
            };
            let n = batch.len();
            for a in batch {
                self.last = self.last.max(a.seq);
                if !self.send(event(&a)).await {
                    return false;
                }
            }
            if n < REPLAY_PAGE {
                return true;
            }
        }
    }
}

/// Returns when `stop` fires; never without one.
async fn stopped(stop: &mut Option<Shutdown>) {
    match stop {
        Some(s) => s.wait().await,
        None => std::future::pending().await,
    }
}

async fn follow(
    mut f: Follow,
    mut notices: broadcast::Receiver<Notice>,
    mut stop: Option<Shutdown>,
) {
    if !f.send(Bytes::from_static(b"retry: 3000\n\n")).await {
        return;
    }
    tokio::select! {
        sent = f.replay() => if !sent {
            return;
        },
        _ = stopped(&mut stop) => return,
    }
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        tokio::select! {
            n = notices.recv() => match n {
                Ok(Notice::Alert(a)) => {
                    if a.seq <= f.last {
                        continue;
                    }
                    f.last = a.seq;
                    if visible(&f.scope, &f.filter, &a) && !f.send(event(&a)).await {
                        return;
                    }
                }
                Ok(Notice::Incident(_)) => {}
                Err(RecvError::Lagged(_)) => {
                    tokio::select! {
                        sent = f.replay() => if !sent {
                            return;
                        },
                        _ = stopped(&mut stop) => return,
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = beat.tick() => {
                if !f.send(Bytes::from_static(b": heartbeat\n\n")).await {
                    return;
                }
            }
            _ = f.tx.closed() => return,
            // Ending the body lets the connection close within the server's stop.
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Whether a live alert may go to this stream: the same rules the store applies to reads.
pub(crate) fn visible(scope: &Scope, filter: &Filter, a: &AlertRecord) -> bool {
    scope.sees(&a.tenant) && filter.matches_alert(a)
}

fn event(a: &AlertRecord) -> Bytes {
    // serde_json escapes newlines inside strings, so the data is one line.
    let data = serde_json::to_string(&a.json.value()).unwrap_or_else(|_| "null".into());
    Bytes::from(format!("id: {}\nevent: alert\ndata: {data}\n\n", a.seq))
}

/// A response body fed by a channel; it ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::routes::{route, ApiState};
    use crate::api::testing::{block, req, state, MemStore, PEER};
    use crate::incident::Level;

    /// Reads events from a stream until none comes for a while; returns (id, tenant) pairs.
    async fn events(body: &mut Body) -> Vec<(u64, Option<String>)> {
        let mut out = Vec::new();
        let mut text = String::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_millis(200), body.frame()).await
        {
            if let Ok(data) = frame.into_data() {
                text.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
        for block in text.split("\n\n").filter(|b| b.starts_with("id: ")) {
            let lines: Vec<&str> = block.lines().collect();
            assert_eq!(lines[1], "event: alert", "{block}");
            let id = lines[0]["id: ".len()..].parse().unwrap();
            let data: serde_json::Value =
                serde_json::from_str(&lines[2]["data: ".len()..]).unwrap();
            out.push((id, data["tenant"].as_str().map(str::to_string)));
        }
        out
    }

    async fn open_stream(st: &Arc<ApiState>, token: &str, path: &str, last: Option<&str>) -> Body {
        let mut r = req("GET", path, Some(token), "");
        if let Some(l) = last {
            r.headers_mut()
                .insert("last-event-id", HeaderValue::from_str(l).unwrap());
        }
        let resp = route(st, PEER, r).await.1;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
        resp.into_body()
    }

    fn acme(s: &MemStore) {
        s.push(Some("acme"), Level::High, "r-1", &[]);
    }
    fn globex(s: &MemStore) {
        s.push(Some("globex"), Level::High, "r-1", &[]);
    }

    #[test]
    fn a_tenant_stream_never_carries_another_tenants_alert() {
        block(async {
            let store = MemStore::new(64);
            let st = state(Some(store.clone()));
            globex(&store);
            acme(&store);
            let mut mine = open_stream(&st, "acme-viewer", "/api/v1/stream", Some("0")).await;
            let mut asks_other = open_stream(
                &st,
                "acme-viewer",
                "/api/v1/stream?tenant=globex",
                Some("0"),
            )
            .await;
            let mut all = open_stream(&st, "viewer", "/api/v1/stream", Some("0")).await;
            globex(&store);
            acme(&store);
            store.push(None, Level::Low, "r-2", &[]);
            let acme_only = events(&mut mine).await;
            assert_eq!(
                acme_only,
                vec![(2, Some("acme".into())), (4, Some("acme".into()))]
            );
            assert_eq!(events(&mut asks_other).await, vec![]);
            let ids: Vec<u64> = events(&mut all).await.iter().map(|e| e.0).collect();
            assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        });
    }

    #[test]
    fn streams_are_capped_and_a_closed_one_frees_its_slot() {
        block(async {
            let store = MemStore::new(64);
            let st = state(Some(store.clone()));
            let mut open = Vec::new();
            for _ in 0..crate::api::routes::MAX_STREAMS {
                open.push(open_stream(&st, "viewer", "/api/v1/stream", None).await);
            }
            let r = route(&st, PEER, req("GET", "/api/v1/stream", Some("viewer"), "")).await;
            assert_eq!(r.1.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.1.headers()[header::RETRY_AFTER], "5");
            // Other routes still answer.
            let r = route(&st, PEER, req("GET", "/api/v1/alerts", Some("viewer"), "")).await;
            assert_eq!(r.1.status(), StatusCode::OK);
            drop(open.pop());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let r = route(&st, PEER, req("GET", "/api/v1/stream", Some("viewer"), "")).await;
                if r.1.status() == StatusCode::OK {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    #[test]
    fn a_stream_ends_when_the_server_stops() {
        block(async {
            let store = MemStore::new(64);
            let st = state(Some(store.clone()));
            let (trigger, stop) = crate::source::ingest::shutdown_signal();
            st.set_stop(stop);
            let mut body = open_stream(&st, "viewer", "/api/v1/stream", None).await;
            acme(&store);
            assert_eq!(events(&mut body).await.len(), 1);
            trigger.fire();
            let end = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(f) = body.frame().await {
                    assert!(f.is_ok());
                }
            })
            .await;
            assert!(end.is_ok(), "the stream went on after the stop");
        });
    }

    #[test]
    fn a_new_client_gets_only_new_alerts_and_a_returning_one_resumes() {
        block(async {
            let store = MemStore::new(64);
            let st = state(Some(store.clone()));
            acme(&store);
            acme(&store);
            let mut fresh = open_stream(&st, "viewer", "/api/v1/stream", None).await;
            let mut back = open_stream(&st, "viewer", "/api/v1/stream", Some("1")).await;
            let mut by_query = open_stream(
                &st,
                "viewer",
                "/api/v1/stream?last_event_id=1&level=high",
                None,
            )
            .await;
            // An id from before the store was wiped cannot hide new alerts.
            let mut ahead = open_stream(&st, "viewer", "/api/v1/stream", Some("1000")).await;
            acme(&store);
            let ids =
                |v: Vec<(u64, Option<String>)>| v.into_iter().map(|e| e.0).collect::<Vec<_>>();
            assert_eq!(ids(events(&mut fresh).await), vec![3]);
            assert_eq!(ids(events(&mut back).await), vec![2, 3]);
            assert_eq!(ids(events(&mut by_query).await), vec![2, 3]);
            assert_eq!(ids(events(&mut ahead).await), vec![3]);
            let bad = req("GET", "/api/v1/stream", Some("viewer"), "");
            let mut bad = bad;
            bad.headers_mut()
                .insert("last-event-id", HeaderValue::from_static("yesterday"));
            assert_eq!(
                route(&st, PEER, bad).await.1.status(),
                StatusCode::BAD_REQUEST
            );
        });
    }

    #[test]
    fn a_lagging_stream_catches_up_from_the_store_without_gaps() {
        block(async {
            // Room for two notices: one alert and its incident.
            let store = MemStore::new(2);
            let st = state(Some(store.clone()));
            let mut s = open_stream(&st, "acme-viewer", "/api/v1/stream", None).await;
            acme(&store);
            // The stream now follows the notices...
            assert_eq!(events(&mut s).await.len(), 1);
            // ... and cannot run until this task waits: it falls far behind the broadcast.
            for i in 1..40 {
                if i % 3 == 0 {
                    globex(&store)
                } else {
                    acme(&store)
                }
            }
            let got = events(&mut s).await;
            let want: Vec<u64> = (2..=40).filter(|i| (i - 1) % 3 != 0).collect();
            assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), want);
            assert!(got.iter().all(|e| e.1.as_deref() == Some("acme")));
        });
    }

    #[test]
    fn live_alerts_are_filtered_like_the_list() {
        let a = |tenant: Option<&str>, level, rule: &str, tags: &[&str]| AlertRecord {
            seq: 1,
            id: "a-1".into(),
            ts_ms: 2000,
            tenant: tenant.map(str::to_string),
            rule_id: rule.into(),
            level,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            incident_id: "i-1".into(),
            json: serde_json::Value::Null.into(),
        };
        let rec = a(Some("acme"), Level::Medium, "r-1", &["x"]);
        let all = Scope::All;
        let f = |g: fn(&mut Filter)| {
            let mut f = Filter::default();
            g(&mut f);
            f
        };
        assert!(visible(&all, &Filter::default(), &rec));
        assert!(visible(
            &Scope::Tenant("acme".into()),
            &Filter::default(),
            &rec
        ));
        assert!(!visible(
            &Scope::Tenant("globex".into()),
            &Filter::default(),
            &rec
        ));
        let untenanted = a(None, Level::Medium, "r-1", &[]);
        assert!(!visible(
            &Scope::Tenant("acme".into()),
            &Filter::default(),
            &untenanted
        ));
        assert!(visible(&all, &f(|f| f.level = Some(Level::Low)), &rec));
        assert!(!visible(&all, &f(|f| f.level = Some(Level::High)), &rec));
        assert!(!visible(&all, &f(|f| f.since_ms = Some(2001)), &rec));
        assert!(!visible(&all, &f(|f| f.rule = Some("r-2".into())), &rec));
        assert!(visible(&all, &f(|f| f.tag = Some("x".into())), &rec));
        assert!(!visible(&all, &f(|f| f.tag = Some("y".into())), &rec));
        assert!(!visible(
            &all,
            &f(|f| f.tenant = Some("globex".into())),
            &rec
        ));
    }
}
