//! A scored drill as Markdown (for people) and JSON (for tools), and where each is written:
//! `REPORT.json` → JSON only, `REPORT.md` → Markdown only, anything else → both, as
//! `REPORT.md` and `REPORT.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::score::Report;

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot write the drill report: {source}", file.display())]
pub struct WriteError {
    pub file: PathBuf,
    pub source: std::io::Error,
}

/// The report as pretty-printed JSON (the fields of [`Report`]).
pub fn json(report: &Report) -> String {
    // A Report is strings, numbers and lists: serializing it cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// The report as Markdown: summary, expectations, noise, tactic coverage.
pub fn markdown(r: &Report) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(md, "# Drill report: {}\n", r.drill);
    if let Some(d) = &r.description {
        let _ = writeln!(md, "{}\n", d.trim());
    }
    let _ = writeln!(md, "- Drill file: `{}`", r.file);
    for i in &r.inputs {
        let _ = writeln!(md, "- Input: `{i}`");
    }
    let _ = writeln!(
        md,
        "- First event: {}",
        r.first_event.as_deref().unwrap_or("none")
    );
    let _ = writeln!(md, "- Alerts: {}\n", r.alerts);
    let _ = writeln!(md, "**{}**\n", r.summary);

    let _ = writeln!(md, "## Expectations\n");
    let _ = writeln!(
        md,
        "| Result | Expectation | Tags | Alerts | First alert | Time to detect |"
    );
    let _ = writeln!(md, "| --- | --- | --- | ---: | --- | ---: |");
    for o in &r.expectations {
        let mut tags = o.tags.join(", ");
        if let Some(l) = &o.min_level {
            let _ = write!(tags, " (≥ {l})");
        }
        let first = match &o.first_alert {
            Some(a) => format!(
                "{} `{}` ({}) at {}",
                cell(&a.rule_title),
                a.rule_id,
                a.level,
                a.ts
            ),
            None => "-".into(),
        };
        let ttd = match (o.time_to_detect_secs, o.time_to_detect_from) {
            (Some(s), Some(from)) => format!("{} from {}", secs(s), from.replace('_', " ")),
            _ => "-".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {first} | {ttd} |",
            if o.detected { "detected" } else { "**MISSED**" },
            cell(&o.name),
            cell(&tags),
            o.alerts,
        );
    }

    let _ = writeln!(md, "\n## Noise\n");
    if r.noise.is_empty() {
        let _ = writeln!(md, "No alert outside the expectations.");
    } else {
        let _ = writeln!(md, "{} alert(s) met no expectation.\n", r.noise_alerts);
        let _ = writeln!(md, "| Rule | Title | Level | Alerts | First | Last |");
        let _ = writeln!(md, "| --- | --- | --- | ---: | --- | --- |");
        for n in &r.noise {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} | {} |",
                n.rule_id,
                cell(&n.rule_title),
                n.level,
                n.alerts,
                n.first_ts,
                n.last_ts
            );
        }
    }

    let _ = writeln!(md, "\n## Coverage by ATT&CK tactic\n");
    if r.tactics.rows.is_empty() {
        let _ = writeln!(
            md,
            "No expectation or alert names a tactic (tags such as `attack.credential_access`)."
        );
    } else {
        let list = |v: &[&str]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(md, "- Expected: {}", list(&r.tactics.expected));
        let _ = writeln!(md, "- Detected: {}", list(&r.tactics.detected));
        let _ = writeln!(md, "- Missed: {}\n", list(&r.tactics.missed));
        let _ = writeln!(
            md,
            "| Tactic | Expectations | Detecting alerts | All alerts |"
        );
        let _ = writeln!(md, "| --- | ---: | ---: | ---: |");
        for t in &r.tactics.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                t.tactic, t.expected, t.detected, t.alerts
            );
        }
    }
    md
}

/// Writes the report where `path` says (see the module doc); returns the files written.
pub fn write(report: &Report, path: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let outputs: Vec<(PathBuf, String)> = if ext.eq_ignore_ascii_case("json") {
        vec![(path.to_path_buf(), json(report))]
    } else if ext.eq_ignore_ascii_case("md") {
        vec![(path.to_path_buf(), markdown(report))]
    } else {
        vec![
            (with_suffix(path, ".md"), markdown(report)),
            (with_suffix(path, ".json"), json(report)),
        ]
    };
    let mut written = Vec::new();
    for (file, text) in outputs {
        std::fs::write(&file, text).map_err(|source| WriteError {
            file: file.clone(),
            source,
        })?;
        written.push(file);
    }
    Ok(written)
}

/// `path` with `suffix` appended (`out/report` → `out/report.md`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Seconds for people: `39.697 s`, and minutes or hours past two minutes.
fn secs(s: f64) -> String {
    let a = s.abs();
    if a < 120.0 {
        format!("{s:.3} s")
    } else if a < 7200.0 {
        format!("{s:.3} s ({:.1} min)", s / 60.0)
    } else {
        format!("{s:.3} s ({:.1} h)", s / 3600.0)
    }
}

/// Text safe in a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::score::score;
    use crate::drill::score::tests::{drill, fired, rule};
    use crate::drill::spec::Expectation;
    use crate::event::Timestamp;

    fn report() -> Report {
        let brute = rule(
            "brute",
            "medium",
            &["attack.credential_access", "attack.t1110.001"],
        );
        let noisy = rule("noisy|x", "low", &["attack.discovery"]);
        let mut d = drill(vec![
            Expectation {
                name: "FTP brute force".into(),
                tags: vec!["attack.t1110.001".into(), "attack.credential_access".into()],
                min_level: None,
                within: None,
            },
            Expectation {
                name: "VM escape".into(),
                tags: vec!["cloud.vm_escape".into()],
                min_level: Some(crate::drill::spec::Level::High),
                within: None,
            },
        ]);
        d.description = Some("Brute force, then escape.".into());
        score(
            &d,
            &["ftp.pcap".into()],
            &[fired(250, &brute), fired(3, &noisy), fired(4, &noisy)],
            Some(Timestamp(1_000_000_000)),
        )
    }

    #[test]
    fn markdown_lines() {
        let md = markdown(&report());
        let lines: Vec<&str> = md.lines().collect();
        for want in [
            "# Drill report: d",
            "Brute force, then escape.",
            "- Input: `ftp.pcap`",
            "- First event: 1970-01-01T00:00:01.000000Z",
            "**1/2 detected, 2 noise alerts**",
            "| detected | FTP brute force | attack.t1110.001, attack.credential_access | 1 | Rule brute `brute` (medium) at 1970-01-01T00:04:10.000000Z | 249.000 s (4.2 min) from first event |",
            "| **MISSED** | VM escape | cloud.vm_escape (≥ high) | 0 | - | - |",
            "| `noisy|x` | Rule noisy\\|x | low | 2 | 1970-01-01T00:00:03.000000Z | 1970-01-01T00:00:04.000000Z |",
            "- Expected: credential_access",
            "- Detected: credential_access",
            "- Missed: none",
            "| credential_access | 1 | 1 | 1 |",
            "| discovery | 0 | 0 | 2 |",
        ] {
            assert!(lines.contains(&want), "no line {want:?} in:\n{md}");
        }
    }

    #[test]
    fn json_fields() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["summary"], "1/2 detected, 2 noise alerts");
        assert_eq!(v["expectations"][0]["detected"], true);
        assert_eq!(v["expectations"][0]["time_to_detect_secs"], 249.0);
        assert_eq!(v["expectations"][0]["first_alert"]["rule_id"], "brute");
        assert_eq!(v["expectations"][1]["detected"], false);
        assert_eq!(v["expectations"][1]["min_level"], "high");
        assert_eq!(v["noise"][0]["alerts"], 2);
        assert_eq!(v["tactics"]["expected"][0], "credential_access");
    }

    #[test]
    fn where_reports_go() {
        let dir = std::env::temp_dir().join(format!("vigil-drill-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = report();
        let both = write(&r, &dir.join("out")).unwrap();
        assert_eq!(both, vec![dir.join("out.md"), dir.join("out.json")]);
        assert_eq!(
            write(&r, &dir.join("r.json")).unwrap(),
            vec![dir.join("r.json")]
        );
        assert_eq!(
            write(&r, &dir.join("r.MD")).unwrap(),
            vec![dir.join("r.MD")]
        );
        assert!(std::fs::read_to_string(dir.join("r.MD"))
            .unwrap()
            .starts_with("# Drill"));
        assert!(write(&r, &dir.join("missing/r.md")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
