//! A binary prefix trie of CIDR ranges: one walk over the address bits answers "is this address
//! in any of the ranges", however many ranges an item lists.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, Default)]
struct Node {
    child: [u32; 2],
    terminal: bool,
}

/// Ranges of both address families.
#[derive(Clone, Debug)]
pub struct PrefixTrie {
    v4: Vec<Node>,
    v6: Vec<Node>,
}

fn bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(a) => ((u32::from(a) as u128) << 96, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl PrefixTrie {
    pub fn new(nets: &[IpNet]) -> PrefixTrie {
        let mut t = PrefixTrie {
            v4: vec![Node::default()],
            v6: vec![Node::default()],
        };
        for n in nets {
            let (addr, _) = bits(n.network());
            let nodes = match n {
                IpNet::V4(_) => &mut t.v4,
                IpNet::V6(_) => &mut t.v6,
            };
            let mut at = 0usize;
            for i in 0..n.prefix_len() as u32 {
                let b = ((addr >> (127 - i)) & 1) as usize;
                if nodes[at].child[b] == 0 {
                    nodes.push(Node::default());
                    let idx = (nodes.len() - 1) as u32;
                    nodes[at].child[b] = idx;
                }
                at = nodes[at].child[b] as usize;
            }
            nodes[at].terminal = true;
        }
        t
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (addr, len) = bits(ip);
        let nodes = if len == 32 { &self.v4 } else { &self.v6 };
        let mut at = 0usize;
        for i in 0..=len {
            let Some(node) = nodes.get(at) else {
                return false;
            };
            if node.terminal {
                return true;
            }
            if i == len {
                return false;
            }
            let b = ((addr >> (127 - i)) & 1) as usize;
            match node.child[b] {
                0 => return false,
                c => at = c as usize,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_and_shortest_prefixes() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "192.168.1.0/24", "fc00::/7", "1.2.3.4/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let t = PrefixTrie::new(&nets);
        for (ip, want) in [
            ("10.200.1.1", true),
            ("11.0.0.1", false),
            ("192.168.1.77", true),
            ("192.168.2.1", false),
            ("1.2.3.4", true),
            ("1.2.3.5", false),
            ("fd12::1", true),
            ("fe80::1", false),
        ] {
            assert_eq!(t.contains(ip.parse().unwrap()), want, "{ip}");
        }
        let all = PrefixTrie::new(&["0.0.0.0/0".parse().unwrap()]);
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
    }
}
