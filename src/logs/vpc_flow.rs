//! AWS VPC flow logs: space-separated records, versions 2 to 5 (and any later field by
//! name). A header line (`version account-id interface-id srcaddr ...`, as S3 delivery writes
//! it) selects the fields; without one the default version 2 format is assumed. Each record
//! becomes a flow event with the same fields as packet flows, so flow rules apply to it.
//! Field list: <https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html>.

use std::net::IpAddr;

use compact_str::CompactString;

use crate::event::{f, intern, Event, FieldId, Fields, Kind, LogSource, Timestamp, Value};
use crate::flow::community_id::community_id;
use crate::flow::{flag_letters, proto_name};
use crate::logs::LogError;

/// The default format (version 2), used when a file has no header line.
pub const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Field names AWS documents, versions 2 to 8.
const KNOWN: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
];

/// What a column holds and where it goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Col {
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    TcpFlags,
    LogStatus,
    /// Another address (`pkt-srcaddr`), kept typed under its own name.
    Ip(FieldId),
    Int(FieldId),
    Str(FieldId),
}

/// The columns of a file, resolved once from its header.
#[derive(Clone, Debug)]
pub struct Header {
    cols: Vec<Col>,
}

impl Header {
    /// Parses a header line; `None` if it is not one.
    pub fn parse(line: &str) -> Option<Header> {
        let names: Vec<&str> = line.split_ascii_whitespace().collect();
        let is_header = !names.is_empty()
            && names.iter().any(|n| KNOWN.contains(n))
            && names.iter().all(|n| {
                n.bytes().any(|c| c.is_ascii_lowercase())
                    && n.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            });
        if !is_header {
            return None;
        }
        let cols = names
            .iter()
            .map(|n| match *n {
                "srcaddr" => Col::SrcAddr,
                "dstaddr" => Col::DstAddr,
                "srcport" => Col::SrcPort,
                "dstport" => Col::DstPort,
                "protocol" => Col::Protocol,
                "packets" => Col::Packets,
                "bytes" => Col::Bytes,
                "start" => Col::Start,
                "end" => Col::End,
                "action" => Col::Action,
                "tcp-flags" => Col::TcpFlags,
                "log-status" => Col::LogStatus,
                "pkt-srcaddr" => Col::Ip(intern("pkt_src_ip")),
                "pkt-dstaddr" => Col::Ip(intern("pkt_dst_ip")),
                "version" => Col::Int(intern("version")),
                // `type` is the traffic's IP version (IPv4, IPv6, EFA).
                "type" => Col::Str(intern("traffic_type")),
                other => Col::Str(intern(&other.replace('-', "_"))),
            })
            .collect();
        Some(Header { cols })
    }

    /// The default format (version 2).
    pub fn default_v2() -> Header {
        Header::parse(DEFAULT_HEADER).unwrap_or(Header { cols: Vec::new() })
    }
}

/// The records of a CloudWatch Logs batch of flow logs: the `message` of each item of
/// `logEvents` (a subscription's data message) or `events` (`aws logs filter-log-events`),
/// when the first is a default-format record.
pub fn cloudwatch_messages(obj: &Fields) -> Option<Vec<&str>> {
    let items = ["logEvents", "events"]
        .iter()
        .find_map(|k| match obj.get_name(k) {
            Some(Value::List(items)) => Some(items),
            _ => None,
        })?;
    let messages: Vec<&str> = items
        .iter()
        .filter_map(|it| match it {
            Value::Map(m) => m.get_name("message").and_then(Value::as_str),
            _ => None,
        })
        .collect();
    let first = messages.first()?;
    looks_like(first).then_some(messages)
}

/// A record given as a JSON object whose keys are the field names (`srcaddr`, `account-id`
/// or `account_id`, ...), as Firehose and Athena exports write them; `None` unless the
/// object has `srcaddr`, `dstaddr` and `action` or `log-status`.
pub fn from_fields(obj: &Fields) -> Option<Result<Option<Event>, LogError>> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (k, v) in obj.iter() {
        let name = k.name().replace('_', "-");
        let Some(known) = KNOWN.iter().find(|n| **n == name) else {
            continue;
        };
        let text = match v {
            Value::Str(s) if s.is_empty() || s.contains(char::is_whitespace) => "-".to_string(),
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Null => "-".to_string(),
            _ => continue,
        };
        names.push(*known);
        values.push(text);
    }
    let has = |n: &str| names.contains(&n);
    if !(has("srcaddr") && has("dstaddr") && (has("action") || has("log-status"))) {
        return None;
    }
    let header = Header::parse(&names.join(" "))?;
    Some(parse(&values.join(" "), &header))
}

/// Whether `line` is a VPC flow log header or a default-format record (for detection).
pub fn looks_like(line: &str) -> bool {
    if Header::parse(line).is_some_and(|h| h.cols.contains(&Col::SrcAddr)) {
        return true;
    }
    let t: Vec<&str> = line.split_ascii_whitespace().collect();
    t.len() == 14
        && t[0].parse::<u8>().is_ok()
        && matches!(t[12], "ACCEPT" | "REJECT" | "-")
        && matches!(t[13], "OK" | "NODATA" | "SKIPDATA")
}

/// Lines of one flow log file.
#[derive(Default)]
pub struct Parser {
    header: Option<Header>,
}

impl Parser {
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(h) = Header::parse(line) {
            self.header = Some(h);
            return Ok(());
        }
        let h = self.header.get_or_insert_with(Header::default_v2);
        if let Some(ev) = parse(line, h)? {
            out.push(ev);
        }
        Ok(())
    }
}

fn int(field: &'static str, v: &str) -> Result<i64, LogError> {
    v.parse::<i64>().map_err(|_| LogError::field(field, v))
}

fn time(field: &'static str, v: &str) -> Result<Timestamp, LogError> {
    let s = int(field, v)?;
    if !(0..=i64::MAX / 1_000_000_000).contains(&s) {
        return Err(LogError::field(field, v));
    }
    Ok(Timestamp::from_secs_nanos(s, 0))
}

fn ip(field: &'static str, v: &str) -> Result<IpAddr, LogError> {
    v.parse().map_err(|_| LogError::field(field, v))
}

/// One record as a flow event; `None` for records that carry no flow (`NODATA`,
/// `SKIPDATA`). Records are one direction each, so everything counts to the server side:
/// `bytes_toserver`/`pkts_toserver` are the record's, `*_toclient` are 0. `state` is
/// `rejected` for `REJECT`, else from the TCP flags (`syn_only`, `closed`) or `established`.
pub fn parse(line: &str, h: &Header) -> Result<Option<Event>, LogError> {
    let vals: Vec<&str> = line.split_ascii_whitespace().collect();
    if vals.len() != h.cols.len() {
        return Err(LogError::FieldCount {
            expected: h.cols.len(),
            got: vals.len(),
        });
    }
    let (mut src, mut dst, mut sport, mut dport, mut proto) = (None, None, None, None, None);
    let (mut packets, mut bytes, mut start, mut end, mut action, mut flags) =
        (None, None, None, None, None, None);
    let mut rest: Vec<(FieldId, Value)> = Vec::new();
    for (col, v) in h.cols.iter().zip(&vals) {
        if *v == "-" {
            continue;
        }
        match *col {
            Col::SrcAddr => src = Some(ip("srcaddr", v)?),
            Col::DstAddr => dst = Some(ip("dstaddr", v)?),
            Col::SrcPort => sport = Some(port("srcport", v)?),
            Col::DstPort => dport = Some(port("dstport", v)?),
            Col::Protocol => {
                proto = Some(
                    v.parse::<u8>()
                        .map_err(|_| LogError::field("protocol", v))?,
                )
            }
            Col::Packets => packets = Some(int("packets", v)?),
            Col::Bytes => bytes = Some(int("bytes", v)?),
            Col::Start => start = Some(time("start", v)?),
            Col::End => end = Some(time("end", v)?),
            Col::Action => action = Some(*v),
            Col::TcpFlags => flags = Some(int("tcp-flags", v)?),
            Col::LogStatus => {
                if *v != "OK" {
                    return Ok(None);
                }
            }
            Col::Ip(id) => rest.push((id, Value::Ip(ip("pkt-srcaddr/pkt-dstaddr", v)?))),
            Col::Int(id) => rest.push((id, Value::Int(int("version", v)?))),
            Col::Str(id) => rest.push((id, Value::Str(CompactString::from(*v)))),
        }
    }
    let ts = end.or(start).ok_or(LogError::field("end", "-"))?;
    let mut ev = Event::new(ts, Kind::Flow, LogSource::category("flow"));
    ev.logsource.product = Some(CompactString::const_new("aws"));
    ev.logsource.service = Some(CompactString::const_new("vpcflowlogs"));
    let fs = &mut ev.fields;
    if let Some(s) = src {
        fs.push(f::SRC_IP, s);
    }
    if let Some(p) = sport {
        fs.push(f::SRC_PORT, p);
    }
    if let Some(d) = dst {
        fs.push(f::DST_IP, d);
    }
    if let Some(p) = dport {
        fs.push(f::DST_PORT, p);
    }
    if let Some(p) = proto {
        fs.push(f::PROTO, proto_name(p, false));
    }
    if let Some(b) = bytes {
        fs.push(f::BYTES_TOSERVER, b);
        fs.push(f::BYTES_TOCLIENT, 0);
    }
    if let Some(p) = packets {
        fs.push(f::PKTS_TOSERVER, p);
        fs.push(f::PKTS_TOCLIENT, 0);
    }
    let tcp_flags = flags.map(|x| x as u8);
    if let Some(fl) = tcp_flags {
        fs.push(f::TCP_FLAGS, flag_letters(fl));
    }
    let state = match (action, tcp_flags) {
        (Some("REJECT"), _) => Some("rejected"),
        (Some("ACCEPT"), Some(fl)) if fl & 0x02 != 0 && fl & 0x10 == 0 && fl & 0x05 == 0 => {
            Some("syn_only")
        }
        (Some("ACCEPT"), Some(fl)) if fl & 0x05 != 0 => Some("closed"),
        (Some("ACCEPT"), _) => Some("established"),
        _ => None,
    };
    if let Some(s) = state {
        fs.push(f::STATE, s);
    }
    if let Some(s) = start {
        fs.push(f::START, s);
    }
    if let Some(e) = end {
        fs.push(f::END, e);
    }
    if let (Some(s), Some(e)) = (start, end) {
        fs.push(f::DURATION, (e.0 - s.0) as f64 / 1e9);
    }
    if let Some(a) = action {
        fs.push(f::ACTION, Value::Str(a.into()));
    }
    if let (Some(s), Some(d), Some(p)) = (src, dst, proto) {
        let id = community_id(0, s, d, sport.unwrap_or(0), dport.unwrap_or(0), p);
        fs.push(f::COMMUNITY_ID, id);
    }
    for (id, v) in rest {
        fs.push(id, v);
    }
    Ok(Some(ev))
}

fn port(field: &'static str, v: &str) -> Result<u16, LogError> {
    v.parse::<u16>().map_err(|_| LogError::field(field, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Event>, Vec<LogError>) {
        let mut p = Parser::default();
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        for l in text.lines() {
            if let Err(e) = p.line(l, &mut out) {
                errs.push(e);
            }
        }
        (out, errs)
    }

    #[test]
    fn default_format_without_header() {
        // AWS's first example of a default-format record (flow-logs-records-examples).
        let (evs, errs) = run("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(evs.len(), 1);
        let ev = &evs[0];
        assert_eq!(ev.kind, Kind::Flow);
        assert_eq!(
            ev.get_ip(f::SRC_IP),
            Some("172.31.16.139".parse().expect("test input"))
        );
        assert_eq!(ev.get(f::DST_PORT), Some(&Value::Int(22)));
        assert_eq!(ev.get_str(f::PROTO), Some("tcp"));
        assert_eq!(ev.get(f::BYTES_TOSERVER), Some(&Value::Int(4249)));
        assert_eq!(ev.get(f::PKTS_TOSERVER), Some(&Value::Int(20)));
        assert_eq!(ev.get_str(f::ACTION), Some("ACCEPT"));
        assert_eq!(ev.get_str(f::STATE), Some("established"));
        assert_eq!(ev.ts.to_string(), "2014-12-14T04:07:50.000000Z");
        assert!(looks_like(DEFAULT_HEADER));
    }

    #[test]
    fn json_forms() {
        use crate::logs::json::Parser as Json;
        let mut p = Json::default();
        let mut out = Vec::new();
        // A CloudWatch Logs subscription batch (AWS's documented DATA_MESSAGE shape).
        p.line(r#"{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"vpc","logStream":"eni-1235b8ca123456789-all","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1418530070000,"message":"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"},{"id":"2","timestamp":1418530070000,"message":"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"}]}"#, &mut out).expect("test input");
        // A record with its fields as keys.
        p.line(r#"{"version":5,"account_id":"123456789010","srcaddr":"10.0.0.1","dstaddr":"10.0.0.2","srcport":443,"dstport":50000,"protocol":6,"packets":3,"bytes":180,"start":1620140661,"end":1620140721,"action":"ACCEPT","log_status":"OK","flow_direction":"egress"}"#, &mut out).expect("test input");
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|e| e.kind == Kind::Flow));
        assert_eq!(out[1].get_str(f::STATE), Some("rejected"));
        assert_eq!(out[2].get(f::SRC_PORT), Some(&Value::Int(443)));
        assert_eq!(
            out[2].fields.get_name("flow_direction"),
            Some(&Value::from("egress"))
        );
    }

    #[test]
    fn bad_records_are_errors() {
        let (evs, errs) = run(&format!("{DEFAULT_HEADER}\n2 1 eni x 10.0.0.1 1 2 6 1 1 1 2 ACCEPT OK\n2 1 eni 10.0.0.1\n2 1 eni 10.0.0.1 10.0.0.2 99999 2 6 1 1 1 2 ACCEPT OK"));
        assert!(evs.is_empty());
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs[1],
            LogError::FieldCount {
                expected: 14,
                got: 4
            }
        );
    }
}
