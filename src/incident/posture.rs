//! Situational awareness at a glance: a risk score per tenant and alert counts per ATT&CK
//! tactic, computed from the open incidents. Shown at `/api/v1/posture` and as the metrics
//! `vigil_tenant_risk_score` and `vigil_incidents_open`.
//!
//! Risk is the sum over a tenant's open incidents of a weight by severity, halved for an
//! acknowledged incident, decaying exponentially with the time since the incident last
//! changed (half-life one day by default), so a tenant with fresh critical incidents stands
//! out and one with old, acknowledged noise fades.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Incident, Level, Status};
use crate::drill::attack::tactic;

/// How fast an incident's weight fades: halved after a day without change.
pub const HALF_LIFE_HOURS: f64 = 24.0;

/// Weight of an open incident of this severity.
pub fn weight(level: Level) -> f64 {
    match level {
        Level::Informational => 0.0,
        Level::Low => 1.0,
        Level::Medium => 3.0,
        Level::High => 7.0,
        Level::Critical => 15.0,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TenantPosture {
    /// The tenant, or `""` for alerts about no known tenant (infrastructure, the internet).
    pub tenant: String,
    pub risk: f64,
    /// Open (incl. acknowledged) incidents by severity.
    pub open: BTreeMap<Level, u64>,
    /// Open incidents by tactic.
    pub tactics: BTreeMap<&'static str, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Posture {
    pub generated_ms: i64,
    pub half_life_hours: f64,
    /// Highest risk first.
    pub tenants: Vec<TenantPosture>,
    /// Open incidents by tactic, over all tenants.
    pub tactics: BTreeMap<&'static str, u64>,
}

/// When the incident last changed: its newest history entry or its last alert, whichever
/// is later (replayed captures carry old event times; the history is wall time).
fn last_change_ms(inc: &Incident) -> i64 {
    inc.history
        .iter()
        .map(|c| c.at_ms)
        .max()
        .unwrap_or(i64::MIN)
        .max(inc.last_ms)
}

/// Posture over `incidents` (any status; resolved ones count for nothing) at wall time `now_ms`.
pub fn compute(incidents: &[Incident], now_ms: i64, half_life_hours: f64) -> Posture {
    let half_life_ms = (half_life_hours * 3_600_000.0).max(1.0);
    let mut by_tenant: BTreeMap<&str, TenantPosture> = BTreeMap::new();
    let mut tactics: BTreeMap<&'static str, u64> = BTreeMap::new();
    for inc in incidents {
        let factor = match inc.status {
            Status::Open => 1.0,
            Status::Acknowledged => 0.5,
            Status::Resolved => continue,
        };
        let tenant = inc.tenant.as_deref().unwrap_or("");
        let tp = by_tenant.entry(tenant).or_insert_with(|| TenantPosture {
            tenant: tenant.to_string(),
            ..TenantPosture::default()
        });
        let age = (now_ms - last_change_ms(inc)).max(0) as f64;
        tp.risk += weight(inc.severity) * factor * 0.5f64.powf(age / half_life_ms);
        *tp.open.entry(inc.severity).or_default() += 1;
        let mut seen: Vec<&'static str> = Vec::new();
        for t in inc.tags.iter().filter_map(|t| tactic(t)) {
            if !seen.contains(&t) {
                seen.push(t);
                *tp.tactics.entry(t).or_default() += 1;
                *tactics.entry(t).or_default() += 1;
            }
        }
    }
    let mut tenants: Vec<TenantPosture> = by_tenant.into_values().collect();
    for t in &mut tenants {
        // Two decimals are plenty for a dashboard and keep the JSON stable to read.
        t.risk = (t.risk * 100.0).round() / 100.0;
    }
    tenants.sort_by(|a, b| b.risk.total_cmp(&a.risk).then(a.tenant.cmp(&b.tenant)));
    Posture {
        generated_ms: now_ms,
        half_life_hours,
        tenants,
        tactics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Change;

    const HOUR: i64 = 3_600_000;

    fn inc(tenant: &str, severity: Level, status: Status, last_ms: i64, tags: &[&str]) -> Incident {
        Incident {
            id: format!("i-{tenant}-{last_ms}"),
            tenant: (!tenant.is_empty()).then(|| tenant.to_string()),
            entity: "10.1.0.5".into(),
            title: "t".into(),
            status,
            severity,
            first_ms: last_ms,
            last_ms,
            alert_count: 1,
            rules: vec![],
            tags: tags.iter().map(|s| s.to_string()).collect(),
            assignee: None,
            notes: vec![],
            history: vec![],
        }
    }

    #[test]
    fn risk_weighs_severity_status_and_age() {
        let now = 100 * HOUR;
        let incs = [
            inc(
                "acme",
                Level::Critical,
                Status::Open,
                now,
                &["attack.privilege_escalation"],
            ),
            inc(
                "acme",
                Level::High,
                Status::Acknowledged,
                now - 24 * HOUR,
                &[],
            ),
            inc(
                "globex",
                Level::Medium,
                Status::Open,
                now,
                &["attack.discovery", "attack.t1046"],
            ),
            inc(
                "globex",
                Level::Critical,
                Status::Resolved,
                now,
                &["attack.impact"],
            ),
        ];
        let p = compute(&incs, now, 24.0);
        assert_eq!(p.tenants[0].tenant, "acme");
        // 15 + 7 * 0.5 (acknowledged) * 0.5 (one half-life old)
        assert_eq!(p.tenants[0].risk, 16.75);
        assert_eq!(p.tenants[1].risk, 3.0);
        assert_eq!(p.tenants[0].open[&Level::Critical], 1);
        assert_eq!(p.tenants[0].open[&Level::High], 1);
        assert_eq!(p.tactics.get("privilege_escalation"), Some(&1));
        assert_eq!(p.tactics.get("discovery"), Some(&1));
        assert_eq!(
            p.tactics.get("impact"),
            None,
            "resolved incidents do not count"
        );
    }

    #[test]
    fn a_recent_change_keeps_an_old_replayed_incident_fresh() {
        let now = 1_000 * HOUR;
        let mut old = inc("acme", Level::High, Status::Open, 0, &[]);
        assert!(compute(std::slice::from_ref(&old), now, 24.0).tenants[0].risk < 0.01);
        old.history.push(Change {
            at_ms: now,
            actor: "vigil".into(),
            action: "alert".into(),
            detail: None,
        });
        assert_eq!(compute(&[old], now, 24.0).tenants[0].risk, 7.0);
    }
}
