//! Sigma documents to a typed rule model: detection rules, correlation rules (Sigma 2.0) and
//! filters, plus vigil's `suppression` extension. Pure: YAML tree in, rule or problems out.
//!
//! Every problem carries the line it is about, so `vigil rules check` can point at it.

use super::condition::{self, Expr};
use super::modifier::Modifier;
use super::yaml::{Node, NodeKind};

/// Something wrong with a rule, at a line of its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: u32,
    pub message: String,
    pub suggestion: Option<String>,
}

impl Problem {
    pub fn new(line: u32, message: impl Into<String>) -> Problem {
        Problem {
            line,
            message: message.into(),
            suggestion: None,
        }
    }
}

/// A value written in a rule, typed the way YAML gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum RawValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl RawValue {
    /// The value as text (numbers and booleans compare as text against string fields).
    pub fn text(&self) -> String {
        match self {
            RawValue::Str(s) => s.clone(),
            RawValue::Int(i) => i.to_string(),
            RawValue::Float(f) => f.to_string(),
            RawValue::Bool(b) => b.to_string(),
            RawValue::Null => String::new(),
        }
    }
}

/// One `field|modifiers: values` entry (field `None` for keywords).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub field: Option<String>,
    pub modifiers: Vec<Modifier>,
    pub values: Vec<RawValue>,
    pub line: u32,
}

/// A named selection of the detection section.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub name: String,
    pub line: u32,
    /// OR of groups; each group is an AND of items. Keyword lists are one group of one item.
    pub groups: Vec<Vec<Item>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub selections: Vec<Selection>,
    /// Several conditions (a list) are OR'ed.
    pub condition: Vec<Expr>,
    pub condition_line: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuleLogSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::ValuePercentile => "value_percentile",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl Cmp {
    pub fn holds(self, x: f64, bound: f64) -> bool {
        match self {
            Cmp::Gt => x > bound,
            Cmp::Gte => x >= bound,
            Cmp::Lt => x < bound,
            Cmp::Lte => x <= bound,
            Cmp::Eq => x == bound,
            Cmp::Neq => x != bound,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Correlation {
    pub kind: CorrelationType,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ns: i64,
    pub condition: Vec<(Cmp, f64)>,
    pub field: Option<String>,
    /// alias -> [(rule name, field)]
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub generate: bool,
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub rules: Vec<String>,
    pub detection: Detection,
}

/// vigil's extension: collapse repeated alerts of a rule (see rules/README.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionSpec {
    pub window_ns: i64,
    pub group_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Detection(Detection),
    Correlation(Correlation),
    Filter(Filter),
}

/// One Sigma document.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDoc {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub logsource: RuleLogSource,
    pub body: Body,
    pub suppression: Option<SuppressionSpec>,
    pub line: u32,
}

const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];

fn scalar_string(n: &Node) -> Option<String> {
    n.as_str().map(str::to_string)
}

fn string_list(n: &Node, what: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    match &n.kind {
        NodeKind::Scalar { text, .. } => vec![text.clone()],
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|i| {
                let s = i.as_str().map(str::to_string);
                if s.is_none() {
                    problems.push(Problem::new(
                        i.line,
                        format!("{what}: expected a string, found {}", i.type_name()),
                    ));
                }
                s
            })
            .collect(),
        NodeKind::Map(_) => {
            problems.push(Problem::new(
                n.line,
                format!("{what}: expected a list, found a mapping"),
            ));
            Vec::new()
        }
    }
}

/// Parses a YAML scalar the way Sigma types it.
pub fn raw_value(n: &Node) -> Option<RawValue> {
    let NodeKind::Scalar { text, plain } = &n.kind else {
        return None;
    };
    if !plain {
        return Some(RawValue::Str(text.clone()));
    }
    if n.is_null() {
        return Some(RawValue::Null);
    }
    match text.as_str() {
        "true" | "True" | "TRUE" => return Some(RawValue::Bool(true)),
        "false" | "False" | "FALSE" => return Some(RawValue::Bool(false)),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(RawValue::Int(i));
    }
    let numeric_start =
        text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if numeric_start && text.chars().any(|c| c.is_ascii_digit()) {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return Some(RawValue::Float(f));
            }
        }
    }
    Some(RawValue::Str(text.clone()))
}

/// `30s`, `5m`, `1h`, `2d`, `1w` to nanoseconds.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    if n <= 0 {
        return None;
    }
    n.checked_mul(secs)?.checked_mul(1_000_000_000)
}

fn parse_item(key: &Node, value: &Node, problems: &mut Vec<Problem>) -> Option<Item> {
    let key_text = key.as_str().unwrap_or_default();
    let mut parts = key_text.split('|');
    let field = parts.next().unwrap_or_default();
    let mut modifiers = Vec::new();
    let mut ok = true;
    for m in parts {
        match Modifier::parse(m) {
            Ok(m) => modifiers.push(m),
            Err(e) => {
                ok = false;
                problems.push(Problem {
                    line: key.line,
                    message: e.message,
                    suggestion: e.suggestion,
                });
            }
        }
    }
    let values = match &value.kind {
        NodeKind::Scalar { .. } => raw_value(value).into_iter().collect(),
        NodeKind::Seq(items) => {
            let mut vals = Vec::with_capacity(items.len());
            for it in items {
                match raw_value(it) {
                    Some(v) => vals.push(v),
                    None => {
                        ok = false;
                        problems.push(Problem::new(
                            it.line,
                            format!(
                                "values of '{key_text}' must be scalars, found {}",
                                it.type_name()
                            ),
                        ));
                    }
                }
            }
            vals
        }
        NodeKind::Map(_) => {
            problems.push(Problem::new(
                value.line,
                format!("'{key_text}' has a mapping as its value; a field takes a value or a list of values"),
            ));
            return None;
        }
    };
    if !ok {
        return None;
    }
    Some(Item {
        field: if field.is_empty() {
            None
        } else {
            Some(field.to_string())
        },
        modifiers,
        values,
        line: key.line,
    })
}

fn parse_group(map: &Node, problems: &mut Vec<Problem>) -> Vec<Item> {
    map.entries()
        .iter()
        .filter_map(|(k, v)| parse_item(k, v, problems))
        .collect()
}

fn parse_selection(name: &str, node: &Node, problems: &mut Vec<Problem>) -> Selection {
    let keyword = |node: &Node, values: Vec<RawValue>| Item {
        field: None,
        modifiers: Vec::new(),
        values,
        line: node.line,
    };
    let groups = match &node.kind {
        NodeKind::Map(_) => vec![parse_group(node, problems)],
        NodeKind::Scalar { .. } => vec![vec![keyword(node, raw_value(node).into_iter().collect())]],
        NodeKind::Seq(items) => {
            if items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))) && !items.is_empty() {
                items.iter().map(|m| parse_group(m, problems)).collect()
            } else if items
                .iter()
                .all(|i| matches!(i.kind, NodeKind::Scalar { .. }))
            {
                vec![vec![keyword(
                    node,
                    items.iter().filter_map(raw_value).collect(),
                )]]
            } else {
                problems.push(Problem::new(
                    node.line,
                    format!("selection '{name}' mixes mappings and plain values; split it into two selections"),
                ));
                Vec::new()
            }
        }
    };
    Selection {
        name: name.to_string(),
        line: node.line,
        groups,
    }
}

/// Parses a `detection:` section (also the body of a filter).
pub fn parse_detection(det: &Node, problems: &mut Vec<Problem>) -> Option<Detection> {
    if !matches!(det.kind, NodeKind::Map(_)) {
        problems.push(Problem::new(
            det.line,
            "detection must be a mapping of selections and a condition",
        ));
        return None;
    }
    let mut selections = Vec::new();
    let mut condition_node = None;
    for (k, v) in det.entries() {
        let Some(name) = k.as_str() else {
            problems.push(Problem::new(k.line, "selection names must be strings"));
            continue;
        };
        match name {
            "condition" => condition_node = Some(v),
            "timeframe" => problems.push(Problem::new(
                k.line,
                "`timeframe` belongs to the deprecated Sigma 1 aggregations; write a correlation rule with `timespan` instead",
            )),
            _ => selections.push(parse_selection(name, v, problems)),
        }
    }
    let Some(cond) = condition_node else {
        problems.push(Problem::new(
            det.line,
            "detection has no `condition`; add e.g. `condition: selection`",
        ));
        return None;
    };
    let texts: Vec<(String, u32)> = match &cond.kind {
        NodeKind::Scalar { text, .. } => vec![(text.clone(), cond.line)],
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(|s| (s.to_string(), i.line)))
            .collect(),
        NodeKind::Map(_) => {
            problems.push(Problem::new(cond.line, "condition must be a string"));
            return None;
        }
    };
    let mut condition = Vec::new();
    for (t, line) in texts {
        match condition::parse(&t) {
            Ok(e) => condition.push(e),
            Err(e) => problems.push(Problem::new(line, format!("{e}"))),
        }
    }
    if condition.is_empty() {
        return None;
    }
    Some(Detection {
        selections,
        condition,
        condition_line: cond.line,
    })
}

fn parse_logsource(n: Option<&Node>) -> RuleLogSource {
    let get = |k: &str| n.and_then(|n| n.get(k)).and_then(scalar_string);
    RuleLogSource {
        category: get("category"),
        product: get("product"),
        service: get("service"),
    }
}

fn parse_correlation(c: &Node, problems: &mut Vec<Problem>) -> Option<Correlation> {
    let start = problems.len();
    let kind = match c.get("type").and_then(Node::as_str) {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some("value_sum") => CorrelationType::ValueSum,
        Some("value_avg") => CorrelationType::ValueAvg,
        Some("value_percentile") => CorrelationType::ValuePercentile,
        other => {
            problems.push(Problem {
                line: c.get("type").map_or(c.line, |n| n.line),
                message: format!(
                    "unknown correlation type {:?}",
                    other.unwrap_or("(missing)")
                ),
                suggestion: Some("event_count, value_count, temporal or temporal_ordered".into()),
            });
            return None;
        }
    };
    let rules = match c.get("rules") {
        Some(n) => string_list(n, "correlation rules", problems),
        None => {
            problems.push(Problem::new(
                c.line,
                "correlation has no `rules`; list the ids or names of the rules it correlates",
            ));
            Vec::new()
        }
    };
    let group_by = c
        .get("group-by")
        .map(|n| string_list(n, "group-by", problems))
        .unwrap_or_default();
    let timespan_ns = match c.get("timespan").or_else(|| c.get("timeframe")) {
        Some(n) => match n.as_str().and_then(parse_timespan) {
            Some(t) => t,
            None => {
                problems.push(Problem::new(
                    n.line,
                    "timespan must be a number and a unit s, m, h or d, e.g. `5m`",
                ));
                0
            }
        },
        None => {
            problems.push(Problem::new(
                c.line,
                "correlation has no `timespan`; add e.g. `timespan: 5m`",
            ));
            0
        }
    };
    let mut condition = Vec::new();
    let mut field = None;
    if let Some(cond) = c.get("condition") {
        for (k, v) in cond.entries() {
            let key = k.as_str().unwrap_or_default();
            let cmp = match key {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                "eq" => Cmp::Eq,
                "neq" => Cmp::Neq,
                "field" => {
                    field = match &v.kind {
                        NodeKind::Seq(items) => items.first().and_then(scalar_string),
                        _ => scalar_string(v),
                    };
                    continue;
                }
                other => {
                    problems.push(Problem::new(k.line, format!("unknown correlation condition '{other}'; use gt, gte, lt, lte, eq or neq")));
                    continue;
                }
            };
            match raw_value(v) {
                Some(RawValue::Int(i)) => condition.push((cmp, i as f64)),
                Some(RawValue::Float(f)) => condition.push((cmp, f)),
                _ => problems.push(Problem::new(
                    v.line,
                    format!("correlation condition '{key}' needs a number"),
                )),
            }
        }
        if !matches!(cond.kind, NodeKind::Map(_)) {
            problems.push(Problem::new(
                cond.line,
                "correlation condition must be a mapping such as `gte: 10`",
            ));
        }
    }
    let needs_condition = !matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if needs_condition && condition.is_empty() {
        problems.push(Problem::new(
            c.line,
            format!("{} needs a `condition` such as `gte: 10`", kind.as_str()),
        ));
    }
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    if needs_field && field.is_none() {
        problems.push(Problem::new(
            c.line,
            format!("{} needs `field` in its condition", kind.as_str()),
        ));
    }
    let mut aliases = Vec::new();
    if let Some(a) = c.get("aliases") {
        for (k, v) in a.entries() {
            let mut map = Vec::new();
            for (rk, rv) in v.entries() {
                if let (Some(r), Some(f)) = (rk.as_str(), rv.as_str()) {
                    map.push((r.to_string(), f.to_string()));
                }
            }
            aliases.push((k.as_str().unwrap_or_default().to_string(), map));
        }
    }
    let generate = match c.get("generate").and_then(raw_value) {
        Some(RawValue::Bool(b)) => b,
        Some(_) => {
            problems.push(Problem::new(c.line, "generate must be true or false"));
            false
        }
        None => false,
    };
    if problems.len() > start {
        return None;
    }
    Some(Correlation {
        kind,
        rules,
        group_by,
        timespan_ns,
        condition,
        field,
        aliases,
        generate,
        line: c.line,
    })
}

fn parse_suppression(n: &Node, problems: &mut Vec<Problem>) -> Option<SuppressionSpec> {
    let window_ns = match n
        .get("window")
        .and_then(Node::as_str)
        .and_then(parse_timespan)
    {
        Some(w) => w,
        None => {
            problems.push(Problem::new(
                n.line,
                "suppression needs `window`, e.g. `window: 10m`",
            ));
            return None;
        }
    };
    let group_by = n
        .get("group-by")
        .map(|g| string_list(g, "suppression group-by", problems))
        .unwrap_or_default();
    Some(SuppressionSpec {
        window_ns,
        group_by,
    })
}

/// Parses one YAML document into a rule.
pub fn parse_rule(doc: &Node) -> Result<RuleDoc, Vec<Problem>> {
    let mut problems = Vec::new();
    if !matches!(doc.kind, NodeKind::Map(_)) {
        return Err(vec![Problem::new(
            doc.line,
            format!("a rule must be a mapping, found {}", doc.type_name()),
        )]);
    }
    let title = doc.get("title").and_then(scalar_string).unwrap_or_default();
    let level = doc.get("level").and_then(scalar_string);
    if let (Some(l), Some(n)) = (&level, doc.get("level")) {
        if !LEVELS.contains(&l.as_str()) {
            let near = LEVELS
                .iter()
                .min_by_key(|x| super::modifier::edit_distance(l, x))
                .map(|s| s.to_string());
            problems.push(Problem {
                line: n.line,
                message: format!("unknown level '{l}'"),
                suggestion: near,
            });
        }
    }
    let tags = doc
        .get("tags")
        .map(|t| string_list(t, "tags", &mut problems))
        .unwrap_or_default();
    let body = if let Some(det) = doc.get("detection") {
        if title.is_empty() {
            problems.push(Problem::new(doc.line, "rule has no `title`"));
        }
        if doc.get("correlation").is_some() {
            problems.push(Problem::new(
                doc.line,
                "a rule has either `detection` or `correlation`, not both",
            ));
        }
        parse_detection(det, &mut problems).map(Body::Detection)
    } else if let Some(c) = doc.get("correlation") {
        parse_correlation(c, &mut problems).map(Body::Correlation)
    } else if let Some(f) = doc.get("filter") {
        let rules = f
            .get("rules")
            .map(|r| string_list(r, "filter rules", &mut problems))
            .unwrap_or_default();
        parse_detection(f, &mut problems).map(|detection| Body::Filter(Filter { rules, detection }))
    } else {
        let keys: Vec<&str> = doc
            .entries()
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let near = keys
            .iter()
            .filter(|k| super::modifier::edit_distance(k, "detection") <= 3)
            .map(|k| format!("'{k}' looks like a misspelling of 'detection'"))
            .next();
        problems.push(Problem {
            line: doc.line,
            message: "document has no `detection`, `correlation` or `filter` section".into(),
            suggestion: near,
        });
        None
    };
    let suppression = doc
        .get("suppression")
        .and_then(|n| parse_suppression(n, &mut problems));
    match body {
        Some(body) if problems.is_empty() => Ok(RuleDoc {
            title,
            id: doc.get("id").and_then(scalar_string),
            name: doc.get("name").and_then(scalar_string),
            level,
            status: doc.get("status").and_then(scalar_string),
            tags,
            logsource: parse_logsource(doc.get("logsource")),
            body,
            suppression,
            line: doc.line,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse_documents;
    use super::*;

    fn one(src: &str) -> Result<RuleDoc, Vec<Problem>> {
        parse_rule(&parse_documents(src).unwrap()[0])
    }

    #[test]
    fn detection_rule() {
        let r = one(
            "title: t\nid: x\nlevel: high\ntags: [attack.t1611]\nlogsource:\n  product: linux\n  service: auditd\ndetection:\n  sel:\n    type: EXECVE\n    a0|contains|all: [a, b]\n  kw:\n    - evil\n    - 5\n  condition: sel or kw\n",
        )
        .unwrap();
        let Body::Detection(d) = &r.body else {
            panic!()
        };
        assert_eq!(d.selections.len(), 2);
        assert_eq!(
            d.selections[0].groups[0][1].modifiers,
            [Modifier::Contains, Modifier::All]
        );
        assert_eq!(d.selections[0].groups[0][1].line, 11);
        assert_eq!(d.selections[1].groups[0][0].field, None);
        assert_eq!(d.selections[1].groups[0][0].values[1], RawValue::Int(5));
        assert_eq!(r.logsource.service.as_deref(), Some("auditd"));
    }

    #[test]
    fn misspelt_modifier_points_at_line() {
        let e =
            one("title: t\ndetection:\n  sel:\n    a|contians: x\n  condition: sel\n").unwrap_err();
        assert_eq!(e[0].line, 4);
        assert_eq!(e[0].suggestion.as_deref(), Some("contains"));
    }

    #[test]
    fn correlation_rule() {
        let r = one("title: c\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [dst_ip]\n  timespan: 1m\n  condition:\n    field: dst_port\n    gte: 10\n").unwrap();
        let Body::Correlation(c) = &r.body else {
            panic!()
        };
        assert_eq!(c.timespan_ns, 60_000_000_000);
        assert_eq!(c.field.as_deref(), Some("dst_port"));
        assert_eq!(c.condition, [(Cmp::Gte, 10.0)]);
        assert!(one("title: c\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 1x\n  condition: {gte: 1}\n").is_err());
    }

    #[test]
    fn values_are_typed() {
        let d = parse_documents("a: [null, '5', 5, 1.5, true, x, '']").unwrap();
        let NodeKind::Seq(items) = &d[0].get("a").unwrap().kind else {
            panic!()
        };
        let vals: Vec<_> = items.iter().filter_map(raw_value).collect();
        assert_eq!(
            vals,
            [
                RawValue::Null,
                RawValue::Str("5".into()),
                RawValue::Int(5),
                RawValue::Float(1.5),
                RawValue::Bool(true),
                RawValue::Str("x".into()),
                RawValue::Str("".into())
            ]
        );
    }
}
