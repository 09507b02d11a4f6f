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
use tokio::sync::{broadcast, mpsc};

use crate::api::routes::{error, Body};
use crate::incident::{AlertRecord, Filter, Notice, Scope, Store};

/// A comment line this often keeps proxies and clients from timing the stream out.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Alerts read from the store at a time while replaying.
const REPLAY_PAGE: usize = 500;
/// Events buffered for a slow client; past it the stream waits (and may lag the broadcast,
/// which is then made up from the store).
const BUFFER: usize = 64;

/// Starts a stream for `scope` and `filter`, resuming after `after` if given.
pub(crate) fn open(
    store: Arc<dyn Store>,
    scope: Scope,
    filter: Filter,
    after: Option<u64>,
) -> Response<Body> {
    // Where a new client starts: after the newest alert of all (only its number is used).
    let start = match after {
        Some(a) => a,
        None => match store.alerts(&Scope::All, &Filter::default(), 1, None) {
            Ok(p) => p.items.first().map_or(0, |a| a.seq),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store error",
                    &e.to_string(),
                )
            }
        },
    };
    let notices = store.subscribe();
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(follow(
        Follow {
            store,
            scope,
            filter,
            last: start,
            tx,
        },
        notices,
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
}

impl Follow {
    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(b).await.is_ok()
    }

    /// Sends every stored alert after `last`; `false` once the client is gone.
    async fn replay(&mut self) -> bool {
        loop {
            let batch =
                match self
                    .store
                    .alerts_after(&self.scope, &self.filter, self.last, REPLAY_PAGE)
                {
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

async fn follow(mut f: Follow, mut notices: broadcast::Receiver<Notice>) {
    if !f.send(Bytes::from_static(b"retry: 3000\n\n")).await || !f.replay().await {
        return;
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
                    if !f.replay().await {
                        return;
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
        }
    }
}

/// Whether a live alert may go to this stream: the same rules the store applies to reads.
pub(crate) fn visible(scope: &Scope, filter: &Filter, a: &AlertRecord) -> bool {
    if let Scope::Tenant(t) = scope {
        if a.tenant.as_ref() != Some(t) {
            return false;
        }
    }
    filter.since_ms.is_none_or(|s| a.ts_ms >= s)
        && filter
            .tenant
            .as_ref()
            .is_none_or(|t| a.tenant.as_ref() == Some(t))
        && filter.level.is_none_or(|l| a.level >= l)
        && filter.rule.as_ref().is_none_or(|r| &a.rule_id == r)
        && filter.tag.as_ref().is_none_or(|t| a.tags.contains(t))
}

fn event(a: &AlertRecord) -> Bytes {
    // serde_json escapes newlines inside strings, so the data is one line.
    let data = serde_json::to_string(&a.json).unwrap_or_else(|_| "null".into());
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
