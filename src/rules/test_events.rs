//! Rule tests: `NAME.tests.yml` beside `NAME.yml` lists cases, each a few events and whether
//! the file's rules (or one named rule) must fire. Format in `rules/README.md`.
//!
//! Each case runs on a fresh engine over the whole loaded set, so correlations work.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use compact_str::CompactString;

use super::parse::RawValue;
use super::yaml::{self, Node, NodeKind};
use super::{Engine, RuleSet};
use crate::event::{Event, Kind, LogSource, Timestamp, Value};

/// One test case.
#[derive(Clone, Debug)]
pub struct Case {
    pub file: PathBuf,
    pub line: u32,
    pub name: String,
    pub logsource: Option<LogSource>,
    pub events: Vec<Event>,
    /// Rule id or name; `None` means any rule of the sibling rule file.
    pub rule: Option<String>,
    pub expect_match: bool,
    pub count: Option<usize>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub case: Case,
    pub passed: bool,
    pub detail: String,
}

/// The rule file a test file belongs to (`x.tests.yml` -> `x.yml`).
pub fn rule_file_of(test: &Path) -> PathBuf {
    let name = test
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let base = name
        .trim_end_matches(".tests.yml")
        .trim_end_matches(".tests.yaml");
    test.with_file_name(format!("{base}.yml"))
}

/// Test files under `paths` (directories are searched recursively).
pub fn test_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>, depth: usize) {
        if p.is_dir() && depth < 32 {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), out, depth + 1);
                }
            }
        } else if super::ruleset::is_test_file(p) {
            out.push(p.to_path_buf());
        } else if p.extension().and_then(|e| e.to_str()) == Some("yml") {
            let t = p.with_file_name(format!(
                "{}.tests.yml",
                p.file_stem().and_then(|s| s.to_str()).unwrap_or_default()
            ));
            if t.exists() {
                out.push(t);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out, 0);
    }
    out.sort();
    out.dedup();
    out
}

fn json(n: &Node) -> serde_json::Value {
    match &n.kind {
        NodeKind::Scalar { .. } => match super::parse::raw_value(n) {
            Some(RawValue::Str(s)) => serde_json::Value::String(s),
            Some(RawValue::Int(i)) => i.into(),
            Some(RawValue::Float(f)) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
            }
            Some(RawValue::Bool(b)) => b.into(),
            Some(RawValue::Null) | None => serde_json::Value::Null,
        },
        NodeKind::Seq(items) => items.iter().map(json).collect(),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// `2025-11-24T16:00:01.5Z` (UTC only) or seconds since the epoch.
pub fn parse_ts(v: &serde_json::Value) -> Option<Timestamp> {
    if let Some(f) = v.as_f64() {
        return Some(Timestamp((f * 1e9) as i64));
    }
    let s = v.as_str()?.trim_end_matches('Z');
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let days = crate::event::days_from_civil(y, m as u32, day as u32);
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some(Timestamp(
        (days * 86_400 + h * 3600 + mi * 60 + sec) * 1_000_000_000 + nanos,
    ))
}

fn logsource(n: &Node) -> LogSource {
    let get = |k: &str| n.get(k).and_then(Node::as_str).map(CompactString::from);
    LogSource {
        category: get("category"),
        product: get("product"),
        service: get("service"),
    }
}

/// Parses a test file. Errors name the line.
pub fn parse_cases(file: &Path, text: &str) -> Result<Vec<Case>, String> {
    let docs = yaml::parse_documents(text)
        .map_err(|e| format!("{}:{}: {}", file.display(), e.line, e.message))?;
    let Some(doc) = docs.first() else {
        return Ok(Vec::new());
    };
    let list = match &doc.kind {
        NodeKind::Seq(items) => items.as_slice(),
        _ => match doc.get("tests").map(|t| &t.kind) {
            Some(NodeKind::Seq(items)) => items.as_slice(),
            _ => {
                return Err(format!(
                    "{}:{}: expected a list of test cases",
                    file.display(),
                    doc.line
                ))
            }
        },
    };
    let mut cases = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let err = |line: u32, m: &str| format!("{}:{line}: {m}", file.display());
        let name = c
            .get("name")
            .and_then(Node::as_str)
            .map_or_else(|| format!("case {}", i + 1), str::to_string);
        let expect_match = match c.get("match").and_then(super::parse::raw_value) {
            Some(super::parse::RawValue::Bool(b)) => b,
            _ => {
                return Err(err(
                    c.line,
                    "each case needs `match: true` or `match: false`",
                ))
            }
        };
        let ls = c.get("logsource").map(logsource);
        let evs_node = c.get("events").or_else(|| c.get("event"));
        let evs: Vec<&Node> = match evs_node.map(|n| &n.kind) {
            Some(NodeKind::Seq(items)) => items.iter().collect(),
            Some(NodeKind::Map(_)) => evs_node.into_iter().collect(),
            _ => {
                return Err(err(
                    c.line,
                    "each case needs `events:` (a list of event mappings)",
                ))
            }
        };
        let mut events = Vec::new();
        for (j, e) in evs.iter().enumerate() {
            let serde_json::Value::Object(mut obj) = json(e) else {
                return Err(err(e.line, "an event must be a mapping of fields"));
            };
            let ts = obj
                .remove("ts")
                .map(|t| {
                    parse_ts(&t).ok_or_else(|| {
                        err(
                            e.line,
                            "ts must be seconds or RFC 3339 UTC (2025-01-01T00:00:00Z)",
                        )
                    })
                })
                .transpose()?
                .unwrap_or(Timestamp(j as i64 * 1_000_000_000));
            let Value::Map(fields) = Value::from_json(serde_json::Value::Object(obj)) else {
                continue;
            };
            let mut ev = Event::new(ts, Kind::Log, ls.clone().unwrap_or_default());
            ev.fields = fields;
            events.push(ev);
        }
        cases.push(Case {
            file: file.to_path_buf(),
            line: c.line,
            name,
            logsource: ls,
            events,
            rule: c.get("rule").and_then(Node::as_str).map(str::to_string),
            expect_match,
            count: c
                .get("count")
                .and_then(Node::as_str)
                .and_then(|s| s.parse().ok()),
        });
    }
    Ok(cases)
}

/// Runs one case against `set`.
pub fn run_case(set: &Arc<RuleSet>, case: &Case) -> Outcome {
    let rule_file = rule_file_of(&case.file);
    let mut engine = Engine::new(set.clone());
    let mut out = Vec::new();
    for ev in &case.events {
        let mut ev = ev.clone();
        if case.logsource.is_none() {
            // Default: the logsource of the first rule of the sibling file.
            if let Some(r) = set
                .rules()
                .find(|r| r.file == rule_file && r.kind == super::RuleKind::Detection)
            {
                ev.logsource = LogSource {
                    category: r.logsource.category.as_deref().map(CompactString::from),
                    product: r.logsource.product.as_deref().map(CompactString::from),
                    service: r.logsource.service.as_deref().map(CompactString::from),
                };
            }
        }
        engine.process(&ev, &mut out);
    }
    engine.flush(Timestamp(i64::MAX), &mut out);
    let relevant: Vec<_> = out
        .iter()
        .filter(|a| match &case.rule {
            Some(r) => a.rule.id == *r || a.rule.name.as_deref() == Some(r.as_str()),
            None => a.rule.file == rule_file,
        })
        .collect();
    let fired = relevant.len();
    let passed = match (case.expect_match, case.count) {
        (true, Some(n)) => fired == n,
        (true, None) => fired > 0,
        (false, _) => fired == 0,
    };
    let detail = format!(
        "expected {}, got {fired} alert(s){}",
        match (case.expect_match, case.count) {
            (true, Some(n)) => format!("{n} alert(s)"),
            (true, None) => "a match".into(),
            (false, _) => "no match".into(),
        },
        if out.is_empty() {
            String::new()
        } else {
            format!(
                " (rules fired: {})",
                out.iter()
                    .map(|a| a.rule.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Outcome {
        case: case.clone(),
        passed,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_ts(&serde_json::json!(1.5)),
            Some(Timestamp(1_500_000_000))
        );
        assert_eq!(
            parse_ts(&serde_json::json!("2016-05-27T06:56:11.304062Z")),
            Some(Timestamp::from_secs_nanos(1_464_332_171, 304_062_000))
        );
    }

    #[test]
    fn cases_parse() {
        let cases = parse_cases(
            Path::new("r.tests.yml"),
            "- name: hit\n  match: true\n  count: 2\n  events:\n    - {ts: 5, a: 1, b: 'x'}\n- match: false\n  event: {a: 2}\n",
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].events[0].ts, Timestamp(5_000_000_000));
        assert_eq!(cases[0].count, Some(2));
        assert_eq!(cases[1].events.len(), 1);
        assert!(parse_cases(Path::new("r.tests.yml"), "- events: []\n").is_err());
        assert_eq!(
            rule_file_of(Path::new("d/x.tests.yml")),
            PathBuf::from("d/x.yml")
        );
    }
}
