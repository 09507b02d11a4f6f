//! Detection items to compiled matchers: modifiers applied once, field names resolved to ids,
//! literals lowercased, wildcards turned into segment globs, regexes built.
//!
//! Compilation errors carry the item's line so the loader can report them precisely.

use std::collections::HashMap;

use ipnet::IpNet;

use super::condition::{resolve, Resolved};
use super::fieldmap;
use super::matcher::{FieldPath, Pattern, StrOp};
use super::modifier::{self, Modifier};
use super::parse::{Cmp, Detection, Item, Problem, RawValue};

/// What an item tests.
#[derive(Clone, Debug)]
pub enum Target {
    Field(FieldPath),
    /// Field-less: any string value anywhere in the event.
    Keyword,
}

/// A compiled `field|modifiers: values` entry.
#[derive(Clone, Debug)]
pub struct CItem {
    pub target: Target,
    pub patterns: Box<[Pattern]>,
    /// `|all`: every pattern must match some value; otherwise any pattern.
    pub all: bool,
    /// `|neq`: the item holds when no pattern matches.
    pub neq: bool,
    /// `|exists`: presence test instead of patterns.
    pub exists: Option<bool>,
}

/// A compiled selection: OR of groups, each an AND of items.
#[derive(Clone, Debug)]
pub struct CSelection {
    pub groups: Box<[Box<[CItem]>]>,
}

/// A compiled detection: selections and the resolved condition.
#[derive(Clone, Debug)]
pub struct CDetection {
    pub selections: Box<[CSelection]>,
    pub condition: Resolved,
}

/// Inputs to compilation that come from outside the rule file.
pub struct CompileContext<'a> {
    /// Placeholder name (without `%`) to its values.
    pub placeholders: &'a HashMap<String, Vec<String>>,
    /// Map Sigma field names to vigil's canonical ones.
    pub map_fields: bool,
}

#[derive(Default)]
struct Flags {
    op: Option<StrOp>,
    all: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<Cmp>,
    neq: bool,
    expand: bool,
    cased: bool,
}

/// Sigma string syntax: `*` and `?` are wildcards, `\` escapes `*`, `?` and `\`.
#[derive(Debug, PartialEq)]
enum Part {
    Lit(String),
    Star,
    One,
}

fn sigma_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                let p = if c == '*' { Part::Star } else { Part::One };
                if !(p == Part::Star && parts.last() == Some(&Part::Star)) {
                    parts.push(p);
                }
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    parts
}

/// Whether folding ASCII case alone compares `s` case-insensitively: true when its non-ASCII
/// characters have no case (the dashes `windash` adds), so bytes >= 0x80 compare exactly.
fn ascii_fold_suffices(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii() || (!c.is_lowercase() && !c.is_uppercase()))
}

fn fold(s: &str, ci: bool) -> (Box<str>, bool) {
    let ascii = ascii_fold_suffices(s);
    if !ci {
        (s.into(), ascii)
    } else if ascii {
        (s.to_ascii_lowercase().into(), true)
    } else {
        (s.to_lowercase().into(), false)
    }
}

/// Builds the pattern for a wildcard string matched with `op`.
fn string_pattern(s: &str, op: StrOp, wildcards: bool, ci: bool) -> Result<Pattern, String> {
    let mut parts = if wildcards {
        sigma_parts(s)
    } else {
        vec![Part::Lit(s.to_string())]
    };
    if matches!(op, StrOp::Contains | StrOp::Suffix) && parts.first() != Some(&Part::Star) {
        parts.insert(0, Part::Star);
    }
    if matches!(op, StrOp::Contains | StrOp::Prefix) && parts.last() != Some(&Part::Star) {
        parts.push(Part::Star);
    }
    if parts.contains(&Part::One) {
        // `?` is rare; a regex handles it and everything else exactly.
        let mut re = String::from(if ci { "(?si)^" } else { "(?s)^" });
        for p in &parts {
            match p {
                Part::Lit(l) => re.push_str(&regex::escape(l)),
                Part::Star => re.push_str(".*"),
                Part::One => re.push('.'),
            }
        }
        re.push('$');
        let lits = regex_literals(&re);
        return regex::Regex::new(&re)
            .map(|r| Pattern::Regex(Box::new(r), lits))
            .map_err(|e| format!("wildcard pattern {s:?}: {e}"));
    }
    let start = parts.first() != Some(&Part::Star);
    let end = parts.last() != Some(&Part::Star);
    let segs: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Lit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    let simple = match (start, end, segs.len()) {
        (true, true, 1) => Some(StrOp::Exact),
        (true, true, 0) => Some(StrOp::Exact),
        (true, false, 1) => Some(StrOp::Prefix),
        (false, true, 1) => Some(StrOp::Suffix),
        (false, false, 1) => Some(StrOp::Contains),
        _ => None,
    };
    if let Some(op) = simple {
        let (text, ascii) = fold(segs.first().copied().unwrap_or(""), ci);
        return Ok(Pattern::Str {
            op,
            text,
            ci,
            ascii,
        });
    }
    let ascii = segs.iter().all(|s| ascii_fold_suffices(s));
    Ok(Pattern::Glob {
        segs: segs.iter().map(|s| fold(s, ci).0).collect(),
        start,
        end,
        ci,
        ascii,
    })
}

fn flags_of(mods: &[Modifier]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let set_op = |f: &mut Flags, op: StrOp, name: &str| match f.op {
        Some(_) => Err(format!(
            "'|{name}' combined with another of contains/startswith/endswith; keep one"
        )),
        None => {
            f.op = Some(op);
            Ok(())
        }
    };
    let set_cmp = |f: &mut Flags, c: Cmp| match f.cmp {
        Some(_) => Err("only one of gt, gte, lt, lte per item".to_string()),
        None => {
            f.cmp = Some(c);
            Ok(())
        }
    };
    for m in mods {
        match m {
            Modifier::Contains => set_op(&mut f, StrOp::Contains, "contains")?,
            Modifier::StartsWith => set_op(&mut f, StrOp::Prefix, "startswith")?,
            Modifier::EndsWith => set_op(&mut f, StrOp::Suffix, "endswith")?,
            Modifier::All => f.all = true,
            Modifier::Re => f.re = true,
            Modifier::ReI => f.re_i = true,
            Modifier::ReM => f.re_m = true,
            Modifier::ReS => f.re_s = true,
            Modifier::Cidr => f.cidr = true,
            Modifier::Exists => f.exists = true,
            Modifier::FieldRef => f.fieldref = true,
            Modifier::Gt => set_cmp(&mut f, Cmp::Gt)?,
            Modifier::Gte => set_cmp(&mut f, Cmp::Gte)?,
            Modifier::Lt => set_cmp(&mut f, Cmp::Lt)?,
            Modifier::Lte => set_cmp(&mut f, Cmp::Lte)?,
            Modifier::Neq => f.neq = true,
            Modifier::Expand => f.expand = true,
            Modifier::Cased => f.cased = true,
            Modifier::Base64
            | Modifier::Base64Offset
            | Modifier::Utf16Le
            | Modifier::Utf16Be
            | Modifier::Utf16
            | Modifier::Windash => {}
        }
    }
    if (f.re_i || f.re_m || f.re_s) && !f.re {
        return Err("'|i', '|m' and '|s' are flags of '|re'; add '|re' before them".into());
    }
    let kinds = [f.re, f.cidr, f.exists, f.cmp.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if kinds > 1 {
        return Err("re, cidr, exists and gt/gte/lt/lte cannot be combined in one item".into());
    }
    if kinds == 1 && f.op.is_some() {
        return Err(
            "contains/startswith/endswith do not combine with re, cidr, exists or gt/gte/lt/lte"
                .into(),
        );
    }
    Ok(f)
}

/// Applies the encoding and windash modifiers in the order written.
fn transform(value: &str, mods: &[Modifier]) -> Result<(Vec<String>, bool), String> {
    let mut vals: Vec<Vec<u8>> = vec![value.as_bytes().to_vec()];
    let mut encoded = false;
    for m in mods {
        vals = match m {
            Modifier::Windash => {
                let mut out = Vec::new();
                for v in &vals {
                    for w in modifier::windash(&String::from_utf8_lossy(v))? {
                        out.push(w.into_bytes());
                    }
                }
                out
            }
            Modifier::Utf16Le => vals.iter().map(|v| modifier::utf16le(v)).collect(),
            Modifier::Utf16Be => vals.iter().map(|v| modifier::utf16be(v)).collect(),
            Modifier::Utf16 => vals.iter().map(|v| modifier::utf16(v)).collect(),
            Modifier::Base64 => {
                encoded = true;
                vals.iter().map(|v| modifier::base64(v)).collect()
            }
            Modifier::Base64Offset => {
                encoded = true;
                vals.iter()
                    .flat_map(|v| modifier::base64offset(v))
                    .collect()
            }
            _ => continue,
        };
        if matches!(m, Modifier::Utf16Le | Modifier::Utf16Be | Modifier::Utf16) {
            encoded = true;
        }
    }
    Ok((
        vals.into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect(),
        encoded,
    ))
}

/// Replaces `%name%` placeholders with every value of their list.
fn expand(value: &str, ctx: &CompileContext<'_>) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let Some(list) = ctx.placeholders.get(name) else {
            return Err(format!(
                "placeholder %{name}% has no indicator list; add a file {name}.txt (one value per line) to an indicator directory"
            ));
        };
        let prefix = &rest[..start];
        let mut next = Vec::with_capacity(out.len() * list.len());
        for o in &out {
            for v in list {
                next.push(format!("{o}{prefix}{v}"));
            }
        }
        if next.len() > 100_000 {
            return Err(format!(
                "placeholder expansion of {value:?} makes over 100000 values"
            ));
        }
        out = next;
        rest = &rest[start + len + 2..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

fn compile_item(item: &Item, ctx: &CompileContext<'_>) -> Result<CItem, String> {
    let f = flags_of(&item.modifiers)?;
    let target = match &item.field {
        Some(name) => {
            let name = if ctx.map_fields {
                fieldmap::canonical(name)
            } else {
                name
            };
            Target::Field(FieldPath::new(name))
        }
        None => Target::Keyword,
    };
    if f.exists {
        let [RawValue::Bool(b)] = item.values.as_slice() else {
            return Err("'|exists' takes true or false".into());
        };
        if matches!(target, Target::Keyword) {
            return Err("'|exists' needs a field name".into());
        }
        return Ok(CItem {
            target,
            patterns: Box::new([]),
            all: false,
            neq: false,
            exists: Some(*b),
        });
    }
    let ci = !f.cased;
    let mut patterns = Vec::new();
    for v in &item.values {
        if *v == RawValue::Null {
            patterns.push(Pattern::Null);
            continue;
        }
        if let Some(cmp) = f.cmp {
            let n = match v {
                RawValue::Int(i) => *i as f64,
                RawValue::Float(x) => *x,
                RawValue::Str(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{s}' is not a number, as gt/gte/lt/lte need"))?,
                _ => return Err("gt/gte/lt/lte need a number".into()),
            };
            patterns.push(Pattern::Num(cmp, n));
            continue;
        }
        let text = v.text();
        if f.cidr {
            let net: IpNet = text
                .parse()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{text}' is not a CIDR range such as 10.0.0.0/8"))?;
            patterns.push(Pattern::Cidr(net.trunc()));
            continue;
        }
        if f.fieldref {
            let name = if ctx.map_fields {
                fieldmap::canonical(&text)
            } else {
                &text
            };
            patterns.push(Pattern::FieldRef {
                field: FieldPath::new(name),
                op: f.op.unwrap_or(StrOp::Exact),
                ci,
            });
            continue;
        }
        if f.re {
            let mut flags = String::new();
            for (on, c) in [(f.re_i, 'i'), (f.re_m, 'm'), (f.re_s, 's')] {
                if on {
                    flags.push(c);
                }
            }
            let src = if flags.is_empty() {
                text.clone()
            } else {
                format!("(?{flags}){text}")
            };
            let re = regex::RegexBuilder::new(&src)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| {
                    format!(
                        "invalid regular expression {text:?}: {}",
                        first_line(&e.to_string())
                    )
                })?;
            patterns.push(Pattern::Regex(Box::new(re), regex_literals(&src)));
            continue;
        }
        let texts = if f.expand {
            expand(&text, ctx)?
        } else {
            vec![text]
        };
        let default_op = if matches!(target, Target::Keyword) {
            StrOp::Contains
        } else {
            StrOp::Exact
        };
        let op = f.op.unwrap_or(default_op);
        for t in texts {
            let (variants, encoded) = transform(&t, &item.modifiers)?;
            for s in variants {
                patterns.push(string_pattern(&s, op, !encoded, ci)?);
            }
        }
    }
    if patterns.is_empty() {
        return Err("item has no values; give a value, a list of values or null".into());
    }
    if !f.all {
        patterns = combine(patterns, ci);
    }
    Ok(CItem {
        target,
        patterns: patterns.into(),
        all: f.all,
        neq: f.neq,
        exists: None,
    })
}

/// Literals one of which every match of the regex `src` contains (its prefixes or suffixes,
/// whichever are longer), lowercased; `None` when the regex has no such finite set.
pub(crate) fn regex_literals(src: &str) -> Option<Box<[Box<str>]>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new().build().parse(src).ok()?;
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(&hir);
            let lits = seq.literals()?;
            let mut out: Vec<Box<str>> = Vec::with_capacity(lits.len());
            for l in lits {
                let text = std::str::from_utf8(l.as_bytes()).ok()?;
                if text.is_empty() {
                    return None;
                }
                out.push(text.to_ascii_lowercase().into());
            }
            out.sort();
            out.dedup();
            (!out.is_empty()).then_some(out)
        })
        .max_by_key(|lits| lits.iter().map(|l| l.len()).min().unwrap_or(0))
        .map(Vec::into_boxed_slice)
}

/// Literals one of which a match must contain.
type Literals = Box<[Box<str>]>;

/// Below this many alternatives an item keeps its patterns separate.
const COMBINE_AT: usize = 4;

/// Merges an item's alternatives (OR) into one matcher where that is faster: many `contains`
/// literals into one Aho-Corasick automaton, regexes into a set, CIDR ranges into a trie.
fn combine(patterns: Vec<Pattern>, ci: bool) -> Vec<Pattern> {
    let mut lits: Vec<Box<str>> = Vec::new();
    let mut regexes: Vec<(String, Option<Literals>)> = Vec::new();
    let mut nets: Vec<IpNet> = Vec::new();
    let mut rest = Vec::new();
    for p in patterns {
        match p {
            Pattern::Str {
                op: StrOp::Contains,
                text,
                ascii: true,
                ..
            } if !text.is_empty() => lits.push(text),
            Pattern::Str {
                op: StrOp::Contains,
                ref text,
                ascii: false,
                ..
            } if ci && text.chars().count() == 1 => {
                // One cased character (homoglyph lists): its two cases, compared exactly.
                let c: String = text.to_string();
                lits.push(c.to_lowercase().into());
                lits.push(c.to_uppercase().into());
            }
            Pattern::Regex(re, l) => regexes.push((re.as_str().to_string(), l)),
            Pattern::Cidr(net) => nets.push(net),
            other => rest.push(other),
        }
    }
    if lits.len() >= COMBINE_AT {
        lits.sort();
        lits.dedup();
        match aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(ci)
            .build(lits.iter().map(|l| l.as_bytes()))
        {
            Ok(ac) => rest.push(Pattern::AnyContains(Box::new(ac), lits.into_boxed_slice())),
            Err(_) => rest.extend(lits.into_iter().map(|text| Pattern::Str {
                op: StrOp::Contains,
                text,
                ci,
                ascii: true,
            })),
        }
    } else {
        rest.extend(lits.into_iter().map(|text| {
            let ascii = ascii_fold_suffices(&text);
            Pattern::Str {
                op: StrOp::Contains,
                text,
                ci,
                ascii,
            }
        }));
    }
    if regexes.len() >= 2 {
        let all_lits: Option<Vec<Box<str>>> = regexes
            .iter()
            .map(|(_, l)| l.clone())
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flat_map(|b| b.into_vec()).collect());
        match regex::RegexSetBuilder::new(regexes.iter().map(|(r, _)| r))
            .size_limit(1 << 24)
            .build()
        {
            Ok(set) => rest.push(Pattern::RegexSet(
                Box::new(set),
                all_lits.map(Vec::into_boxed_slice),
            )),
            Err(_) => {
                for (r, l) in regexes {
                    if let Ok(re) = regex::Regex::new(&r) {
                        rest.push(Pattern::Regex(Box::new(re), l));
                    }
                }
            }
        }
    } else {
        for (r, l) in regexes {
            if let Ok(re) = regex::Regex::new(&r) {
                rest.push(Pattern::Regex(Box::new(re), l));
            }
        }
    }
    if nets.len() >= 2 {
        rest.push(Pattern::CidrSet(Box::new(super::cidr::PrefixTrie::new(
            &nets,
        ))));
    } else {
        rest.extend(nets.into_iter().map(Pattern::Cidr));
    }
    rest
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Compiles a parsed detection. Problems point at the line of the item that failed.
pub fn compile_detection(
    det: &Detection,
    ctx: &CompileContext<'_>,
) -> Result<CDetection, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut selections = Vec::with_capacity(det.selections.len());
    for sel in &det.selections {
        let mut groups = Vec::with_capacity(sel.groups.len());
        for g in &sel.groups {
            let mut items = Vec::with_capacity(g.len());
            for it in g {
                match compile_item(it, ctx) {
                    Ok(c) => items.push(c),
                    Err(message) => problems.push(Problem::new(it.line, message)),
                }
            }
            groups.push(items.into_boxed_slice());
        }
        selections.push(CSelection {
            groups: groups.into_boxed_slice(),
        });
    }
    let names: Vec<&str> = det.selections.iter().map(|s| s.name.as_str()).collect();
    let mut conds = Vec::new();
    for c in &det.condition {
        match resolve(c, &names) {
            Ok(r) => conds.push(r),
            Err(message) => problems.push(Problem::new(det.condition_line, message)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let condition = if conds.len() == 1 {
        conds.remove(0)
    } else {
        Resolved::Or(conds)
    };
    Ok(CDetection {
        selections: selections.into_boxed_slice(),
        condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_parsing() {
        assert_eq!(
            sigma_parts(r"C:\Win*\x\*y?"),
            [
                Part::Lit(r"C:\Win".into()),
                Part::Star,
                Part::Lit(r"\x*y".into()),
                Part::One
            ]
        );
        assert_eq!(sigma_parts(r"a\\b"), [Part::Lit(r"a\b".into())]);
    }

    #[test]
    fn patterns_simplify() {
        let p = string_pattern("*\\cmd.exe", StrOp::Exact, true, true).unwrap();
        assert!(matches!(
            p,
            Pattern::Str {
                op: StrOp::Suffix,
                ..
            }
        ));
        let p = string_pattern("a*b", StrOp::Contains, true, true).unwrap();
        assert!(matches!(
            p,
            Pattern::Glob {
                start: false,
                end: false,
                ..
            }
        ));
        let p = string_pattern("a?b", StrOp::Exact, true, true).unwrap();
        assert!(matches!(p, Pattern::Regex(..)));
        let p = string_pattern("a*b", StrOp::Exact, false, true).unwrap();
        assert!(matches!(
            p,
            Pattern::Str {
                op: StrOp::Exact,
                ..
            }
        ));
    }

    #[test]
    fn placeholders_expand() {
        let mut ph = HashMap::new();
        ph.insert(
            "admins".to_string(),
            vec!["root".to_string(), "adm".to_string()],
        );
        let ctx = CompileContext {
            placeholders: &ph,
            map_fields: true,
        };
        assert_eq!(expand("u=%admins%!", &ctx).unwrap(), ["u=root!", "u=adm!"]);
        assert!(expand("%nope%", &ctx).unwrap_err().contains("nope.txt"));
    }
}
