//! Compiled value patterns and how they test one event value.
//!
//! Patterns are lowercased once at load; matching folds ASCII case on the fly, so the common
//! case-insensitive comparison needs no per-event lowercasing or allocation.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use super::parse::Cmp;
use crate::event::{Event, FieldId, Fields, Value};

/// Where an item reads its values: a flat field (also the whole dotted name), or a dotted path
/// into nested maps when the flat name is absent.
#[derive(Clone, Debug)]
pub struct FieldPath {
    pub flat: FieldId,
    pub path: Option<Box<[FieldId]>>,
}

impl FieldPath {
    pub fn new(name: &str) -> FieldPath {
        let flat = crate::event::intern(name);
        let path = name
            .contains('.')
            .then(|| name.split('.').map(crate::event::intern).collect());
        FieldPath { flat, path }
    }

    /// Calls `f` on each value at this path (lists fan out) until it returns true.
    /// Returns (whether any value exists, whether `f` returned true).
    pub fn any_value<'a>(
        &self,
        fields: &'a Fields,
        f: &mut dyn FnMut(&'a Value) -> bool,
    ) -> (bool, bool) {
        if let Some(v) = fields.get(self.flat) {
            return (true, fan_out(v, f));
        }
        let Some(path) = &self.path else {
            return (false, false);
        };
        let mut found = false;
        let mut hit = false;
        crate::event::visit_path(fields, path, &mut |v| {
            found = true;
            if !hit {
                hit = fan_out(v, f);
            }
        });
        (found, hit)
    }
}

fn fan_out<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
    match v {
        Value::List(items) => items.iter().any(|i| fan_out(i, f)),
        other => f(other),
    }
}

/// How a literal is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrOp {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// One compiled value of a detection item.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// `text` is lowercased when `ci`; `ascii` says whether ASCII folding suffices.
    Str {
        op: StrOp,
        text: Box<str>,
        ci: bool,
        ascii: bool,
    },
    /// `*`-only wildcard pattern: literal segments in order.
    Glob {
        segs: Box<[Box<str>]>,
        start: bool,
        end: bool,
        ci: bool,
        ascii: bool,
    },
    /// A regex and, when it has them, literals one of which every match contains (prefilter).
    Regex(Box<regex::Regex>, Option<Box<[Box<str>]>>),
    /// Several regexes of one item, tested in one pass.
    RegexSet(Box<regex::RegexSet>, Option<Box<[Box<str>]>>),
    /// Several `contains` literals of one item, in one automaton (ASCII case folded when `ci`).
    AnyContains(Box<aho_corasick::AhoCorasick>, Box<[Box<str>]>),
    Cidr(IpNet),
    /// Several CIDR ranges of one item, in a prefix trie.
    CidrSet(Box<super::cidr::PrefixTrie>),
    Num(Cmp, f64),
    Null,
    FieldRef {
        field: FieldPath,
        op: StrOp,
        ci: bool,
    },
}

/// Renders a non-string scalar as text for string patterns; `None` for null and containers.
pub fn value_text<'a>(v: &'a Value, buf: &'a mut String) -> Option<&'a str> {
    buf.clear();
    match v {
        Value::Str(s) => return Some(s),
        Value::Int(i) => write!(buf, "{i}").ok()?,
        Value::Float(x) => write!(buf, "{x}").ok()?,
        Value::Bool(b) => buf.push_str(if *b { "true" } else { "false" }),
        Value::Ip(ip) => write!(buf, "{ip}").ok()?,
        Value::Time(t) => write!(buf, "{t}").ok()?,
        Value::Null | Value::List(_) | Value::Map(_) => return None,
    }
    Some(buf.as_str())
}

fn value_number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        // Times compare as seconds since the epoch.
        Value::Time(t) => Some(t.0 as f64 / 1e9),
        Value::Bool(_) | Value::Null | Value::Ip(_) | Value::List(_) | Value::Map(_) => None,
    }
}

fn value_ip(v: &Value) -> Option<IpAddr> {
    match v {
        Value::Ip(ip) => Some(*ip),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Case-insensitive substring search for an already lowercased ASCII needle.
pub fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = match needle.split_first() {
        Some(x) => x,
        None => return Some(0),
    };
    if hay.len() < needle.len() {
        return None;
    }
    let last_start = hay.len() - needle.len();
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last_start {
        let window = &hay[from..=last_start];
        let pos = if upper == first {
            memchr::memchr(first, window)
        } else {
            memchr::memchr2(first, upper, window)
        }?;
        let at = from + pos;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8], ci: bool) -> Option<usize> {
    if ci {
        find_ci(hay, needle)
    } else {
        memchr::memmem::find(hay, needle)
    }
}

fn eq_bytes(a: &[u8], b: &[u8], ci: bool) -> bool {
    if ci {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

pub fn str_op(op: StrOp, hay: &str, needle: &str, ci: bool) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match op {
        StrOp::Exact => h.len() == n.len() && eq_bytes(h, n, ci),
        StrOp::Prefix => h.len() >= n.len() && eq_bytes(&h[..n.len()], n, ci),
        StrOp::Suffix => h.len() >= n.len() && eq_bytes(&h[h.len() - n.len()..], n, ci),
        StrOp::Contains => find(h, n, ci).is_some(),
    }
}

fn glob(hay: &[u8], segs: &[Box<str>], start: bool, end: bool, ci: bool) -> bool {
    let mut pos = 0;
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        let s = seg.as_bytes();
        if i == 0 && start {
            if hay.len() < s.len() || !eq_bytes(&hay[..s.len()], s, ci) {
                return false;
            }
            pos = s.len();
            if n == 1 && end {
                return pos == hay.len();
            }
            continue;
        }
        if i == n - 1 && end {
            return hay.len() >= pos + s.len() && eq_bytes(&hay[hay.len() - s.len()..], s, ci);
        }
        match find(&hay[pos..], s, ci) {
            Some(at) => pos += at + s.len(),
            None => return false,
        }
    }
    true
}

impl Pattern {
    /// Tests one (non-list) value. `event` is needed by field references.
    pub fn matches(&self, v: &Value, event: &Event, buf: &mut String) -> bool {
        match self {
            Pattern::Cidr(net) => value_ip(v).is_some_and(|ip| net.contains(&ip)),
            Pattern::CidrSet(t) => value_ip(v).is_some_and(|ip| t.contains(ip)),
            Pattern::Num(cmp, bound) => value_number(v).is_some_and(|x| cmp.holds(x, *bound)),
            Pattern::Null => matches!(v, Value::Null),
            _ => value_text(v, buf).is_some_and(|s| self.matches_str(s, event)),
        }
    }

    /// Tests a string value.
    pub fn matches_str(&self, hay: &str, event: &Event) -> bool {
        match self {
            Pattern::Str {
                op,
                text,
                ci,
                ascii,
            } => {
                if *ci && !*ascii {
                    return str_op(*op, &hay.to_lowercase(), text, false);
                }
                str_op(*op, hay, text, *ci)
            }
            Pattern::Glob {
                segs,
                start,
                end,
                ci,
                ascii,
            } => {
                if *ci && !*ascii {
                    return glob(hay.to_lowercase().as_bytes(), segs, *start, *end, false);
                }
                glob(hay.as_bytes(), segs, *start, *end, *ci)
            }
            Pattern::Regex(re, _) => re.is_match(hay),
            Pattern::RegexSet(set, _) => set.is_match(hay),
            Pattern::AnyContains(ac, _) => ac.is_match(hay),
            Pattern::Cidr(net) => hay
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            Pattern::CidrSet(t) => hay.trim().parse::<IpAddr>().is_ok_and(|ip| t.contains(ip)),
            Pattern::Num(cmp, bound) => hay
                .trim()
                .parse::<f64>()
                .is_ok_and(|x| cmp.holds(x, *bound)),
            Pattern::Null => false,
            Pattern::FieldRef { field, op, ci } => {
                let mut other = String::new();
                field
                    .any_value(&event.fields, &mut |o| {
                        value_text(o, &mut other).is_some_and(|needle| {
                            if *ci {
                                str_op(*op, &hay.to_lowercase(), &needle.to_lowercase(), false)
                            } else {
                                str_op(*op, hay, needle, false)
                            }
                        })
                    })
                    .1
            }
        }
    }

    /// Null also matches a missing field.
    pub fn matches_missing(&self) -> bool {
        matches!(self, Pattern::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_search() {
        assert_eq!(find_ci(b"C:\\Windows\\System32", b"system32"), Some(11));
        assert_eq!(find_ci(b"abc", b""), Some(0));
        assert_eq!(find_ci(b"ab", b"abc"), None);
        assert!(str_op(StrOp::Suffix, "C:\\X\\CMD.EXE", "\\cmd.exe", true));
        assert!(!str_op(StrOp::Suffix, "C:\\X\\CMD.EXE", "\\cmd.exe", false));
        assert!(str_op(StrOp::Prefix, "Adm_x", "adm_", true));
        assert!(str_op(StrOp::Exact, "EXECVE", "execve", true));
    }

    #[test]
    fn globs() {
        let segs: Vec<Box<str>> = vec!["a".into(), "b".into(), "c".into()];
        assert!(glob(b"axxbyyc", &segs, true, true, false));
        assert!(!glob(b"axxbyycd", &segs, true, true, false));
        assert!(glob(b"zaxbyc", &segs, false, true, false));
        assert!(glob(b"abc", &segs, true, true, false));
        let one: Vec<Box<str>> = vec!["ab".into()];
        assert!(glob(b"ab", &one, true, true, false));
        assert!(!glob(b"abab", &one, true, true, false));
    }

    #[test]
    fn values_render_as_text() {
        let mut b = String::new();
        assert_eq!(value_text(&Value::Int(4688), &mut b), Some("4688"));
        assert_eq!(value_text(&Value::Null, &mut b), None);
    }
}
