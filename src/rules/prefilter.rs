//! The literal prefilter: for each rule, a set of (field, literal) atoms at least one of which
//! must occur for the rule to match; one ASCII-case-insensitive Aho-Corasick automaton per field
//! over all rules' atoms finds, per event, the few rules worth evaluating.
//!
//! Rules with no such atoms (regex-only, numeric, negations) are always evaluated.

use std::collections::HashMap;

use aho_corasick::automaton::{Automaton as _, StateID};
use aho_corasick::{dfa, nfa::contiguous, AhoCorasick, AhoCorasickKind, Anchored, MatchKind};

/// Literal sets up to this size get a DFA.
const DFA_MAX_PATTERNS: usize = 5_000;

use super::compile::{CDetection, CItem, CSelection, Target};
use super::condition::Resolved;
use super::eval::any_string;
use super::matcher::{value_text, FieldPath, Pattern};
use crate::event::{Event, FieldId, Key, Value};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum AtomTarget {
    Field(FieldId),
    Keyword,
}

/// Alternatives, one of which must hold: (target, lowercased literal).
type Cover = Vec<(AtomTarget, String)>;

/// How many rules mention each atom: an atom many rules share (`type: EXECVE`) is likely
/// common in events too, so a rarer alternative is preferred where a rule offers one.
type Popularity = HashMap<(AtomTarget, String), u32>;

/// Atoms shared by more rules than this are treated as common.
const POPULAR: u32 = 3;

type Score = (
    bool,
    bool,
    usize,
    std::cmp::Reverse<u32>,
    std::cmp::Reverse<usize>,
);

/// Prefer, in order: atoms few rules share; atoms on a named field (keyword atoms make the
/// automaton scan every string of every event); longer literals; fewer alternatives.
fn score(c: &Cover, pop: &Popularity) -> Score {
    let min_len = c.iter().map(|(_, l)| l.len()).min().unwrap_or(0);
    let max_pop = c
        .iter()
        .map(|a| pop.get(a).copied().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let on_fields = c.iter().all(|(t, _)| *t != AtomTarget::Keyword);
    (
        max_pop <= POPULAR,
        on_fields,
        min_len.min(8),
        std::cmp::Reverse(max_pop),
        std::cmp::Reverse(c.len()),
    )
}

fn best(covers: impl Iterator<Item = Option<Cover>>, pop: &Popularity) -> Option<Cover> {
    covers.flatten().max_by_key(|c| score(c, pop))
}

/// Every atom a detection mentions, once per rule, for [`Popularity`].
fn mentioned(d: &CDetection, out: &mut std::collections::HashSet<(AtomTarget, String)>) {
    for s in d.selections.iter() {
        for g in s.groups.iter() {
            for it in g.iter() {
                let target = match &it.target {
                    Target::Field(fp) => AtomTarget::Field(fp.flat),
                    Target::Keyword => AtomTarget::Keyword,
                };
                for p in it.patterns.iter() {
                    for l in pattern_atoms(p).unwrap_or_default() {
                        out.insert((target.clone(), l));
                    }
                }
            }
        }
    }
}

fn union(covers: impl Iterator<Item = Option<Cover>>) -> Option<Cover> {
    let mut out = Vec::new();
    for c in covers {
        out.extend(c?);
    }
    Some(out)
}

/// The part of a literal the automaton can look for: the automaton folds ASCII case only, so
/// characters that have case outside ASCII split the literal and the longest piece is kept.
fn atom_literal(s: &str) -> Option<String> {
    let run = s
        .split(|c: char| !c.is_ascii() && (c.is_lowercase() || c.is_uppercase()))
        .max_by_key(|r| r.len())
        .unwrap_or_default();
    (!run.is_empty()).then(|| run.to_ascii_lowercase())
}

/// Literals one of which must occur in a value the pattern matches.
fn pattern_atoms(p: &Pattern) -> Option<Vec<String>> {
    let all = |lits: &[Box<str>]| {
        lits.iter()
            .map(|l| atom_literal(l))
            .collect::<Option<Vec<_>>>()
    };
    match p {
        Pattern::Str { text, .. } => atom_literal(text).map(|l| vec![l]),
        Pattern::Glob { segs, .. } => segs
            .iter()
            .filter_map(|s| atom_literal(s))
            .max_by_key(|s| s.len())
            .map(|l| vec![l]),
        Pattern::AnyContains(_, lits) => all(lits),
        Pattern::Regex(_, Some(lits)) | Pattern::RegexSet(_, Some(lits)) => all(lits),
        _ => None,
    }
}

fn item_cover(
    it: &CItem,
    paths: &mut HashMap<FieldId, FieldPath>,
    pop: &Popularity,
) -> Option<Cover> {
    if it.neq || it.exists.is_some() {
        return None;
    }
    let target = match &it.target {
        Target::Field(fp) => {
            paths.entry(fp.flat).or_insert_with(|| fp.clone());
            AtomTarget::Field(fp.flat)
        }
        Target::Keyword => AtomTarget::Keyword,
    };
    let atom = |p: &Pattern| {
        pattern_atoms(p).map(|ls| {
            ls.into_iter()
                .map(|l| (target.clone(), l))
                .collect::<Cover>()
        })
    };
    if it.all {
        best(it.patterns.iter().map(atom), pop)
    } else {
        union(it.patterns.iter().map(atom))
    }
}

fn selection_cover(
    s: &CSelection,
    paths: &mut HashMap<FieldId, FieldPath>,
    pop: &Popularity,
) -> Option<Cover> {
    let mut out = Vec::new();
    for g in s.groups.iter() {
        let covers: Vec<Option<Cover>> = g.iter().map(|it| item_cover(it, paths, pop)).collect();
        out.extend(best(covers.into_iter(), pop)?);
    }
    if s.groups.is_empty() {
        return None;
    }
    Some(out)
}

fn cover(
    e: &Resolved,
    d: &CDetection,
    paths: &mut HashMap<FieldId, FieldPath>,
    pop: &Popularity,
) -> Option<Cover> {
    match e {
        Resolved::Sel(i) => selection_cover(d.selections.get(*i as usize)?, paths, pop),
        Resolved::Not(_) | Resolved::Const(_) => None,
        Resolved::And(xs) => {
            let covers: Vec<Option<Cover>> = xs.iter().map(|x| cover(x, d, paths, pop)).collect();
            best(covers.into_iter(), pop)
        }
        Resolved::Or(xs) => {
            let covers: Vec<Option<Cover>> = xs.iter().map(|x| cover(x, d, paths, pop)).collect();
            union(covers.into_iter())
        }
    }
}

struct Automaton {
    ac: AhoCorasick,
    /// pattern id -> local rule indices
    rules: Box<[Box<[u32]>]>,
}

impl Automaton {
    fn build(atoms: HashMap<String, Vec<u32>>) -> Option<Automaton> {
        let (pats, rules) = sorted_atoms(atoms);
        // A full DFA is the fastest to search; past a few thousand literals its memory grows
        // large, and the automaton chooses for itself.
        let kind = (pats.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA);
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(kind)
            .build(&pats)
            .ok()?;
        Some(Automaton { ac, rules })
    }

    fn mark(&self, hay: &str, cand: &mut [u64]) {
        // Most strings contain no literal at all: the plain search (which stops at the first
        // match and may skip ahead with the automaton's prefilter) says so faster than the
        // overlapping one, which then only runs on the few that do.
        if !self.ac.is_match(hay) {
            return;
        }
        for m in self.ac.find_overlapping_iter(hay) {
            if let Some(rs) = self.rules.get(m.pattern().as_usize()) {
                for &r in rs.iter() {
                    if let Some(w) = cand.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                    }
                }
            }
        }
    }
}

/// The keyword literals of a set of rules, looked for in every string of an event.
///
/// Keyword rules match any field, so every event's strings are scanned; this walks the
/// automaton over each string in place (no copy into one buffer) and collects every match in
/// the one pass, where a plain search and then an overlapping one would scan twice.
struct KeywordScan {
    walker: Walker,
    /// pattern id -> local rule indices
    rules: Box<[Box<[u32]>]>,
}

/// The automaton of a [`KeywordScan`]: the DFA's [`Dense`] copy when it fits (the usual
/// case), else the DFA itself, or past [`DFA_MAX_PATTERNS`] literals a contiguous NFA, whose
/// memory stays small. They are built without a prefilter, so only match states are special.
enum Walker {
    Dense(Dense),
    Dfa(dfa::DFA, StateID),
    Nfa(contiguous::NFA, StateID),
}

/// The keyword DFA copied into a table made for one loop: a state is the offset of its row
/// (so the next state is one add and one load away: the scan is bound by that chain), rows
/// have a fixed number of byte classes drawn from the literals' own bytes, and match states
/// come last, so one comparison tells them apart.
struct Dense {
    /// Byte -> class; class 0 holds every byte no literal contains (ASCII case folded).
    class: [u8; 256],
    /// `state + class` -> next state, states being row offsets (`DENSE_CLASSES` apart).
    /// State 0 is the start.
    trans: Box<[u32]>,
    /// States from this one on are match states.
    first_match: u32,
    /// `(state - first_match) / DENSE_CLASSES` -> the rules whose literals end there.
    marks: Box<[Box<[u32]>]>,
}

/// Past this many table entries the automaton's own DFA is walked instead (8 MiB of table).
const DENSE_MAX_ENTRIES: usize = 1 << 21;
/// Byte classes a dense table has room for (a fixed row length keeps the loop short); literals
/// with more distinct bytes than this use the automaton's own DFA.
const DENSE_CLASSES: usize = 64;

impl Dense {
    fn build(
        dfa: &dfa::DFA,
        start: StateID,
        pats: &[String],
        rules: &[Box<[u32]>],
    ) -> Option<Dense> {
        // Classes: one per distinct literal byte; upper and lower case share one, as the
        // automaton folds ASCII case. Bytes of one class move the automaton alike.
        let mut class = [0u8; 256];
        let mut reps = vec![None];
        for b in pats.iter().flat_map(|p| p.bytes()) {
            let b = b.to_ascii_lowercase();
            if class[b as usize] == 0 {
                let c = u8::try_from(reps.len()).ok()?;
                class[b as usize] = c;
                class[b.to_ascii_uppercase() as usize] = c;
                reps.push(Some(b));
            }
        }
        // Class 0's representative: any byte in no literal (none if every byte is in one).
        reps[0] = (0..=255u8).find(|b| class[*b as usize] == 0);
        if reps.len() > DENSE_CLASSES {
            return None;
        }
        // The states reachable from the start, in the order first seen.
        let mut ids: HashMap<StateID, usize> = HashMap::new();
        let mut order = vec![start];
        ids.insert(start, 0);
        let mut next = Vec::new();
        let mut i = 0;
        while let Some(&sid) = order.get(i) {
            for rep in &reps {
                let to = match rep {
                    Some(b) => dfa.next_state(Anchored::No, sid, *b),
                    None => start,
                };
                let n = order.len();
                let id = *ids.entry(to).or_insert(n);
                if id == n {
                    order.push(to);
                }
                next.push(id);
            }
            i += 1;
            if order.len() > usize::from(u16::MAX)
                || order.len() * DENSE_CLASSES > DENSE_MAX_ENTRIES
            {
                return None;
            }
        }
        // Renumber: non-match states first (the start stays 0), then match states.
        let is_match = |sid: StateID| dfa.is_special(sid) && dfa.is_match(sid);
        if is_match(start) {
            return None;
        }
        let mut new_id = vec![0u16; order.len()];
        let mut n = 0u16;
        for pass in [false, true] {
            for (old, sid) in order.iter().enumerate() {
                if is_match(*sid) == pass {
                    new_id[old] = n;
                    n += 1;
                }
            }
        }
        let first_match = order.iter().filter(|s| !is_match(**s)).count() as u16;
        let mut trans = vec![0u32; order.len() * DENSE_CLASSES];
        let mut marks = vec![Box::default(); order.len() - first_match as usize];
        for (old, sid) in order.iter().enumerate() {
            let row = new_id[old] as usize * DENSE_CLASSES;
            for c in 0..reps.len() {
                trans[row + c] = new_id[next[old * reps.len() + c]] as u32 * DENSE_CLASSES as u32;
            }
            if is_match(*sid) {
                let mut rs: Vec<u32> = (0..dfa.match_len(*sid))
                    .flat_map(|k| {
                        let pid = dfa.match_pattern(*sid, k);
                        rules.get(pid.as_usize()).into_iter().flatten().copied()
                    })
                    .collect();
                rs.sort_unstable();
                rs.dedup();
                marks[(new_id[old] - first_match) as usize] = rs.into_boxed_slice();
            }
        }
        Some(Dense {
            class,
            trans: trans.into_boxed_slice(),
            first_match: first_match as u32 * DENSE_CLASSES as u32,
            marks: marks.into_boxed_slice(),
        })
    }

    // Kept out of line: inlined into its caller's closure the loop's few values no longer
    // fit in registers and every byte reloads them from the stack.
    #[inline(never)]
    fn mark(&self, hay: &[u8], cand: &mut [u64]) {
        let mut s = 0u32;
        for &b in hay {
            let c = self.class[b as usize] as usize;
            // In range by construction: every state has a full row.
            s = self.trans.get(s as usize + c).copied().unwrap_or(0);
            if s >= self.first_match {
                self.matched(s, cand);
            }
        }
    }

    /// Marks the rules of match state `s`; rare, and kept out of the loop's registers.
    #[cold]
    #[inline(never)]
    fn matched(&self, s: u32, cand: &mut [u64]) {
        let rs = self
            .marks
            .get(((s - self.first_match) as usize) / DENSE_CLASSES);
        for &r in rs.into_iter().flatten() {
            if let Some(w) = cand.get_mut(r as usize / 64) {
                *w |= 1 << (r % 64);
            }
        }
    }
}

impl KeywordScan {
    fn build(atoms: HashMap<String, Vec<u32>>) -> Option<KeywordScan> {
        let (pats, rules) = sorted_atoms(atoms);
        let walker = if pats.len() <= DFA_MAX_PATTERNS {
            let dfa = dfa::Builder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .build(&pats)
                .ok()?;
            let start = dfa.start_state(Anchored::No).ok()?;
            match Dense::build(&dfa, start, &pats, &rules) {
                Some(d) => Walker::Dense(d),
                None => Walker::Dfa(dfa, start),
            }
        } else {
            let nfa = contiguous::Builder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .build(&pats)
                .ok()?;
            let start = nfa.start_state(Anchored::No).ok()?;
            Walker::Nfa(nfa, start)
        };
        Some(KeywordScan { walker, rules })
    }

    /// Sets the bit of every rule one of whose literals occurs in `hay`.
    fn mark(&self, hay: &str, cand: &mut [u64]) {
        match &self.walker {
            Walker::Dense(d) => d.mark(hay.as_bytes(), cand),
            Walker::Dfa(a, start) => walk(a, *start, hay.as_bytes(), &self.rules, cand),
            Walker::Nfa(a, start) => walk(a, *start, hay.as_bytes(), &self.rules, cand),
        }
    }
}

/// An overlapping search as one loop: every match state reached reports all the patterns that
/// end there (the automaton copies the matches of shorter suffixes into it).
#[inline(never)]
fn walk<A: aho_corasick::automaton::Automaton>(
    aut: &A,
    start: StateID,
    hay: &[u8],
    rules: &[Box<[u32]>],
    cand: &mut [u64],
) {
    let mut sid = start;
    for &b in hay {
        sid = aut.next_state(Anchored::No, sid, b);
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            }
            for i in 0..aut.match_len(sid) {
                let pid = aut.match_pattern(sid, i);
                for &r in rules.get(pid.as_usize()).into_iter().flatten() {
                    if let Some(w) = cand.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                    }
                }
            }
        }
    }
}

/// Pattern id -> local indices of the rules that need the pattern.
type RulesByPattern = Box<[Box<[u32]>]>;

/// The literals in a fixed order, and for each the rules (sorted, once each) that need it.
fn sorted_atoms(atoms: HashMap<String, Vec<u32>>) -> (Vec<String>, RulesByPattern) {
    let mut pats = Vec::with_capacity(atoms.len());
    let mut rules = Vec::with_capacity(atoms.len());
    let mut sorted: Vec<_> = atoms.into_iter().collect();
    sorted.sort();
    for (lit, mut rs) in sorted {
        rs.sort_unstable();
        rs.dedup();
        pats.push(lit);
        rules.push(rs.into_boxed_slice());
    }
    (pats, rules.into_boxed_slice())
}

/// The prefilter of one set of rules (the rules that apply to one logsource).
pub struct Prefilter {
    fields: Vec<(FieldPath, Automaton)>,
    /// FieldId -> index into `fields` (u32::MAX when none).
    by_flat: Vec<u32>,
    /// Indices of `fields` entries with dotted paths, checked when the flat name is absent.
    nested: Vec<u32>,
    keyword: Option<KeywordScan>,
    always: Vec<u64>,
    /// How many of the rules have no atoms (reported by `rules list`-like diagnostics).
    pub unfiltered: usize,
}

impl Prefilter {
    /// Builds the prefilter over `rules` (local index = position in the slice).
    pub fn build(rules: &[&CDetection]) -> Prefilter {
        let words = rules.len().div_ceil(64).max(1);
        let mut always = vec![0u64; words];
        let mut per_field: HashMap<AtomTarget, HashMap<String, Vec<u32>>> = HashMap::new();
        let mut paths = HashMap::new();
        let mut unfiltered = 0;
        let mut pop = Popularity::new();
        for d in rules {
            let mut seen = std::collections::HashSet::new();
            mentioned(d, &mut seen);
            for a in seen {
                *pop.entry(a).or_insert(0) += 1;
            }
        }
        for (i, d) in rules.iter().enumerate() {
            match cover(&d.condition, d, &mut paths, &pop) {
                Some(c) if !c.is_empty() => {
                    for (t, lit) in c {
                        per_field
                            .entry(t)
                            .or_default()
                            .entry(lit)
                            .or_default()
                            .push(i as u32);
                    }
                }
                _ => {
                    unfiltered += 1;
                    always[i / 64] |= 1 << (i % 64);
                }
            }
        }
        let mut fields = Vec::new();
        let mut by_flat = Vec::new();
        let mut nested = Vec::new();
        let mut keyword = None;
        let mut targets: Vec<_> = per_field.into_iter().collect();
        targets.sort_by_key(|(t, _)| match t {
            AtomTarget::Field(f) => *f as i64,
            AtomTarget::Keyword => -1,
        });
        for (t, atoms) in targets {
            match t {
                AtomTarget::Keyword => keyword = KeywordScan::build(atoms),
                AtomTarget::Field(flat) => {
                    let Some(auto) = Automaton::build(atoms) else {
                        continue;
                    };
                    let Some(fp) = paths.get(&flat) else { continue };
                    let idx = fields.len() as u32;
                    if by_flat.len() <= flat as usize {
                        by_flat.resize(flat as usize + 1, u32::MAX);
                    }
                    by_flat[flat as usize] = idx;
                    if fp.path.is_some() {
                        nested.push(idx);
                    }
                    fields.push((fp.clone(), auto));
                }
            }
        }
        Prefilter {
            fields,
            by_flat,
            nested,
            keyword,
            always,
            unfiltered,
        }
    }

    /// Sets in `cand` the bit of every rule that may match `ev`.
    pub fn candidates(&self, ev: &Event, cand: &mut Vec<u64>, buf: &mut String) {
        cand.clear();
        cand.extend_from_slice(&self.always);
        for (k, v) in ev.fields.iter() {
            let Key::Id(id) = k else { continue };
            let Some(&idx) = self.by_flat.get(*id as usize) else {
                continue;
            };
            if let Some((_, auto)) = self.fields.get(idx as usize) {
                mark_value(auto, v, cand, buf);
            }
        }
        for &idx in &self.nested {
            let Some((fp, auto)) = self.fields.get(idx as usize) else {
                continue;
            };
            if ev.fields.get(fp.flat).is_some() {
                continue;
            }
            fp.any_value(&ev.fields, &mut |v| {
                mark_value(auto, v, cand, buf);
                false
            });
        }
        if let Some(kw) = &self.keyword {
            any_string(&ev.fields, &mut |s| {
                kw.mark(s, cand);
                false
            });
        }
    }
}

fn mark_value(auto: &Automaton, v: &Value, cand: &mut [u64], buf: &mut String) {
    match v {
        Value::List(items) => {
            for i in items {
                mark_value(auto, i, cand, buf);
            }
        }
        Value::Str(s) => auto.mark(s, cand),
        other => {
            if let Some(t) = value_text(other, buf) {
                auto.mark(t, cand);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules a keyword scan marks for `hay`, and those an overlapping search finds.
    fn both(lits: &[&str], hay: &str) -> (Vec<u64>, Vec<u64>) {
        let mut atoms: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, l) in lits.iter().enumerate() {
            atoms.entry(l.to_string()).or_default().push(i as u32 % 70);
        }
        let (pats, rules) = sorted_atoms(atoms.clone());
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&pats)
            .expect("test literals");
        let mut want = vec![0u64; 2];
        for m in ac.find_overlapping_iter(hay) {
            for &r in rules[m.pattern().as_usize()].iter() {
                want[r as usize / 64] |= 1 << (r % 64);
            }
        }
        let scan = KeywordScan::build(atoms).expect("test literals");
        assert!(matches!(scan.walker, Walker::Dense(_)));
        let mut got = vec![0u64; 2];
        scan.mark(hay, &mut got);
        (got, want)
    }

    #[test]
    fn dense_keyword_scan_finds_what_an_overlapping_search_finds() {
        let lits = [
            "he",
            "she",
            "his",
            "hers",
            "/dev/tcp/",
            "bash -i >& ",
            "corrupted mac",
            "é",
            "\0x",
            "aaaa",
            "aab",
            "zz top",
            "stack smashing",
            "ö7",
        ];
        for hay in [
            "",
            "ushers",
            "USHERS and HIS hers",
            "bash -I >& /DEV/tcp/10.0.0.1/4444",
            "error: Corrupted MAC on input",
            "aaaaab aab",
            "caf\u{e9} é É \0x ö7 Ö7",
            "*** stack smashing detected ***",
            "nothing to see here",
            "zz to zz top",
        ] {
            let (got, want) = both(&lits, hay);
            assert_eq!(got, want, "{hay}");
        }
    }
}
