//! Scoring a drill: which alerts meet which expectation, how long detection took, what else
//! fired (noise), and which ATT&CK tactics were expected and seen.
//!
//! A pure function from the drill and the alerts of a replay to a [`Report`], which
//! `render` turns into Markdown and JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::attack;
use super::spec::{Drill, Expectation, Level};
use crate::event::Timestamp;
use crate::rules::RuleInfo;

/// One alert as a drill sees it: when, and which rule.
#[derive(Clone, Debug)]
pub struct Fired {
    pub ts: Timestamp,
    pub rule: Arc<RuleInfo>,
}

/// The first alert that met an expectation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstAlert {
    pub ts: String,
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowOut {
    pub start: String,
    pub end: Option<String>,
}

/// What became of one expectation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub name: String,
    pub tags: Vec<String>,
    pub min_level: Option<String>,
    pub within: Option<WindowOut>,
    pub detected: bool,
    /// Alerts that met it.
    pub alerts: usize,
    /// Ids of the rules whose alerts met it, in order of first alert.
    pub rules: Vec<String>,
    pub first_alert: Option<FirstAlert>,
    /// First alert's time minus the reference (the window's start, else the first event).
    pub time_to_detect_secs: Option<f64>,
    /// `window_start` or `first_event`: what the time to detect is counted from.
    pub time_to_detect_from: Option<&'static str>,
}

/// Alerts of one rule that met no expectation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Noise {
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub alerts: usize,
    pub first_ts: String,
    pub last_ts: String,
}

/// One ATT&CK tactic in the drill: named by an expectation, and/or carried by alerts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TacticRow {
    pub tactic: &'static str,
    /// Expectations whose tags name it.
    pub expected: usize,
    /// Alerts meeting an expectation whose rule carries it.
    pub detected: usize,
    /// All alerts (noise included) whose rule carries it.
    pub alerts: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tactics {
    pub expected: Vec<&'static str>,
    pub detected: Vec<&'static str>,
    /// Expected and not detected.
    pub missed: Vec<&'static str>,
    pub rows: Vec<TacticRow>,
}

/// A scored drill.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub drill: String,
    pub description: Option<String>,
    pub file: String,
    pub inputs: Vec<String>,
    /// Time of the first packet or log event of the replay, in input order.
    pub first_event: Option<String>,
    /// e.g. `3/4 detected, 2 noise alerts`.
    pub summary: String,
    pub expected: usize,
    pub detected: usize,
    pub missed: usize,
    pub alerts: usize,
    pub noise_alerts: usize,
    pub expectations: Vec<Outcome>,
    pub noise: Vec<Noise>,
    pub tactics: Tactics,
}

impl Report {
    /// Names of the expectations nobody met.
    pub fn missed_names(&self) -> Vec<&str> {
        self.expectations
            .iter()
            .filter(|o| !o.detected)
            .map(|o| o.name.as_str())
            .collect()
    }
}

/// Does `alert` meet `exp`: all of its tags (case-insensitive), at least its level, within
/// its window?
pub fn meets(exp: &Expectation, alert: &Fired) -> bool {
    let tags_ok = exp.tags.iter().all(|want| {
        alert
            .rule
            .tags
            .iter()
            .any(|have| have.eq_ignore_ascii_case(want))
    });
    let level_ok = exp.min_level.is_none_or(|min| {
        alert
            .rule
            .level
            .parse::<Level>()
            .is_ok_and(|level| level >= min)
    });
    let time_ok = exp.within.is_none_or(|w| w.contains(alert.ts));
    tags_ok && level_ok && time_ok
}

/// Scores the alerts of a replay against a drill. `first_event` is the replay's first
/// packet or log event time (the reference for expectations without a window); `inputs` are
/// the files replayed.
pub fn score(
    drill: &Drill,
    inputs: &[String],
    alerts: &[Fired],
    first_event: Option<Timestamp>,
) -> Report {
    // Workers deliver alerts in batches from several threads: order them by time (then rule)
    // so "first" means first in event time and reports are the same on every run.
    let mut order: Vec<&Fired> = alerts.iter().collect();
    order.sort_by(|a, b| (a.ts, &a.rule.id).cmp(&(b.ts, &b.rule.id)));

    let mut claimed = vec![false; order.len()];
    let mut expectations = Vec::with_capacity(drill.expect.len());
    for exp in &drill.expect {
        let mut count = 0;
        let mut rules: Vec<String> = Vec::new();
        let mut first: Option<&Fired> = None;
        for (i, a) in order.iter().enumerate() {
            if meets(exp, a) {
                claimed[i] = true;
                count += 1;
                first.get_or_insert(a);
                if !rules.contains(&a.rule.id) {
                    rules.push(a.rule.id.clone());
                }
            }
        }
        let reference = match exp.within {
            Some(w) => Some((w.start, "window_start")),
            None => first_event.map(|t| (t, "first_event")),
        };
        let ttd = first.zip(reference).map(|(a, (r, from))| {
            let ns = a.ts.0.saturating_sub(r.0);
            (ns as f64 / 1e9, from)
        });
        expectations.push(Outcome {
            name: exp.name.clone(),
            tags: exp.tags.clone(),
            min_level: exp.min_level.map(|l| l.to_string()),
            within: exp.within.map(|w| WindowOut {
                start: w.start.to_string(),
                end: w.end.map(|e| e.to_string()),
            }),
            detected: first.is_some(),
            alerts: count,
            rules,
            first_alert: first.map(|a| FirstAlert {
                ts: a.ts.to_string(),
                rule_id: a.rule.id.clone(),
                rule_title: a.rule.title.clone(),
                level: a.rule.level.clone(),
            }),
            time_to_detect_secs: ttd.map(|t| t.0),
            time_to_detect_from: ttd.map(|t| t.1),
        });
    }

    let mut noise: BTreeMap<&str, Noise> = BTreeMap::new();
    for (a, _) in order.iter().zip(&claimed).filter(|(_, c)| !**c) {
        let ts = a.ts.to_string();
        noise
            .entry(a.rule.id.as_str())
            .and_modify(|n| {
                n.alerts += 1;
                n.last_ts = ts.clone();
            })
            .or_insert_with(|| Noise {
                rule_id: a.rule.id.clone(),
                rule_title: a.rule.title.clone(),
                level: a.rule.level.clone(),
                alerts: 1,
                first_ts: ts.clone(),
                last_ts: ts,
            });
    }
    let mut noise: Vec<Noise> = noise.into_values().collect();
    // Loudest first: that is where tuning pays.
    noise.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.rule_id.cmp(&b.rule_id)));
    let noise_alerts = claimed.iter().filter(|c| !**c).count();

    let tactics = tactics(drill, &order, &claimed);
    let detected = expectations.iter().filter(|o| o.detected).count();
    let expected = expectations.len();
    Report {
        drill: drill.name.clone(),
        description: drill.description.clone(),
        file: drill.file.display().to_string(),
        inputs: inputs.to_vec(),
        first_event: first_event.map(|t| t.to_string()),
        summary: format!(
            "{detected}/{expected} detected, {noise_alerts} noise alert{}",
            if noise_alerts == 1 { "" } else { "s" }
        ),
        expected,
        detected,
        missed: expected - detected,
        alerts: order.len(),
        noise_alerts,
        expectations,
        noise,
        tactics,
    }
}

fn tactics(drill: &Drill, order: &[&Fired], claimed: &[bool]) -> Tactics {
    let mut rows: Vec<TacticRow> = attack::TACTICS
        .iter()
        .map(|t| TacticRow {
            tactic: t,
            expected: 0,
            detected: 0,
            alerts: 0,
        })
        .collect();
    let index = |tactic: &str| attack::TACTICS.iter().position(|t| *t == tactic);
    for exp in &drill.expect {
        let mut named: Vec<usize> = exp
            .tags
            .iter()
            .filter_map(|t| attack::tactic(t))
            .filter_map(index)
            .collect();
        named.dedup();
        for i in named {
            rows[i].expected += 1;
        }
    }
    for (a, claimed) in order.iter().zip(claimed) {
        let mut carried: Vec<usize> = a
            .rule
            .tags
            .iter()
            .filter_map(|t| attack::tactic(t))
            .filter_map(index)
            .collect();
        carried.sort_unstable();
        carried.dedup();
        for i in carried {
            rows[i].alerts += 1;
            if *claimed {
                rows[i].detected += 1;
            }
        }
    }
    rows.retain(|r| r.expected + r.alerts > 0);
    let pick = |f: &dyn Fn(&TacticRow) -> bool| -> Vec<&'static str> {
        rows.iter().filter(|r| f(r)).map(|r| r.tactic).collect()
    };
    Tactics {
        expected: pick(&|r| r.expected > 0),
        detected: pick(&|r| r.detected > 0),
        missed: pick(&|r| r.expected > 0 && r.detected == 0),
        rows,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::drill::spec::Window;
    use crate::rules::{RuleKind, RuleLogSource};

    pub(crate) fn rule(id: &str, level: &str, tags: &[&str]) -> Arc<RuleInfo> {
        Arc::new(RuleInfo {
            id: id.into(),
            name: None,
            title: format!("Rule {id}"),
            level: level.into(),
            status: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            file: PathBuf::from("r.yml"),
            line: 1,
            logsource: RuleLogSource::default(),
            kind: RuleKind::Detection,
        })
    }

    pub(crate) fn fired(secs: i64, rule: &Arc<RuleInfo>) -> Fired {
        Fired {
            ts: Timestamp(secs * 1_000_000_000),
            rule: rule.clone(),
        }
    }

    fn exp(tags: &[&str], min_level: Option<Level>, within: Option<(i64, i64)>) -> Expectation {
        Expectation {
            name: tags.join(", "),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            min_level,
            within: within.map(|(s, e)| Window {
                start: Timestamp(s * 1_000_000_000),
                end: Some(Timestamp(e * 1_000_000_000)),
            }),
        }
    }

    pub(crate) fn drill(expect: Vec<Expectation>) -> Drill {
        Drill {
            file: PathBuf::from("d.yaml"),
            name: "d".into(),
            description: None,
            tenants: None,
            inputs: vec![],
            expect,
        }
    }

    #[test]
    fn tags_are_all_of_and_case_insensitive() {
        let r = rule("r", "high", &["Attack.T1611", "cloud.vm_escape"]);
        let a = fired(5, &r);
        assert!(meets(&exp(&["attack.t1611"], None, None), &a));
        assert!(meets(
            &exp(&["CLOUD.VM_ESCAPE", "attack.t1611"], None, None),
            &a
        ));
        assert!(!meets(
            &exp(&["attack.t1611", "attack.t1046"], None, None),
            &a
        ));
        assert!(!meets(&exp(&["attack.t161"], None, None), &a));
    }

    #[test]
    fn min_level_is_a_floor() {
        let a = fired(5, &rule("r", "medium", &["x"]));
        assert!(meets(&exp(&["x"], Some(Level::Low), None), &a));
        assert!(meets(&exp(&["x"], Some(Level::Medium), None), &a));
        assert!(!meets(&exp(&["x"], Some(Level::High), None), &a));
        // A rule with a level vigil does not know never meets a floor.
        let odd = fired(5, &rule("r", "severe", &["x"]));
        assert!(!meets(&exp(&["x"], Some(Level::Informational), None), &odd));
        assert!(meets(&exp(&["x"], None, None), &odd));
    }

    #[test]
    fn windows_are_inclusive() {
        let r = rule("r", "low", &["x"]);
        let e = exp(&["x"], None, Some((10, 20)));
        assert!(!meets(&e, &fired(9, &r)));
        assert!(meets(&e, &fired(10, &r)));
        assert!(meets(&e, &fired(20, &r)));
        assert!(!meets(&e, &fired(21, &r)));
    }

    #[test]
    fn score_detects_misses_and_counts_noise() {
        let brute = rule(
            "brute",
            "medium",
            &["attack.credential_access", "attack.t1110.001"],
        );
        let scan = rule("scan", "low", &["attack.discovery", "attack.t1046"]);
        let info = rule("info", "informational", &[]);
        let d = drill(vec![
            exp(
                &["attack.t1110.001", "attack.credential_access"],
                None,
                None,
            ),
            exp(&["attack.t1046"], None, Some((100, 200))),
            exp(&["attack.lateral_movement"], Some(Level::High), None),
        ]);
        let alerts = vec![
            fired(50, &scan),
            fired(40, &brute),
            fired(30, &brute),
            fired(150, &scan),
            fired(1, &info),
        ];
        let r = score(&d, &["a.pcap".into()], &alerts, Some(Timestamp(0)));
        assert_eq!(r.summary, "2/3 detected, 2 noise alerts");
        assert_eq!((r.expected, r.detected, r.missed), (3, 2, 1));
        assert_eq!(r.alerts, 5);

        let o = &r.expectations[0];
        assert!(o.detected);
        assert_eq!(o.alerts, 2);
        assert_eq!(o.rules, vec!["brute".to_string()]);
        let first = o.first_alert.as_ref().unwrap();
        assert_eq!(first.ts, "1970-01-01T00:00:30.000000Z");
        assert_eq!(o.time_to_detect_secs, Some(30.0));
        assert_eq!(o.time_to_detect_from, Some("first_event"));

        let o = &r.expectations[1];
        assert!(o.detected);
        assert_eq!(o.alerts, 1);
        assert_eq!(o.time_to_detect_secs, Some(50.0));
        assert_eq!(o.time_to_detect_from, Some("window_start"));

        let o = &r.expectations[2];
        assert!(!o.detected);
        assert_eq!((o.alerts, o.first_alert.as_ref()), (0, None));
        assert_eq!(o.time_to_detect_secs, None);
        assert_eq!(r.missed_names(), vec!["attack.lateral_movement"]);

        // The scan at 50 s is outside the window: noise, like the informational alert.
        let noise: Vec<_> = r
            .noise
            .iter()
            .map(|n| (n.rule_id.as_str(), n.alerts))
            .collect();
        assert_eq!(noise, vec![("info", 1), ("scan", 1)]);
        assert_eq!(r.noise_alerts, 2);
        assert_eq!(r.noise[1].level, "low");

        assert_eq!(
            r.tactics.expected,
            vec!["credential_access", "lateral_movement"]
        );
        assert_eq!(r.tactics.detected, vec!["credential_access", "discovery"]);
        assert_eq!(r.tactics.missed, vec!["lateral_movement"]);
        let disc = r
            .tactics
            .rows
            .iter()
            .find(|t| t.tactic == "discovery")
            .unwrap();
        assert_eq!((disc.expected, disc.detected, disc.alerts), (0, 1, 2));
    }

    #[test]
    fn no_reference_time_no_time_to_detect() {
        let r = rule("r", "low", &["x"]);
        let rep = score(
            &drill(vec![exp(&["x"], None, None)]),
            &[],
            &[fired(3, &r)],
            None,
        );
        assert!(rep.expectations[0].detected);
        assert_eq!(rep.expectations[0].time_to_detect_secs, None);
        assert_eq!(rep.summary, "1/1 detected, 0 noise alerts");
    }
}
