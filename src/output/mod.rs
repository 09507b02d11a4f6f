//! Outputs: where events and alerts leave vigil. The JSON-lines file is a pipeline sink; the
//! network outputs (Alertmanager, webhook) are tasks that follow the store's notices, which are
//! published only once a record is durable, so nothing is announced that a crash could lose.
//! [`spawn_outputs`] starts them from an [`OutputsConfig`]; [`Outputs::shutdown`] drains them.

pub mod alertmanager;
pub mod jsonl;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::client::{Client, ClientError, ClientOptions};
use crate::incident::{Incident, Notice, Scope, Store};
use crate::metrics::{OUTPUT_DROPPED, OUTPUT_ERRORS, OUTPUT_SENT};

pub use alertmanager::AlertmanagerConfig;
pub use jsonl::RotationConfig;
pub use webhook::WebhookConfig;

/// The `[output]` table's network outputs and the JSON-lines file's rotation.
///
/// ```toml
/// [output.alertmanager]
/// url = "http://127.0.0.1:9093"
/// resend_interval = "1m"
///
/// [output.webhook]
/// url = "https://soar.example/hooks/vigil"
/// secret_file = "/etc/vigil/webhook.secret"
///
/// [output.rotate]
/// max_bytes = 104857600
/// keep = 5
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    pub alertmanager: Option<AlertmanagerConfig>,
    pub webhook: Option<WebhookConfig>,
    pub rotate: Option<RotationConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {output}: {source}")]
    Client {
        output: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("output {output}: {}: {reason}", path.display())]
    File {
        output: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("output {output}: {reason}")]
    Config {
        output: &'static str,
        reason: String,
    },
}

/// The running network outputs.
pub struct Outputs {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Outputs {
    /// Names of the outputs that run.
    pub fn names(&self) -> Vec<&'static str> {
        let mut n: Vec<_> = self.tasks.iter().map(|(n, _)| *n).collect();
        n.dedup();
        n
    }

    /// Asks every output to send what it holds (Alertmanager: one last update; webhook: the
    /// queued alerts) and waits for them, at most `deadline`; what is left after it is lost
    /// and the tasks are aborted.
    pub async fn shutdown(self, deadline: Duration) {
        let _ = self.stop.send(true);
        let until = tokio::time::Instant::now() + deadline;
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(until, &mut task).await.is_err() {
                eprintln!("vigil: output {name}: not drained within {deadline:?}; stopping it");
                task.abort();
            }
        }
    }
}

/// Starts the configured network outputs; call inside a Tokio runtime. `subscribe` is the
/// store's [`crate::incident::Store::subscribe`]: each output gets its own receiver, taken
/// first, so that nothing published after this call is missed. `seed` is called after that and
/// gives the incidents open when the daemon starts ([`open_incidents`]), so that Alertmanager
/// hears of them again after a restart instead of expiring them; a notice that races with the
/// seed is applied after it, so the newer state wins.
pub fn spawn_outputs(
    cfg: &OutputsConfig,
    subscribe: impl Fn() -> broadcast::Receiver<Notice>,
    seed: impl FnOnce() -> Vec<Incident>,
) -> Result<Outputs, OutputError> {
    let (stop, stopped) = watch::channel(false);
    let am_notices = cfg.alertmanager.as_ref().map(|_| subscribe());
    let wh_notices = cfg.webhook.as_ref().map(|_| subscribe());
    let seed = if am_notices.is_some() {
        seed()
    } else {
        Vec::new()
    };
    let mut tasks = Vec::new();
    if let (Some(am), Some(rx)) = (&cfg.alertmanager, am_notices) {
        for t in alertmanager::spawn(am, rx, seed, stopped.clone())? {
            tasks.push((alertmanager::NAME, t));
        }
    }
    if let (Some(wh), Some(rx)) = (&cfg.webhook, wh_notices) {
        for t in webhook::spawn(wh, rx, stopped.clone())? {
            tasks.push((webhook::NAME, t));
        }
    }
    let outputs = Outputs { stop, tasks };
    // Configured outputs show their counters from the first scrape, at zero.
    for name in outputs.names() {
        for m in [&OUTPUT_SENT, &OUTPUT_ERRORS, &OUTPUT_DROPPED] {
            m.with_label_values(&[name]);
        }
    }
    Ok(outputs)
}

/// Every open or acknowledged incident in `store`, for [`spawn_outputs`]' seed. A store error
/// is reported and what was read so far is returned: the outputs still start.
pub fn open_incidents(store: &dyn Store) -> Vec<Incident> {
    crate::incident::open_incidents(store, &Scope::All).unwrap_or_else(|e| {
        eprintln!("vigil: outputs: cannot read the open incidents: {e}");
        Vec::new()
    })
}

/// A client for an output, with its bearer token read from a file (never from the config).
fn client(
    output: &'static str,
    cacert: Option<&Path>,
    token_file: Option<&Path>,
    timeout: Duration,
) -> Result<Client, OutputError> {
    let token = match token_file {
        None => None,
        Some(p) => Some(read_secret(output, p)?),
    };
    Client::new(ClientOptions {
        cacert: cacert.map(Path::to_path_buf),
        token,
        timeout,
        ..ClientOptions::default()
    })
    .map_err(|source| OutputError::Client { output, source })
}

/// A secret file's content without the trailing newline; empty is an error.
fn read_secret(output: &'static str, path: &Path) -> Result<String, OutputError> {
    let err = |reason: String| OutputError::File {
        output,
        path: path.to_path_buf(),
        reason,
    };
    let s = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let s = s.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        return Err(err("is empty".into()));
    }
    Ok(s)
}

/// POSTs `body` as JSON, retrying connection failures, timeouts, 429 and 5xx with back-off;
/// another 4xx is final (sending the same body again cannot help). Logs when an output starts
/// and stops failing, not on every attempt. Returns whether the peer took it.
async fn post_with_retries(
    output: &'static str,
    client: &Client,
    url: &str,
    headers: &[(&'static str, String)],
    body: bytes::Bytes,
    attempts: u32,
    failing: &mut bool,
) -> bool {
    for attempt in 1..=attempts {
        let res = client
            .request(
                hyper::Method::POST,
                url,
                headers,
                Some(("application/json", body.clone())),
            )
            .await;
        let (retry, why) = match res {
            Ok(r) if r.is_success() => {
                if *failing {
                    eprintln!("vigil: output {output}: {url} takes alerts again");
                    *failing = false;
                }
                return true;
            }
            Ok(r) => {
                let retry = r.status == 429 || r.status >= 500;
                let mut text = r.text();
                text.truncate(200);
                (retry, format!("{url}: HTTP {}: {}", r.status, text.trim()))
            }
            Err(e) => (true, e.to_string()),
        };
        OUTPUT_ERRORS.with_label_values(&[output]).inc();
        if !*failing {
            eprintln!("vigil: output {output}: {why}");
            *failing = true;
        }
        if !retry {
            return false;
        }
        if attempt < attempts {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    false
}

/// Back-off before retry `attempt` (1-based): 0.5 s doubling, at most 30 s.
fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(30_000))
}

/// Deserializes `"30s"`, `"5m"`, `"1h"` (whole seconds, minutes, hours, days).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    crate::rules::parse_timespan(&s)
        .map(|ns| Duration::from_nanos(ns as u64))
        .ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a duration like 30s, 5m or 1h"))
        })
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    crate::incident::grouping::wall_ms()
}

/// RFC 3339 in UTC for Unix milliseconds, e.g. `2025-11-24T16:00:01.123000Z`.
fn rfc3339(ms: i64) -> String {
    crate::event::Timestamp(ms.saturating_mul(1_000_000)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_from_toml() {
        let c: OutputsConfig = toml::from_str(
            r#"
            [alertmanager]
            url = "http://127.0.0.1:9093"
            resend_interval = "2m"
            [webhook]
            url = "https://h/x"
            secret_file = "/etc/vigil/wh.secret"
            [rotate]
            max_bytes = 1000
            keep = 3
            "#,
        )
        .unwrap();
        let am = c.alertmanager.unwrap();
        assert_eq!(am.resend_interval, Duration::from_secs(120));
        assert_eq!(am.timeout, Duration::from_secs(10));
        assert_eq!(c.webhook.unwrap().batch, 100);
        assert_eq!(c.rotate.unwrap().keep, 3);
        let e =
            toml::from_str::<OutputsConfig>("[alertmanager]\nurl='x'\nresend_interval='soon'\n")
                .unwrap_err();
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(20), Duration::from_secs(30));
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_764_000_001_123), "2025-11-24T16:00:01.123000Z");
    }
}
