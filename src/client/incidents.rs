//! `vigil incidents list|show|ack|resolve`: a client of the API's incident routes. Prints an
//! aligned table (list) or a record (show, ack, resolve) for a person at a terminal, and the
//! API's JSON objects one per line for a pipe. Errors say what to do: a rejected token names
//! `vigil token create`, an unreachable server names the server.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hyper::Method;
use serde_json::Value;

use super::{encode, join, Client, ClientError, ClientOptions, Response};
use crate::config::DEFAULT_DATA;

pub const DEFAULT_SERVER: &str = "https://127.0.0.1:8443";

/// The dev CA `vigil run` makes, used when present and no `--cacert` is given.
pub fn default_cacert() -> Option<PathBuf> {
    let p = Path::new(DEFAULT_DATA).join("tls/ca.crt");
    p.exists().then_some(p)
}

/// Where and as whom to call the API.
#[derive(Clone, Default)]
pub struct Connection {
    pub server: String,
    pub token: Option<String>,
    pub cacert: Option<PathBuf>,
}

/// `vigil incidents list` filters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub tenant: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    List(ListQuery),
    Show(String),
    Ack(String),
    Resolve(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum IncidentsError {
    #[error("cannot reach the vigil server at {server}: {source}; is `vigil run` running there? (--server URL)")]
    Unreachable {
        server: String,
        #[source]
        source: ClientError,
    },
    #[error("{source}; pass the CA that signed the server's certificate with --cacert FILE (the daemon's dev CA is DATA/tls/ca.crt)")]
    Untrusted {
        #[source]
        source: ClientError,
    },
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{server}: token rejected; make one with `vigil token create --data DIR --role operator` and pass it with --token or VIGIL_TOKEN")]
    Unauthorized { server: String },
    #[error("{server}: the token's role may not do this (HTTP 403); an `operator` token can ack and resolve")]
    Forbidden { server: String },
    #[error("no incident {0} (or it belongs to a tenant the token may not see)")]
    NotFound(String),
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: the answer is not the JSON expected: {reason}")]
    Json { url: String, reason: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
}

/// Runs one command and prints its result to `out`.
pub fn run(
    cmd: &Command,
    conn: &Connection,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), IncidentsError> {
    let client = Client::new(ClientOptions {
        cacert: conn.cacert.clone(),
        token: conn.token.clone(),
        ..ClientOptions::default()
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(IncidentsError::Runtime)?;
    let api = Api {
        client,
        server: conn.server.clone(),
    };
    match cmd {
        Command::List(q) => {
            let items = rt.block_on(api.list(q))?;
            match format {
                Format::Json => json_lines(&items, out)?,
                Format::Table => out.write_all(table(&items).as_bytes())?,
            }
        }
        Command::Show(id) | Command::Ack(id) | Command::Resolve(id) => {
            let v = match cmd {
                Command::Ack(_) => rt.block_on(api.act(id, "ack"))?,
                Command::Resolve(_) => rt.block_on(api.act(id, "resolve"))?,
                _ => rt.block_on(api.show(id))?,
            };
            match format {
                Format::Json => json_lines(std::slice::from_ref(&v), out)?,
                Format::Table => out.write_all(record(&v).as_bytes())?,
            }
        }
    }
    out.flush()?;
    Ok(())
}

struct Api {
    client: Client,
    server: String,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        id: Option<&str>,
    ) -> Result<Value, IncidentsError> {
        let url = join(&self.server, path);
        let res = self
            .client
            .request(method, &url, &[], None)
            .await
            .map_err(|e| {
                if e.is_connect() || matches!(e, ClientError::Timeout { .. }) {
                    IncidentsError::Unreachable {
                        server: self.server.clone(),
                        source: e,
                    }
                } else if matches!(e, ClientError::Tls { .. }) {
                    IncidentsError::Untrusted { source: e }
                } else {
                    IncidentsError::Client(e)
                }
            })?;
        self.check(&url, id, &res)?;
        serde_json::from_slice(&res.body).map_err(|e| IncidentsError::Json {
            url,
            reason: e.to_string(),
        })
    }

    fn check(&self, url: &str, id: Option<&str>, res: &Response) -> Result<(), IncidentsError> {
        let server = self.server.clone();
        match res.status {
            200..=299 => Ok(()),
            401 => Err(IncidentsError::Unauthorized { server }),
            403 => Err(IncidentsError::Forbidden { server }),
            404 if id.is_some() => Err(IncidentsError::NotFound(id.unwrap_or("").to_string())),
            status => {
                let mut body = res.text();
                body.truncate(300);
                Err(IncidentsError::Status {
                    url: url.to_string(),
                    status,
                    body: body.trim().to_string(),
                })
            }
        }
    }

    /// Pages through `/api/v1/incidents` until `limit` incidents or the last page.
    async fn list(&self, q: &ListQuery) -> Result<Vec<Value>, IncidentsError> {
        let limit = q.limit.max(1);
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![format!("limit={}", limit - items.len())];
            for (k, v) in [
                ("tenant", &q.tenant),
                ("level", &q.level),
                ("status", &q.status),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(v)));
                }
            }
            if let Some(c) = &cursor {
                query.push(format!("cursor={}", encode(c)));
            }
            let path = format!("/api/v1/incidents?{}", query.join("&"));
            let page = self.call(Method::GET, &path, None).await?;
            let got = page["items"]
                .as_array()
                .ok_or_else(|| IncidentsError::Json {
                    url: join(&self.server, &path),
                    reason: "no `items` list".into(),
                })?;
            if got.is_empty() {
                break;
            }
            items.extend(got.iter().cloned());
            cursor = page["next_cursor"].as_str().map(String::from);
            if items.len() >= limit || cursor.is_none() {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    async fn show(&self, id: &str) -> Result<Value, IncidentsError> {
        let path = format!("/api/v1/incidents/{}", encode(id));
        self.call(Method::GET, &path, Some(id)).await
    }

    async fn act(&self, id: &str, action: &str) -> Result<Value, IncidentsError> {
        let path = format!("/api/v1/incidents/{}/{action}", encode(id));
        self.call(Method::POST, &path, Some(id)).await
    }
}

fn json_lines(items: &[Value], out: &mut dyn Write) -> io::Result<()> {
    for v in items {
        serde_json::to_writer(&mut *out, v).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A field as display text: strings bare, `null` and missing as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC; other values as they are.
fn when(v: &Value) -> String {
    let Some(ms) = v.as_i64() else {
        return text(v);
    };
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::event::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// The incident list as an aligned table; the title, last, takes the rest of the line.
pub fn table(items: &[Value]) -> String {
    const HEAD: [&str; 8] = [
        "ID",
        "STATUS",
        "SEVERITY",
        "TENANT",
        "ALERTS",
        "LAST SEEN (UTC)",
        "ENTITY",
        "TITLE",
    ];
    if items.is_empty() {
        return "no incidents\n".into();
    }
    let rows: Vec<[String; 8]> = items
        .iter()
        .map(|i| {
            [
                text(&i["id"]),
                text(&i["status"]),
                text(&i["severity"]),
                text(&i["tenant"]),
                text(&i["alert_count"]),
                when(&i["last_ms"]),
                text(&i["entity"]),
                text(&i["title"]),
            ]
        })
        .collect();
    let mut width = HEAD.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 8]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 7 {
                l.push_str(c);
            } else if i == 4 {
                // Counts read best right-aligned.
                l.push_str(&format!("{c:>w$}  ", w = width[i]));
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(HEAD);
    for r in &rows {
        line(r.each_ref().map(String::as_str));
    }
    out
}

/// One incident as `key: value` lines, then its history.
pub fn record(i: &Value) -> String {
    let mut out = String::new();
    let fields = [
        ("id", text(&i["id"])),
        ("title", text(&i["title"])),
        ("status", text(&i["status"])),
        ("severity", text(&i["severity"])),
        ("tenant", text(&i["tenant"])),
        ("entity", text(&i["entity"])),
        ("alerts", text(&i["alert_count"])),
        ("first seen", when(&i["first_ms"])),
        ("last seen", when(&i["last_ms"])),
        ("assignee", text(&i["assignee"])),
        ("rules", list(&i["rules"])),
        ("tags", list(&i["tags"])),
    ];
    for (k, v) in fields {
        out.push_str(&format!("{:<11} {v}\n", format!("{k}:")));
    }
    for (name, key) in [("notes", "notes"), ("history", "history")] {
        let Some(changes) = i[key].as_array().filter(|c| !c.is_empty()) else {
            continue;
        };
        out.push_str(&format!("{name}:\n"));
        for c in changes {
            let detail = c["detail"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}  {:<12} {}{detail}\n",
                when(&c["at_ms"]),
                text(&c["action"]),
                text(&c["actor"])
            ));
        }
    }
    out
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Vec<Value> {
        vec![
            json!({"id":"i-0000000000000001","tenant":"acme","entity":"10.1.4.20",
                "title":"Container escape via hostPID pod","status":"open","severity":"high",
                "first_ms":1764000000000i64,"last_ms":1764000001123i64,"alert_count":3,
                "rules":["r1"],"tags":["attack.t1611"],"assignee":null,"notes":[],
                "history":[{"at_ms":1764000000000i64,"actor":"vigil","action":"opened"}]}),
            json!({"id":"i-0000000000000002","tenant":null,"entity":"hv-01",
                "title":"SSH brute force","status":"acknowledged","severity":"medium",
                "first_ms":1764000000000i64,"last_ms":1764003600000i64,"alert_count":12,
                "rules":[],"tags":[],"assignee":"ops","notes":[],"history":[]}),
        ]
    }

    #[test]
    fn the_table_is_aligned_with_the_title_last() {
        let t = table(&sample());
        let expected = "\
ID                  STATUS        SEVERITY  TENANT  ALERTS  LAST SEEN (UTC)      ENTITY     TITLE
i-0000000000000001  open          high      acme         3  2025-11-24 16:00:01  10.1.4.20  Container escape via hostPID pod
i-0000000000000002  acknowledged  medium    -           12  2025-11-24 17:00:00  hv-01      SSH brute force
";
        assert_eq!(t, expected);
        assert_eq!(table(&[]), "no incidents\n");
    }

    #[test]
    fn a_record_shows_fields_and_history() {
        let r = record(&sample()[0]);
        assert!(r.starts_with("id:         i-0000000000000001\n"), "{r}");
        assert!(r.contains("tags:       attack.t1611\n"), "{r}");
        assert!(r.contains("assignee:   -\n"), "{r}");
        assert!(
            r.contains("history:\n  2025-11-24 16:00:00  opened       vigil\n"),
            "{r}"
        );
    }

    #[test]
    fn errors_tell_what_to_do() {
        let e = IncidentsError::Unauthorized {
            server: DEFAULT_SERVER.into(),
        };
        assert!(e
            .to_string()
            .contains("token rejected; make one with `vigil token create"));
    }

    #[test]
    fn an_unreachable_server_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        drop(l);
        let conn = Connection {
            server: server.clone(),
            ..Connection::default()
        };
        let mut out = Vec::new();
        let e = run(
            &Command::List(ListQuery::default()),
            &conn,
            Format::Json,
            &mut out,
        )
        .unwrap_err();
        assert!(matches!(e, IncidentsError::Unreachable { .. }), "{e}");
        assert!(
            e.to_string().contains(&format!("vigil server at {server}")),
            "{e}"
        );
    }
}
