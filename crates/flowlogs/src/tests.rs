use std::io::Read as _;
use std::sync::Mutex;

use fort_model::{
    FlowLogDestination, FlowLogId, FlowLogResourceType, S3DestinationOptions, TrafficType,
};

use super::*;

fn window(records: Vec<FlowLogRecord>, skipped: u64) -> FlowLogWindow {
    FlowLogWindow {
        flow_log_id: "fl-0123456789abcdef0".into(),
        eni_id: "eni-0a1b2c3d4e5f60718".into(),
        vpc_id: "vpc-1".into(),
        subnet_id: "subnet-1".into(),
        instance_id: Some("i-1".into()),
        start: 1_700_000_000,
        end: 1_700_000_060,
        records,
        skipped,
    }
}

fn ssh(accepted: bool) -> FlowLogRecord {
    FlowLogRecord {
        src: vec![10, 0, 1, 5],
        dst: vec![10, 0, 1, 6],
        src_port: 40000,
        dst_port: 22,
        protocol: 6,
        packets: 3,
        bytes: 180,
        accepted,
        tcp_flags: 0x12,
        egress: true,
        first: 1_700_000_001,
        last: 1_700_000_004,
        traffic_path: 1,
    }
}

#[test]
fn windows_render_ok_nodata_and_skipdata() {
    let f = LogFormat::default_v2();
    let lines = render_window(
        &window(vec![ssh(true)], 0),
        &f,
        "123456789012",
        "us-east-1",
        None,
    );
    assert_eq!(
        lines,
        vec![(
            1_700_000_001_000,
            "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 10.0.1.6 40000 22 6 3 180 1700000001 1700000004 ACCEPT OK".to_string()
        )]
    );
    let nodata = render_window(&window(vec![], 0), &f, "123456789012", "us-east-1", None);
    assert_eq!(
        nodata[0].1,
        "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - NODATA"
    );
    let skip = render_window(
        &window(vec![ssh(false)], 4),
        &f,
        "123456789012",
        "us-east-1",
        None,
    );
    assert_eq!(skip.len(), 2);
    assert!(skip[0].1.ends_with("REJECT OK"));
    assert!(skip[1].1.ends_with("- SKIPDATA"));
    let custom = LogFormat::parse(
        "${interface-id} ${tcp-flags} ${flow-direction} ${traffic-path} ${az-id} ${instance-id} ${type}",
    )
    .unwrap();
    let l = render_window(
        &window(vec![ssh(true)], 0),
        &custom,
        "1",
        "us-east-1",
        Some("use1-az6"),
    );
    assert_eq!(
        l[0].1,
        "eni-0a1b2c3d4e5f60718 18 egress 1 use1-az6 i-1 IPv4"
    );
}

#[test]
fn a_record_with_a_bad_address_is_left_out() {
    let mut r = ssh(true);
    r.src = vec![1, 2, 3];
    let lines = render_window(
        &window(vec![r], 0),
        &LogFormat::default_v2(),
        "1",
        "r",
        None,
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].1.ends_with("NODATA"));
}

#[test]
fn s3_keys_follow_aws_layouts() {
    let k = s3_key(
        "",
        "123456789012",
        "us-east-1",
        "fl-1",
        1_700_000_000,
        0,
        false,
        false,
    );
    assert!(
        k.starts_with("AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14/123456789012_vpcflowlogs_us-east-1_fl-1_20231114T2213Z_"),
        "{k}"
    );
    assert!(k.ends_with(".log.gz"));
    let k = s3_key(
        "/logs/",
        "1",
        "eu-west-1",
        "fl-2",
        1_700_000_000,
        0,
        true,
        true,
    );
    assert!(
        k.starts_with("logs/AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2023/month=11/day=14/hour=22/1_vpcflowlogs_eu-west-1_fl-2_"),
        "{k}"
    );
    // one object per delivery: names never collide
    assert_ne!(
        s3_key("", "1", "r", "fl-1", 5, 0, false, false),
        s3_key("", "1", "r", "fl-1", 5, 1, false, false)
    );
}

fn flow_log(destination: FlowLogDestination) -> Owned {
    Owned {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        flow_log: FlowLog {
            id: FlowLogId::parse("fl-0123456789abcdef0").unwrap(),
            resource_id: "vpc-1".into(),
            resource_type: FlowLogResourceType::Vpc,
            traffic_type: TrafficType::All,
            destination,
            deliver_logs_permission_arn: None,
            deliver_cross_account_role: None,
            log_format: LogFormat::default_v2(),
            max_aggregation_interval: 60,
            creation_time: 0,
            deliver_logs_status: DeliverLogsStatus::Success,
            deliver_logs_error_message: None,
            client_token: None,
            tags: Default::default(),
        },
    }
}

struct FakeCatalog {
    owned: Owned,
    statuses: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl Catalog for &FakeCatalog {
    async fn flow_log(&self, id: &str) -> Option<Owned> {
        (id == self.owned.flow_log.id.as_str()).then(|| self.owned.clone())
    }
    async fn az_id(&self, _: &str, _: &str, _: &str) -> Option<String> {
        Some("use1-az6".into())
    }
    async fn set_status(&self, _: &Owned, error: Option<String>) {
        self.statuses.lock().unwrap().push(error);
    }
}

#[derive(Default)]
struct FakeDestinations {
    events: Mutex<Vec<(String, String, Vec<LogEvent>)>>,
    objects: Mutex<Vec<(String, String, Vec<u8>)>>,
    fail: bool,
}

#[async_trait]
impl Destinations for &FakeDestinations {
    async fn put_log_events(
        &self,
        _: &str,
        _: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
        _create_group: bool,
    ) -> Result<(), String> {
        if self.fail {
            return Err("The specified log group does not exist.".into());
        }
        self.events
            .lock()
            .unwrap()
            .push((group.into(), stream.into(), events));
        Ok(())
    }
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
        if self.fail {
            return Err("The specified bucket does not exist".into());
        }
        self.objects
            .lock()
            .unwrap()
            .push((bucket.into(), key.into(), body));
        Ok(())
    }
}

fn report(windows: Vec<FlowLogWindow>) -> FlowLogReport {
    FlowLogReport {
        host_id: "h1".into(),
        windows,
    }
}

#[tokio::test]
async fn cloudwatch_delivery_writes_a_stream_per_interface() {
    let catalog = FakeCatalog {
        owned: flow_log(FlowLogDestination::CloudWatchLogs {
            log_group: "vpc-logs".into(),
            arn: "arn:aws:logs:us-east-1:123456789012:log-group:vpc-logs".into(),
        }),
        statuses: Mutex::default(),
    };
    let dest = FakeDestinations::default();
    let d = Delivery::new(&catalog, &dest);
    let mut other = window(vec![ssh(true)], 0);
    other.flow_log_id = "fl-00000000000000000".into();
    let n = d
        .deliver(report(vec![window(vec![ssh(true), ssh(false)], 0), other]))
        .await;
    assert_eq!(
        n, 2,
        "every window is done with, the unknown flow log's too"
    );
    let events = dest.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "vpc-logs");
    assert_eq!(events[0].1, "eni-0a1b2c3d4e5f60718-all");
    assert_eq!(events[0].2.len(), 2);
    // success is the status already shown: nothing written to the control plane
    assert!(catalog.statuses.lock().unwrap().is_empty());
    let mut m = String::new();
    d.metrics(&mut m);
    assert!(m.contains(
        "fort_flow_log_records_written_total{type=\"cloud-watch-logs\",destination=\"vpc-logs\"} 2"
    ));
}

#[tokio::test]
async fn s3_delivery_writes_a_gzip_object_with_a_header() {
    let catalog = FakeCatalog {
        owned: flow_log(FlowLogDestination::S3 {
            arn: "arn:aws:s3:::flow-bucket/team".into(),
            bucket: "flow-bucket".into(),
            prefix: "team".into(),
            options: S3DestinationOptions::default(),
        }),
        statuses: Mutex::default(),
    };
    let dest = FakeDestinations::default();
    let d = Delivery::new(&catalog, &dest);
    d.deliver(report(vec![window(vec![ssh(true)], 0), window(vec![], 0)]))
        .await;
    let objects = dest.objects.lock().unwrap();
    assert_eq!(objects.len(), 1);
    let (bucket, key, body) = &objects[0];
    assert_eq!(bucket, "flow-bucket");
    assert!(key.starts_with("team/AWSLogs/123456789012/vpcflowlogs/us-east-1/"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].ends_with("ACCEPT OK"));
    assert!(lines[2].ends_with("NODATA"));
}

#[tokio::test]
async fn a_failing_destination_shows_in_the_status_once() {
    let catalog = FakeCatalog {
        owned: flow_log(FlowLogDestination::CloudWatchLogs {
            log_group: "gone".into(),
            arn: "arn:aws:logs:us-east-1:123456789012:log-group:gone".into(),
        }),
        statuses: Mutex::default(),
    };
    let dest = FakeDestinations {
        fail: true,
        ..Default::default()
    };
    let d = Delivery::new(&catalog, &dest);
    for _ in 0..3 {
        assert_eq!(d.deliver(report(vec![window(vec![ssh(true)], 0)])).await, 1);
    }
    let statuses = catalog.statuses.lock().unwrap();
    assert_eq!(
        statuses.len(),
        1,
        "written when it changes, not every window"
    );
    assert!(statuses[0].as_deref().unwrap().contains("does not exist"));
    let mut m = String::new();
    d.metrics(&mut m);
    assert!(m.contains(
        "fort_flow_log_records_failed_total{type=\"cloud-watch-logs\",destination=\"gone\"} 3"
    ));
}
