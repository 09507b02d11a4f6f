//! Detection end to end: `vigil replay` with Sigma rules over real captures, and the rule
//! tools administrators use (`vigil rules check|test|list`).

mod common;

use common::*;
use serde_json::Value;

fn alerts(files: &[&std::path::Path], extra: &[&str]) -> Vec<Value> {
    let mut args: Vec<String> = vec!["replay".into(), "--quiet".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(&args)
        .output()
        .expect("run vigil");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect()
}

fn rules_dir() -> String {
    format!("{}/rules", env!("CARGO_MANIFEST_DIR"))
}

/// suricata-verify detection_filter-distinct-dstport: two destination ports of 1.1.1.1, one
/// alert, reproduced with a `value_count` rule on flows.
#[test]
fn distinct_dst_ports_value_count() {
    let pcap = corpus("pcap/suricata-verify/detection_filter-distinct-dstport/input.pcap");
    let a = alerts(&[&pcap], &["--rules", &rules_dir()]);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0]["correlation"], "value_count");
    assert_eq!(a[0]["group"]["dst_ip"], "1.1.1.1");
    assert_eq!(a[0]["count"], 2);
    assert_eq!(a[0]["rule"]["tags"][1], "attack.t1046");
}

/// Zeek's FTP brute force: one alert for 192.168.56.1 when it reaches 20 failed logins, the
/// threshold of Zeek's notice, with the events it rests on; the same at any replay speed.
#[test]
fn ftp_bruteforce_event_count_at_any_speed() {
    let pcap = corpus("pcap/zeek/ftp/bruteforce.pcap");
    let fast = alerts(&[&pcap], &["--rules", &rules_dir()]);
    let ftp: Vec<_> = fast
        .iter()
        .filter(|a| {
            a["rule"]["title"]
                .as_str()
                .unwrap_or("")
                .contains("FTP brute force")
        })
        .collect();
    assert_eq!(ftp.len(), 1, "{fast:#?}");
    assert_eq!(ftp[0]["correlation"], "event_count");
    assert_eq!(ftp[0]["group"]["src_ip"], "192.168.56.1");
    assert_eq!(ftp[0]["count"], 20);
    assert_eq!(ftp[0]["event_ids"].as_array().map(|v| v.len()), Some(20));
    // 40 s of packet time at 40x: about a second, and the very same alerts.
    let paced = alerts(&[&pcap], &["--rules", &rules_dir(), "--speed", "40x"]);
    assert_eq!(fast, paced);
}

/// Without `--rules` the bundled pack runs; `--events` prints events, not alerts.
#[test]
fn bundled_rules_by_default() {
    let pcap = corpus("pcap/zeek/ftp/bruteforce.pcap");
    let a = alerts(&[&pcap], &[]);
    assert!(
        a.iter().any(|a| a["group"]["src_ip"] == "192.168.56.1"),
        "{a:#?}"
    );
    let evs = events(&[&pcap], &[]);
    assert!(evs.iter().all(|e| e.get("rule").is_none()));
}

#[test]
fn rules_check_counts_and_points_at_problems() {
    let dir = tempdir("rulescheck");
    std::fs::write(
        dir.join("bad.yml"),
        "title: bad\nid: 5f0a6a1e-0000-4000-8000-000000000001\nlogsource:\n    category: flow\ndetection:\n    sel:\n        dst_ip|contians: 10.\n    condition: sel\nlevel: low\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("good.yml"),
        "title: good\nid: 5f0a6a1e-0000-4000-8000-000000000002\nlogsource:\n    category: flow\ndetection:\n    sel:\n        dst_port: 22\n    condition: sel\nlevel: low\n",
    )
    .unwrap();
    let out = vigil(&["rules", "check", dir.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1 rules loaded"), "{text}");
    let bad = dir.join("bad.yml").display().to_string();
    assert!(text.contains(&format!("{bad}:7")), "{text}");
    assert!(text.contains("contains"), "did you mean: {text}");
    // A replay refuses a rule set with any error, naming it.
    let pcap = corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap");
    let r = vigil(&[
        "replay",
        "--rules",
        dir.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains(&bad));
}

/// The whole SigmaHQ rule tree loads.
#[test]
fn sigmahq_rules_all_load() {
    let out = vigil(&["rules", "check", corpus("sigma/rules").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("3141 rules loaded"),
        "{}",
        text.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn rules_test_and_list() {
    let out = vigil(&["rules", "test", &rules_dir()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    let list = vigil(&["rules", "list"]);
    assert_eq!(list.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&list.stdout).lines().count() >= 4);
}

/// Placeholders bind to indicator lists from files; without the list the rule set is
/// refused with the file to create; `--suppress` collapses repeats into one closing alert.
#[test]
fn indicator_lists_and_global_suppression() {
    let dir = tempdir("indicators");
    let rules = dir.join("rules");
    let lists = dir.join("lists");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        rules.join("bad.yml"),
        "title: Flow to a listed bad host\nid: 5f0a6a1e-0000-4000-8000-0000000000c1\nlogsource:\n    category: flow\ndetection:\n    sel:\n        dst_ip|expand: '%bad_hosts%'\n    condition: sel\nlevel: high\n",
    )
    .unwrap();
    std::fs::write(lists.join("bad_hosts.txt"), "# listed\n1.1.1.1\n").unwrap();
    let pcap = corpus("pcap/suricata-verify/detection_filter-distinct-dstport/input.pcap");
    let (r, l, p) = (
        rules.to_str().unwrap(),
        lists.to_str().unwrap(),
        pcap.to_str().unwrap(),
    );

    let refused = vigil(&["replay", "--quiet", "--rules", r, p]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("add a file bad_hosts.txt"));

    let a = alerts(&[&pcap], &["--rules", r, "--indicators", l]);
    assert_eq!(a.len(), 2, "both flows to 1.1.1.1: {a:#?}");
    let s = alerts(
        &[&pcap],
        &[
            "--rules",
            r,
            "--indicators",
            l,
            "--suppress",
            "1h",
            "--suppress-by",
            "dst_ip",
        ],
    );
    assert_eq!(s.len(), 2, "the first alert and the closing one: {s:#?}");
    assert!(s[0].get("collapsed").is_none());
    assert_eq!(s[1]["collapsed"], 2);
}

/// SigmaHQ's `service: syslog` rules apply to syslog lines whose own service is the sending
/// program (`named` here): every syslog line also answers to `service: syslog`.
#[test]
fn sigmahq_syslog_service_rules_apply_to_program_lines() {
    let dir = tempdir("syslog-service");
    let log = dir.join("named.log");
    std::fs::write(
        &log,
        "<30>1 2026-11-28T10:00:00Z ns1 named 812 - - client 10.1.2.3#5353: zone transfer denied AXFR from 10.9.9.9\n\
         <30>1 2026-11-28T10:00:01Z ns1 cron 900 - - (root) CMD (run-parts /etc/cron.hourly)\n",
    )
    .unwrap();
    let rules = corpus("sigma/rules/linux/builtin/syslog");
    let a = alerts(&[&log], &["--rules", rules.to_str().unwrap()]);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0]["rule"]["title"], "Suspicious Named Error");
    assert_eq!(a[0]["event"]["logsource"]["service"], "named");
}
