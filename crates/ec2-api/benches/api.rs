//! The EC2 API under load: requests/s and latency percentiles for a filtered read
//! (DescribeVpcs) and a durable write (CreateTags), 8 concurrent keep-alive clients,
//! 10,000 objects in the region, the real HTTP server and SigV4 on both sides, the
//! embedded store on disk with fsync.
//!
//! Run: `cargo bench -p fort-ec2-api --bench api` (env BENCH_SECONDS, BENCH_CLIENTS).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use fort_auth::{Credential, Credentials};
use fort_control::{Config, Control, Scope};
use fort_ec2_api::query::Params;
use fort_store::EmbeddedStore;

const AKID: &str = "AKIAFORTBENCH0000001";
const SECRET: &str = "fort-bench-secret-0000000000000000000000";

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let clients: usize = std::env::var("BENCH_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, vpcs, objects) = rt.block_on(async {
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
        let control = Control::open(store, Config::default()).await.unwrap();
        let (vpcs, objects) = populate(&control).await;
        let mut credentials = Credentials::new();
        credentials
            .insert(
                "default",
                Credential {
                    access_key_id: AKID.into(),
                    secret_access_key: SECRET.into(),
                    account_id: "123456789012".into(),
                },
            )
            .unwrap();
        let api = Arc::new(fort_ec2_api::Api {
            control,
            credentials,
            logs: None,
            s3: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, fort_ec2_api::router(api))
                .await
                .unwrap()
        });
        (addr, vpcs, objects)
    });
    println!(
        "api bench: {objects} objects in the region ({} VPCs), {clients} clients, {seconds} s per workload",
        vpcs.len()
    );

    let read = |i: usize, _: &[String]| {
        format!(
            "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=tag%3ATeam&Filter.1.Value.1=team-{}&Filter.2.Name=cidr-block-association.cidr-block&Filter.2.Value.1=10.*",
            i % 50
        )
    };
    let write = |i: usize, vpcs: &[String]| {
        format!(
            "Action=CreateTags&Version=2016-11-15&ResourceId.1={}&Tag.1.Key=Seen&Tag.1.Value={i}",
            vpcs[i.wrapping_mul(7919) % vpcs.len()]
        )
    };
    run(
        "DescribeVpcs (2 filters, 20 of 1,000 VPCs match)",
        addr,
        clients,
        seconds,
        &vpcs,
        read,
    );
    run(
        "CreateTags (durable write)",
        addr,
        clients,
        seconds,
        &vpcs,
        write,
    );
    drop(rt);
}

/// 1,000 VPCs (each with its main route table, default ACL and default group) and 6
/// subnets in each: 10,000 objects.
async fn populate(control: &Control) -> (Vec<String>, usize) {
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let mut vpcs = Vec::new();
    for i in 0..999 {
        let body = format!(
            "Action=CreateVpc&CidrBlock=10.{}.{}.0/24&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Team&TagSpecification.1.Tag.1.Value=team-{}",
            i / 250,
            i % 250,
            i % 50
        );
        let out = fort_ec2_api::execute(
            control,
            &scope,
            &Params::from_form(body.as_bytes()).unwrap(),
        )
        .await
        .unwrap();
        let text = out.as_str();
        let start = text.find("<vpcId>").unwrap() + 7;
        let id = text[start..start + 21].to_owned();
        for s in 0..6 {
            let body = format!(
                "Action=CreateSubnet&VpcId={id}&CidrBlock=10.{}.{}.{}/28",
                i / 250,
                i % 250,
                s * 16
            );
            fort_ec2_api::execute(
                control,
                &scope,
                &Params::from_form(body.as_bytes()).unwrap(),
            )
            .await
            .unwrap();
        }
        vpcs.push(id);
    }
    let objects = control.read(&scope, |v| {
        let r = v.region;
        r.vpcs.len()
            + r.subnets.len()
            + r.route_tables.len()
            + r.network_acls.len()
            + r.security_groups.len()
            + r.internet_gateways.len()
            + r.dhcp_options.len()
    });
    (vpcs, objects.await.unwrap())
}

fn run(
    name: &str,
    addr: SocketAddr,
    clients: usize,
    seconds: u64,
    vpcs: &[String],
    body: impl Fn(usize, &[String]) -> String + Sync,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let body = &body;
                s.spawn(move || {
                    let mut conn = Conn::new(addr);
                    let mut lat = Vec::new();
                    let mut i = c * 1_000_000;
                    while Instant::now() < deadline {
                        let b = body(i, vpcs);
                        let t = Instant::now();
                        let status = conn.post(&b);
                        lat.push(t.elapsed());
                        assert_eq!(status, 200, "{b}");
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    latencies.sort();
    let n = latencies.len();
    let pct = |per_mille: usize| latencies[(n * per_mille / 1000).min(n - 1)].as_secs_f64() * 1e3;
    println!(
        "{name}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({n} requests)",
        n as f64 / seconds as f64,
        pct(500),
        pct(990),
        pct(1000)
    );
}

/// One keep-alive HTTP/1.1 connection signing each request as botocore does.
struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        }
    }

    fn post(&mut self, body: &str) -> u16 {
        let identity =
            aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = [("host", self.host.as_str()), ("content-type", content_type)];
        let signable = SignableRequest::new(
            "POST",
            format!("http://{}/", self.host),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
            self.host,
            body.len()
        );
        for h in instructions.headers() {
            req.push_str(&format!("{}: {}\r\n", h.0, h.1));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.reader.get_mut().write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).unwrap();
        status
    }
}
