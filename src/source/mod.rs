//! Sources: one file per way events come in. A source reads and frames its input; it never
//! decodes rules or touches the store.
pub mod follow;
pub mod ingest;
pub mod live;
pub mod logfile;
pub mod netflow;
pub mod pcap;
pub mod sflow;
pub mod syslog_net;
pub mod syslog_tls;
