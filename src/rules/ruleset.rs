//! Loading: rule files and directories to one immutable, compiled [`RuleSet`], or a
//! [`LoadReport`] naming every problem with its file and line.
//!
//! Cross-rule links (correlations and filters naming other rules by id or name) are resolved
//! here; per-logsource prefilter views are built lazily and cached.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use compact_str::CompactString;

use super::compile::{compile_detection, CDetection, CompileContext};
use super::fieldmap;
use super::matcher::FieldPath;
use super::parse::{self, Body, Cmp, CorrelationType, RuleDoc, RuleLogSource, SuppressionSpec};
use super::prefilter::Prefilter;
use super::yaml;
use crate::event::LogSource;

/// How rules are loaded and run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Apply every rule to every event, whatever the logsources (for comparing engines).
    pub logsource_any: bool,
    /// Map Sigma field names (`DestinationIp`) to vigil's canonical ones (`dst_ip`).
    pub map_fields: bool,
    /// Directories of indicator lists: `NAME.txt` binds placeholder `%NAME%`.
    pub indicator_dirs: Vec<PathBuf>,
    /// Indicator lists given directly (they win over files of the same name).
    pub indicators: HashMap<String, Vec<String>>,
    /// Suppression for rules that do not set their own.
    pub suppression: Option<SuppressionSpec>,
    /// Correlation state bound: groups per correlation rule.
    pub max_groups: usize,
    /// Correlation state bound: events (or values) remembered per group.
    pub max_events_per_group: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            logsource_any: false,
            map_fields: true,
            indicator_dirs: Vec::new(),
            indicators: HashMap::new(),
            suppression: None,
            max_groups: 100_000,
            max_events_per_group: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Detection,
    Correlation,
    Filter,
}

/// What the outside world may know about a loaded rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub name: Option<String>,
    pub title: String,
    pub level: String,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub file: PathBuf,
    pub line: u32,
    pub logsource: RuleLogSource,
    pub kind: RuleKind,
}

/// One problem found while loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadIssue {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
    pub suggestion: Option<String>,
}

impl fmt::Display for LoadIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
        if let Some(s) = &self.suggestion {
            if s.contains(' ') {
                write!(f, "; {s}")?;
            } else {
                write!(f, "; did you mean '{s}'?")?;
            }
        }
        Ok(())
    }
}

/// The outcome of a load: how many rules loaded, errors (the set is refused) and warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: usize,
    pub files: usize,
    pub errors: Vec<LoadIssue>,
    pub warnings: Vec<LoadIssue>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "{w} (warning)")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadReport {}

/// A compiled detection rule.
pub(crate) struct DetRule {
    pub info: Arc<RuleInfo>,
    pub det: CDetection,
    /// Filters (Sigma meta filters) that exclude events from this rule.
    pub exclusions: Vec<Arc<CDetection>>,
    /// Whether a match raises an alert by itself (false when only a correlation uses it).
    pub alert: bool,
    /// Correlations fed by this rule: (correlation index, position in its `rules`).
    pub parents: Vec<(u32, u16)>,
    pub suppression: Option<SuppressionSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Member {
    Det(u32),
    Corr(u32),
}

/// A compiled correlation rule.
pub(crate) struct CorrRule {
    pub info: Arc<RuleInfo>,
    pub kind: CorrelationType,
    pub members: Vec<Member>,
    /// Group-by names as written (alert keys).
    pub group_names: Vec<String>,
    /// For each member position, the field read for each group-by name (aliases applied).
    pub group_fields: Vec<Vec<FieldPath>>,
    pub value_field: Option<FieldPath>,
    pub timespan_ns: i64,
    pub condition: Vec<(Cmp, f64)>,
    pub alert: bool,
    pub parents: Vec<(u32, u16)>,
    pub suppression: Option<SuppressionSpec>,
}

/// Rules that apply to one event logsource, with their prefilter.
pub(crate) struct View {
    /// Detection rule indices; prefilter bit i is `rules[i]`.
    pub rules: Vec<u32>,
    pub prefilter: Prefilter,
}

/// Category, product, service, and the service aliases the events answer to.
type LsKey = (
    Option<CompactString>,
    Option<CompactString>,
    Option<CompactString>,
    Vec<CompactString>,
);

/// A compiled rule set: immutable once built; share it with `Arc` and swap it whole.
pub struct RuleSet {
    pub(crate) detections: Vec<DetRule>,
    pub(crate) correlations: Vec<CorrRule>,
    pub(crate) infos: Vec<Arc<RuleInfo>>,
    pub(crate) opts: LoadOptions,
    views: Mutex<HashMap<LsKey, Arc<View>>>,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.infos.len())
            .finish()
    }
}

/// Rule files under `paths`: `.yml`/`.yaml`, except rule-test files (`*.tests.yml`).
pub fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadIssue> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out, 0)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn io_issue(p: &Path, e: std::io::Error) -> LoadIssue {
    LoadIssue {
        file: p.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
        suggestion: None,
    }
}

pub(crate) fn is_test_file(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    n.ends_with(".tests.yml") || n.ends_with(".tests.yaml")
}

fn collect(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), LoadIssue> {
    let meta = std::fs::metadata(p).map_err(|e| io_issue(p, e))?;
    if meta.is_dir() {
        if depth > 32 {
            return Ok(());
        }
        for entry in std::fs::read_dir(p).map_err(|e| io_issue(p, e))? {
            let entry = entry.map_err(|e| io_issue(p, e))?;
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out, depth + 1)?;
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) && !is_test_file(&path)
            {
                out.push(path);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

fn load_indicators(opts: &LoadOptions, report: &mut LoadReport) -> HashMap<String, Vec<String>> {
    let mut map = HashMap::new();
    for dir in &opts.indicator_dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                report.errors.push(io_issue(dir, e));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("txt") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let vals = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string)
                        .collect();
                    map.insert(name.to_string(), vals);
                }
                Err(e) => report.errors.push(io_issue(&path, e)),
            }
        }
    }
    for (k, v) in &opts.indicators {
        map.insert(k.clone(), v.clone());
    }
    map
}

struct Parsed {
    file: PathBuf,
    doc: RuleDoc,
}

/// Event-logsource to rule-logsource compatibility. Every dimension the rule names must equal
/// the event's (case-insensitively); `firewall` and `flow` are one category.
pub fn applies(rule: &RuleLogSource, ev: &LogSource) -> bool {
    fn canon(s: &str) -> &str {
        if s.eq_ignore_ascii_case("firewall") {
            "flow"
        } else {
            s
        }
    }
    let dim = |r: &Option<String>, e: &Option<CompactString>| match (r, e) {
        (None, _) => true,
        (Some(r), Some(e)) => canon(r).eq_ignore_ascii_case(canon(e)),
        (Some(_), None) => false,
    };
    dim(&rule.category, &ev.category)
        && dim(&rule.product, &ev.product)
        && dim(&rule.service, &ev.service)
}

/// Parses `product=linux,service=auditd` (or `any`) for `vigil replay --logsource`.
/// Returns `None` for `any`.
pub fn parse_logsource_spec(spec: &str) -> Result<Option<LogSource>, String> {
    if spec.trim().eq_ignore_ascii_case("any") {
        return Ok(None);
    }
    let mut ls = LogSource::default();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected key=value in --logsource, got '{pair}'"))?;
        let v = Some(CompactString::from(v.trim()));
        match k.trim() {
            "category" => ls.category = v,
            "product" => ls.product = v,
            "service" => ls.service = v,
            other => {
                return Err(format!(
                    "unknown logsource key '{other}' in --logsource; use category, product, service or `any`"
                ))
            }
        }
    }
    Ok(Some(ls))
}

impl RuleSet {
    /// Loads rules; any error refuses the whole set and the report lists every problem.
    pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<RuleSet, LoadReport> {
        let (set, report) = RuleSet::load_lenient(paths, opts);
        if report.errors.is_empty() {
            Ok(set)
        } else {
            Err(report)
        }
    }

    /// Loads what loads and reports the rest (for `vigil rules check`).
    pub fn load_lenient(paths: &[PathBuf], opts: &LoadOptions) -> (RuleSet, LoadReport) {
        let mut report = LoadReport::default();
        let files = match rule_files(paths) {
            Ok(f) => f,
            Err(e) => {
                report.errors.push(e);
                Vec::new()
            }
        };
        report.files = files.len();
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push((file, text)),
                Err(e) => report.errors.push(io_issue(&file, e)),
            }
        }
        let refs: Vec<(&Path, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_path(), t.as_str()))
            .collect();
        let set = RuleSet::build(&refs, opts, &mut report);
        (set, report)
    }

    /// Builds a rule set from in-memory sources `(file name, YAML text)`.
    pub fn from_sources(sources: &[(&Path, &str)], opts: &LoadOptions) -> (RuleSet, LoadReport) {
        let mut report = LoadReport {
            files: sources.len(),
            ..LoadReport::default()
        };
        let set = RuleSet::build(sources, opts, &mut report);
        (set, report)
    }

    fn build(sources: &[(&Path, &str)], opts: &LoadOptions, report: &mut LoadReport) -> RuleSet {
        let placeholders = load_indicators(opts, report);
        let mut parsed = Vec::new();
        for (file, text) in sources {
            let docs = match yaml::parse_documents(text) {
                Ok(d) => d,
                Err(e) => {
                    report.errors.push(LoadIssue {
                        file: file.to_path_buf(),
                        line: e.line,
                        message: format!("YAML syntax: {}", e.message),
                        suggestion: None,
                    });
                    continue;
                }
            };
            for doc in docs {
                if doc.get("action").and_then(|a| a.as_str()).is_some() {
                    report.errors.push(LoadIssue {
                        file: file.to_path_buf(),
                        line: doc.line,
                        message: "`action:` rule collections are Sigma 1 syntax; split the file into complete rules".into(),
                        suggestion: None,
                    });
                    continue;
                }
                match parse::parse_rule(&doc) {
                    Ok(d) => parsed.push(Parsed {
                        file: file.to_path_buf(),
                        doc: d,
                    }),
                    Err(problems) => {
                        report
                            .errors
                            .extend(problems.into_iter().map(|p| LoadIssue {
                                file: file.to_path_buf(),
                                line: p.line,
                                message: p.message,
                                suggestion: p.suggestion,
                            }))
                    }
                }
            }
        }
        link(parsed, opts, &placeholders, report)
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }
    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }
    /// Every loaded rule (detections, correlations, filters), in file order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.infos.iter().map(|i| i.as_ref())
    }
    pub fn options(&self) -> &LoadOptions {
        &self.opts
    }

    /// Builds (and caches) the prefilter for events of logsource `ls` now, so that the first
    /// such event does not pay for it (about half a second for the whole SigmaHQ tree).
    pub fn warm(&self, ls: &LogSource) {
        let _ = self.view(ls, &[]);
    }

    /// For events of logsource `ls`: how many detection rules apply, and how many of those the
    /// literal prefilter cannot screen (they are evaluated for every event).
    pub fn prefilter_stats(&self, ls: &LogSource) -> (usize, usize) {
        let v = self.view(ls, &[]);
        (v.rules.len(), v.prefilter.unfiltered)
    }

    /// The rules that apply to events of logsource `ls`, with their prefilter (built once).
    /// `aliases` are further services the events answer to (`logs::service_aliases`: every
    /// syslog line is also `service: syslog`), so that SigmaHQ's syslog and auth rules apply
    /// to lines whose own service is the program's name.
    pub(crate) fn view(&self, ls: &LogSource, aliases: &[&str]) -> Arc<View> {
        let key: LsKey = if self.opts.logsource_any {
            (None, None, None, Vec::new())
        } else {
            let aliases = aliases.iter().map(|a| CompactString::from(*a)).collect();
            (
                ls.category.clone(),
                ls.product.clone(),
                ls.service.clone(),
                aliases,
            )
        };
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = views.get(&key) {
            return v.clone();
        }
        let rules: Vec<u32> = (0..self.detections.len() as u32)
            .filter(|&i| {
                let rule = &self.detections[i as usize].info.logsource;
                self.opts.logsource_any
                    || applies(rule, ls)
                    || aliases.iter().any(|a| {
                        let alias = LogSource {
                            service: Some(CompactString::from(*a)),
                            ..ls.clone()
                        };
                        applies(rule, &alias)
                    })
            })
            .collect();
        let dets: Vec<&CDetection> = rules
            .iter()
            .map(|&i| &self.detections[i as usize].det)
            .collect();
        let view = Arc::new(View {
            prefilter: Prefilter::build(&dets),
            rules,
        });
        // Bounded: logsources come from decoders, but cap anyway.
        if views.len() < 256 {
            views.insert(key, view.clone());
        }
        view
    }
}

fn info_of(p: &Parsed, kind: RuleKind, n: usize) -> RuleInfo {
    let d = &p.doc;
    RuleInfo {
        id: d
            .id
            .clone()
            .or_else(|| d.name.clone())
            .unwrap_or_else(|| format!("{}#{n}", p.file.display())),
        name: d.name.clone(),
        title: d.title.clone(),
        level: d.level.clone().unwrap_or_else(|| "medium".into()),
        status: d.status.clone(),
        tags: d.tags.clone(),
        file: p.file.clone(),
        line: d.line,
        logsource: d.logsource.clone(),
        kind,
    }
}

fn issue(p: &Parsed, line: u32, message: String) -> LoadIssue {
    LoadIssue {
        file: p.file.clone(),
        line,
        message,
        suggestion: None,
    }
}

/// Compiles parsed documents and resolves the links between them.
fn link(
    parsed: Vec<Parsed>,
    opts: &LoadOptions,
    placeholders: &HashMap<String, Vec<String>>,
    report: &mut LoadReport,
) -> RuleSet {
    let ctx = CompileContext {
        placeholders,
        map_fields: opts.map_fields,
    };
    let mut detections = Vec::new();
    let mut correlations: Vec<(CorrRule, usize)> = Vec::new();
    let mut filters = Vec::new();
    let mut infos = Vec::new();
    let mut by_ref: HashMap<String, Member> = HashMap::new();
    let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();

    for (n, p) in parsed.iter().enumerate() {
        if let Some(id) = &p.doc.id {
            if let Some(other) = seen_ids.get(id) {
                report.errors.push(issue(
                    p,
                    p.doc.line,
                    format!(
                        "duplicate rule id {id} (also in {}); give each rule its own id",
                        other.display()
                    ),
                ));
                continue;
            }
            seen_ids.insert(id.clone(), p.file.clone());
        }
        match &p.doc.body {
            Body::Detection(d) => match compile_detection(d, &ctx) {
                Ok(det) => {
                    let info = Arc::new(info_of(p, RuleKind::Detection, n));
                    let m = Member::Det(detections.len() as u32);
                    for r in p.doc.id.iter().chain(p.doc.name.iter()) {
                        by_ref.insert(r.clone(), m);
                    }
                    infos.push(info.clone());
                    detections.push(DetRule {
                        info,
                        det,
                        exclusions: Vec::new(),
                        alert: true,
                        parents: Vec::new(),
                        suppression: p
                            .doc
                            .suppression
                            .clone()
                            .or_else(|| opts.suppression.clone()),
                    });
                }
                Err(problems) => report
                    .errors
                    .extend(problems.into_iter().map(|pr| LoadIssue {
                        file: p.file.clone(),
                        line: pr.line,
                        message: pr.message,
                        suggestion: pr.suggestion,
                    })),
            },
            Body::Filter(f) => match compile_detection(&f.detection, &ctx) {
                Ok(det) => {
                    infos.push(Arc::new(info_of(p, RuleKind::Filter, n)));
                    filters.push((n, Arc::new(det), f.rules.clone()));
                }
                Err(problems) => report
                    .errors
                    .extend(problems.into_iter().map(|pr| issue(p, pr.line, pr.message))),
            },
            Body::Correlation(c) => {
                let info = Arc::new(info_of(p, RuleKind::Correlation, n));
                let m = Member::Corr(correlations.len() as u32);
                for r in p.doc.id.iter().chain(p.doc.name.iter()) {
                    by_ref.insert(r.clone(), m);
                }
                infos.push(info.clone());
                let path = |name: &str| {
                    FieldPath::new(if opts.map_fields {
                        fieldmap::canonical(name)
                    } else {
                        name
                    })
                };
                correlations.push((
                    CorrRule {
                        info,
                        kind: c.kind,
                        members: Vec::new(),
                        group_names: c.group_by.clone(),
                        group_fields: Vec::new(),
                        value_field: c.field.as_deref().map(path),
                        timespan_ns: c.timespan_ns,
                        condition: c.condition.clone(),
                        alert: true,
                        parents: Vec::new(),
                        suppression: p
                            .doc
                            .suppression
                            .clone()
                            .or_else(|| opts.suppression.clone()),
                    },
                    n,
                ));
            }
        }
    }

    // Filters exclude events from the rules they name.
    for (n, det, targets) in filters {
        for t in targets {
            match by_ref.get(&t) {
                Some(Member::Det(i)) => detections[*i as usize].exclusions.push(det.clone()),
                _ => report.warnings.push(issue(
                    &parsed[n],
                    parsed[n].doc.line,
                    format!("filter names rule {t}, which is not loaded; the filter has no effect on it"),
                )),
            }
        }
    }

    // Correlations: resolve members, aliases and generate.
    let mut generate_for: Vec<(Member, bool)> = Vec::new();
    for ci in 0..correlations.len() {
        let n = correlations[ci].1;
        let Body::Correlation(c) = &parsed[n].doc.body else {
            continue;
        };
        let mut members = Vec::new();
        let mut group_fields = Vec::new();
        for (pos, r) in c.rules.iter().enumerate() {
            let Some(m) = by_ref.get(r).copied() else {
                report.warnings.push(issue(
                    &parsed[n],
                    c.line,
                    format!("correlation names rule {r}, which is not loaded; this correlation cannot fire until it is"),
                ));
                continue;
            };
            if m == Member::Corr(ci as u32) {
                report.errors.push(issue(
                    &parsed[n],
                    c.line,
                    "a correlation cannot name itself".into(),
                ));
                continue;
            }
            // The member's name, for aliases: its `name`, else the reference as written.
            let member_name = match m {
                Member::Det(i) => detections[i as usize].info.name.clone(),
                Member::Corr(j) => correlations[j as usize].0.info.name.clone(),
            }
            .unwrap_or_else(|| r.clone());
            let fields: Vec<FieldPath> = c
                .group_by
                .iter()
                .map(|g| {
                    let aliased = c
                        .aliases
                        .iter()
                        .find(|(a, _)| a == g)
                        .and_then(|(_, map)| {
                            map.iter().find(|(rn, _)| *rn == member_name || rn == r)
                        })
                        .map(|(_, f)| f.as_str())
                        .unwrap_or(g);
                    FieldPath::new(if opts.map_fields {
                        fieldmap::canonical(aliased)
                    } else {
                        aliased
                    })
                })
                .collect();
            members.push(m);
            group_fields.push(fields);
            match m {
                Member::Det(i) => detections[i as usize].parents.push((ci as u32, pos as u16)),
                Member::Corr(j) => correlations[j as usize]
                    .0
                    .parents
                    .push((ci as u32, pos as u16)),
            }
            generate_for.push((m, c.generate));
        }
        let corr = &mut correlations[ci].0;
        corr.members = members;
        corr.group_fields = group_fields;
    }
    // A rule named by a correlation alerts by itself only if some correlation says `generate`.
    let mut referenced: HashMap<Member, bool> = HashMap::new();
    for (m, g) in generate_for {
        let e = referenced.entry(m).or_insert(false);
        *e |= g;
    }
    for (m, g) in referenced {
        match m {
            Member::Det(i) => detections[i as usize].alert = g,
            Member::Corr(j) => correlations[j as usize].0.alert = g,
        }
    }
    // Correlation chains must not loop.
    for start in 0..correlations.len() {
        let mut stack = vec![(start, 0usize)];
        let mut looped = false;
        while let Some((c, depth)) = stack.pop() {
            if depth > correlations.len() {
                looped = true;
                break;
            }
            for (p, _) in &correlations[c].0.parents {
                stack.push((*p as usize, depth + 1));
            }
        }
        if looped {
            let n = correlations[start].1;
            report.errors.push(issue(
                &parsed[n],
                parsed[n].doc.line,
                "correlation chain loops back on itself".into(),
            ));
            correlations[start].0.parents.clear();
        }
    }

    report.loaded = infos.len();
    RuleSet {
        detections,
        correlations: correlations.into_iter().map(|(c, _)| c).collect(),
        infos,
        opts: opts.clone(),
        views: Mutex::new(HashMap::new()),
    }
}
