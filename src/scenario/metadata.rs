//! Metadata-service abuse: next to a routine IMDSv2 read, instance credentials are fetched
//! over IMDSv1, from a Docker container and a Kubernetes pod, from the hypervisor itself, and
//! through an SSRF-style proxy request; inside a container, curl fetches the credentials.

use std::net::Ipv4Addr;

use super::logs::{Audit, Proc};
use super::wire::{self, Conn, Pcap};
use super::{at, expect, Input, Scenario};

pub const SUMMARY: &str = "IMDSv1 credential reads, credentials from a container, a pod and the hypervisor, SSRF through a proxy";

const IMDS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const CREDS: &str = "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2025-11-24T15:40:12Z\",\n  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAEXAMPLEEXAMPLE01\",\n  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n  \"Token\" : \"IQoJb3JpZ2luX2VjEXAMPLE\",\n  \"Expiration\" : \"2025-11-24T22:05:43Z\"\n}";

/// A GET and its 200 answer on a connection of its own.
fn get(p: &mut Pcap, t: i64, c: Conn, request: &[u8], body: &str) {
    let resp = wire::http_ok("text/plain", body);
    c.session(p, t, &[(request, &resp)], 1_000);
}

/// HTTP to the metadata service from several places, from `base` seconds on.
pub(super) fn metadata_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let web01 = Ipv4Addr::new(10, 1, 4, 20);
    let app02 = Ipv4Addr::new(10, 1, 4, 31);
    let role = "/latest/meta-data/iam/security-credentials/acme-app-role";
    // Routine: an SDK opens an IMDSv2 session and reads the instance id.
    let put = wire::http_request(
        "PUT",
        "/latest/api/token",
        "169.254.169.254",
        "aws-sdk-go-v2/1.30.3",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
    );
    let token = wire::http_ok("text/plain", "AQAEAFExampleTokenExampleToken==");
    Conn::new(web01, 45_010, IMDS, 80).session(&mut p, at(base).micros(), &[(&put, &token)], 1_000);
    let tok = [(
        "X-aws-ec2-metadata-token",
        "AQAEAFExampleTokenExampleToken==",
    )];
    get(
        &mut p,
        at(base + 1).micros(),
        Conn::new(web01, 45_012, IMDS, 80),
        &wire::http_request(
            "GET",
            "/latest/meta-data/instance-id",
            "169.254.169.254",
            "aws-sdk-go-v2/1.30.3",
            &tok,
        ),
        "i-0a1b2c3d4e5f60718",
    );
    // IMDSv1: the role name, then its keys, without a token.
    get(
        &mut p,
        at(base + 30).micros(),
        Conn::new(app02, 45_100, IMDS, 80),
        &wire::http_request(
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            "169.254.169.254",
            "python-requests/2.31.0",
            &[],
        ),
        "acme-app-role",
    );
    get(
        &mut p,
        at(base + 31).micros(),
        Conn::new(app02, 45_102, IMDS, 80),
        &wire::http_request(
            "GET",
            role,
            "169.254.169.254",
            "python-requests/2.31.0",
            &[],
        ),
        CREDS,
    );
    // From a Docker container on the instance.
    get(
        &mut p,
        at(base + 60).micros(),
        Conn::new(Ipv4Addr::new(172, 17, 0, 5), 38_211, IMDS, 80),
        &wire::http_request("GET", role, "169.254.169.254", "curl/7.88.1", &[]),
        CREDS,
    );
    // From the hypervisor.
    get(
        &mut p,
        at(base + 90).micros(),
        Conn::new(Ipv4Addr::new(192, 168, 100, 1), 51_900, IMDS, 80),
        &wire::http_request("GET", role, "169.254.169.254", "curl/8.5.0", &[]),
        CREDS,
    );
    // SSRF: the application relays an absolute URI through the tenant's forward proxy.
    get(
        &mut p,
        at(base + 120).micros(),
        Conn::new(app02, 45_300, Ipv4Addr::new(10, 1, 0, 10), 3128),
        &wire::http_request(
            "GET",
            &format!("http://169.254.169.254{role}"),
            "169.254.169.254",
            "Java/17.0.9",
            &[],
        ),
        CREDS,
    );
    // A pod reading the GCE-style service-account token.
    get(
        &mut p,
        at(base + 150).micros(),
        Conn::new(Ipv4Addr::new(10, 244, 3, 17), 40_444, IMDS, 80),
        &wire::http_request(
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token",
            "metadata.google.internal",
            "curl/8.5.0",
            &[("Metadata-Flavor", "Google")],
        ),
        "{\"access_token\":\"ya29.c.EXAMPLE\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
    );
    // An Azure-style managed identity token read by an instance (routine for its SDK).
    get(&mut p, at(base + 180).micros(), Conn::new(Ipv4Addr::new(10, 1, 4, 40), 47_001, IMDS, 80), &wire::http_request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F", "169.254.169.254", "azsdk-python-identity/1.15.0", &[("Metadata", "true")]), "{\"access_token\":\"eyJ0eXAiEXAMPLE\",\"expires_in\":\"86399\",\"token_type\":\"Bearer\"}");
    Input {
        name: "metadata.pcap",
        bytes: p.into_bytes(),
    }
}

/// The instance's audit log: curl for the credentials inside a container.
pub(super) fn container_audit(base: i64) -> Input {
    let mut a = Audit::new("acme-app02", 5_500);
    let curl = Proc {
        pid: 22_810,
        ppid: 22_790,
        uid: 0,
        auid: u32::MAX,
        exe: "/usr/bin/curl",
        subj: "system_u:system_r:container_t:s0:c412,c913",
    };
    a.execve(
        at(base + 59).plus_ms(870),
        &curl,
        &[
            "curl",
            "-s",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/acme-app-role",
        ],
        "/app",
        None,
    );
    Input::text("acme-app02_audit.log", a.text)
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "metadata-abuse",
        description: "Around 169.254.169.254: acme-web01 reads its instance id over IMDSv2 (routine); acme-app02 reads role credentials over IMDSv1 and through an SSRF-style proxy request; a Docker container (with curl, seen by auditd), a Kubernetes pod and the hypervisor itself fetch credentials.",
        inputs: vec![metadata_pcap(0), container_audit(0)],
        expect: vec![
            expect("Credentials read over IMDSv1", &["cloud.metadata_abuse", "attack.credential_access", "attack.t1552.005", "attack.t1190"], "medium"),
            expect("Credentials read from a container", &["cloud.metadata_abuse", "cloud.container_escape", "attack.credential_access", "attack.t1552.005"], "high"),
            expect("Credentials read from the hypervisor", &["cloud.metadata_abuse", "attack.credential_access", "attack.t1078.004"], "high"),
            expect("Credentials requested through a proxy", &["cloud.metadata_abuse", "attack.t1190", "attack.initial_access"], "high"),
            expect("curl for credentials in a container", &["cloud.metadata_abuse", "attack.execution", "attack.t1059"], "high"),
        ],
    }
}
