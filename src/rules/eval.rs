//! Evaluates a compiled detection against one event: the condition tree over selections,
//! selections as OR of AND groups, items against the field's values (lists fan out).
//!
//! Nothing here allocates for string and numeric fields; `buf` renders non-string scalars.

use super::compile::{CDetection, CItem, CSelection, Target};
use super::condition::Resolved;
use super::matcher::Pattern;
use crate::event::{Event, Fields, Value};

pub fn detection_matches(d: &CDetection, ev: &Event, buf: &mut String) -> bool {
    expr(&d.condition, d, ev, buf)
}

fn expr(e: &Resolved, d: &CDetection, ev: &Event, buf: &mut String) -> bool {
    match e {
        Resolved::Sel(i) => d
            .selections
            .get(*i as usize)
            .is_some_and(|s| selection(s, ev, buf)),
        Resolved::Not(x) => !expr(x, d, ev, buf),
        Resolved::And(xs) => xs.iter().all(|x| expr(x, d, ev, buf)),
        Resolved::Or(xs) => xs.iter().any(|x| expr(x, d, ev, buf)),
        Resolved::Const(b) => *b,
    }
}

fn selection(s: &CSelection, ev: &Event, buf: &mut String) -> bool {
    s.groups
        .iter()
        .any(|g| g.iter().all(|it| item(it, ev, buf)))
}

/// Calls `f` on every string value of the event, nested ones included, until it returns true.
pub fn any_string<'a>(fields: &'a Fields, f: &mut dyn FnMut(&'a str) -> bool) -> bool {
    fields.iter().any(|(_, v)| any_string_in(v, f))
}

fn any_string_in<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str) -> bool) -> bool {
    match v {
        Value::Str(s) => f(s),
        Value::List(items) => items.iter().any(|i| any_string_in(i, f)),
        Value::Map(m) => any_string(m, f),
        _ => false,
    }
}

fn item(it: &CItem, ev: &Event, buf: &mut String) -> bool {
    let hit = match &it.target {
        Target::Field(fp) => {
            if let Some(want) = it.exists {
                return fp.any_value(&ev.fields, &mut |_| true).0 == want;
            }
            if it.all {
                it.patterns.iter().all(|p| {
                    let (found, hit) = fp.any_value(&ev.fields, &mut |v| p.matches(v, ev, buf));
                    hit || (!found && p.matches_missing())
                })
            } else {
                let (found, hit) = fp.any_value(&ev.fields, &mut |v| {
                    it.patterns.iter().any(|p| p.matches(v, ev, buf))
                });
                hit || (!found && it.patterns.iter().any(Pattern::matches_missing))
            }
        }
        Target::Keyword => {
            let mut test = |p: &Pattern| any_string(&ev.fields, &mut |s| p.matches_str(s, ev));
            if it.all {
                it.patterns.iter().all(&mut test)
            } else {
                it.patterns.iter().any(&mut test)
            }
        }
    };
    hit != it.neq
}
