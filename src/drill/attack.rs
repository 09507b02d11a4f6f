//! ATT&CK names in Sigma tags: tactics (`attack.credential_access`) and techniques
//! (`attack.t1110`, `attack.t1110.001`), shared by drill reports and rule coverage.

/// The enterprise tactics as Sigma tags name them, in the kill-chain order ATT&CK shows.
/// ATT&CK v18 split Defense Evasion into Stealth and Defense Impairment (SigmaHQ's rules now
/// carry `attack.stealth` and `attack.defense-impairment`); all three are kept so that older
/// rules count too.
pub const TACTICS: &[&str] = &[
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "stealth",
    "defense_impairment",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
];

/// The tactic a tag names (`attack.Credential-Access` → `credential_access`), if any.
pub fn tactic(tag: &str) -> Option<&'static str> {
    let rest = strip_attack(tag)?;
    // Compared in place: alerts count their tactics on the hot path, without allocating.
    let same = |t: &str| {
        t.len() == rest.len()
            && t.bytes()
                .zip(rest.bytes())
                .all(|(t, r)| t == r.to_ascii_lowercase() || (t == b'_' && r == b'-'))
    };
    TACTICS.iter().copied().find(|t| same(t))
}

/// The technique a tag names, upper-case as ATT&CK writes it (`attack.t1110.001` →
/// `T1110.001`), if any.
pub fn technique(tag: &str) -> Option<String> {
    let rest = strip_attack(tag)?;
    let b = rest.as_bytes();
    if b.len() < 5 || !matches!(b[0], b't' | b'T') || !b[1..5].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match &rest[5..] {
        "" => Some(rest.to_ascii_uppercase()),
        sub if sub.len() == 4
            && sub.starts_with('.')
            && sub[1..].bytes().all(|c| c.is_ascii_digit()) =>
        {
            Some(rest.to_ascii_uppercase())
        }
        _ => None,
    }
}

/// The tactic's short name in ATT&CK Navigator layers (`credential-access`).
pub fn navigator_tactic(tactic: &str) -> String {
    tactic.replace('_', "-")
}

fn strip_attack(tag: &str) -> Option<&str> {
    let (ns, rest) = tag.split_once('.')?;
    ns.eq_ignore_ascii_case("attack").then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_and_techniques() {
        assert_eq!(
            tactic("attack.credential_access"),
            Some("credential_access")
        );
        assert_eq!(
            tactic("ATTACK.Credential-Access"),
            Some("credential_access")
        );
        assert_eq!(
            tactic("attack.defense-impairment"),
            Some("defense_impairment")
        );
        assert_eq!(tactic("attack.stealth"), Some("stealth"));
        assert_eq!(tactic("attack.t1110"), None);
        assert_eq!(tactic("cloud.vm_escape"), None);
        assert_eq!(technique("attack.t1110"), Some("T1110".into()));
        assert_eq!(technique("attack.T1110.001"), Some("T1110.001".into()));
        assert_eq!(technique("attack.t1110.01"), None);
        assert_eq!(technique("attack.t111"), None);
        assert_eq!(technique("attack.g0016"), None);
        assert_eq!(technique("attack.discovery"), None);
        assert_eq!(
            navigator_tactic("command_and_control"),
            "command-and-control"
        );
    }
}
