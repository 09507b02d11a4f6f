//! Computed fields of a query name, for DNS tunnelling and exfiltration rules: its length, its
//! labels, the registered domain (eTLD+1) and the part left of it, and that part's Shannon
//! entropy. Pure functions over `&str`; the only allocation is the subdomain string when it is
//! longer than an inline `CompactString` (24 bytes) or the name has upper-case letters.
//!
//! The registered domain is an approximation of the Public Suffix List: the last label is the
//! public suffix, unless the last two form one of [`MULTI_LABEL_SUFFIXES`] (`co.uk`, `com.cn`,
//! `com.au`, ...), in which case the suffix is two labels. Private suffixes (`github.io`,
//! `amazonaws.com`) and three-label suffixes are not known, so for them the registered domain
//! is one level too short.

use compact_str::CompactString;

use crate::event::{f, Fields, Value};

/// Common second-level public suffixes (a small, hand-picked part of the Public Suffix List).
pub const MULTI_LABEL_SUFFIXES: &[&str] = &[
    "ac.at",
    "co.at",
    "or.at",
    "com.ar",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "asn.au",
    "id.au",
    "com.br",
    "net.br",
    "org.br",
    "gov.br",
    "co.ca",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "edu.cn",
    "ac.cn",
    "com.co",
    "com.eg",
    "com.es",
    "com.gr",
    "com.hk",
    "org.hk",
    "net.hk",
    "edu.hk",
    "gov.hk",
    "co.id",
    "or.id",
    "ac.id",
    "co.il",
    "org.il",
    "ac.il",
    "co.in",
    "net.in",
    "org.in",
    "firm.in",
    "gen.in",
    "ind.in",
    "ac.in",
    "gov.in",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "gr.jp",
    "co.kr",
    "ne.kr",
    "or.kr",
    "go.kr",
    "ac.kr",
    "com.mx",
    "org.mx",
    "gob.mx",
    "com.my",
    "net.my",
    "org.my",
    "com.ng",
    "co.nz",
    "net.nz",
    "org.nz",
    "ac.nz",
    "govt.nz",
    "com.pe",
    "com.ph",
    "com.pk",
    "com.pl",
    "net.pl",
    "org.pl",
    "com.pt",
    "com.ru",
    "net.ru",
    "org.ru",
    "com.sa",
    "com.sg",
    "net.sg",
    "org.sg",
    "edu.sg",
    "gov.sg",
    "co.th",
    "in.th",
    "ac.th",
    "com.tr",
    "net.tr",
    "org.tr",
    "gov.tr",
    "com.tw",
    "net.tw",
    "org.tw",
    "edu.tw",
    "com.ua",
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "ltd.uk",
    "plc.uk",
    "me.uk",
    "net.uk",
    "nhs.uk",
    "police.uk",
    "com.uy",
    "com.ve",
    "com.vn",
    "co.za",
    "org.za",
    "web.za",
    "gov.za",
    "ac.za",
];

/// What [`stats`] finds in a query name.
#[derive(Clone, Debug, PartialEq)]
pub struct NameStats<'a> {
    /// Length of the name as rendered (escapes included, trailing dot excluded).
    pub length: usize,
    pub label_count: usize,
    pub longest_label: usize,
    /// eTLD+1, e.g. `example.co.uk`; the whole name when it has no more labels than that.
    pub registered_domain: &'a str,
    /// The labels left of the registered domain, e.g. `a.b` of `a.b.example.com`; empty when
    /// there are none.
    pub subdomain: &'a str,
    /// Shannon entropy in bits per character of `subdomain` without its dots (0 when empty),
    /// letters compared without case.
    pub entropy: f64,
}

fn is_multi_label_suffix(s: &str) -> bool {
    MULTI_LABEL_SUFFIXES
        .iter()
        .any(|m| m.eq_ignore_ascii_case(s))
}

/// Byte offset of the start of the label `n` labels from the right (1 = the last label), or
/// `None` when the name has no more than `n` labels.
fn start_of_last(name: &str, n: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, b) in name.bytes().enumerate().rev() {
        if b == b'.' {
            seen += 1;
            if seen == n {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Shannon entropy (bits per character) of `s` without dots, case-insensitive.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut total = 0u32;
    for b in s.bytes().filter(|&b| b != b'.') {
        counts[b.to_ascii_lowercase() as usize] += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let n = f64::from(total);
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    // One repeated character sums to -0.0; print it as 0.
    if h > 0.0 {
        h
    } else {
        0.0
    }
}

/// Computes the fields of one query name (a trailing dot is ignored).
pub fn stats(name: &str) -> NameStats<'_> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let (label_count, longest_label) = if name.is_empty() {
        (0, 0)
    } else {
        name.split('.')
            .fold((0, 0), |(n, longest), l| (n + 1, longest.max(l.len())))
    };
    // The suffix is one label, or two when they form a known second-level suffix.
    let suffix_labels = match start_of_last(name, 2) {
        Some(at) if is_multi_label_suffix(&name[at..]) => 2,
        None if is_multi_label_suffix(name) => 2,
        _ => 1,
    };
    let (registered_domain, subdomain) = match start_of_last(name, suffix_labels + 1) {
        Some(at) => (&name[at..], &name[..at - 1]),
        None => (name, ""),
    };
    NameStats {
        length: name.len(),
        label_count,
        longest_label,
        registered_domain,
        subdomain,
        entropy: entropy(subdomain),
    }
}

/// Lower-cased text, borrowed into a `CompactString` (inline up to 24 bytes).
fn lower(s: &str) -> CompactString {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        CompactString::from(s.to_ascii_lowercase())
    } else {
        CompactString::from(s)
    }
}

/// Appends `query_length`, `label_count`, `longest_label`, `registered_domain`, `subdomain`
/// (only when there is one) and `query_entropy` for `name` to a dns event's fields. The
/// domain parts are lower-cased (resolvers randomize case; rules group by them).
pub fn fill(name: &str, fields: &mut Fields) {
    let s = stats(name);
    fields.push(f::QUERY_LENGTH, s.length);
    fields.push(f::LABEL_COUNT, s.label_count);
    fields.push(f::LONGEST_LABEL, s.longest_label);
    if !s.registered_domain.is_empty() {
        fields.push(f::REGISTERED_DOMAIN, Value::Str(lower(s.registered_domain)));
    }
    if !s.subdomain.is_empty() {
        fields.push(f::SUBDOMAIN, Value::Str(lower(s.subdomain)));
    }
    // Three decimals are plenty for thresholds and keep the printed events readable.
    fields.push(f::QUERY_ENTROPY, (s.entropy * 1000.0).round() / 1000.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domain_and_subdomain() {
        let s = stats("www.example.com");
        assert_eq!((s.registered_domain, s.subdomain), ("example.com", "www"));
        assert_eq!((s.label_count, s.longest_label, s.length), (3, 7, 15));
        let s = stats("a.b.news.bbc.co.uk.");
        assert_eq!(
            (s.registered_domain, s.subdomain),
            ("bbc.co.uk", "a.b.news")
        );
        assert_eq!(s.length, 18);
        let s = stats("shop.taobao.COM.CN");
        assert_eq!(
            (s.registered_domain, s.subdomain),
            ("taobao.COM.CN", "shop")
        );
        let s = stats("example.com");
        assert_eq!((s.registered_domain, s.subdomain), ("example.com", ""));
        assert_eq!(s.entropy, 0.0);
        let s = stats("co.uk");
        assert_eq!((s.registered_domain, s.subdomain), ("co.uk", ""));
        let s = stats("localhost");
        assert_eq!(
            (s.registered_domain, s.subdomain, s.label_count),
            ("localhost", "", 1)
        );
        let s = stats("");
        assert_eq!(
            (s.registered_domain, s.label_count, s.longest_label),
            ("", 0, 0)
        );
        let s = stats(".");
        assert_eq!(s.length, 0);
    }

    #[test]
    fn the_example_of_rules_readme() {
        let s = stats("aaaa1.x.tunnel.example.co.uk");
        assert_eq!((s.length, s.label_count, s.longest_label), (28, 6, 7));
        assert_eq!(
            (s.registered_domain, s.subdomain),
            ("example.co.uk", "aaaa1.x.tunnel")
        );
        assert!((s.entropy - 2.752).abs() < 0.001, "{}", s.entropy);
    }

    #[test]
    fn the_real_tunnel_query_of_the_corpus() {
        // suricata-verify dns/bug-1158: a TXT tunnel under auth.srv.tunnel.com.
        let s = stats(
            "hvOBgAABAEI5ODFGMjk4MEMyRTFFOEZDREI1MEZGRTA2OEIxQzMwODcyQTlBQjc.=auth.srv.tunnel.com",
        );
        assert_eq!(s.registered_domain, "tunnel.com");
        assert_eq!(s.longest_label, 63);
        assert_eq!(s.label_count, 5);
        assert!(s.entropy > 4.0, "{}", s.entropy);
    }

    #[test]
    fn entropy_is_bits_per_character() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!(entropy("aaaa").is_sign_positive());
        assert!((entropy("ab") - 1.0).abs() < 1e-9);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!((entropy("a.b.C.d") - 2.0).abs() < 1e-9);
        // An English-looking host name stays low, hex noise is high.
        assert!(entropy("mail") < 2.5);
        assert!(entropy("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08") > 3.5);
    }

    #[test]
    fn fill_lowercases_and_skips_empty_parts() {
        let mut fs = Fields::new();
        fill("WWW.Example.com", &mut fs);
        assert_eq!(
            fs.get(f::REGISTERED_DOMAIN),
            Some(&Value::from("example.com"))
        );
        assert_eq!(fs.get(f::SUBDOMAIN), Some(&Value::from("www")));
        assert_eq!(fs.get(f::QUERY_LENGTH), Some(&Value::Int(15)));
        let mut fs = Fields::new();
        fill("example.com", &mut fs);
        assert_eq!(fs.get(f::SUBDOMAIN), None);
        assert_eq!(fs.get(f::QUERY_ENTROPY), Some(&Value::Float(0.0)));
    }

    #[test]
    fn hostile_names_do_not_panic() {
        for n in ["..", "...", "a..b", ".a", "é.é.co.uk", "\\046.co.uk", "x."] {
            let _ = stats(n);
        }
    }
}
