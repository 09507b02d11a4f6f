//! Sigma's field names to vigil's canonical event fields (DESIGN.md, "The event").
//!
//! Rules written against Sigma's generic taxonomy (`DestinationIp`, `QueryName`, ...) read the
//! canonical fields vigil's decoders produce; any name not listed here is used as written.

const MAP: &[(&str, &str)] = &[
    // network_connection / firewall
    ("SourceIp", "src_ip"),
    ("SourceIP", "src_ip"),
    ("source.ip", "src_ip"),
    ("DestinationIp", "dst_ip"),
    ("DestinationIP", "dst_ip"),
    ("destination.ip", "dst_ip"),
    ("SourcePort", "src_port"),
    ("source.port", "src_port"),
    ("DestinationPort", "dst_port"),
    ("destination.port", "dst_port"),
    ("Protocol", "proto"),
    ("network.transport", "proto"),
    // dns
    ("QueryName", "query"),
    ("dns.question.name", "query"),
    ("QueryType", "record_type"),
    ("QueryResults", "answer"),
    // proxy / http
    ("cs-uri", "c-uri"),
    ("url.original", "c-uri"),
    ("cs-user-agent", "c-useragent"),
    ("user_agent.original", "c-useragent"),
    ("r-dns", "cs-host"),
    // tls
    ("ServerName", "sni"),
    ("tls.client.server_name", "sni"),
];

/// The canonical field a Sigma field name reads.
pub fn canonical(name: &str) -> &str {
    MAP.iter()
        .find(|(sigma, _)| *sigma == name)
        .map(|(_, c)| *c)
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_sigma_names() {
        assert_eq!(super::canonical("DestinationIp"), "dst_ip");
        assert_eq!(super::canonical("CommandLine"), "CommandLine");
    }
}
