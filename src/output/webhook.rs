//! The webhook output: alerts POSTed as JSON, `{"alerts":[ALERT, ...]}` with each ALERT the
//! alert JSON of DESIGN.md, in batches. Each request carries `X-Vigil-Timestamp` (Unix
//! seconds when the batch was made) and `X-Vigil-Signature: sha256=HEX`, the HMAC-SHA256 of
//! the body under the shared secret, so that a receiver can check it with
//! `openssl dgst -sha256 -hmac SECRET`. The signature covers the body only; a receiver that
//! wants replay protection rejects batches whose alerts' `ts` are old, or keeps their ids.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::{duration, OutputError};
use crate::client::Client;
use crate::incident::{Level, Notice};
use crate::metrics;

/// The `output` label of this output's metrics.
pub const NAME: &str = "webhook";

/// `[output.webhook]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// File holding the HMAC secret (kept out of the config file).
    pub secret_file: PathBuf,
    /// PEM CA file for an `https://` URL (default: the system roots).
    #[serde(default)]
    pub cacert: Option<PathBuf>,
    /// File holding a bearer token, sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Only alerts at least this level (default: all).
    #[serde(default)]
    pub min_level: Option<Level>,
    /// Alerts per POST at most.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Alerts waiting to be sent at most; past it they are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Attempts per batch before it is dropped.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_batch() -> usize {
    100
}
fn default_queue() -> usize {
    10_000
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_attempts() -> u32 {
    5
}

impl WebhookConfig {
    pub fn new(url: &str, secret_file: PathBuf) -> WebhookConfig {
        WebhookConfig {
            url: url.to_string(),
            secret_file,
            cacert: None,
            token_file: None,
            min_level: None,
            batch: default_batch(),
            queue: default_queue(),
            timeout: default_timeout(),
            attempts: default_attempts(),
        }
    }
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    format!("sha256={}", crate::hex::encode(tag.as_ref()))
}

/// Whether `signature` (a header value) is `body`'s, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature
        .strip_prefix("sha256=")
        .and_then(crate::hex::decode_array::<32>)
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// Starts the follower and the sender.
pub(super) fn spawn(
    cfg: &WebhookConfig,
    notices: broadcast::Receiver<Notice>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, OutputError> {
    if cfg.batch == 0 || cfg.queue == 0 || cfg.attempts == 0 {
        return Err(OutputError::Config {
            output: NAME,
            reason: "batch, queue and attempts must be at least 1".into(),
        });
    }
    let secret = super::read_secret(NAME, &cfg.secret_file)?;
    let client = super::client(
        NAME,
        cfg.cacert.as_deref(),
        cfg.token_file.as_deref(),
        cfg.timeout,
    )?;
    let (tx, rx) = mpsc::channel(cfg.queue);
    let follower = tokio::spawn(follow(notices, tx, cfg.min_level, stop));
    let sender = tokio::spawn(send_batches(
        client,
        cfg.url.clone(),
        secret.into_bytes(),
        rx,
        cfg.batch,
        cfg.attempts,
    ));
    Ok(vec![follower, sender])
}

async fn follow(
    mut notices: broadcast::Receiver<Notice>,
    tx: mpsc::Sender<Bytes>,
    min_level: Option<Level>,
    mut stop: watch::Receiver<bool>,
) {
    let dropped = metrics::OUTPUT_DROPPED.with_label_values(&[NAME]);
    let depth = metrics::QUEUE_DEPTH.with_label_values(&["output_webhook"]);
    let take = |n: Notice| {
        let Notice::Alert(alert) = n else { return };
        if min_level.is_some_and(|min| alert.level < min) {
            return;
        }
        let Ok(json) = serde_json::to_vec(&alert.json.value()) else {
            return;
        };
        if tx.try_send(Bytes::from(json)).is_err() {
            dropped.inc();
        }
        depth.set((tx.max_capacity() - tx.capacity()) as i64);
    };
    loop {
        tokio::select! {
            n = notices.recv() => match n {
                Ok(n) => take(n),
                Err(RecvError::Lagged(k)) => dropped.inc_by(k),
                Err(RecvError::Closed) => break,
            },
            _ = stop.changed() => {
                // What the store published before the stop (the pipeline's drain) still goes.
                while let Ok(n) = notices.try_recv() {
                    take(n);
                }
                break;
            }
        }
    }
}

async fn send_batches(
    client: Client,
    url: String,
    secret: Vec<u8>,
    mut rx: mpsc::Receiver<Bytes>,
    batch: usize,
    attempts: u32,
) {
    let mut failing = false;
    let mut alerts = Vec::with_capacity(batch);
    while rx.recv_many(&mut alerts, batch).await > 0 {
        let body = envelope(&alerts);
        let headers = [
            (
                "x-vigil-timestamp",
                super::now_ms().div_euclid(1000).to_string(),
            ),
            ("x-vigil-signature", sign(&secret, &body)),
        ];
        let n = alerts.len() as u64;
        alerts.clear();
        if super::post_with_retries(NAME, &client, &url, &headers, body, attempts, &mut failing)
            .await
        {
            metrics::OUTPUT_SENT.with_label_values(&[NAME]).inc_by(n);
        } else {
            metrics::OUTPUT_DROPPED.with_label_values(&[NAME]).inc_by(n);
        }
    }
}

/// `{"alerts":[...]}` from alerts already serialized.
fn envelope(alerts: &[Bytes]) -> Bytes {
    let len = alerts.iter().map(|a| a.len() + 1).sum::<usize>() + 12;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(b"{\"alerts\":[");
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(a);
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_rfc4231() {
        // RFC 4231 test case 2.
        let s = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &s));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &s));
        assert!(!verify(b"Jefe", b"x", "sha256=zz"));
    }

    #[test]
    fn the_envelope_is_json() {
        let body = envelope(&[Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{}")]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 2);
    }
}
