//! Sigma value modifiers: their names, the checks on how they combine, and the value
//! transformations (encodings, windash, placeholders) that run once at load time.
//!
//! Misspelt modifiers get a suggestion, because that is the most common rule-writing mistake.

use base64::Engine as _;

/// One modifier of a detection item (`field|contains|all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Re,
    ReI,
    ReM,
    ReS,
    Cidr,
    Exists,
    FieldRef,
    Gt,
    Gte,
    Lt,
    Lte,
    Neq,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Windash,
    Expand,
    Cased,
}

const NAMES: &[(&str, Modifier)] = &[
    ("contains", Modifier::Contains),
    ("startswith", Modifier::StartsWith),
    ("endswith", Modifier::EndsWith),
    ("all", Modifier::All),
    ("re", Modifier::Re),
    ("i", Modifier::ReI),
    ("m", Modifier::ReM),
    ("s", Modifier::ReS),
    ("cidr", Modifier::Cidr),
    ("exists", Modifier::Exists),
    ("fieldref", Modifier::FieldRef),
    ("gt", Modifier::Gt),
    ("gte", Modifier::Gte),
    ("lt", Modifier::Lt),
    ("lte", Modifier::Lte),
    ("neq", Modifier::Neq),
    ("base64", Modifier::Base64),
    ("base64offset", Modifier::Base64Offset),
    ("utf16le", Modifier::Utf16Le),
    ("wide", Modifier::Utf16Le),
    ("utf16be", Modifier::Utf16Be),
    ("utf16", Modifier::Utf16),
    ("windash", Modifier::Windash),
    ("expand", Modifier::Expand),
    ("cased", Modifier::Cased),
];

/// Modifiers of the specification that vigil does not implement, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "minute",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
    (
        "hour",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
    (
        "day",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
    (
        "week",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
    (
        "month",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
    (
        "year",
        "time-part modifiers are not supported; compare the field with `re` instead",
    ),
];

/// Why a modifier name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifierError {
    pub message: String,
    pub suggestion: Option<String>,
}

impl Modifier {
    pub fn parse(name: &str) -> Result<Modifier, ModifierError> {
        let lower = name.to_ascii_lowercase();
        if let Some((_, m)) = NAMES.iter().find(|(n, _)| *n == lower) {
            return Ok(*m);
        }
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == lower) {
            return Err(ModifierError {
                message: format!("unsupported modifier '|{name}': {why}"),
                suggestion: None,
            });
        }
        let suggestion = NAMES
            .iter()
            .filter(|(n, _)| n.len() > 2)
            .map(|(n, _)| (edit_distance(&lower, n), *n))
            .filter(|(d, n)| *d <= 2.max(n.len() / 4))
            .min()
            .map(|(_, n)| n.to_string());
        Err(ModifierError {
            message: format!("unknown modifier '|{name}'"),
            suggestion,
        })
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The characters `windash` treats as interchangeable with `-`.
const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
/// `windash` makes 5^n variants; past this many dashes a rule is refused rather than compiled
/// into a huge pattern list.
pub const MAX_WINDASH_DASHES: usize = 6;

/// Every variant of `s` with each `-` replaced by each windash character.
pub fn windash(s: &str) -> Result<Vec<String>, String> {
    let positions: Vec<usize> = s.match_indices('-').map(|(i, _)| i).collect();
    if positions.is_empty() {
        return Ok(vec![s.to_string()]);
    }
    if positions.len() > MAX_WINDASH_DASHES {
        return Err(format!(
            "windash on a value with {} dashes would make {} variants (at most {MAX_WINDASH_DASHES} dashes); split the value",
            positions.len(),
            5usize.saturating_pow(positions.len() as u32)
        ));
    }
    let total = WINDASH.len().pow(positions.len() as u32);
    let mut out = Vec::with_capacity(total);
    for combo in 0..total {
        let mut v = String::with_capacity(s.len() + 8);
        let mut idx = combo;
        let mut last = 0;
        for &p in &positions {
            v.push_str(&s[last..p]);
            v.push(WINDASH[idx % WINDASH.len()]);
            idx /= WINDASH.len();
            last = p + 1;
        }
        v.push_str(&s[last..]);
        out.push(v);
    }
    Ok(out)
}

pub fn utf16le(s: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn utf16be(s: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// UTF-16 little endian with its byte order mark, as Windows writes it.
pub fn utf16(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    out.extend(utf16le(s));
    out
}

pub fn base64(s: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(s)
        .into_bytes()
}

/// The three forms a value takes inside a longer base64 string, depending on its offset
/// modulo 3 (the stable middle part of each encoding, as pySigma computes it).
pub fn base64offset(s: &[u8]) -> Vec<Vec<u8>> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(s);
            let enc = base64::engine::general_purpose::STANDARD.encode(&padded);
            let end_cut = END[(s.len() + i) % 3];
            let stop = enc.len().saturating_sub(end_cut);
            let start = START[i].min(stop);
            enc.as_bytes()[start..stop].to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_modifiers_get_suggestions() {
        let e = Modifier::parse("contians").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("contains"));
        let e = Modifier::parse("endwith").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("endswith"));
        assert_eq!(Modifier::parse("wide"), Ok(Modifier::Utf16Le));
        assert!(Modifier::parse("hour")
            .unwrap_err()
            .message
            .contains("unsupported"));
    }

    #[test]
    fn windash_makes_all_permutations() {
        let v = windash("-a -b").unwrap();
        assert_eq!(v.len(), 25);
        assert!(v.contains(&"/a \u{2014}b".to_string()));
        assert!(windash(&"-".repeat(7)).is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(utf16le(b"cmd"), b"c\0m\0d\0");
        assert_eq!(utf16be(b"cmd"), b"\0c\0m\0d");
        assert_eq!(utf16(b"a"), b"\xff\xfea\0");
        assert_eq!(base64(b"ping"), b"cGluZw==");
        // pySigma's documented example for base64offset of "/bin/bash"
        let v: Vec<String> = base64offset(b"/bin/bash")
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(v, ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
    }
}
