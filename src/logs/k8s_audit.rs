//! Kubernetes audit events (`audit.k8s.io`), one per line, as a single document, or inside
//! an `EventList`. Each becomes one event (product `kubernetes`, service `audit`) whose
//! fields are the event's JSON as nested maps, so that `objectRef.resource` or
//! `requestObject.spec.containers.image` are dotted paths.

use crate::event::{Event, Fields, Kind, LogSource, Timestamp, Value};
use crate::logs::{json, parse_rfc3339, LogError};

fn str_of<'a>(obj: &'a Fields, name: &str) -> Option<&'a str> {
    obj.get_name(name).and_then(Value::as_str)
}

/// The object's `kind`, under its name in a document (`json_kind`, see `json`) or as is.
fn kind_of(obj: &Fields) -> Option<&str> {
    str_of(obj, "json_kind").or_else(|| str_of(obj, "kind"))
}

/// Whether a JSON object is a Kubernetes audit event.
pub fn is_event(obj: &Fields) -> bool {
    kind_of(obj) == Some("Event")
        && (obj.get_name("auditID").is_some()
            || str_of(obj, "apiVersion").is_some_and(|v| v.starts_with("audit.k8s.io/")))
}

/// Whether a JSON object is an `EventList` of audit events.
pub fn is_event_list(obj: &Fields) -> bool {
    kind_of(obj) == Some("EventList") && matches!(obj.get_name("items"), Some(Value::List(_)))
}

/// The event of one audit event object, stamped with `requestReceivedTimestamp` (else
/// `stageTimestamp`, else `fallback`).
pub fn event(obj: Fields, fallback: Timestamp) -> Event {
    let ts = ["requestReceivedTimestamp", "stageTimestamp"]
        .iter()
        .find_map(|k| str_of(&obj, k).and_then(parse_rfc3339))
        .unwrap_or(fallback);
    let mut ev = Event::new(
        ts,
        Kind::Log,
        LogSource::product_service("kubernetes", "audit"),
    );
    ev.fields = obj;
    ev
}

/// Parses a whole text (JSON lines, one document, or an `EventList`) into audit events;
/// objects that are not audit events become generic JSON events.
pub fn parse(text: &str) -> Result<Vec<Event>, LogError> {
    let mut p = json::Parser::default();
    let mut out = Vec::new();
    let mut first_err = None;
    for line in text.lines() {
        if let Err(e) = p.line(line, &mut out) {
            first_err.get_or_insert(e);
        }
    }
    if let Err(e) = p.finish(&mut out) {
        first_err.get_or_insert(e);
    }
    match first_err {
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{intern, visit_path};

    fn at(ev: &Event, path: &str) -> Vec<Value> {
        let ids: Vec<_> = path.split('.').map(intern).collect();
        let mut got = Vec::new();
        visit_path(&ev.fields, &ids, &mut |v| got.push(v.clone()));
        got
    }

    #[test]
    fn single_event_list_and_pretty_document() {
        let one = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"create","objectRef":{"resource":"pods"},"requestObject":{"spec":{"hostPID":true,"containers":[{"image":"nginx"},{"image":"busybox"}]}},"requestReceivedTimestamp":"2018-10-26T09:09:28.664442Z"}"#;
        let evs = parse(one).expect("test input");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].ts.to_string(), "2018-10-26T09:09:28.664442Z");
        assert_eq!(evs[0].logsource.product.as_deref(), Some("kubernetes"));
        assert_eq!(at(&evs[0], "objectRef.resource"), [Value::from("pods")]);
        assert_eq!(
            at(&evs[0], "requestObject.spec.hostPID"),
            [Value::Bool(true)]
        );
        assert_eq!(
            at(&evs[0], "requestObject.spec.containers.image"),
            [Value::from("nginx"), Value::from("busybox")]
        );
        let list = format!(
            "{{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"items\": [\n    {one},\n    {one}\n  ]\n}}\n"
        );
        assert_eq!(parse(&list).expect("test input").len(), 2);
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(one).expect("test input"),
        )
        .expect("test input");
        assert_eq!(
            parse(&format!("{pretty}\n{pretty}"))
                .expect("test input")
                .len(),
            2
        );
    }
}
