//! VPC flow logs: the resource, its record format (AWS's `${field}` syntax, versions 2 to 8)
//! and the rendering of one record as a line, exactly as AWS writes it.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{FlowLogId, Millis, Tags};

wire_enum! {
    /// What a flow log watches.
    pub enum FlowLogResourceType {
        Vpc = "VPC",
        Subnet = "Subnet",
        NetworkInterface = "NetworkInterface",
        TransitGateway = "TransitGateway",
        TransitGatewayAttachment = "TransitGatewayAttachment",
    }
}

impl FlowLogResourceType {
    /// A transit gateway or its attachment (not a VPC's interfaces): records of its own
    /// fields, no traffic type, a 60 s window.
    pub fn is_transit_gateway(self) -> bool {
        matches!(self, Self::TransitGateway | Self::TransitGatewayAttachment)
    }
}

wire_enum! {
    /// Which flows a flow log records.
    pub enum TrafficType {
        Accept = "ACCEPT",
        Reject = "REJECT",
        All = "ALL",
    }
}

impl TrafficType {
    /// Whether a flow the engine accepted (or rejected) belongs in this log.
    pub fn records(self, accepted: bool) -> bool {
        match self {
            TrafficType::All => true,
            TrafficType::Accept => accepted,
            TrafficType::Reject => !accepted,
        }
    }
}

wire_enum! {
    /// Where records go.
    pub enum LogDestinationType {
        CloudWatchLogs = "cloud-watch-logs",
        S3 = "s3",
        KinesisDataFirehose = "kinesis-data-firehose",
    }
}

wire_enum! {
    /// Whether the last delivery worked.
    pub enum DeliverLogsStatus {
        Success = "SUCCESS",
        Failed = "FAILED",
    }
}

wire_enum! {
    /// S3 objects' format.
    pub enum FlowLogFileFormat {
        PlainText = "plain-text",
        Parquet = "parquet",
    }
}

wire_enum! {
    /// One field of a flow-log record, by its name in a log format.
    pub enum FlowLogField {
        Version = "version",
        AccountId = "account-id",
        InterfaceId = "interface-id",
        Srcaddr = "srcaddr",
        Dstaddr = "dstaddr",
        Srcport = "srcport",
        Dstport = "dstport",
        Protocol = "protocol",
        Packets = "packets",
        Bytes = "bytes",
        Start = "start",
        End = "end",
        Action = "action",
        LogStatus = "log-status",
        VpcId = "vpc-id",
        SubnetId = "subnet-id",
        InstanceId = "instance-id",
        TcpFlags = "tcp-flags",
        Type = "type",
        PktSrcaddr = "pkt-srcaddr",
        PktDstaddr = "pkt-dstaddr",
        Region = "region",
        AzId = "az-id",
        SublocationType = "sublocation-type",
        SublocationId = "sublocation-id",
        PktSrcAwsService = "pkt-src-aws-service",
        PktDstAwsService = "pkt-dst-aws-service",
        FlowDirection = "flow-direction",
        TrafficPath = "traffic-path",
        EcsClusterArn = "ecs-cluster-arn",
        EcsClusterName = "ecs-cluster-name",
        EcsContainerInstanceArn = "ecs-container-instance-arn",
        EcsContainerInstanceId = "ecs-container-instance-id",
        EcsContainerId = "ecs-container-id",
        EcsSecondContainerId = "ecs-second-container-id",
        EcsServiceName = "ecs-service-name",
        EcsTaskDefinitionArn = "ecs-task-definition-arn",
        EcsTaskArn = "ecs-task-arn",
        EcsTaskId = "ecs-task-id",
        RejectReason = "reject-reason",
        // Transit gateway flow logs' own fields (version 6).
        ResourceType = "resource-type",
        TgwId = "tgw-id",
        TgwAttachmentId = "tgw-attachment-id",
        TgwSrcVpcAccountId = "tgw-src-vpc-account-id",
        TgwDstVpcAccountId = "tgw-dst-vpc-account-id",
        TgwSrcVpcId = "tgw-src-vpc-id",
        TgwDstVpcId = "tgw-dst-vpc-id",
        TgwSrcSubnetId = "tgw-src-subnet-id",
        TgwDstSubnetId = "tgw-dst-subnet-id",
        TgwSrcEni = "tgw-src-eni",
        TgwDstEni = "tgw-dst-eni",
        TgwSrcAzId = "tgw-src-az-id",
        TgwDstAzId = "tgw-dst-az-id",
        TgwPairAttachmentId = "tgw-pair-attachment-id",
        PacketsLostNoRoute = "packets-lost-no-route",
        PacketsLostBlackhole = "packets-lost-blackhole",
        PacketsLostMtuExceeded = "packets-lost-mtu-exceeded",
        PacketsLostTtlExpired = "packets-lost-ttl-expired",
    }
}

impl FlowLogField {
    /// The flow-log version that introduced the field.
    pub fn version(self) -> u8 {
        use FlowLogField::*;
        match self {
            Version | AccountId | InterfaceId | Srcaddr | Dstaddr | Srcport | Dstport
            | Protocol | Packets | Bytes | Start | End | Action | LogStatus => 2,
            VpcId | SubnetId | InstanceId | TcpFlags | Type | PktSrcaddr | PktDstaddr => 3,
            Region | AzId | SublocationType | SublocationId => 4,
            PktSrcAwsService | PktDstAwsService | FlowDirection | TrafficPath => 5,
            EcsClusterArn
            | EcsClusterName
            | EcsContainerInstanceArn
            | EcsContainerInstanceId
            | EcsContainerId
            | EcsSecondContainerId
            | EcsServiceName
            | EcsTaskDefinitionArn
            | EcsTaskArn
            | EcsTaskId => 7,
            RejectReason => 8,
            ResourceType
            | TgwId
            | TgwAttachmentId
            | TgwSrcVpcAccountId
            | TgwDstVpcAccountId
            | TgwSrcVpcId
            | TgwDstVpcId
            | TgwSrcSubnetId
            | TgwDstSubnetId
            | TgwSrcEni
            | TgwDstEni
            | TgwSrcAzId
            | TgwDstAzId
            | TgwPairAttachmentId
            | PacketsLostNoRoute
            | PacketsLostBlackhole
            | PacketsLostMtuExceeded
            | PacketsLostTtlExpired => 6,
        }
    }

    /// Whether a log of this resource type may record the field: transit gateway logs
    /// have fields of their own and a share of the VPC ones (AWS's two field lists).
    pub fn applies_to(self, resource: FlowLogResourceType) -> bool {
        use FlowLogField::*;
        let gateway = resource.is_transit_gateway();
        match self {
            Version | AccountId | Srcaddr | Dstaddr | Srcport | Dstport | Protocol | Packets
            | Bytes | Start | End | LogStatus | Type | TcpFlags | Region | FlowDirection
            | PktSrcAwsService | PktDstAwsService => true,
            _ if self.version() == 6 => gateway,
            _ => !gateway,
        }
    }
}

/// The fields of a record, in order: AWS's default (version 2) or a custom format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFormat(pub Vec<FlowLogField>);

/// Why a log format is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormatError {
    /// Text that is not `${field}` separated by spaces.
    Syntax(String),
    /// Field names AWS does not know.
    UnknownFields(Vec<String>),
}

impl LogFormat {
    /// AWS's default format: the 14 fields of version 2.
    pub fn default_v2() -> LogFormat {
        use FlowLogField::*;
        LogFormat(vec![
            Version,
            AccountId,
            InterfaceId,
            Srcaddr,
            Dstaddr,
            Srcport,
            Dstport,
            Protocol,
            Packets,
            Bytes,
            Start,
            End,
            Action,
            LogStatus,
        ])
    }

    /// AWS's default format of a transit gateway flow log: every field it has.
    pub fn default_transit_gateway() -> LogFormat {
        use FlowLogField::*;
        LogFormat(vec![
            Version,
            ResourceType,
            AccountId,
            TgwId,
            TgwAttachmentId,
            TgwSrcVpcAccountId,
            TgwDstVpcAccountId,
            TgwSrcVpcId,
            TgwDstVpcId,
            TgwSrcSubnetId,
            TgwDstSubnetId,
            TgwSrcEni,
            TgwDstEni,
            TgwSrcAzId,
            TgwDstAzId,
            TgwPairAttachmentId,
            Srcaddr,
            Dstaddr,
            Srcport,
            Dstport,
            Protocol,
            Packets,
            Bytes,
            Start,
            End,
            LogStatus,
            Type,
            PacketsLostNoRoute,
            PacketsLostBlackhole,
            PacketsLostMtuExceeded,
            PacketsLostTtlExpired,
            TcpFlags,
            Region,
            FlowDirection,
            PktSrcAwsService,
            PktDstAwsService,
        ])
    }

    /// Parses `${version} ${account-id} …` (fields separated by single or repeated spaces).
    pub fn parse(text: &str) -> Result<LogFormat, LogFormatError> {
        let mut fields = Vec::new();
        let mut unknown = Vec::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            let name = token
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .filter(|n| !n.is_empty() && !n.contains(['$', '{', '}']))
                .ok_or_else(|| LogFormatError::Syntax(token.to_owned()))?;
            match FlowLogField::parse(name) {
                Some(f) => fields.push(f),
                None => unknown.push(name.to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(LogFormatError::UnknownFields(unknown));
        }
        if fields.is_empty() {
            return Err(LogFormatError::Syntax(text.to_owned()));
        }
        Ok(LogFormat(fields))
    }

    /// The format as EC2 shows it: `${field} ${field} …`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, f) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "${{{}}}", f.as_str());
        }
        out
    }

    /// The record version: the highest version among the fields (2 at least).
    pub fn version(&self) -> u8 {
        self.0.iter().map(|f| f.version()).max().unwrap_or(2).max(2)
    }
}

/// Where a flow log delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowLogDestination {
    /// A CloudWatch Logs log group (created on first delivery if missing, as AWS does).
    CloudWatchLogs {
        log_group: String,
        /// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME`, as Describe shows it.
        arn: String,
    },
    /// An S3 bucket, with an optional key prefix (`arn:aws:s3:::bucket/prefix`).
    S3 {
        arn: String,
        bucket: String,
        prefix: String,
        options: S3DestinationOptions,
    },
}

/// `DestinationOptions` of an S3 flow log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3DestinationOptions {
    pub file_format: FlowLogFileFormat,
    pub hive_compatible_partitions: bool,
    pub per_hour_partition: bool,
}

impl Default for S3DestinationOptions {
    fn default() -> Self {
        S3DestinationOptions {
            file_format: FlowLogFileFormat::PlainText,
            hive_compatible_partitions: false,
            per_hour_partition: false,
        }
    }
}

/// A flow log as the control plane stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLog {
    pub id: FlowLogId,
    /// The VPC, subnet or ENI watched.
    pub resource_id: String,
    pub resource_type: FlowLogResourceType,
    pub traffic_type: TrafficType,
    pub destination: FlowLogDestination,
    /// `DeliverLogsPermissionArn`: required for CloudWatch Logs, as in AWS.
    pub deliver_logs_permission_arn: Option<String>,
    pub deliver_cross_account_role: Option<String>,
    pub log_format: LogFormat,
    /// Seconds: AWS's 60 or 600, or one of Fort's shorter windows.
    pub max_aggregation_interval: u32,
    pub creation_time: Millis,
    pub deliver_logs_status: DeliverLogsStatus,
    pub deliver_logs_error_message: Option<String>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

impl FlowLog {
    pub fn destination_type(&self) -> LogDestinationType {
        match self.destination {
            FlowLogDestination::CloudWatchLogs { .. } => LogDestinationType::CloudWatchLogs,
            FlowLogDestination::S3 { .. } => LogDestinationType::S3,
        }
    }

    /// The log group of a CloudWatch Logs flow log (`LogGroupName` in Describe).
    pub fn log_group_name(&self) -> Option<&str> {
        match &self.destination {
            FlowLogDestination::CloudWatchLogs { log_group, .. } => Some(log_group),
            FlowLogDestination::S3 { .. } => None,
        }
    }

    /// The destination's ARN (`LogDestination` in Describe).
    pub fn destination_arn(&self) -> &str {
        match &self.destination {
            FlowLogDestination::CloudWatchLogs { arn, .. } | FlowLogDestination::S3 { arn, .. } => {
                arn
            }
        }
    }

    /// Whether this log watches an interface with these ids (its own, its subnet's or its
    /// VPC's flow log).
    pub fn watches(&self, eni: &str, subnet: &str, vpc: &str) -> bool {
        match self.resource_type {
            FlowLogResourceType::NetworkInterface => self.resource_id == eni,
            FlowLogResourceType::Subnet => self.resource_id == subnet,
            FlowLogResourceType::Vpc => self.resource_id == vpc,
            FlowLogResourceType::TransitGateway | FlowLogResourceType::TransitGatewayAttachment => {
                false
            }
        }
    }
}

/// The aggregation windows AWS offers (seconds).
pub const AWS_AGGREGATION_INTERVALS: [u32; 2] = [60, 600];

/// Fort's shorter windows (seconds), so a test or a person sees records within seconds.
/// AWS refuses these values; Fort accepts them as its own extension.
pub const FORT_AGGREGATION_INTERVALS: [u32; 5] = [1, 5, 10, 15, 30];

/// Whether `seconds` is a window Fort offers (AWS's or Fort's own).
pub fn valid_aggregation_interval(seconds: u32) -> bool {
    AWS_AGGREGATION_INTERVALS.contains(&seconds) || FORT_AGGREGATION_INTERVALS.contains(&seconds)
}

wire_enum! {
    /// `log-status`: data recorded, no traffic in the window, or records skipped.
    pub enum LogStatus {
        Ok = "OK",
        NoData = "NODATA",
        SkipData = "SKIPDATA",
    }
}

wire_enum! {
    /// `flow-direction`, relative to the interface.
    pub enum FlowDirection {
        Ingress = "ingress",
        Egress = "egress",
    }
}

/// One record's values: what a host counted for one flow on one interface in one window,
/// with the interface's identity. `None` fields print `-`, as AWS writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecordValues<'a> {
    pub account_id: &'a str,
    pub interface_id: &'a str,
    pub vpc_id: Option<&'a str>,
    pub subnet_id: Option<&'a str>,
    pub instance_id: Option<&'a str>,
    pub region: &'a str,
    pub az_id: Option<&'a str>,
    /// Window start and end, Unix seconds.
    pub start: u64,
    pub end: u64,
    pub log_status: LogStatus,
    /// The flow itself; `None` for NODATA and SKIPDATA records.
    pub flow: Option<FlowValues>,
}

/// The flow part of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowValues {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Ports (0 for protocols without them, as AWS writes).
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    pub accepted: bool,
    /// The OR of the TCP flags AWS reports (FIN 1, SYN 2, RST 4, SYN-ACK 18).
    pub tcp_flags: u16,
    pub direction: FlowDirection,
    /// `traffic-path` of egress traffic (1 within the VPC, 4 peering, 8 internet gateway…).
    pub traffic_path: Option<u8>,
}

impl FlowRecordValues<'_> {
    /// The record as one line of `format`.
    pub fn render(&self, format: &LogFormat) -> String {
        let mut out = String::with_capacity(format.0.len() * 12);
        for (i, field) in format.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            self.write_field(*field, format, &mut out);
        }
        out
    }

    fn write_field(&self, field: FlowLogField, format: &LogFormat, out: &mut String) {
        use FlowLogField::*;
        let dash = |out: &mut String| out.push('-');
        let opt = |v: Option<&str>, out: &mut String| out.push_str(v.unwrap_or("-"));
        let flow = self.flow.as_ref();
        match field {
            Version => {
                let _ = write!(out, "{}", format.version());
            }
            AccountId => out.push_str(self.account_id),
            InterfaceId => out.push_str(self.interface_id),
            Start => {
                let _ = write!(out, "{}", self.start);
            }
            End => {
                let _ = write!(out, "{}", self.end);
            }
            LogStatus => out.push_str(self.log_status.as_str()),
            VpcId => opt(self.vpc_id, out),
            SubnetId => opt(self.subnet_id, out),
            InstanceId => opt(self.instance_id, out),
            Region => out.push_str(self.region),
            AzId => opt(self.az_id, out),
            Srcaddr | PktSrcaddr => match flow {
                Some(f) => {
                    let _ = write!(out, "{}", f.src);
                }
                None => dash(out),
            },
            Dstaddr | PktDstaddr => match flow {
                Some(f) => {
                    let _ = write!(out, "{}", f.dst);
                }
                None => dash(out),
            },
            Srcport => num(flow.map(|f| u64::from(f.src_port)), out),
            Dstport => num(flow.map(|f| u64::from(f.dst_port)), out),
            Protocol => num(flow.map(|f| u64::from(f.protocol)), out),
            Packets => num(flow.map(|f| f.packets), out),
            Bytes => num(flow.map(|f| f.bytes), out),
            Action => match flow {
                Some(f) => out.push_str(if f.accepted { "ACCEPT" } else { "REJECT" }),
                None => dash(out),
            },
            TcpFlags => num(flow.map(|f| u64::from(f.tcp_flags)), out),
            Type => match flow {
                Some(f) if f.src.is_ipv6() => out.push_str("IPv6"),
                Some(_) => out.push_str("IPv4"),
                None => dash(out),
            },
            FlowDirection => match flow {
                Some(f) => out.push_str(f.direction.as_str()),
                None => dash(out),
            },
            // AWS writes a path for egress only
            TrafficPath => num(
                flow.filter(|f| f.direction == self::FlowDirection::Egress)
                    .and_then(|f| f.traffic_path)
                    .map(u64::from),
                out,
            ),
            RejectReason => dash(out),
            SublocationType
            | SublocationId
            | PktSrcAwsService
            | PktDstAwsService
            | EcsClusterArn
            | EcsClusterName
            | EcsContainerInstanceArn
            | EcsContainerInstanceId
            | EcsContainerId
            | EcsSecondContainerId
            | EcsServiceName
            | EcsTaskDefinitionArn
            | EcsTaskArn
            | EcsTaskId => dash(out),
            // transit gateway records: Fort's data path writes none
            ResourceType
            | TgwId
            | TgwAttachmentId
            | TgwSrcVpcAccountId
            | TgwDstVpcAccountId
            | TgwSrcVpcId
            | TgwDstVpcId
            | TgwSrcSubnetId
            | TgwDstSubnetId
            | TgwSrcEni
            | TgwDstEni
            | TgwSrcAzId
            | TgwDstAzId
            | TgwPairAttachmentId
            | PacketsLostNoRoute
            | PacketsLostBlackhole
            | PacketsLostMtuExceeded
            | PacketsLostTtlExpired => dash(out),
        }
    }
}

fn num(v: Option<u64>, out: &mut String) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push('-'),
    }
}

/// TCP flag bits as flow logs report them: only FIN, SYN and RST (SYN-ACK is SYN|ACK = 18).
pub fn reported_tcp_flags(flags: u16) -> u16 {
    const FIN: u16 = 0x01;
    const SYN: u16 = 0x02;
    const RST: u16 = 0x04;
    const ACK: u16 = 0x10;
    let mut out = flags & (FIN | SYN | RST);
    if flags & SYN != 0 && flags & ACK != 0 {
        out |= ACK;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_round_trips() {
        let f = LogFormat::default_v2();
        assert_eq!(
            f.render(),
            "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
        );
        assert_eq!(LogFormat::parse(&f.render()), Ok(f.clone()));
        assert_eq!(f.version(), 2);
    }

    #[test]
    fn custom_format_version_is_the_highest_field() {
        let f = LogFormat::parse("${srcaddr}  ${tcp-flags} ${az-id}").unwrap();
        assert_eq!(f.version(), 4);
        let f = LogFormat::parse("${flow-direction} ${version}").unwrap();
        assert_eq!(f.version(), 5);
    }

    #[test]
    fn bad_formats_are_refused() {
        assert_eq!(
            LogFormat::parse("${srcaddr} ${nope} ${dstaddr} ${zap}"),
            Err(LogFormatError::UnknownFields(vec![
                "nope".into(),
                "zap".into()
            ]))
        );
        assert!(matches!(
            LogFormat::parse("srcaddr"),
            Err(LogFormatError::Syntax(_))
        ));
        assert!(matches!(
            LogFormat::parse("${srcaddr}${dstaddr}"),
            Err(LogFormatError::Syntax(_))
        ));
        assert!(matches!(
            LogFormat::parse("  "),
            Err(LogFormatError::Syntax(_))
        ));
    }

    fn record(flow: Option<FlowValues>, status: LogStatus) -> FlowRecordValues<'static> {
        FlowRecordValues {
            account_id: "123456789012",
            interface_id: "eni-1235b8ca123456789",
            vpc_id: Some("vpc-0a1b2c3d4e5f60718"),
            subnet_id: Some("subnet-0a1b2c3d4e5f60718"),
            instance_id: None,
            region: "us-east-1",
            az_id: Some("use1-az6"),
            start: 1418530010,
            end: 1418530070,
            log_status: status,
            flow,
        }
    }

    #[test]
    fn renders_as_aws_writes() {
        let flow = FlowValues {
            src: "172.31.16.139".parse().unwrap(),
            dst: "172.31.16.21".parse().unwrap(),
            src_port: 20641,
            dst_port: 22,
            protocol: 6,
            packets: 20,
            bytes: 4249,
            accepted: true,
            tcp_flags: 19,
            direction: FlowDirection::Egress,
            traffic_path: Some(1),
        };
        let r = record(Some(flow), LogStatus::Ok);
        // AWS's documented example of the default format
        assert_eq!(
            r.render(&LogFormat::default_v2()),
            "2 123456789012 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        );
        let custom = LogFormat::parse(
            "${version} ${vpc-id} ${instance-id} ${tcp-flags} ${type} ${flow-direction} ${traffic-path} ${pkt-src-aws-service}",
        )
        .unwrap();
        assert_eq!(
            r.render(&custom),
            "5 vpc-0a1b2c3d4e5f60718 - 19 IPv4 egress 1 -"
        );
    }

    #[test]
    fn nodata_records_dash_the_flow() {
        let r = record(None, LogStatus::NoData);
        assert_eq!(
            r.render(&LogFormat::default_v2()),
            "2 123456789012 eni-1235b8ca123456789 - - - - - - - 1418530010 1418530070 - NODATA"
        );
    }

    #[test]
    fn tcp_flags_keep_what_aws_reports() {
        assert_eq!(reported_tcp_flags(0x02), 2); // SYN
        assert_eq!(reported_tcp_flags(0x12), 18); // SYN-ACK
        assert_eq!(reported_tcp_flags(0x10), 0); // ACK alone is not reported
        assert_eq!(reported_tcp_flags(0x02 | 0x10 | 0x01), 19);
        assert_eq!(reported_tcp_flags(0x04 | 0x10), 4);
    }
}
