//! VPC flow logs, control plane: CreateFlowLogs' rules, DeleteFlowLogs, the logs' removal
//! with the VPC, subnet or interface they watch, and what delivery reads and reports.
//!
//! For the data path:
//! * [`flow_logs_for_interface`] gives the flow logs that apply to one interface (its own,
//!   its subnet's and its VPC's);
//! * [`Tx::set_flow_log_delivery`] records how the last delivery went
//!   (`DeliverLogsStatus`/`DeliverLogsErrorMessage`), writing only when it changes;
//! * [`Control::set_destination_check`] connects the S3 service, so CreateFlowLogs refuses
//!   a bucket that does not exist. Until it is connected only the ARN's form is checked.

use std::sync::{Arc, RwLock};

use fort_model::*;
use serde::{Deserialize, Serialize};

use crate::tags::check_tags;
use crate::{ClientToken, Control, Region, Tx};

/// ResourceIds per CreateFlowLogs (EC2's documented constraint), and for transit gateways.
pub const MAX_RESOURCE_IDS: usize = 300;
pub const MAX_TRANSIT_GATEWAY_RESOURCE_IDS: usize = 25;
/// The longest CloudWatch Logs group name.
const MAX_LOG_GROUP_NAME: usize = 512;
/// The aggregation window AWS uses when none is asked for.
pub const DEFAULT_AGGREGATION_INTERVAL: u32 = 600;

/// Answers whether an S3 bucket exists: the S3 service, once the lead connects it.
pub trait DestinationCheck: Send + Sync {
    /// The account that owns `bucket`; `None` when there is no such bucket.
    fn bucket_owner(&self, bucket: &str) -> Option<String>;
}

/// The connected [`DestinationCheck`], if any.
#[derive(Default)]
pub struct DestinationHook(RwLock<Option<Arc<dyn DestinationCheck>>>);

impl std::fmt::Debug for DestinationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connected = self.0.read().map(|c| c.is_some()).unwrap_or(false);
        f.debug_struct("DestinationHook")
            .field("connected", &connected)
            .finish()
    }
}

impl Control {
    /// Connects the S3 service: from now on CreateFlowLogs refuses a missing bucket.
    pub fn set_destination_check(&self, check: Arc<dyn DestinationCheck>) {
        if let Ok(mut c) = self.flow_log_destinations.0.write() {
            *c = Some(check);
        }
    }

    /// The connected check (`None`: bucket ARNs are checked for form only).
    pub fn destination_check(&self) -> Option<Arc<dyn DestinationCheck>> {
        self.flow_log_destinations.0.read().ok()?.clone()
    }
}

/// `DestinationOptions` as the request gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationOptionsRequest {
    pub file_format: Option<String>,
    pub hive_compatible_partitions: Option<bool>,
    pub per_hour_partition: Option<bool>,
}

/// CreateFlowLogs' parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateFlowLogs {
    pub resource_type: Option<String>,
    pub resource_ids: Vec<String>,
    pub traffic_type: Option<String>,
    pub log_destination_type: Option<String>,
    pub log_destination: Option<String>,
    pub log_group_name: Option<String>,
    pub deliver_logs_permission_arn: Option<String>,
    pub deliver_cross_account_role: Option<String>,
    pub log_format: Option<String>,
    pub max_aggregation_interval: Option<i64>,
    pub destination_options: Option<DestinationOptionsRequest>,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// One resource CreateFlowLogs could not watch, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsuccessful {
    pub resource_id: String,
    pub code: ErrorCode,
    pub message: String,
}

/// CreateFlowLogs' answer: the logs made, and the resources refused one by one. Kept whole
/// under the client token, so a retry gets the same answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedFlowLogs {
    pub flow_log_ids: Vec<FlowLogId>,
    pub unsuccessful: Vec<Unsuccessful>,
}

fn invalid_parameter(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

/// Everything of a new flow log but the resource it watches.
#[derive(Clone, Debug)]
struct Settings {
    resource_type: FlowLogResourceType,
    resource_kind: Kind,
    traffic_type: TrafficType,
    destination: FlowLogDestination,
    deliver_logs_permission_arn: Option<String>,
    deliver_cross_account_role: Option<String>,
    log_format: LogFormat,
    max_aggregation_interval: u32,
}

/// The resource type: VPC, Subnet, NetworkInterface, TransitGateway or
/// TransitGatewayAttachment (regional NAT gateways and Cloud WAN are refused: Fort has
/// neither).
fn resource_type(text: Option<&str>) -> Result<(FlowLogResourceType, Kind), ApiError> {
    let text = text.ok_or_else(|| ApiError::missing("ResourceType"))?;
    match FlowLogResourceType::parse(text) {
        Some(FlowLogResourceType::Vpc) => Ok((FlowLogResourceType::Vpc, Kind::Vpc)),
        Some(FlowLogResourceType::Subnet) => Ok((FlowLogResourceType::Subnet, Kind::Subnet)),
        Some(FlowLogResourceType::NetworkInterface) => Ok((
            FlowLogResourceType::NetworkInterface,
            Kind::NetworkInterface,
        )),
        Some(FlowLogResourceType::TransitGateway) => {
            Ok((FlowLogResourceType::TransitGateway, Kind::TransitGateway))
        }
        Some(FlowLogResourceType::TransitGatewayAttachment) => Ok((
            FlowLogResourceType::TransitGatewayAttachment,
            Kind::TransitGatewayAttachment,
        )),
        _ if matches!(
            text,
            "RegionalNatGateway" | "CoreNetwork" | "CoreNetworkEdge" | "CoreNetworkAttachment"
        ) =>
        {
            Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "Flow logs for resource type {text} are not supported by Fort: it has no regional NAT gateways or Cloud WAN."
                ),
            ))
        }
        _ => Err(ApiError::bad_param(
            "ResourceType",
            text,
            "Valid values: VPC, Subnet, NetworkInterface, TransitGateway, TransitGatewayAttachment.",
        )),
    }
}

/// `TrafficType`: required for VPCs, subnets and interfaces; EC2's upper-case names (any
/// case is taken and shown upper case).
fn traffic_type(
    text: Option<&str>,
    resource: FlowLogResourceType,
) -> Result<TrafficType, ApiError> {
    // A transit gateway's log takes none (kept as ALL, shown as none).
    if resource.is_transit_gateway() {
        return match text {
            None => Ok(TrafficType::All),
            Some(_) => Err(invalid_parameter(format!(
                "TrafficType is not supported if ResourceType is {resource}."
            ))),
        };
    }
    let Some(text) = text else {
        return Err(invalid_parameter(format!(
            "TrafficType can't be empty if ResourceType is {resource}."
        )));
    };
    TrafficType::parse(&text.to_ascii_uppercase()).ok_or_else(|| {
        ApiError::bad_param("TrafficType", text, "Valid values: ACCEPT, REJECT, ALL.")
    })
}

/// A CloudWatch Logs group name: 1 to 512 of `A-Za-z0-9._-/#`.
fn check_log_group_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LOG_GROUP_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid_parameter(format!(
            "LogGroupName '{name}' is invalid: it must be 1 to 512 characters of a-z, A-Z, 0-9, '.', '_', '-', '/' and '#'."
        )))
    }
}

/// What follows `arn:PARTITION:SERVICE:` in an ARN of one of AWS's partitions.
fn service_arn<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return None;
    }
    rest.strip_prefix(service)?.strip_prefix(':')
}

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (a trailing `:*`, as some tools write a
/// group's ARN, is dropped): the group's name.
fn log_group_from_arn(arn: &str, region: &str) -> Result<String, ApiError> {
    let bad = || {
        invalid_parameter(format!(
            "LogDestination '{arn}' is not a valid CloudWatch Logs log group ARN (arn:aws:logs:{region}:ACCOUNT:log-group:NAME)."
        ))
    };
    let arn = arn.strip_suffix(":*").unwrap_or(arn);
    let rest = service_arn(arn, "logs").ok_or_else(bad)?;
    let mut parts = rest.splitn(4, ':');
    let (Some(arn_region), Some(account), Some("log-group"), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if arn_region != region {
        return Err(invalid_parameter(format!(
            "LogDestination '{arn}' is a log group of region {arn_region}: a flow log delivers to a log group of its own region ({region})."
        )));
    }
    check_log_group_name(name)?;
    Ok(name.to_owned())
}

/// Whether `name` is a valid S3 bucket name: 3 to 63 of lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit.
fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// `arn:aws:s3:::bucket[/prefix[/]]`: the bucket and the prefix (without its slashes). The
/// prefix may not be `AWSLogs`, which EC2 reserves for the keys it writes.
fn s3_from_arn(arn: &str) -> Result<(String, String), ApiError> {
    let rest = service_arn(arn, "s3").and_then(|r| r.strip_prefix("::")).ok_or_else(|| {
        invalid_parameter(format!(
            "LogDestination '{arn}' is not a valid S3 bucket ARN (arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/PREFIX/)."
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_bucket_name(bucket) {
        return Err(invalid_parameter(format!(
            "LogDestination '{arn}' does not name a valid S3 bucket."
        )));
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.split('/').next() == Some("AWSLogs") {
        return Err(invalid_parameter(
            "LogDestination: the subfolder name AWSLogs is reserved; choose another prefix.",
        ));
    }
    if prefix.starts_with('/') || prefix.contains("//") {
        return Err(invalid_parameter(format!(
            "LogDestination '{arn}' has an empty folder name in its prefix."
        )));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// `LogFormat`: `${field}` separated by spaces, every field one EC2 knows.
pub fn check_log_format(text: &str) -> Result<LogFormat, ApiError> {
    let invalid = || {
        invalid_parameter(format!(
            "1 validation error detected: Value '{text}' at 'logFormat' has an invalid format"
        ))
    };
    if text.trim() != text || text.is_empty() {
        return Err(invalid());
    }
    match LogFormat::parse(text) {
        Ok(f) => Ok(f),
        Err(LogFormatError::Syntax(_)) => Err(invalid()),
        Err(LogFormatError::UnknownFields(names)) => {
            let names: Vec<String> = names.iter().map(|n| format!("${{{n}}}")).collect();
            Err(invalid_parameter(format!(
                "Unknown fields provided: {}",
                names.join(", ")
            )))
        }
    }
}

/// `MaxAggregationInterval`: AWS's 60 or 600, or one of Fort's shorter windows; 60 only
/// (and by default) for a transit gateway's log.
fn aggregation_interval(v: Option<i64>, resource: FlowLogResourceType) -> Result<u32, ApiError> {
    if resource.is_transit_gateway() {
        return match v {
            None | Some(60) => Ok(60),
            Some(_) => Err(invalid_parameter(
                "Invalid Flow Log Max Aggregation Interval. Only 60 seconds is supported for TransitGateway and TransitGatewayAttachment resource types.",
            )),
        };
    }
    let Some(v) = v else {
        return Ok(DEFAULT_AGGREGATION_INTERVAL);
    };
    u32::try_from(v)
        .ok()
        .filter(|s| valid_aggregation_interval(*s))
        .ok_or_else(|| invalid_parameter("Invalid Flow Log Max Aggregation Interval."))
}

/// An IAM role ARN, `arn:aws:iam::ACCOUNT:role/NAME` (not enforced: Fort keeps it).
fn check_role_arn(param: &str, arn: &str) -> Result<(), ApiError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    if ok {
        Ok(())
    } else {
        Err(invalid_parameter(format!(
            "{param} '{arn}' is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)."
        )))
    }
}

/// Checks every request-wide rule, in the order EC2 reports them.
fn settings(req: &CreateFlowLogs, region: &str, account: &str) -> Result<Settings, ApiError> {
    let (resource_type, resource_kind) = resource_type(req.resource_type.as_deref())?;
    if req.resource_ids.is_empty() {
        return Err(ApiError::missing("ResourceId"));
    }
    let most = if resource_type.is_transit_gateway() {
        MAX_TRANSIT_GATEWAY_RESOURCE_IDS
    } else {
        MAX_RESOURCE_IDS
    };
    if req.resource_ids.len() > most {
        return Err(invalid_parameter(format!(
            "A request may name at most {most} resources ({} given).",
            req.resource_ids.len()
        )));
    }
    let traffic_type = traffic_type(req.traffic_type.as_deref(), resource_type)?;
    let destination_type = match req.log_destination_type.as_deref() {
        None => LogDestinationType::CloudWatchLogs,
        Some(t) => LogDestinationType::parse(t).ok_or_else(|| {
            ApiError::bad_param(
                "LogDestinationType",
                t,
                "Valid values: cloud-watch-logs, s3, kinesis-data-firehose.",
            )
        })?,
    };
    // EC2 refuses both names whatever the destination type (recorded against AWS for s3).
    if req.log_group_name.is_some() && req.log_destination.is_some() {
        return Err(invalid_parameter(
            "Please only provide LogGroupName or only provide LogDestination.",
        ));
    }
    let destination = match destination_type {
        LogDestinationType::KinesisDataFirehose => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "Fort does not deliver flow logs to Kinesis Data Firehose: use cloud-watch-logs or s3.",
            ));
        }
        LogDestinationType::CloudWatchLogs => {
            let log_group = match (&req.log_group_name, &req.log_destination) {
                (None, None) => {
                    return Err(invalid_parameter(
                        "LogDestination can't be empty if LogGroupName is not provided.",
                    ));
                }
                (Some(name), _) => {
                    check_log_group_name(name)?;
                    name.clone()
                }
                (None, Some(arn)) => log_group_from_arn(arn, region)?,
            };
            if req.deliver_logs_permission_arn.is_none() {
                return Err(invalid_parameter(
                    "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs.",
                ));
            }
            if req.destination_options.is_some() {
                return Err(invalid_parameter(
                    "DestinationOptions is only supported for LogDestinationType s3.",
                ));
            }
            let arn = match &req.log_destination {
                Some(arn) => arn.strip_suffix(":*").unwrap_or(arn).to_owned(),
                None => format!("arn:aws:logs:{region}:{account}:log-group:{log_group}"),
            };
            FlowLogDestination::CloudWatchLogs { log_group, arn }
        }
        LogDestinationType::S3 => {
            if req.log_group_name.is_some() {
                return Err(invalid_parameter(
                    "LogDestination type must be cloud-watch-logs if LogGroupName is provided.",
                ));
            }
            let Some(arn) = &req.log_destination else {
                return Err(invalid_parameter(
                    "LogDestination can't be empty if LogGroupName is not provided.",
                ));
            };
            if req.deliver_logs_permission_arn.is_some() {
                return Err(invalid_parameter(
                    "DeliverLogsPermissionArn is not applicable for s3 delivery",
                ));
            }
            let (bucket, prefix) = s3_from_arn(arn)?;
            let options = s3_options(req.destination_options.as_ref())?;
            FlowLogDestination::S3 {
                arn: arn.clone(),
                bucket,
                prefix,
                options,
            }
        }
    };
    if let Some(arn) = &req.deliver_logs_permission_arn {
        check_role_arn("DeliverLogsPermissionArn", arn)?;
    }
    if let Some(arn) = &req.deliver_cross_account_role {
        check_role_arn("DeliverCrossAccountRole", arn)?;
    }
    let log_format = match &req.log_format {
        None if resource_type.is_transit_gateway() => LogFormat::default_transit_gateway(),
        None => LogFormat::default_v2(),
        Some(text) => {
            let format = check_log_format(text)?;
            let foreign: Vec<String> = format
                .0
                .iter()
                .filter(|f| !f.applies_to(resource_type))
                .map(|f| format!("${{{}}}", f.as_str()))
                .collect();
            if !foreign.is_empty() {
                return Err(invalid_parameter(format!(
                    "Unknown fields provided: {}",
                    foreign.join(", ")
                )));
            }
            format
        }
    };
    let max_aggregation_interval =
        aggregation_interval(req.max_aggregation_interval, resource_type)?;
    Ok(Settings {
        resource_type,
        resource_kind,
        traffic_type,
        destination,
        deliver_logs_permission_arn: req.deliver_logs_permission_arn.clone(),
        deliver_cross_account_role: req.deliver_cross_account_role.clone(),
        log_format,
        max_aggregation_interval,
    })
}

fn s3_options(req: Option<&DestinationOptionsRequest>) -> Result<S3DestinationOptions, ApiError> {
    let mut out = S3DestinationOptions::default();
    let Some(req) = req else {
        return Ok(out);
    };
    if let Some(f) = &req.file_format {
        out.file_format = FlowLogFileFormat::parse(f).ok_or_else(|| {
            ApiError::bad_param(
                "DestinationOptions.FileFormat",
                f,
                "Valid values: plain-text, parquet.",
            )
        })?;
        if out.file_format == FlowLogFileFormat::Parquet {
            // refused rather than written as text under a name that promises Parquet
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "Fort writes flow logs to S3 as plain text only: DestinationOptions.FileFormat parquet is not supported.",
            ));
        }
    }
    out.hive_compatible_partitions = req.hive_compatible_partitions.unwrap_or(false);
    out.per_hour_partition = req.per_hour_partition.unwrap_or(false);
    Ok(out)
}

/// What makes two flow logs the same: the resource, the traffic and where it goes.
fn same_log(a: &FlowLog, resource_id: &str, s: &Settings) -> bool {
    let same_destination = match (&a.destination, &s.destination) {
        (
            FlowLogDestination::CloudWatchLogs { log_group: x, .. },
            FlowLogDestination::CloudWatchLogs { log_group: y, .. },
        ) => x == y,
        (
            FlowLogDestination::S3 {
                bucket: b1,
                prefix: p1,
                ..
            },
            FlowLogDestination::S3 {
                bucket: b2,
                prefix: p2,
                ..
            },
        ) => b1 == b2 && p1 == p2,
        _ => false,
    };
    a.resource_id == resource_id && a.traffic_type == s.traffic_type && same_destination
}

fn already_exists() -> ApiError {
    ApiError::new(
        ErrorCode::FlowLogAlreadyExists,
        "Error. There is an existing Flow Log with the same configuration and log destination.",
    )
}

/// The flow logs that apply to an interface: its own, its subnet's and its VPC's, in id
/// order. Each log's [`TrafficType::records`] says which flows it takes.
pub fn flow_logs_for_interface<'a>(
    region: &'a Region,
    eni: &'a str,
    subnet: &'a str,
    vpc: &'a str,
) -> impl Iterator<Item = &'a FlowLog> + 'a {
    region
        .flow_logs
        .values()
        .filter(move |f| f.watches(eni, subnet, vpc))
}

impl Tx<'_> {
    /// CreateFlowLogs: request-wide problems fail the call; a resource that is missing or
    /// already so watched is reported among the unsuccessful while the others get their
    /// log. Idempotent under its client token (the whole answer is replayed).
    pub fn create_flow_logs(
        &mut self,
        req: CreateFlowLogs,
        check: Option<&dyn DestinationCheck>,
    ) -> Result<CreatedFlowLogs, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, recorded| {
                let answer: CreatedFlowLogs = serde_json::from_str(recorded).ok()?;
                answer
                    .flow_log_ids
                    .iter()
                    .all(|id| r.flow_logs.contains(id))
                    .then_some(answer)
            },
            |tx| tx.make_flow_logs(req, check),
            |answer| serde_json::to_string(answer).unwrap_or_default(),
        )
    }

    fn make_flow_logs(
        &mut self,
        req: CreateFlowLogs,
        check: Option<&dyn DestinationCheck>,
    ) -> Result<CreatedFlowLogs, ApiError> {
        let s = settings(&req, &self.region.name, &self.region.account)?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        // a missing bucket fails every resource of the call, each in its item
        let missing_bucket = match (&s.destination, check) {
            (FlowLogDestination::S3 { bucket, .. }, Some(c))
                if c.bucket_owner(bucket).is_none() =>
            {
                Some(bucket.clone())
            }
            _ => None,
        };
        let mut out = CreatedFlowLogs::default();
        for resource in &req.resource_ids {
            let refused = |e: ApiError| Unsuccessful {
                resource_id: resource.clone(),
                code: e.code,
                message: e.message,
            };
            if let Err(e) = self.watched_exists(s.resource_kind, resource) {
                out.unsuccessful.push(refused(e));
                continue;
            }
            if let Some(bucket) = &missing_bucket {
                out.unsuccessful.push(refused(ApiError::new(
                    ErrorCode::FlowLogDestinationError,
                    format!("LogDestination: {bucket} does not exist"),
                )));
                continue;
            }
            if self
                .region
                .flow_logs
                .values()
                .any(|f| same_log(f, resource, &s))
            {
                out.unsuccessful.push(refused(already_exists()));
                continue;
            }
            let log = FlowLog {
                id: FlowLogId::new(),
                resource_id: resource.clone(),
                resource_type: s.resource_type,
                traffic_type: s.traffic_type,
                destination: s.destination.clone(),
                deliver_logs_permission_arn: s.deliver_logs_permission_arn.clone(),
                deliver_cross_account_role: s.deliver_cross_account_role.clone(),
                log_format: s.log_format.clone(),
                max_aggregation_interval: s.max_aggregation_interval,
                creation_time: self.now,
                deliver_logs_status: DeliverLogsStatus::Success,
                deliver_logs_error_message: None,
                client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
                tags: req.tags.clone(),
            };
            out.flow_log_ids.push(log.id.clone());
            self.region.flow_logs.insert(log);
        }
        Ok(out)
    }

    /// The VPC, subnet or interface a flow log would watch: EC2's malformed or not-found
    /// error otherwise.
    fn watched_exists(&self, kind: Kind, id: &str) -> Result<(), ApiError> {
        let r = &*self.region;
        match kind {
            Kind::Vpc => r.vpcs.find(kind, id).map(|_| ()),
            Kind::Subnet => r.subnets.find(kind, id).map(|_| ()),
            Kind::TransitGateway => r.transit_gateways.find(kind, id).map(|_| ()),
            Kind::TransitGatewayAttachment => {
                kind.check(id)?;
                crate::transit_gateway::attachment(r, self.global, id)
                    .map(|_| ())
                    .ok_or_else(|| kind.not_found(id))
            }
            _ => r.network_interfaces.find(kind, id).map(|_| ()),
        }
    }

    /// DeleteFlowLogs: each log is deleted, or reported among the unsuccessful with EC2's
    /// words (any id it does not hold, well formed or not, is NotFound).
    pub fn delete_flow_logs(&mut self, ids: &[String]) -> Vec<(String, ApiError)> {
        let mut failed = Vec::new();
        for id in ids {
            if self.region.flow_logs.remove(id).is_none() {
                failed.push((
                    id.clone(),
                    ApiError::new(
                        ErrorCode::InvalidFlowLogIdNotFound,
                        format!(
                            "These flow log ids in the input list are not found: [TotalCount: 1] {id}"
                        ),
                    ),
                ));
            }
        }
        failed
    }

    /// Deletes the flow logs of a VPC, subnet or interface that is going away (EC2 removes
    /// them with it).
    pub(crate) fn drop_flow_logs_of(&mut self, resource_id: &str) {
        for id in self
            .region
            .flow_logs
            .ids_where(|f| f.resource_id == resource_id)
        {
            self.region.flow_logs.remove(&id);
        }
    }

    /// Records how the last delivery of flow log `id` went (`error` is
    /// `DeliverLogsErrorMessage`, e.g. EC2's `Access error`, `Rate limited` or
    /// `Unknown error`; `None` on success). Writes only on a change; `false` when the
    /// log is gone or unchanged.
    pub fn set_flow_log_delivery(
        &mut self,
        id: &FlowLogId,
        status: DeliverLogsStatus,
        error: Option<String>,
    ) -> bool {
        let error = match status {
            DeliverLogsStatus::Success => None,
            DeliverLogsStatus::Failed => error,
        };
        let changed = self.region.flow_logs.get(id).is_some_and(|f| {
            f.deliver_logs_status != status || f.deliver_logs_error_message != error
        });
        if changed && let Some(f) = self.region.flow_logs.get_mut(id) {
            f.deliver_logs_status = status;
            f.deliver_logs_error_message = error;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cw(group: &str) -> CreateFlowLogs {
        CreateFlowLogs {
            resource_type: Some("VPC".into()),
            resource_ids: vec!["vpc-1".into()],
            traffic_type: Some("ALL".into()),
            log_group_name: Some(group.into()),
            deliver_logs_permission_arn: Some("arn:aws:iam::123456789012:role/fl".into()),
            ..CreateFlowLogs::default()
        }
    }

    fn s3(arn: &str) -> CreateFlowLogs {
        CreateFlowLogs {
            resource_type: Some("Subnet".into()),
            resource_ids: vec!["subnet-1".into()],
            traffic_type: Some("reject".into()),
            log_destination_type: Some("s3".into()),
            log_destination: Some(arn.into()),
            ..CreateFlowLogs::default()
        }
    }

    fn err(req: &CreateFlowLogs) -> ApiError {
        settings(req, "us-east-1", "123456789012").unwrap_err()
    }

    #[test]
    fn cloudwatch_defaults() {
        let s = settings(&cw("my/group"), "us-east-1", "123456789012").unwrap();
        assert_eq!(s.traffic_type, TrafficType::All);
        assert_eq!(s.max_aggregation_interval, 600);
        assert_eq!(s.log_format, LogFormat::default_v2());
        assert_eq!(
            s.destination,
            FlowLogDestination::CloudWatchLogs {
                log_group: "my/group".into(),
                arn: "arn:aws:logs:us-east-1:123456789012:log-group:my/group".into()
            }
        );
    }

    #[test]
    fn cloudwatch_by_arn_and_its_rules() {
        let mut r = cw("g");
        r.log_group_name = None;
        r.log_destination = Some("arn:aws:logs:us-east-1:123456789012:log-group:g:*".into());
        let s = settings(&r, "us-east-1", "123456789012").unwrap();
        assert_eq!(s.destination.clone(), {
            FlowLogDestination::CloudWatchLogs {
                log_group: "g".into(),
                arn: "arn:aws:logs:us-east-1:123456789012:log-group:g".into(),
            }
        });
        r.log_destination = Some("arn:aws:logs:eu-west-1:123456789012:log-group:g".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
        r.log_destination = Some("arn:aws:s3:::bucket".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
        let mut r = cw("g");
        r.log_destination = Some("arn:aws:logs:us-east-1:123456789012:log-group:g".into());
        assert!(err(&r).message.contains("only provide"));
        let mut r = cw("g");
        r.deliver_logs_permission_arn = None;
        assert_eq!(
            err(&r).message,
            "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs."
        );
        let mut r = cw("bad name!");
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
        r = cw("g");
        r.log_group_name = None;
        assert_eq!(
            err(&r).message,
            "LogDestination can't be empty if LogGroupName is not provided."
        );
        r = cw("g");
        r.destination_options = Some(DestinationOptionsRequest::default());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
        r = cw("g");
        r.deliver_logs_permission_arn = Some("role".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
    }

    #[test]
    fn s3_destinations() {
        let s = settings(
            &s3("arn:aws:s3:::my-bucket/logs/vpc/"),
            "us-east-1",
            "123456789012",
        )
        .unwrap();
        assert_eq!(s.traffic_type, TrafficType::Reject);
        assert_eq!(s.resource_type, FlowLogResourceType::Subnet);
        let FlowLogDestination::S3 {
            bucket,
            prefix,
            options,
            arn,
        } = s.destination
        else {
            panic!("not s3");
        };
        assert_eq!(
            (bucket.as_str(), prefix.as_str(), arn.as_str()),
            ("my-bucket", "logs/vpc", "arn:aws:s3:::my-bucket/logs/vpc/")
        );
        assert_eq!(options, S3DestinationOptions::default());
        assert!(
            settings(
                &s3("arn:aws-cn:s3:::cn-bucket"),
                "cn-north-1",
                "123456789012"
            )
            .is_ok()
        );
        for bad in [
            "arn:aws:s3:::AWSLogs-bucket",
            "arn:aws:s3:::b",
            "arn:aws:s3:::my-bucket/AWSLogs/",
            "arn:aws:s3:::my-bucket/AWSLogs",
            "arn:aws:s3:::my-bucket/a//b",
            "arn:aws:s3:::my-bucket//a",
            "arn:aws:logs:us-east-1:123456789012:log-group:g",
            "arn:aws-x:s3:::my-bucket",
            "arn:aws:s3::my-bucket",
        ] {
            assert_eq!(err(&s3(bad)).code, ErrorCode::InvalidParameter, "{bad}");
        }
        let mut r = s3("arn:aws:s3:::my-bucket");
        r.deliver_logs_permission_arn = Some("arn:aws:iam::123456789012:role/x".into());
        assert_eq!(
            err(&r).message,
            "DeliverLogsPermissionArn is not applicable for s3 delivery"
        );
        let mut r = s3("arn:aws:s3:::my-bucket");
        r.log_group_name = Some("g".into());
        assert_eq!(
            err(&r).message,
            "Please only provide LogGroupName or only provide LogDestination."
        );
        r.log_destination = None;
        assert_eq!(
            err(&r).message,
            "LogDestination type must be cloud-watch-logs if LogGroupName is provided."
        );
        let mut r = s3("arn:aws:s3:::my-bucket");
        r.destination_options = Some(DestinationOptionsRequest {
            file_format: Some("parquet".into()),
            hive_compatible_partitions: Some(true),
            per_hour_partition: None,
        });
        assert_eq!(err(&r).code, ErrorCode::UnsupportedOperation);
        r.destination_options.as_mut().unwrap().file_format = Some("plain-text".into());
        let s = settings(&r, "us-east-1", "123456789012").unwrap();
        assert!(matches!(
            s.destination,
            FlowLogDestination::S3 {
                options: S3DestinationOptions {
                    file_format: FlowLogFileFormat::PlainText,
                    hive_compatible_partitions: true,
                    per_hour_partition: false
                },
                ..
            }
        ));
        r.destination_options = Some(DestinationOptionsRequest {
            file_format: Some("csv".into()),
            ..Default::default()
        });
        assert_eq!(err(&r).code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn request_wide_rules() {
        let mut r = cw("g");
        r.resource_type = Some("CoreNetwork".into());
        assert_eq!(err(&r).code, ErrorCode::UnsupportedOperation);
        r.resource_type = Some("TransitGateway".into());
        assert_eq!(
            err(&r).message,
            "TrafficType is not supported if ResourceType is TransitGateway."
        );
        r.resource_type = Some("Vpc".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameterValue);
        r.resource_type = None;
        assert_eq!(err(&r).code, ErrorCode::MissingParameter);
        let mut r = cw("g");
        r.resource_ids.clear();
        assert_eq!(err(&r).code, ErrorCode::MissingParameter);
        r.resource_ids = vec!["vpc-1".into(); MAX_RESOURCE_IDS + 1];
        assert_eq!(err(&r).code, ErrorCode::InvalidParameter);
        let mut r = cw("g");
        r.traffic_type = None;
        assert_eq!(
            err(&r).message,
            "TrafficType can't be empty if ResourceType is VPC."
        );
        r.traffic_type = Some("SOME".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameterValue);
        let mut r = cw("g");
        r.log_destination_type = Some("kinesis-data-firehose".into());
        assert_eq!(err(&r).code, ErrorCode::UnsupportedOperation);
        r.log_destination_type = Some("ftp".into());
        assert_eq!(err(&r).code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn aggregation_intervals() {
        let vpc = FlowLogResourceType::Vpc;
        assert_eq!(aggregation_interval(None, vpc), Ok(600));
        for ok in [1u32, 5, 10, 15, 30, 60, 600] {
            assert_eq!(aggregation_interval(Some(i64::from(ok)), vpc), Ok(ok));
        }
        for bad in [0, 2, 120, 300, -60, i64::MAX] {
            assert_eq!(
                aggregation_interval(Some(bad), vpc).unwrap_err().message,
                "Invalid Flow Log Max Aggregation Interval."
            );
        }
        let tgw = FlowLogResourceType::TransitGateway;
        assert_eq!(aggregation_interval(None, tgw), Ok(60));
        assert_eq!(aggregation_interval(Some(60), tgw), Ok(60));
        for bad in [1, 600] {
            assert!(aggregation_interval(Some(bad), tgw).is_err());
        }
    }

    #[test]
    fn log_formats() {
        let f = check_log_format("${srcaddr} ${dstaddr}").unwrap();
        assert_eq!(f.render(), "${srcaddr} ${dstaddr}");
        for bad in [
            "",
            " ${srcaddr}",
            "${srcaddr} ",
            "srcaddr",
            "${srcaddr}${dstaddr}",
        ] {
            assert!(
                check_log_format(bad)
                    .unwrap_err()
                    .message
                    .contains("has an invalid format"),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_log_format("${srcaddr} ${nope} ${zap}")
                .unwrap_err()
                .message,
            "Unknown fields provided: ${nope}, ${zap}"
        );
    }

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("my.bucket-1"));
        for bad in [
            "ab",
            "My-bucket",
            "-bucket",
            "bucket-",
            "a..b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
