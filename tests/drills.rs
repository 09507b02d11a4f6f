//! Drills end to end: `vigil replay --drill --report` over real captures (met, missed and noise,
//! time to detect, the report files), bad drill files, and `vigil rules coverage`.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const FTP: &str = "pcap/zeek/ftp/bruteforce.pcap";
const SCAN: &str = "pcap/suricata-verify/detection_filter-distinct-dstport/input.pcap";

/// Microseconds since the epoch of a classic pcap's first packet, read from the file itself.
fn first_packet_us(path: &Path) -> i64 {
    let b = std::fs::read(path).expect("read pcap");
    let le = match &b[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        m => panic!("not a microsecond pcap: {m:?}"),
    };
    let u32_at = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    u32_at(24) as i64 * 1_000_000 + u32_at(28) as i64
}

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the alert format).
fn rfc3339_us(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("number");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    secs * 1_000_000 + n(20..26)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("report JSON")
}

/// The FTP brute force is met, a VM escape is missed, the port scan is noise; time to detect
/// counts from the first packet of the first input.
#[test]
fn drill_over_corpus_met_missed_and_noise() {
    let dir = tempdir("drill-corpus");
    let (ftp, scan) = (corpus(FTP), corpus(SCAN));
    let drill = dir.join("corpus.yaml");
    std::fs::write(
        &drill,
        format!(
            "name: corpus\ndescription: FTP brute force and a port scan\ninputs: [{}]\nexpect:\n  - name: FTP brute force\n    tags: [ATTACK.T1110.001, attack.Credential_Access]\n    min_level: medium\n  - name: VM escape\n    tags: [cloud.vm_escape, attack.t1611, attack.privilege_escalation]\n    min_level: high\n",
            ftp.display()
        ),
    )
    .unwrap();
    let report = dir.join("report");
    let out = vigil(&[
        "replay",
        "--quiet",
        "--drill",
        drill.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        scan.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("vigil drill corpus: 1/2 detected, 1 noise alert; missed: VM escape"),
        "{stderr}"
    );
    // Alerts still go to stdout as usual.
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let brute = alerts
        .iter()
        .find(|a| a["rule"]["id"] == "0b9e3f0c-8a7d-4c55-bb1e-6a2f9d3e4c12")
        .expect("FTP brute-force alert");

    let j = read_json(&dir.join("report.json"));
    assert_eq!(j["drill"], "corpus");
    assert_eq!(j["summary"], "1/2 detected, 1 noise alert");
    assert_eq!(
        (j["expected"].as_u64(), j["detected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (j["missed"].as_u64(), j["alerts"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(j["noise_alerts"], 1);
    // The drill's inputs first, then the command line's.
    assert_eq!(j["inputs"][0], ftp.display().to_string());
    assert_eq!(j["inputs"][1], scan.display().to_string());

    let met = &j["expectations"][0];
    assert_eq!(met["name"], "FTP brute force");
    assert_eq!(met["detected"], true);
    assert_eq!(met["alerts"], 1);
    assert_eq!(met["min_level"], "medium");
    assert_eq!(met["first_alert"]["rule_id"], brute["rule"]["id"]);
    assert_eq!(met["first_alert"]["rule_title"], brute["rule"]["title"]);
    assert_eq!(met["first_alert"]["level"], "medium");
    assert_eq!(met["first_alert"]["ts"], brute["ts"]);
    let first_us = first_packet_us(&ftp);
    assert_eq!(rfc3339_us(j["first_event"].as_str().unwrap()), first_us);
    let alert_us = rfc3339_us(brute["ts"].as_str().unwrap());
    let ttd = met["time_to_detect_secs"].as_f64().expect("time to detect");
    assert!(
        (ttd - (alert_us - first_us) as f64 / 1e6).abs() < 1e-6,
        "{ttd} vs {alert_us} - {first_us}"
    );
    assert!(ttd > 30.0 && ttd < 50.0, "{ttd}");
    assert_eq!(met["time_to_detect_from"], "first_event");

    let missed = &j["expectations"][1];
    assert_eq!(missed["name"], "VM escape");
    assert_eq!(missed["detected"], false);
    assert_eq!(missed["alerts"], 0);
    assert!(missed["first_alert"].is_null() && missed["time_to_detect_secs"].is_null());

    let noise = j["noise"].as_array().expect("noise list");
    assert_eq!(noise.len(), 1, "{noise:#?}");
    assert_eq!(noise[0]["rule_id"], "6f1d1a52-3c1e-4f0e-9a55-0d6f3a1c7b02");
    assert_eq!(
        noise[0]["rule_title"],
        "Connections to several ports of one host"
    );
    assert_eq!(noise[0]["level"], "low");
    assert_eq!(noise[0]["alerts"], 1);

    let tactics = &j["tactics"];
    assert_eq!(
        tactics["expected"],
        serde_json::json!(["privilege_escalation", "credential_access"])
    );
    assert_eq!(
        tactics["detected"],
        serde_json::json!(["credential_access"])
    );
    assert_eq!(
        tactics["missed"],
        serde_json::json!(["privilege_escalation"])
    );

    let md = std::fs::read_to_string(dir.join("report.md")).expect("Markdown report");
    let lines: Vec<&str> = md.lines().collect();
    let ttd_cell = format!("{ttd:.3} s from first event");
    for want in [
        "# Drill report: corpus".to_string(),
        "**1/2 detected, 1 noise alert**".to_string(),
        format!(
            "| detected | FTP brute force | ATTACK.T1110.001, attack.Credential_Access (≥ medium) | 1 | FTP brute force (many failed logins from one client) `0b9e3f0c-8a7d-4c55-bb1e-6a2f9d3e4c12` (medium) at {} | {ttd_cell} |",
            brute["ts"].as_str().unwrap()
        ),
        "| **MISSED** | VM escape | cloud.vm_escape, attack.t1611, attack.privilege_escalation (≥ high) | 0 | - | - |".to_string(),
        "| `6f1d1a52-3c1e-4f0e-9a55-0d6f3a1c7b02` | Connections to several ports of one host | low | 1 | 1970-01-01T00:00:01.000000Z | 1970-01-01T00:00:01.000000Z |".to_string(),
        "- Missed: privilege_escalation".to_string(),
        "| credential_access | 1 | 1 | 1 |".to_string(),
        "| discovery | 0 | 0 | 1 |".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "no line {want:?} in:\n{md}");
    }
}

/// A window's start is the reference; inputs and tenants are relative to the drill file; `--fail-on-miss`
/// turns a miss into exit 1; `.md` and `.json` report names write one file each.
#[test]
fn window_relative_inputs_and_fail_on_miss() {
    let dir = tempdir("drill-window");
    std::fs::create_dir_all(dir.join("caps")).unwrap();
    std::fs::copy(corpus(FTP), dir.join("caps/ftp.pcap")).unwrap();
    std::fs::write(
        dir.join("caps/tenants.yaml"),
        "tenants:\n  - id: acme\n    cidrs: [192.168.56.0/24]\n",
    )
    .unwrap();
    let drill = dir.join("window.yaml");
    std::fs::write(
        &drill,
        "name: window\ntenants: caps/tenants.yaml\ninputs: [caps/ftp.pcap]\nexpect:\n  - tags: [attack.t1110.001]\n    within: {start: \"2014-01-14T17:38:00Z\", end: \"2014-01-14T17:39:00Z\"}\n  - name: too early\n    tags: [attack.t1110.001]\n    within: {start: \"2014-01-14T17:37:00Z\", end: \"2014-01-14T17:38:00Z\"}\n",
    )
    .unwrap();
    let json = dir.join("out.json");
    let run = |report: &Path, fail: bool| {
        let mut args = vec![
            "replay",
            "--quiet",
            "--drill",
            drill.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ];
        if fail {
            args.push("--fail-on-miss");
        }
        vigil(&args)
    };
    let out = run(&json, false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The drill's tenants file (relative to it) enriches the replay.
    let alert: Value = serde_json::from_slice(&out.stdout).expect("one alert");
    assert_eq!(alert["tenant"], "acme");
    let j = read_json(&json);
    let met = &j["expectations"][0];
    assert_eq!(met["name"], "attack.t1110.001");
    assert_eq!(met["detected"], true);
    assert_eq!(met["time_to_detect_from"], "window_start");
    let alert_us = rfc3339_us(met["first_alert"]["ts"].as_str().unwrap());
    let start_us = rfc3339_us("2014-01-14T17:38:00.000000Z");
    let ttd = met["time_to_detect_secs"].as_f64().unwrap();
    assert!(
        (ttd - (alert_us - start_us) as f64 / 1e6).abs() < 1e-6,
        "{ttd}"
    );
    // The same alert outside the second window: missed there, and noise for nobody (it met
    // the first expectation).
    assert_eq!(j["expectations"][1]["detected"], false);
    assert_eq!(j["summary"], "1/2 detected, 0 noise alerts");
    assert!(!dir.join("out.json.md").exists() && !dir.join("out.md").exists());

    let md = dir.join("out.md");
    let out = run(&md, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missed: too early"));
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("| **MISSED** | too early |"));
}

/// The shipped example drills run on the corpus and detect what they expect.
#[test]
fn shipped_drills_pass() {
    let dir = tempdir("drill-shipped");
    for name in ["ftp-bruteforce", "port-scan"] {
        let drill = format!("{}/rules/drills/{name}.drill", env!("CARGO_MANIFEST_DIR"));
        let report = dir.join(format!("{name}.json"));
        let out = vigil(&[
            "replay",
            "--quiet",
            "--fail-on-miss",
            "--drill",
            &drill,
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j = read_json(&report);
        assert_eq!(j["summary"], "1/1 detected, 0 noise alerts", "{name}");
    }
}

/// Bad drill files: exit 2 and a message with the file, the line and what is wrong.
#[test]
fn bad_drill_files_name_file_and_line() {
    let dir = tempdir("drill-bad");
    let pcap = corpus(SCAN);
    let cases = [
        (
            "unknown.yaml",
            "name: x\nexpect:\n  - tags: [a]\n    min_levle: high\n",
            4,
            "unknown field `min_levle`, expected one of",
        ),
        (
            "notags.yaml",
            "name: x\nexpect:\n  - name: a\n    min_level: high\n",
            3,
            "missing field `tags`",
        ),
        (
            "emptytags.yaml",
            "name: x\nexpect:\n  - tags: []\n",
            3,
            "`tags` is empty",
        ),
        (
            "level.yaml",
            "name: x\nexpect:\n  - tags: [a]\n    min_level: severe\n",
            4,
            "unknown level `severe`",
        ),
        (
            "toplevel.yaml",
            "name: x\ninput: [a.pcap]\nexpect: []\n",
            2,
            "unknown field `input`",
        ),
    ];
    for (file, text, line, what) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let out = vigil(&[
            "replay",
            "--drill",
            path.to_str().unwrap(),
            "--report",
            dir.join("r").to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains(&format!("{}:{line}: ", path.display())),
            "{file}: {err}"
        );
        assert!(err.contains(what), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}: nothing replayed");
    }
    // --drill needs --report, and a drill without inputs needs FILE arguments.
    let out = vigil(&[
        "replay",
        "--drill",
        dir.join("level.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "name: x\nexpect: []\n").unwrap();
    let out = vigil(&[
        "replay",
        "--drill",
        empty.to_str().unwrap(),
        "--report",
        "r",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to replay"));
}

/// The bundled pack's coverage: the Navigator layer is JSON and holds the FTP rule's
/// technique.
#[test]
fn coverage_navigator_layer_of_the_bundled_pack() {
    let dir = tempdir("coverage-bundled");
    let layer = dir.join("layer.json");
    let out = vigil(&["rules", "coverage", "--navigator", layer.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("T1110.001 ")),
        "{table}"
    );
    let j = read_json(&layer);
    assert_eq!(j["domain"], "enterprise-attack");
    assert_eq!(j["versions"]["layer"], "4.5");
    assert!(j["gradient"].is_object() && j["legendItems"].is_array());
    let techs = j["techniques"].as_array().expect("techniques");
    let ftp = techs
        .iter()
        .find(|t| t["techniqueID"] == "T1110.001")
        .expect("T1110.001 in the layer");
    // Its rules name several tactics (credential access, and initial access for a login that
    // follows a brute force), so the layer leaves the tactic open.
    assert!(
        ftp["tactic"].is_null() || ftp["tactic"] == "credential-access",
        "{ftp}"
    );
    assert!(ftp["score"].as_u64() >= Some(1));
    assert!(ftp["comment"].as_str().unwrap().contains("FTP brute force"));
}

/// Exact counts for rules in a folder.
#[test]
fn coverage_counts_rules_in_a_folder() {
    let dir = tempdir("coverage-dir");
    let rule = |n: u32, tags: &str| {
        format!("title: rule {n}\nid: 5f0a6a1e-0000-4000-8000-{n:012}\nlogsource:\n    category: flow\ndetection:\n    sel:\n        dst_port: 22\n    condition: sel\ntags:\n{tags}level: low\n")
    };
    std::fs::write(
        dir.join("a.yml"),
        rule(1, "    - attack.lateral_movement\n    - attack.t1021.004\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yml"),
        rule(
            2,
            "    - attack.lateral_movement\n    - attack.t1021.004\n    - attack.t1021\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("c.yml"),
        rule(3, "    - attack.impact\n    - attack.t1498\n"),
    )
    .unwrap();
    std::fs::write(dir.join("d.yml"), rule(4, "    - cloud.vm_escape\n")).unwrap();
    let out = vigil(&["rules", "coverage", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    for want in [
        "T1021            1  rule 2",
        "T1021.004        2  rule 1; rule 2",
        "T1498            1  rule 3",
        "lateral_movement           2",
        "impact                     1",
        "discovery                  0",
        "4 rules, 3 with ATT&CK tags, 3 techniques, 2/16 tactics",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in:\n{table}");
    }
}
