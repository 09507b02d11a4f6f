//! The alert JSON a stored alert carries, kept as the bytes it was serialized to.
//!
//! Building a `serde_json::Value` for every stored alert cost about a quarter of the store's
//! write time, so the writer serializes each alert once, straight to bytes. Readers that show
//! it (the API, the stream, the webhook) go through [`AlertJson::value`], which gives the same
//! `Value`, and so the same output bytes, as before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::rules::Alert;

/// One alert's JSON object, with `id` and `incident_id`; embedded as is when a record is
/// serialized.
#[derive(Clone, Debug)]
pub struct AlertJson(Box<RawValue>);

impl AlertJson {
    /// `alert`'s JSON with `"id": id` in front. Serialized once, straight into the raw
    /// value: nothing parses it back.
    pub fn of_alert(id: &str, alert: &Alert) -> Result<AlertJson, serde_json::Error> {
        serde_json::value::to_raw_value(&alert.with_id(id)).map(AlertJson)
    }

    /// The JSON text as stored (keys in the order the alert wrote them).
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The JSON as a `Value` (keys sorted, as the API and the outputs show them); `Null` only
    /// if it nests deeper than serde_json parses.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for AlertJson {
    fn from(v: serde_json::Value) -> AlertJson {
        AlertJson(serde_json::value::to_raw_value(&v).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }
}

impl PartialEq for AlertJson {
    fn eq(&self, other: &AlertJson) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for AlertJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for AlertJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AlertJson, D::Error> {
        Box::<RawValue>::deserialize(d).map(AlertJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_inside_a_record_and_shows_sorted_keys() {
        let j = AlertJson::from(serde_json::json!({"b": 1, "a": [1.5, "x\n"]}));
        let outer =
            serde_json::to_string(&serde_json::json!({ "json": j.value() })).expect("encode");
        #[derive(Serialize, Deserialize)]
        struct Rec {
            json: AlertJson,
        }
        let stored = serde_json::to_vec(&Rec { json: j.clone() }).expect("encode");
        let back: Rec = serde_json::from_slice(&stored).expect("decode");
        assert_eq!(back.json, j);
        assert_eq!(
            serde_json::to_string(&serde_json::json!({ "json": back.json.value() }))
                .expect("encode"),
            outer
        );
    }
}
