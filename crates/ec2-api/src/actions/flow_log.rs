//! VPC flow log actions: CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs.

use fort_control::Scope;
use fort_control::flow_log::{CreateFlowLogs, DestinationOptionsRequest};
use fort_model::{ApiError, ErrorCode, FlowLog, FlowLogDestination, Kind, format_time};

use super::{Ctx, Describe, b, next_token};
use crate::xml::Xml;

crate::actions!(CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs);

/// DescribeFlowLogs' filters (and `tag:KEY`, `tag-key`, `tag-value`).
const FILTERS: &[&str] = &[
    "deliver-log-status",
    "flow-log-id",
    "log-destination-type",
    "log-group-name",
    "resource-id",
    "traffic-type",
];

/// FlowLogIds per DescribeFlowLogs/DeleteFlowLogs (EC2's documented constraint).
const MAX_FLOW_LOG_IDS: usize = 1000;

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateFlowLogs => {
            if p.child("TagFieldSpecification").is_present() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "TagFieldSpecifications (EC2 tag fields in flow log records) are not supported by Fort.",
                ));
            }
            let options = p.child("DestinationOptions");
            let destination_options = options.is_present().then(|| -> Result<_, ApiError> {
                Ok(DestinationOptionsRequest {
                    file_format: options.opt_str("FileFormat"),
                    hive_compatible_partitions: options.bool("HiveCompatiblePartitions")?,
                    per_hour_partition: options.bool("PerHourPartition")?,
                })
            });
            let resource_ids = p.strings("ResourceId")?;
            // EC2 answers a token even when none was given: one of its own making
            let client_token = p
                .opt_str("ClientToken")
                .unwrap_or_else(|| generated_client_token(&ctx.scope, &resource_ids));
            let req = CreateFlowLogs {
                resource_type: p.opt_str("ResourceType"),
                resource_ids,
                traffic_type: p.opt_str("TrafficType"),
                log_destination_type: p.opt_str("LogDestinationType"),
                log_destination: p.opt_str("LogDestination"),
                log_group_name: p.opt_str("LogGroupName"),
                deliver_logs_permission_arn: p.opt_str("DeliverLogsPermissionArn"),
                deliver_cross_account_role: p.opt_str("DeliverCrossAccountRole"),
                log_format: p.opt_str("LogFormat"),
                max_aggregation_interval: p.int("MaxAggregationInterval")?,
                destination_options: destination_options.transpose()?,
                tags: ctx.tag_specs(&["vpc-flow-log"])?,
                client_token: ctx.client_token()?,
            };
            let check = ctx.control.destination_check();
            let answer = ctx
                .write(|tx| tx.create_flow_logs(req, check.as_deref()))
                .await?;
            let mut w = Xml::new();
            w.leaf("clientToken", &client_token)
                .strings("flowLogIdSet", &answer.flow_log_ids)
                .set("unsuccessful", &answer.unsuccessful, |w, u| {
                    w.el("error", |w| {
                        w.leaf("code", u.code).leaf("message", &u.message);
                    })
                    .leaf("resourceId", &u.resource_id);
                });
            Ok(w)
        }
        Action::DescribeFlowLogs => {
            if p.strings("FlowLogId")?.len() > MAX_FLOW_LOG_IDS {
                return Err(too_many_ids());
            }
            let d = Describe {
                ids_param: "FlowLogId",
                kind: Kind::FlowLog,
                filters: FILTERS,
                page: Some((1, 1000)),
            };
            ctx.read(|v| {
                // EC2 answers ids it does not know with nothing, not NotFound
                let page = d.run_ignoring_unknown(
                    p,
                    v.region.flow_logs.values(),
                    |f| &f.id,
                    |f| &f.tags,
                    field,
                )?;
                let mut w = Xml::new();
                w.set("flowLogSet", page.items, render);
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DeleteFlowLogs => {
            let ids = p.strings("FlowLogId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("FlowLogId"));
            }
            if ids.len() > MAX_FLOW_LOG_IDS {
                return Err(too_many_ids());
            }
            let failed = ctx.write(|tx| Ok(tx.delete_flow_logs(&ids))).await?;
            let mut w = Xml::new();
            w.set("unsuccessful", failed, |w, (id, e)| {
                w.el("error", |w| {
                    w.leaf("code", e.code).leaf("message", &e.message);
                })
                .leaf("resourceId", id);
            });
            Ok(w)
        }
    }
}

/// A token as EC2 makes one for a request that gave none: 32 bytes, base64. AWS answered
/// two such requests for the same VPC (to different buckets) with the same token, so it is
/// the caller's and the resources', not the request's.
fn generated_client_token(scope: &Scope, resource_ids: &[String]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(scope.account.as_bytes());
    h.update(scope.region.as_bytes());
    for id in resource_ids {
        h.update([0]);
        h.update(id.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn too_many_ids() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidParameter,
        format!("A request may name at most {MAX_FLOW_LOG_IDS} flow log IDs."),
    )
}

fn field(f: &FlowLog, name: &str) -> Vec<String> {
    match name {
        "deliver-log-status" => vec![f.deliver_logs_status.as_str().into()],
        "flow-log-id" => vec![f.id.to_string()],
        "log-destination-type" => vec![f.destination_type().as_str().into()],
        "log-group-name" => f.log_group_name().map(str::to_owned).into_iter().collect(),
        "resource-id" => vec![f.resource_id.clone()],
        "traffic-type" if !f.resource_type.is_transit_gateway() => {
            vec![f.traffic_type.as_str().into()]
        }
        _ => vec![],
    }
}

/// One flow log as DescribeFlowLogs shows it: every field, the format always written out.
fn render(w: &mut Xml, f: &FlowLog) {
    w.leaf("creationTime", format_time(f.creation_time))
        .opt(
            "deliverLogsErrorMessage",
            f.deliver_logs_error_message.as_deref(),
        )
        .opt(
            "deliverLogsPermissionArn",
            f.deliver_logs_permission_arn.as_deref(),
        )
        .opt(
            "deliverCrossAccountRole",
            f.deliver_cross_account_role.as_deref(),
        )
        .leaf("deliverLogsStatus", f.deliver_logs_status)
        .leaf("flowLogId", &f.id)
        .leaf("flowLogStatus", "ACTIVE")
        .opt("logGroupName", f.log_group_name())
        .leaf("resourceId", &f.resource_id)
        // a transit gateway's log has none
        .opt(
            "trafficType",
            (!f.resource_type.is_transit_gateway()).then_some(f.traffic_type),
        )
        .leaf("logDestinationType", f.destination_type())
        .leaf("logDestination", f.destination_arn())
        .leaf("logFormat", f.log_format.render())
        // even when empty, as EC2 answers
        .tag_set(&f.tags)
        .leaf("maxAggregationInterval", f.max_aggregation_interval);
    if let FlowLogDestination::S3 { options, .. } = &f.destination {
        w.el("destinationOptions", |w| {
            w.leaf("fileFormat", options.file_format)
                .leaf(
                    "hiveCompatiblePartitions",
                    b(options.hive_compatible_partitions),
                )
                .leaf("perHourPartition", b(options.per_hour_partition));
        });
    }
}
