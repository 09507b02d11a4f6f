//! JSON input: JSON lines, or documents spread over several lines (pretty-printed, or one
//! array). Kubernetes audit events and `EventList`s go to `k8s_audit`; any other object
//! becomes a generic log event whose fields are the object's (nested maps for nested
//! objects), stamped from a common time key, with the logsource `--logsource` declares.

use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::event::{Event, Fields, Key, Kind, LogSource, Timestamp, Value};
use crate::logs::{epoch_number, k8s_audit, parse_rfc3339, vpc_flow, LogError};

/// Largest JSON document kept while its closing bracket is awaited.
pub const MAX_DOCUMENT: usize = 64 << 20;

/// Keys that stamp a generic JSON event, first found wins.
const TIME_KEYS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "json_ts",
    "ts",
    "eventTime",
    "event_time",
    "date",
    "_time",
];

/// Splits JSON input into documents without re-parsing: a bracket counter that knows strings.
#[derive(Default)]
pub struct Parser {
    buf: String,
    /// Lines seen, and the line where the open document began.
    line: u64,
    start: u64,
    depth: i64,
    in_string: bool,
    escaped: bool,
    last: Option<Timestamp>,
}

impl Parser {
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        self.line += 1;
        if self.buf.is_empty() && self.depth == 0 && line.trim().is_empty() {
            return Ok(());
        }
        if self.buf.is_empty() {
            self.start = self.line;
        }
        self.scan(line);
        if self.depth > 0 || self.in_string {
            if self.buf.len() + line.len() > MAX_DOCUMENT {
                self.reset();
                return Err(LogError::JsonTooLarge(MAX_DOCUMENT));
            }
            self.buf.push_str(line);
            self.buf.push('\n');
            return Ok(());
        }
        let result = if self.buf.is_empty() {
            self.documents(line, out)
        } else {
            self.buf.push_str(line);
            let text = std::mem::take(&mut self.buf);
            let r = self.documents(&text, out).map_err(|e| self.with_start(e));
            self.buf = text;
            self.buf.clear();
            r
        };
        self.reset();
        result
    }

    /// The end of the input: a document still open there is cut short.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), LogError> {
        if self.buf.trim().is_empty() {
            self.reset();
            return Ok(());
        }
        let text = std::mem::take(&mut self.buf);
        self.reset();
        self.documents(&text, out).map_err(|e| self.with_start(e))
    }

    /// Says where a document over several lines began (serde's positions count from there).
    fn with_start(&self, e: LogError) -> LogError {
        match e {
            LogError::Json(m) => LogError::Json(format!("{m} (document from line {})", self.start)),
            other => other,
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }

    fn scan(&mut self, line: &str) {
        for c in line.bytes() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
        // A stray closing bracket is the parser's to report, not a reason to wait forever.
        if self.depth < 0 {
            self.depth = 0;
        }
        // JSON strings never span lines.
        self.in_string = false;
        self.escaped = false;
    }

    /// Every JSON value in `text` (usually one) to events.
    fn documents(&mut self, text: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        let mut first_err = None;
        for v in serde_json::Deserializer::from_str(text).into_iter::<Document>() {
            match v {
                Ok(Document(v)) => {
                    if let Err(e) = self.value(v, out) {
                        first_err.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(LogError::Json(e.to_string()));
                    break;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn value(&mut self, v: Value, out: &mut Vec<Event>) -> Result<(), LogError> {
        let fallback = self.last.unwrap_or_else(Timestamp::now);
        match v {
            Value::Map(obj) => {
                if k8s_audit::is_event_list(&obj) {
                    // An EventList comes once per file: copying its items out is cheap enough.
                    let mut first_err = None;
                    if let Some(Value::List(items)) = obj.get_name("items") {
                        for it in items {
                            let it = match it {
                                Value::Map(m) => Value::Map(document_keys(m)),
                                other => other.clone(),
                            };
                            if let Err(e) = self.value(it, out) {
                                first_err.get_or_insert(e);
                            }
                        }
                    }
                    return first_err.map_or(Ok(()), Err);
                }
                // VPC flow logs in JSON: CloudWatch Logs batches whose messages are records,
                // or records whose fields are keys (Firehose, Athena exports).
                if let Some(messages) = vpc_flow::cloudwatch_messages(&obj) {
                    let h = vpc_flow::Header::default_v2();
                    let mut first_err = None;
                    for m in messages {
                        match vpc_flow::parse(m, &h) {
                            Ok(Some(ev)) => out.push(ev),
                            Ok(None) => {}
                            Err(e) => {
                                first_err.get_or_insert(e);
                            }
                        }
                    }
                    return first_err.map_or(Ok(()), Err);
                }
                if let Some(r) = vpc_flow::from_fields(&obj) {
                    if let Some(ev) = r? {
                        out.push(ev);
                    }
                    return Ok(());
                }
                let ev = if k8s_audit::is_event(&obj) {
                    k8s_audit::event(obj, fallback)
                } else {
                    event(obj, fallback)
                };
                self.last = Some(ev.ts);
                out.push(ev);
                Ok(())
            }
            Value::List(items) => {
                let mut first_err = None;
                for it in items {
                    if let Err(e) = self.value(it, out) {
                        first_err.get_or_insert(e);
                    }
                }
                first_err.map_or(Ok(()), Err)
            }
            Value::Null => Err(LogError::NotObject("null")),
            Value::Bool(_) => Err(LogError::NotObject("boolean")),
            Value::Int(_) | Value::Float(_) => Err(LogError::NotObject("number")),
            _ => Err(LogError::NotObject("string")),
        }
    }
}

/// Top-level keys that an event's own JSON form already has; a document's keys of these names
/// are kept with a `json_` prefix (`json_kind`), so that the printed event has each key once.
const HEADER_KEYS: [(&str, &str); 3] = [
    ("ts", "json_ts"),
    ("kind", "json_kind"),
    ("logsource", "json_logsource"),
];

fn document_key(k: Key) -> Key {
    match HEADER_KEYS.iter().find(|(name, _)| k.name() == *name) {
        Some((_, renamed)) => Key::new(renamed),
        None => k,
    }
}

fn document_keys(m: &Fields) -> Fields {
    let mut out = Fields::with_capacity(m.len());
    for (k, v) in m.iter() {
        out.push_key(document_key(k.clone()), v.clone());
    }
    out
}

/// A document: a value whose object keys (or, for an array, whose elements' object keys)
/// are an event's top-level fields, renamed by [`document_key`].
struct Document(Value);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Document, D::Error> {
        d.deserialize_any(ValueVisitor { top: true }).map(Document)
    }
}

/// vigil's [`Value`] built straight from JSON text, interning object keys, without an
/// intermediate `serde_json::Value`; keys without escapes are borrowed, not copied.
pub struct JsonValue(pub Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(ValueVisitor { top: false })
            .map(JsonValue)
    }
}

/// Builds a [`Value`]; at the top of a document (`top`), object keys are renamed by
/// [`document_key`] and array elements are documents themselves.
struct ValueVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        if self.top {
            while let Some(Document(v)) = seq.next_element()? {
                items.push(v);
            }
        } else {
            while let Some(JsonValue(v)) = seq.next_element()? {
                items.push(v);
            }
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Fields::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let JsonValue(v) = map.next_value()?;
            fields.push_key(if self.top { document_key(k) } else { k }, v);
        }
        Ok(Value::Map(fields))
    }
}

/// An object key, interned from the text it is read from (no copy unless it has escapes).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Key, E> {
        Ok(Key::new(s))
    }
}

/// A generic JSON object as an event: its fields as they are, stamped from the first of
/// [`TIME_KEYS`] that holds an RFC 3339 string or a Unix time number (else `fallback`). The
/// logsource is left empty for `--logsource` to declare.
pub fn event(obj: Fields, fallback: Timestamp) -> Event {
    let ts = TIME_KEYS
        .iter()
        .find_map(|k| match obj.get_name(k)? {
            Value::Str(s) => parse_rfc3339(s),
            Value::Int(n) => epoch_number(*n as f64),
            Value::Float(x) => epoch_number(*x),
            _ => None,
        })
        .unwrap_or(fallback);
    let mut ev = Event::new(ts, Kind::Log, LogSource::default());
    ev.fields = obj;
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Event>, Vec<LogError>) {
        let mut p = Parser::default();
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        for l in text.lines() {
            if let Err(e) = p.line(l, &mut out) {
                errs.push(e);
            }
        }
        if let Err(e) = p.finish(&mut out) {
            errs.push(e);
        }
        (out, errs)
    }

    #[test]
    fn lines_documents_and_errors() {
        let (evs, errs) = run("{\"a\":1,\"time\":1700000000}\n\n{\"b\":\"}{\"}\nnot json\n[{\"c\":1},\n{\"d\":\"x\"}]\n42\n{\"open\":");
        assert_eq!(evs.len(), 4);
        assert_eq!(evs[0].ts.to_string(), "2023-11-14T22:13:20.000000Z");
        assert_eq!(
            evs[1].ts, evs[0].ts,
            "unstamped objects take the previous stamp"
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            matches!(&errs[2], LogError::Json(m) if m.ends_with("(document from line 8)")),
            "{errs:?}"
        );
        assert!(matches!(errs[1], LogError::NotObject("number")));
    }

    #[test]
    fn header_names_are_renamed_at_the_top_only() {
        let (evs, errs) = run(r#"{"ts":1700000000,"kind":"x","logsource":"y","a":{"kind":"z"}}"#);
        assert!(errs.is_empty());
        let f = &evs[0].fields;
        assert_eq!(evs[0].ts.to_string(), "2023-11-14T22:13:20.000000Z");
        assert_eq!(f.get_name("json_kind"), Some(&Value::from("x")));
        assert_eq!(f.get_name("json_logsource"), Some(&Value::from("y")));
        assert_eq!(f.get_name("kind"), None);
        let line = serde_json::to_string(&evs[0]).expect("test input");
        assert!(line.contains(r#""a":{"kind":"z"}"#), "{line}");
        assert_eq!(line.matches(r#""kind""#).count(), 2, "{line}");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let (_, _) = run("]]]]\n{{{{\n\"\\\n[\"\\\"]\n");
        let deep = "[".repeat(100_000);
        let (_, errs) = run(&deep);
        assert!(!errs.is_empty());
    }
}
