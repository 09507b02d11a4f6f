//! `vigil rules coverage`: which ATT&CK techniques and tactics a rule set covers, as a table
//! and as an ATT&CK Navigator layer (format 4.5) for the Navigator's heat map.
//!
//! Techniques come from `attack.tNNNN` / `attack.tNNNN.NNN` tags, tactics from
//! `attack.<tactic>` tags; a rule counts once per technique or tactic it names.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::attack;
use crate::rules::RuleSet;

/// Rules per technique and per tactic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coverage {
    /// All rules looked at.
    pub rules: usize,
    /// Rules naming at least one technique or tactic.
    pub tagged: usize,
    /// Technique (`T1110.001`) → the rules naming it.
    pub techniques: BTreeMap<String, TechniqueRules>,
    /// Tactic (every one of [`attack::TACTICS`], in order) → rules naming it.
    pub tactics: Vec<(&'static str, usize)>,
}

/// The rules naming one technique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TechniqueRules {
    pub titles: Vec<String>,
    /// The tactics those rules name (a rule may name several).
    pub tactics: Vec<&'static str>,
    /// Whether every rule naming the technique names exactly one tactic, the same one: then
    /// the layer can pin the technique to it.
    pub one_tactic: Option<&'static str>,
}

impl Coverage {
    pub fn of(set: &RuleSet) -> Coverage {
        let mut cov = Coverage {
            tactics: attack::TACTICS.iter().map(|t| (*t, 0)).collect(),
            ..Coverage::default()
        };
        // Per technique: does every rule name exactly one tactic, and the same one?
        let mut pinned: BTreeMap<String, Option<Option<&'static str>>> = BTreeMap::new();
        for rule in set.rules() {
            cov.rules += 1;
            let mut techniques: Vec<String> = rule
                .tags
                .iter()
                .filter_map(|t| attack::technique(t))
                .collect();
            techniques.sort();
            techniques.dedup();
            let mut tactics: Vec<&'static str> =
                rule.tags.iter().filter_map(|t| attack::tactic(t)).collect();
            tactics.sort_unstable();
            tactics.dedup();
            if techniques.is_empty() && tactics.is_empty() {
                continue;
            }
            cov.tagged += 1;
            for t in &tactics {
                if let Some(row) = cov.tactics.iter_mut().find(|(name, _)| name == t) {
                    row.1 += 1;
                }
            }
            let single = match tactics.as_slice() {
                [one] => Some(*one),
                _ => None,
            };
            for tech in techniques {
                let entry = cov.techniques.entry(tech.clone()).or_default();
                entry.titles.push(rule.title.clone());
                for t in &tactics {
                    if !entry.tactics.contains(t) {
                        entry.tactics.push(t);
                    }
                }
                let pin = pinned.entry(tech).or_insert(Some(single));
                if *pin != Some(single) {
                    *pin = None;
                }
            }
        }
        for (tech, pin) in pinned {
            if let Some(entry) = cov.techniques.get_mut(&tech) {
                entry.one_tactic = pin.flatten();
                entry
                    .tactics
                    .sort_by_key(|t| attack::TACTICS.iter().position(|x| x == t));
            }
        }
        cov
    }

    /// The plain-text tables `vigil rules coverage` prints.
    pub fn table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{:<12} {:>5}  titles", "technique", "rules");
        for (tech, r) in &self.techniques {
            let _ = writeln!(
                out,
                "{tech:<12} {:>5}  {}",
                r.titles.len(),
                r.titles.join("; ")
            );
        }
        let _ = writeln!(out, "\n{:<22} {:>5}", "tactic", "rules");
        for (tactic, n) in &self.tactics {
            let _ = writeln!(out, "{tactic:<22} {n:>5}");
        }
        let covered = self.tactics.iter().filter(|(_, n)| *n > 0).count();
        let _ = writeln!(
            out,
            "\n{} rules, {} with ATT&CK tags, {} techniques, {}/{} tactics",
            self.rules,
            self.tagged,
            self.techniques.len(),
            covered,
            self.tactics.len()
        );
        out
    }

    /// An ATT&CK Navigator layer (format 4.5): one technique per entry, scored by its
    /// number of rules, with the rule titles as the comment.
    pub fn navigator(&self, name: &str) -> Value {
        let max = self
            .techniques
            .values()
            .map(|r| r.titles.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let techniques: Vec<Value> = self
            .techniques
            .iter()
            .map(|(tech, r)| {
                let mut t = json!({
                    "techniqueID": tech,
                    "score": r.titles.len(),
                    "comment": r.titles.join("; "),
                    "enabled": true,
                    "showSubtechniques": false,
                });
                if let (Some(tactic), Some(obj)) = (r.one_tactic, t.as_object_mut()) {
                    obj.insert(
                        "tactic".into(),
                        Value::String(attack::navigator_tactic(tactic)),
                    );
                }
                t
            })
            .collect();
        json!({
            "name": name,
            "versions": {"attack": "18", "navigator": "5.2.0", "layer": "4.5"},
            "domain": "enterprise-attack",
            "description": format!(
                "ATT&CK techniques named by {} of {} vigil rules; score = number of rules",
                self.tagged, self.rules
            ),
            "sorting": 3,
            "hideDisabled": false,
            "techniques": techniques,
            // White for no rule, up to full green for the best-covered technique.
            "gradient": {"colors": ["#ffffff", "#8ec843"], "minValue": 0, "maxValue": max},
            "legendItems": [
                {"label": format!("named by {max} rule(s), the most in this set"), "color": "#8ec843"},
            ],
            "showTacticRowBackground": false,
            "selectTechniquesAcrossTactics": true,
            "selectSubtechniquesWithParent": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::rules::LoadOptions;

    fn rule(id: u32, title: &str, tags: &[&str]) -> String {
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(
                "tags:\n{}",
                tags.iter()
                    .map(|t| format!("    - {t}\n"))
                    .collect::<String>()
            )
        };
        format!(
            "title: {title}\nid: 5f0a6a1e-0000-4000-8000-{id:012}\nlogsource:\n    category: flow\ndetection:\n    sel:\n        dst_port: 22\n    condition: sel\n{tags}level: low\n"
        )
    }

    fn set() -> RuleSet {
        let a = rule(1, "A", &["attack.credential_access", "attack.t1110.001"]);
        let b = rule(
            2,
            "B",
            &[
                "attack.credential_access",
                "attack.T1110.001",
                "attack.t1110",
            ],
        );
        let c = rule(
            3,
            "C",
            &[
                "attack.discovery",
                "attack.lateral_movement",
                "attack.t1046",
            ],
        );
        let d = rule(4, "D", &["attack.t1046", "attack.discovery"]);
        let e = rule(5, "E", &["cloud.vm_escape"]);
        let sources = [
            (Path::new("a.yml"), a.as_str()),
            (Path::new("b.yml"), b.as_str()),
            (Path::new("c.yml"), c.as_str()),
            (Path::new("d.yml"), d.as_str()),
            (Path::new("e.yml"), e.as_str()),
        ];
        let (set, report) = RuleSet::from_sources(&sources, &LoadOptions::default());
        assert!(report.errors.is_empty(), "{report}");
        set
    }

    #[test]
    fn counts_per_technique_and_tactic() {
        let cov = Coverage::of(&set());
        assert_eq!((cov.rules, cov.tagged), (5, 4));
        let techs: Vec<(&str, usize)> = cov
            .techniques
            .iter()
            .map(|(t, r)| (t.as_str(), r.titles.len()))
            .collect();
        assert_eq!(techs, vec![("T1046", 2), ("T1110", 1), ("T1110.001", 2)]);
        assert_eq!(cov.techniques["T1110.001"].titles, vec!["A", "B"]);
        assert_eq!(
            cov.techniques["T1110.001"].one_tactic,
            Some("credential_access")
        );
        // C names two tactics: T1046 cannot be pinned to one.
        assert_eq!(cov.techniques["T1046"].one_tactic, None);
        assert_eq!(
            cov.techniques["T1046"].tactics,
            vec!["discovery", "lateral_movement"]
        );
        let tactic = |name: &str| cov.tactics.iter().find(|(t, _)| *t == name).unwrap().1;
        assert_eq!(tactic("credential_access"), 2);
        assert_eq!(tactic("discovery"), 2);
        assert_eq!(tactic("lateral_movement"), 1);
        assert_eq!(tactic("impact"), 0);
        assert_eq!(cov.tactics.len(), 16);
        let table = cov.table();
        assert!(
            table.lines().any(|l| l == "T1110.001        2  A; B"),
            "{table}"
        );
        assert!(
            table.lines().any(|l| l == "credential_access          2"),
            "{table}"
        );
        assert!(
            table.ends_with("5 rules, 4 with ATT&CK tags, 3 techniques, 3/16 tactics\n"),
            "{table}"
        );
    }

    #[test]
    fn navigator_layer() {
        let layer = Coverage::of(&set()).navigator("test");
        assert_eq!(layer["versions"]["layer"], "4.5");
        assert_eq!(layer["domain"], "enterprise-attack");
        let techs = layer["techniques"].as_array().unwrap();
        assert_eq!(techs.len(), 3);
        assert_eq!(techs[2]["techniqueID"], "T1110.001");
        assert_eq!(techs[2]["score"], 2);
        assert_eq!(techs[2]["comment"], "A; B");
        assert_eq!(techs[2]["tactic"], "credential-access");
        assert!(techs[0].get("tactic").is_none());
        assert_eq!(layer["gradient"]["maxValue"], 2);
        assert!(layer["legendItems"]
            .as_array()
            .is_some_and(|l| !l.is_empty()));
    }
}
