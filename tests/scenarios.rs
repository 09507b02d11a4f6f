//! The shipped rule pack and the drill scenarios, end to end through the real binary: the pack
//! loads and passes its own tests, every scenario written by `vigil scenario write` raises the
//! alerts its drill file expects when replayed with its tenants file, the benign scenario and
//! the corpus's ordinary captures raise nothing at level medium or above.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];

fn level_rank(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

#[test]
fn rule_pack_loads_and_passes_its_tests() {
    let dir = rules_dir();
    let out = vigil(&["rules", "check", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rules check failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded: usize = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rule count in {stdout:?}"));
    assert!(loaded >= 50, "only {loaded} rules loaded");
    assert!(
        stdout.trim_end().ends_with("rules loaded"),
        "problems reported: {stdout}"
    );

    let out = vigil(&["rules", "test", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rule tests failed:\n{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");

    // Every rule file has its tests, and every rule carries the metadata the pack promises.
    let mut files = Vec::new();
    collect_rule_files(&dir, &mut files);
    assert!(files.len() >= 50, "only {} rule files", files.len());
    let mut docs = 0;
    for f in &files {
        let tests = f.with_file_name(format!(
            "{}.tests.yml",
            f.file_stem().unwrap().to_str().unwrap()
        ));
        assert!(tests.exists(), "{} has no tests file", f.display());
        let text = std::fs::read_to_string(f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let rule: Value = serde::Deserialize::deserialize(doc).unwrap();
            check_rule_metadata(f, &rule);
            docs += 1;
        }
    }
    assert!(docs >= 50, "only {docs} rules");
}

use vigil::drill::attack::TACTICS;

/// id (a UUID), title, description, references, author, date, level, falsepositives, and tags
/// naming at least one ATT&CK technique and one tactic.
fn check_rule_metadata(file: &Path, rule: &Value) {
    let title = rule["title"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: a rule without title", file.display()));
    let id = rule["id"].as_str().unwrap_or("");
    assert!(
        id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4,
        "{}: `{title}` id `{id}` is not a UUID",
        file.display()
    );
    for key in ["description", "author", "date", "level"] {
        assert!(
            rule[key].is_string(),
            "{}: `{title}` lacks {key}",
            file.display()
        );
    }
    for key in ["references", "falsepositives", "tags"] {
        assert!(
            rule[key].as_array().is_some_and(|a| !a.is_empty()),
            "{}: `{title}` lacks {key}",
            file.display()
        );
    }
    let tags: Vec<&str> = rule["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tags.iter().any(|t| t
            .strip_prefix("attack.t")
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))),
        "{}: `{title}` names no ATT&CK technique: {tags:?}",
        file.display()
    );
    assert!(
        tags.iter().any(|t| t
            .strip_prefix("attack.")
            .is_some_and(|x| TACTICS.contains(&x))),
        "{}: `{title}` names no ATT&CK tactic: {tags:?}",
        file.display()
    );
}

fn collect_rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        // rules/drills/ belongs to the drill engine, not to the rule pack's tests.
        if p.is_dir() && p.file_name().is_some_and(|n| n != "drills") {
            collect_rule_files(&p, out);
        } else {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if name.ends_with(".yml") && !name.ends_with(".tests.yml") {
                out.push(p);
            }
        }
    }
}

/// The drill file of a written scenario, as JSON.
fn drill(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name).join(format!("{name}.drill.yaml")))
        .expect("drill file written");
    serde_yaml_ng::from_str(&text).expect("drill file is YAML")
}

/// Writes scenario `name` into a fresh folder and replays its inputs with its tenants file.
fn replay_scenario(name: &str) -> (Value, Vec<Value>) {
    replay_scenario_with(name, 3)
}

/// As [`replay_scenario`], with `workers` worker threads.
fn replay_scenario_with(name: &str, workers: usize) -> (Value, Vec<Value>) {
    // A folder of its own per call: tests run in parallel and replay the same scenarios.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = tempdir(&format!("scenario-{name}-{workers}-{call}"));
    let out = vigil(&["scenario", "write", name, "--out", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "scenario write {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = drill(&dir, name);
    let base = dir.join(name);
    // Several workers on purpose: replay merges their output tick by tick, so the alerts do
    // not depend on the worker count (checked below).
    let mut args: Vec<String> = vec![
        "replay".into(),
        "--quiet".into(),
        "--workers".into(),
        workers.to_string(),
        "--tenants".into(),
        base.join(d["tenants"].as_str().unwrap())
            .display()
            .to_string(),
    ];
    for input in d["inputs"].as_array().unwrap() {
        args.push(base.join(input.as_str().unwrap()).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = vigil(&args);
    assert!(
        out.status.success(),
        "replay of {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (d, alerts)
}

fn satisfies(alert: &Value, expect: &Value) -> bool {
    let tags: Vec<&str> = alert["rule"]["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has_tags = expect["tags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| tags.contains(&t.as_str().unwrap()));
    let level_ok = expect["min_level"].as_str().is_none_or(|min| {
        level_rank(alert["rule"]["level"].as_str().unwrap_or("")) >= level_rank(min)
    });
    // RFC 3339 UTC stamps compare as text once cut to the second.
    let ts = &alert["ts"].as_str().unwrap_or("")[..19];
    let within_ok = expect["within"].as_object().is_none_or(|w| {
        let start = &w["start"].as_str().unwrap()[..19];
        let end = &w["end"].as_str().unwrap()[..19];
        start <= ts && ts <= end
    });
    has_tags && level_ok && within_ok
}

fn summary(alerts: &[Value]) -> String {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["rule"]["level"], a["rule"]["title"], a["rule"]["tags"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every expectation of the scenario is met by some alert, except the ones named in `misses`,
/// which must not be.
fn check_scenario(name: &str, misses: &[&str]) {
    let (d, alerts) = replay_scenario(name);
    let expects = d["expect"].as_array().unwrap();
    assert!(!expects.is_empty(), "{name} expects nothing");
    for e in expects {
        let ename = e["name"].as_str().unwrap();
        let met = alerts.iter().any(|a| satisfies(a, e));
        if misses.iter().any(|m| ename.starts_with(m)) {
            assert!(!met, "{name}: `{ename}` is meant to be missing but was met");
        } else {
            assert!(
                met,
                "{name}: nothing met `{ename}` ({e}); alerts:\n{}",
                summary(&alerts)
            );
        }
    }
}

#[test]
fn vm_escape_scenario() {
    check_scenario("vm-escape", &[]);
}

#[test]
fn container_escape_scenario() {
    check_scenario("container-escape", &[]);
}

#[test]
fn tenant_isolation_scenario() {
    check_scenario("tenant-isolation", &[]);
}

#[test]
fn metadata_abuse_scenario() {
    check_scenario("metadata-abuse", &[]);
}

#[test]
fn network_attacks_scenario() {
    check_scenario("network-attacks", &[]);
}

#[test]
fn mixed_scenario_meets_all_but_its_deliberate_miss() {
    check_scenario("mixed", &["Kernel module loaded from a container"]);
}

#[test]
fn benign_scenario_raises_nothing_medium_or_above() {
    let (d, alerts) = replay_scenario("benign");
    assert!(d["expect"].as_array().unwrap().is_empty());
    let loud: Vec<Value> = alerts
        .into_iter()
        .filter(|a| level_rank(a["rule"]["level"].as_str().unwrap_or("")) >= level_rank("medium"))
        .collect();
    assert!(
        loud.is_empty(),
        "benign traffic alerted:\n{}",
        summary(&loud)
    );
}

/// The same alerts with two workers or four, and on every run: correlation windows see the
/// workers' output merged by packet time, not in the order the threads happen to finish.
/// (One worker needs no merge: its own order is as deterministic, but not time-sorted.)
#[test]
fn alerts_do_not_depend_on_the_worker_count() {
    for name in ["network-attacks", "tenant-isolation", "mixed"] {
        let sorted = |workers| {
            let (_, alerts) = replay_scenario_with(name, workers);
            let mut lines: Vec<String> = alerts.iter().map(Value::to_string).collect();
            lines.sort();
            lines
        };
        let two = sorted(2);
        assert!(!two.is_empty(), "{name}: no alerts");
        for _ in 0..2 {
            assert_eq!(
                two,
                sorted(4),
                "{name}: alerts differ between 2 and 4 workers"
            );
        }
        assert_eq!(sorted(1), sorted(1), "{name}: one worker, two runs");
    }
}

#[test]
fn scenarios_are_deterministic_and_listed() {
    let a = tempdir("scenario-det-a");
    let b = tempdir("scenario-det-b");
    for dir in [&a, &b] {
        let out = vigil(&["scenario", "write", "all", "--out", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = vigil(&["scenario", "list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    for name in [
        "vm-escape",
        "container-escape",
        "tenant-isolation",
        "metadata-abuse",
        "network-attacks",
        "benign",
        "mixed",
    ] {
        assert!(list.contains(name), "{name} not listed: {list}");
        for e in std::fs::read_dir(a.join(name)).unwrap().flatten() {
            let other = b.join(name).join(e.file_name());
            assert_eq!(
                std::fs::read(e.path()).unwrap(),
                std::fs::read(&other).unwrap(),
                "{} differs between two writes",
                e.path().display()
            );
        }
    }
    let out = vigil(&["scenario", "write", "nope", "--out", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// Corpus captures whose README says they hold an attack: Zeek's FTP brute force (and the
/// NetFlow exports softflowd made of it), Suricata's DNS TXT tunnel and its distinct-port
/// threshold test.
const CORPUS_ATTACKS: &[&str] = &[
    "pcap/zeek/ftp/bruteforce.pcap",
    "pcap/netflow/softflowd-v5.pcap",
    "pcap/netflow/softflowd-v9.pcap",
    "pcap/netflow/softflowd-v10.pcap",
    "pcap/suricata-verify/dns/bug-1158/input.pcap",
    "pcap/suricata-verify/detection_filter-distinct-dstport/input.pcap",
];

fn pcaps(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            pcaps(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

#[test]
fn ordinary_corpus_captures_raise_nothing_medium_or_above() {
    let root = corpus("pcap");
    let mut files = Vec::new();
    pcaps(&root, &mut files);
    files.sort();
    let ordinary: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let rel = f.strip_prefix(root.parent().unwrap()).unwrap();
            !CORPUS_ATTACKS.iter().any(|a| rel == Path::new(a))
        })
        .collect();
    assert!(
        ordinary.len() >= 8,
        "too few ordinary captures: {ordinary:?}"
    );
    for f in ordinary {
        let out = vigil(&["replay", "--quiet", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let loud: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|a| {
                level_rank(a["rule"]["level"].as_str().unwrap_or("")) >= level_rank("medium")
            })
            .collect();
        assert!(
            loud.is_empty(),
            "{} alerted:\n{}",
            f.display(),
            summary(&loud)
        );
    }
    // And the attacks in the corpus are seen.
    let out = vigil(&[
        "replay",
        "--quiet",
        corpus("pcap/suricata-verify/dns/bug-1158/input.pcap")
            .to_str()
            .unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("attack.t1071.004") && text.contains("\"high\""),
        "DNS tunnel not seen: {text}"
    );
}

/// Falco's own tests expect "Create HostNetwork Pod" on the host-network pod of the corpus and
/// nothing for the ordinary pod; RHEL's ordinary audit log raises nothing at medium or above.
#[test]
fn corpus_logs_alert_as_their_sources_expect() {
    let replay = |rel: &str| -> Vec<Value> {
        let out = vigil(&["replay", "--quiet", corpus(rel).to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let host_network = replay("logs/k8s-audit/create_nginx_pod_hostnetwork.json");
    assert!(
        host_network
            .iter()
            .any(|a| a["rule"]["title"] == "Pod uses the host network"),
        "{}",
        summary(&host_network)
    );
    for rel in [
        "logs/k8s-audit/create_nginx_pod_unprivileged.json",
        "logs/auditd/audit-rhel7.log",
    ] {
        let loud: Vec<Value> = replay(rel)
            .into_iter()
            .filter(|a| {
                level_rank(a["rule"]["level"].as_str().unwrap_or("")) >= level_rank("medium")
            })
            .collect();
        assert!(loud.is_empty(), "{rel} alerted:\n{}", summary(&loud));
    }
}
