//! The drill file: what a replay is expected to detect (YAML, see README.md "Drills").
//!
//! Parsed with serde; every problem (unknown key, missing tags, bad level or time) comes back
//! as a [`DrillError`] naming the file, the line and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::event::Timestamp;

/// A drill file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{}: cannot read the drill file: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

/// Sigma's rule levels, lowest first: the incident store's, so a drill's `min_level` and an
/// incident's severity are the same thing.
pub use crate::incident::Level;

/// An interval of alert time; `end` is optional (open-ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

impl Window {
    pub fn contains(&self, ts: Timestamp) -> bool {
        ts >= self.start && self.end.is_none_or(|e| ts <= e)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
        // A visitor, so that errors carry the window's line and path.
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Window;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a window such as {start: \"2025-11-24T16:00:00Z\", end: \"2025-11-24T16:10:00Z\"}")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Window, A::Error> {
                const FIELDS: &[&str] = &["start", "end"];
                let (mut start, mut end) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "start" => start = Some(map.next_value::<Time>()?.0),
                        "end" => end = Some(map.next_value::<Time>()?.0),
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    }
                }
                let start = start.ok_or_else(|| de::Error::missing_field("start"))?;
                match end {
                    Some(end) if end < start => Err(de::Error::custom(format!(
                        "the window ends ({end}) before it starts ({start})"
                    ))),
                    _ => Ok(Window { start, end }),
                }
            }
        }
        d.deserialize_map(V)
    }
}

/// A time in a drill file: RFC 3339 (`2025-11-24T16:00:00Z`) or seconds since the epoch.
struct Time(Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an RFC 3339 time such as 2025-11-24T16:00:00Z, or seconds since the epoch",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Time, E> {
                crate::logs::parse_rfc3339(s).map(Time).ok_or_else(|| {
                    E::custom(format!(
                        "`{s}` is not an RFC 3339 time such as 2025-11-24T16:00:00Z"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Time, E> {
                Ok(Time(Timestamp(n.saturating_mul(1_000_000_000))))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Time, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Time, E> {
                if !n.is_finite() {
                    return Err(E::custom("the time is not a finite number"));
                }
                Ok(Time(Timestamp((n * 1e9) as i64)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Tags of an expectation: at least one, none empty.
struct Tags(Vec<String>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tags, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tags such as [attack.t1110, attack.credential_access]")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tags, A::Error> {
                let mut tags = Vec::new();
                while let Some(t) = seq.next_element::<String>()? {
                    if t.trim().is_empty() {
                        return Err(de::Error::custom("`tags` holds an empty tag"));
                    }
                    tags.push(t.trim().to_string());
                }
                if tags.is_empty() {
                    return Err(de::Error::custom(
                        "`tags` is empty: an expectation needs at least one tag (e.g. `tags: [attack.t1110]`)",
                    ));
                }
                Ok(Tags(tags))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One thing the drill expects to be detected: an alert carrying all of `tags`, at least
/// `min_level`, with its time within `within`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The label: the file's `name`, or the tags joined.
    pub name: String,
    pub tags: Vec<String>,
    pub min_level: Option<Level>,
    pub within: Option<Window>,
}

/// A parsed drill file; paths in it are resolved against the file's folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Drill {
    pub file: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub tenants: Option<PathBuf>,
    pub inputs: Vec<PathBuf>,
    pub expect: Vec<Expectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    #[serde(default)]
    name: Option<String>,
    tags: Tags,
    #[serde(default)]
    min_level: Option<Level>,
    #[serde(default)]
    within: Option<Window>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrill {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tenants: Option<PathBuf>,
    #[serde(default)]
    inputs: Vec<PathBuf>,
    expect: Vec<RawExpectation>,
}

impl Drill {
    /// Reads and parses a drill file.
    pub fn load(file: &Path) -> Result<Drill, DrillError> {
        let text = std::fs::read_to_string(file).map_err(|source| DrillError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Drill::parse(file, &text)
    }

    /// Parses drill text; `file` names it in errors and anchors its relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Drill, DrillError> {
        let raw: RawDrill = serde_yaml_ng::from_str(text).map_err(|e| parse_error(file, &e))?;
        let base = file.parent().unwrap_or(Path::new(""));
        let resolve = |p: PathBuf| {
            if p.is_absolute() || p.as_os_str() == "-" {
                p
            } else {
                base.join(p)
            }
        };
        Ok(Drill {
            file: file.to_path_buf(),
            name: raw.name,
            description: raw.description,
            tenants: raw.tenants.map(resolve),
            inputs: raw.inputs.into_iter().map(resolve).collect(),
            expect: raw
                .expect
                .into_iter()
                .map(|e| Expectation {
                    name: e
                        .name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| e.tags.0.join(", ")),
                    tags: e.tags.0,
                    min_level: e.min_level,
                    within: e.within,
                })
                .collect(),
        })
    }
}

/// serde_yaml_ng's message with its location moved to the front (`file:line: path: what`).
fn parse_error(file: &Path, e: &serde_yaml_ng::Error) -> DrillError {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) if e.location().is_some() => text[..i].to_string(),
        _ => text,
    };
    DrillError::Parse {
        file: file.to_path_buf(),
        line: e.location().map_or(0, |l| l.line()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Drill, DrillError> {
        Drill::parse(Path::new("drills/d.yaml"), text)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(d) => panic!("parsed: {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn full_file() {
        let d = parse(
            "name: vm-escape\ndescription: QEMU breakout\ntenants: tenants.yaml\ninputs: [qemu_audit.log, /abs/x.pcap]\nexpect:\n  - name: QEMU spawns a shell\n    tags: [cloud.vm_escape, attack.t1611]\n    min_level: high\n    within: {start: \"2025-11-24T16:00:00Z\", end: \"2025-11-24T16:10:00Z\"}\n  - tags: [attack.t1046, attack.discovery]\n",
        )
        .unwrap();
        assert_eq!(d.name, "vm-escape");
        assert_eq!(d.tenants, Some(PathBuf::from("drills/tenants.yaml")));
        assert_eq!(
            d.inputs,
            vec![
                PathBuf::from("drills/qemu_audit.log"),
                PathBuf::from("/abs/x.pcap")
            ]
        );
        assert_eq!(d.expect.len(), 2);
        assert_eq!(d.expect[0].name, "QEMU spawns a shell");
        assert_eq!(d.expect[0].min_level, Some(Level::High));
        let w = d.expect[0].within.unwrap();
        assert_eq!(w.start.to_string(), "2025-11-24T16:00:00.000000Z");
        assert_eq!(w.end.map(|e| e.secs() - w.start.secs()), Some(600));
        assert_eq!(d.expect[1].name, "attack.t1046, attack.discovery");
        assert_eq!(d.expect[1].within, None);
    }

    #[test]
    fn minimal_file_and_epoch_seconds() {
        let d = parse("name: x\nexpect:\n  - tags: [a]\n    within: {start: 0}\n").unwrap();
        assert!(d.inputs.is_empty() && d.tenants.is_none() && d.description.is_none());
        assert_eq!(
            d.expect[0].within,
            Some(Window {
                start: Timestamp(0),
                end: None
            })
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = err("name: x\nexpect:\n  - tags: [a]\n    min_levl: high\n");
        assert!(
            e.starts_with("drills/d.yaml:4: expect[0]: unknown field `min_levl`"),
            "{e}"
        );
        assert!(e.contains("`min_level`") && e.contains("`within`"), "{e}");

        let e = err("name: x\nbogus: 1\nexpect: []\n");
        assert!(
            e.starts_with("drills/d.yaml:2: unknown field `bogus`"),
            "{e}"
        );
        assert!(e.contains("`inputs`") && e.contains("`expect`"), "{e}");

        let e = err("name: x\nexpect:\n  - name: a\n    min_level: low\n");
        assert!(
            e.starts_with("drills/d.yaml:3: expect[0]: missing field `tags`"),
            "{e}"
        );

        let e = err("name: x\nexpect:\n  - tags: []\n");
        assert!(
            e.starts_with("drills/d.yaml:3: expect[0].tags: `tags` is empty"),
            "{e}"
        );

        let e = err("name: x\nexpect:\n  - tags: [a]\n    min_level: hgh\n");
        assert!(
            e.starts_with("drills/d.yaml:4: expect[0].min_level: unknown level `hgh`"),
            "{e}"
        );

        let e = err("name: x\nexpect:\n  - tags: [a]\n    within: {start: yesterday}\n");
        assert!(
            e.starts_with("drills/d.yaml:4: expect[0].within.start: `yesterday`"),
            "{e}"
        );

        let e = err("name: x\nexpect:\n  - tags: [a]\n    within: {start: 10, end: 5}\n");
        assert!(e.contains(":4: expect[0].within: the window ends"), "{e}");

        let e = err("expect: []\n");
        assert!(e.contains("missing field `name`"), "{e}");

        let e = err("name: [x\n");
        assert!(e.starts_with("drills/d.yaml:"), "{e}");
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(Level::Informational < Level::Low && Level::High < Level::Critical);
        assert_eq!("HIGH".parse::<Level>(), Ok(Level::High));
        assert!("severe".parse::<Level>().is_err());
    }
}
