//! Finds the line and column of a value in a YAML text, for errors found after deserializing.
//!
//! serde_yaml_ng reports positions only on errors, and only for the value being deserialized
//! when the error was raised. So this walks the document along a path and fails on purpose at
//! the target: the error then carries the target's position.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into a YAML document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Key(&'static str),
    Index(usize),
}

/// The message of the deliberate error; a walk that fails with anything else did not arrive.
const ARRIVED: &str = "vigil: located";

/// The 1-based `(line, column)` of the value at `path` in `text`, if it is there.
pub(crate) fn locate(text: &str, path: &[Step]) -> Option<(usize, usize)> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match Walk(path).deserialize(de) {
        Err(e) if e.to_string().contains(ARRIVED) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Walk<'p>(&'p [Step]);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => d.deserialize_any(Arrived),
            Some((Step::Key(key), rest)) => d.deserialize_any(IntoMap { key, rest }),
            Some((Step::Index(index), rest)) => d.deserialize_any(IntoSeq {
                index: *index,
                rest,
            }),
        }
    }
}

/// Fails on any value, so that the deserializer stamps the error with the value's position.
struct Arrived;

impl Arrived {
    fn fail<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(ARRIVED))
    }
}

impl<'de> Visitor<'de> for Arrived {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.fail()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.fail()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.fail()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.fail()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.fail()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.fail()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.fail()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.fail()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.fail()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.fail()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        self.fail()
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        self.fail()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.fail()
    }
}

/// Descends into the value of `key` in a mapping; any other value means the path is absent.
struct IntoMap<'p> {
    key: &'static str,
    rest: &'p [Step],
}

impl<'de> Visitor<'de> for IntoMap<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a mapping with `{}`", self.key)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
            if key.as_str() == Some(self.key) {
                return map.next_value_seed(Walk(self.rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Descends into element `index` of a sequence; any other value means the path is absent.
struct IntoSeq<'p> {
    index: usize,
    rest: &'p [Step],
}

impl<'de> Visitor<'de> for IntoSeq<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a sequence of more than {} items", self.index)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk(self.rest)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16, 10.3.0.0/16]
  - id: globex
    cidrs:
      - 10.2.0.0/16
infrastructure:
  metadata: [169.254.169.254/32]
";

    #[test]
    fn finds_scalars_in_flow_and_block_sequences() {
        use Step::*;
        let at = |p: &[Step]| locate(DOC, p);
        assert_eq!(at(&[Key("tenants"), Index(0), Key("id")]), Some((2, 9)));
        assert_eq!(
            at(&[Key("tenants"), Index(0), Key("cidrs"), Index(1)]),
            Some((3, 26))
        );
        assert_eq!(at(&[Key("tenants"), Index(1), Key("id")]), Some((4, 9)));
        assert_eq!(
            at(&[Key("tenants"), Index(1), Key("cidrs"), Index(0)]),
            Some((6, 9))
        );
        assert_eq!(
            at(&[Key("infrastructure"), Key("metadata"), Index(0)]),
            Some((8, 14))
        );
    }

    #[test]
    fn absent_paths_have_no_position() {
        use Step::*;
        assert_eq!(locate(DOC, &[Key("allow"), Index(0)]), None);
        assert_eq!(locate(DOC, &[Key("tenants"), Index(5)]), None);
        assert_eq!(locate(DOC, &[Key("tenants"), Key("id")]), None);
        assert_eq!(locate("", &[Key("tenants")]), None);
        assert_eq!(locate(": : [", &[Key("tenants")]), None);
    }
}
