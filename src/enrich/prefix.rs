//! Longest-prefix match over a fixed set of CIDRs, for the per-event hot path.
//!
//! At build time the prefixes are flattened into sorted, non-overlapping address ranges, each
//! labelled with the most specific prefix that covers it; a lookup is then one binary search
//! over a flat vector, with no allocation and no pointer chasing.

use std::net::IpAddr;

use ipnet::IpNet;

/// An address as an unsigned integer: `u32` for IPv4, `u128` for IPv6.
trait Addr: Copy + Ord {
    const MIN: Self;
    fn succ(self) -> Option<Self>;
}

impl Addr for u32 {
    const MIN: u32 = 0;
    fn succ(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Addr for u128 {
    const MIN: u128 = 0;
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// Address ranges that tile the whole address space: range `i` runs from `starts[i]` up to
/// `starts[i + 1] - 1` and carries `labels[i]` (`None` where no prefix covers it).
#[derive(Clone, Debug)]
struct Ranges<K, L> {
    starts: Vec<K>,
    labels: Vec<Option<L>>,
}

impl<K, L> Default for Ranges<K, L> {
    fn default() -> Self {
        Ranges {
            starts: Vec::new(),
            labels: Vec::new(),
        }
    }
}

impl<K: Addr, L: Copy + PartialEq> Ranges<K, L> {
    /// Builds the table from inclusive `(first, last, label)` ranges that are laminar: any two
    /// are disjoint or one contains the other, which CIDR blocks always are. For two equal
    /// ranges the one given later wins.
    fn build(mut prefixes: Vec<(K, K, L)>) -> Self {
        let mut ranges = Ranges {
            starts: vec![K::MIN],
            labels: vec![None],
        };
        // Outer ranges before the ranges they contain; the sort is stable, so equal ranges keep
        // their order and the later one ends up on top of the stack.
        prefixes.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut open: Vec<(K, L)> = Vec::new();
        for (first, last, label) in prefixes {
            while let Some(&(end, _)) = open.last() {
                if end >= first {
                    break;
                }
                open.pop();
                ranges.resume_after(end, open.last().map(|o| o.1));
            }
            ranges.mark(first, Some(label));
            open.push((last, label));
        }
        while let Some((end, _)) = open.pop() {
            ranges.resume_after(end, open.last().map(|o| o.1));
        }
        ranges
    }

    /// After a range ends at `end`, the enclosing range (or nothing) takes over.
    fn resume_after(&mut self, end: K, outer: Option<L>) {
        if let Some(next) = end.succ() {
            self.mark(next, outer);
        }
    }

    /// Starts a new labelled range at `start`, which is never below the last start.
    fn mark(&mut self, start: K, label: Option<L>) {
        if let (Some(s), Some(l)) = (self.starts.last(), self.labels.last_mut()) {
            if *s == start {
                *l = label;
                return;
            }
            if *l == label {
                return;
            }
        }
        self.starts.push(start);
        self.labels.push(label);
    }

    fn get(&self, addr: K) -> Option<L> {
        let i = self.starts.partition_point(|s| *s <= addr).checked_sub(1)?;
        self.labels.get(i).copied().flatten()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// Longest-prefix match from IPv4 and IPv6 addresses to labels.
#[derive(Clone, Debug)]
pub(crate) struct PrefixTable<L> {
    v4: Ranges<u32, L>,
    v6: Ranges<u128, L>,
}

impl<L> Default for PrefixTable<L> {
    fn default() -> Self {
        PrefixTable {
            v4: Ranges::default(),
            v6: Ranges::default(),
        }
    }
}

impl<L: Copy + PartialEq> PrefixTable<L> {
    /// Builds the table; for a prefix given twice, the later label wins.
    pub(crate) fn new(prefixes: impl IntoIterator<Item = (IpNet, L)>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, label) in prefixes {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()), label)),
                IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.broadcast()), label))
                }
            }
        }
        PrefixTable {
            v4: Ranges::build(v4),
            v6: Ranges::build(v6),
        }
    }

    /// The label of the most specific prefix containing `ip`. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.1.2.3`) are looked up as the IPv4 address they carry.
    pub(crate) fn get(&self, ip: IpAddr) -> Option<L> {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        }
    }

    /// How many ranges the table holds (for tests and sizing).
    #[cfg(test)]
    fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(prefixes: &[(&str, u8)]) -> PrefixTable<u8> {
        PrefixTable::new(
            prefixes
                .iter()
                .map(|(net, label)| (net.parse::<IpNet>().unwrap(), *label)),
        )
    }

    fn get(t: &PrefixTable<u8>, ip: &str) -> Option<u8> {
        t.get(ip.parse().unwrap())
    }

    #[test]
    fn most_specific_prefix_wins() {
        let t = table(&[
            ("10.1.0.0/16", 1),
            ("10.1.2.0/24", 2),
            ("10.1.2.3/32", 3),
            ("10.2.0.0/16", 4),
        ]);
        assert_eq!(get(&t, "10.1.0.0"), Some(1));
        assert_eq!(get(&t, "10.1.2.2"), Some(2));
        assert_eq!(get(&t, "10.1.2.3"), Some(3));
        assert_eq!(get(&t, "10.1.2.4"), Some(2));
        assert_eq!(get(&t, "10.1.2.255"), Some(2));
        assert_eq!(get(&t, "10.1.3.0"), Some(1));
        assert_eq!(get(&t, "10.1.255.255"), Some(1));
        assert_eq!(get(&t, "10.2.0.0"), Some(4));
        assert_eq!(get(&t, "10.0.255.255"), None);
        assert_eq!(get(&t, "10.3.0.0"), None);
        assert_eq!(get(&t, "::ffff:10.1.2.3"), Some(3));
        assert_eq!(get(&t, "2001:db8::1"), None);
    }

    #[test]
    fn nested_prefixes_sharing_an_end() {
        // The /24 and /25 end on the same address as the /16 does not: the /16 resumes after.
        let t = table(&[
            ("10.1.0.0/16", 1),
            ("10.1.255.0/24", 2),
            ("10.1.255.128/25", 3),
        ]);
        assert_eq!(get(&t, "10.1.254.255"), Some(1));
        assert_eq!(get(&t, "10.1.255.127"), Some(2));
        assert_eq!(get(&t, "10.1.255.255"), Some(3));
        assert_eq!(get(&t, "10.2.0.0"), None);
    }

    #[test]
    fn whole_space_and_edges() {
        let t = table(&[
            ("0.0.0.0/0", 1),
            ("255.255.255.255/32", 2),
            ("0.0.0.0/32", 3),
            ("::/0", 4),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 5),
        ]);
        assert_eq!(get(&t, "0.0.0.0"), Some(3));
        assert_eq!(get(&t, "0.0.0.1"), Some(1));
        assert_eq!(get(&t, "255.255.255.254"), Some(1));
        assert_eq!(get(&t, "255.255.255.255"), Some(2));
        assert_eq!(get(&t, "::1"), Some(4));
        assert_eq!(get(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some(5));
    }

    #[test]
    fn ipv6_nesting_and_merging() {
        let t = table(&[("fd00:1::/32", 1), ("fd00:1:2::/48", 2), ("fd00:2::/32", 1)]);
        assert_eq!(get(&t, "fd00:1::5"), Some(1));
        assert_eq!(get(&t, "fd00:1:2::5"), Some(2));
        assert_eq!(get(&t, "fd00:1:3::"), Some(1));
        assert_eq!(get(&t, "fd00:2::"), Some(1));
        assert_eq!(get(&t, "fd00:3::"), None);
        assert_eq!(get(&t, "10.0.0.1"), None);
    }

    #[test]
    fn empty_table_finds_nothing() {
        let t = PrefixTable::<u8>::default();
        assert_eq!(get(&t, "10.0.0.1"), None);
        assert_eq!(get(&t, "::1"), None);
        assert_eq!(table(&[]).ranges(), 2);
    }

    /// Checks the flattened table against a naive scan over many prefixes.
    #[test]
    fn agrees_with_a_linear_scan() {
        let mut nets = Vec::new();
        let mut x: u32 = 0x1234_5678;
        for i in 0..300u32 {
            // xorshift: deterministic, no dependency
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = 8 + (x % 25) as u8;
            let addr = std::net::Ipv4Addr::from(x & 0x0f0f_ffff);
            let net = ipnet::Ipv4Net::new(addr, len).unwrap().trunc();
            nets.push((IpNet::V4(net), (i % 250) as u8));
        }
        let t = PrefixTable::new(nets.clone());
        for probe in 0..20_000u32 {
            let ip = std::net::Ipv4Addr::from(probe.wrapping_mul(2_654_435_761) & 0x0f0f_ffff);
            let naive = nets
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| n.contains(&IpAddr::V4(ip)))
                .max_by_key(|(i, (n, _))| (n.prefix_len(), *i))
                .map(|(_, (_, l))| *l);
            assert_eq!(t.get(IpAddr::V4(ip)), naive, "{ip}");
        }
    }
}
