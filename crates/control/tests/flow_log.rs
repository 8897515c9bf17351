//! Flow logs through the control plane: the logs that apply to an interface, delivery
//! status updates, the S3 destination hook, persistence and the cascade with the resource.

use std::sync::Arc;

use fort_control::flow_log::{CreateFlowLogs, DestinationCheck, flow_logs_for_interface};
use fort_control::network_interface::CreateNetworkInterface;
use fort_control::subnet::CreateSubnet;
use fort_control::vpc::CreateVpc;
use fort_control::{Config, Control, Scope};
use fort_model::{DeliverLogsStatus, ErrorCode, FlowLogId};
use fort_store::EmbeddedStore;

fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

fn cw(rtype: &str, id: &str, group: &str) -> CreateFlowLogs {
    CreateFlowLogs {
        resource_type: Some(rtype.into()),
        resource_ids: vec![id.into()],
        traffic_type: Some("ALL".into()),
        log_group_name: Some(group.into()),
        deliver_logs_permission_arn: Some("arn:aws:iam::123456789012:role/fl".into()),
        ..CreateFlowLogs::default()
    }
}

/// Buckets named `real-*` exist.
struct Buckets;

impl DestinationCheck for Buckets {
    fn bucket_owner(&self, bucket: &str) -> Option<String> {
        bucket
            .starts_with("real-")
            .then(|| "123456789012".to_owned())
    }
}

struct Net {
    vpc: String,
    subnet: String,
    eni: String,
}

async fn network(control: &Control, cidr: &str, subnet_cidr: &str) -> Net {
    control
        .write(&scope(), |tx| {
            let vpc = tx.create_vpc(CreateVpc {
                cidr_block: cidr.into(),
                ..Default::default()
            })?;
            let subnet = tx.create_subnet(CreateSubnet {
                vpc_id: vpc.id.to_string(),
                cidr_block: Some(subnet_cidr.into()),
                ..Default::default()
            })?;
            let eni = tx.create_network_interface(CreateNetworkInterface {
                subnet_id: subnet.id.to_string(),
                ..Default::default()
            })?;
            Ok(Net {
                vpc: vpc.id.to_string(),
                subnet: subnet.id.to_string(),
                eni: eni.id.to_string(),
            })
        })
        .await
        .unwrap()
}

/// The flow logs that apply to the network's interface.
async fn watching(control: &Control, n: &Net) -> Vec<FlowLogId> {
    control
        .read(&scope(), |v| {
            flow_logs_for_interface(v.region, &n.eni, &n.subnet, &n.vpc)
                .map(|f| f.id.clone())
                .collect()
        })
        .await
        .unwrap()
}

async fn create(control: &Control, req: CreateFlowLogs) -> Vec<FlowLogId> {
    let check = control.destination_check();
    let out = control
        .write(&scope(), |tx| tx.create_flow_logs(req, check.as_deref()))
        .await
        .unwrap();
    assert!(out.unsuccessful.is_empty(), "{:?}", out.unsuccessful);
    out.flow_log_ids
}

#[tokio::test]
async fn an_interface_is_watched_by_its_own_its_subnets_and_its_vpcs_logs() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store.clone(), Config::default())
        .await
        .unwrap();
    let a = network(&control, "10.0.0.0/16", "10.0.1.0/24").await;
    let b = network(&control, "10.1.0.0/16", "10.1.1.0/24").await;
    let mut mine = Vec::new();
    mine.extend(create(&control, cw("VPC", &a.vpc, "g")).await);
    mine.extend(create(&control, cw("Subnet", &a.subnet, "g")).await);
    mine.extend(create(&control, cw("NetworkInterface", &a.eni, "g")).await);
    create(&control, cw("VPC", &b.vpc, "g")).await;
    mine.sort();
    assert_eq!(watching(&control, &a).await, mine);
    assert_eq!(watching(&control, &b).await.len(), 1);

    // delivery reports a failure, then a success; an unchanged report writes nothing
    let id = mine[0].clone();
    let changed = control
        .write(&scope(), |tx| {
            Ok(tx.set_flow_log_delivery(
                &id,
                DeliverLogsStatus::Failed,
                Some("Access error".into()),
            ))
        })
        .await
        .unwrap();
    assert!(changed);
    let (again, seq) = control
        .write_numbered(&scope(), |tx| {
            Ok(tx.set_flow_log_delivery(
                &id,
                DeliverLogsStatus::Failed,
                Some("Access error".into()),
            ))
        })
        .await
        .unwrap();
    assert!(!again && seq == 0);

    // the logs and their status survive a restart
    drop(control);
    let control = Control::open(store, Config::default()).await.unwrap();
    let status = control
        .read(&scope(), |v| {
            let f = v.region.flow_logs.get(&id).unwrap();
            (f.deliver_logs_status, f.deliver_logs_error_message.clone())
        })
        .await
        .unwrap();
    assert_eq!(
        status,
        (DeliverLogsStatus::Failed, Some("Access error".into()))
    );
    control
        .write(&scope(), |tx| {
            Ok(tx.set_flow_log_delivery(&id, DeliverLogsStatus::Success, Some("ignored".into())))
        })
        .await
        .unwrap();
    let status = control
        .read(&scope(), |v| {
            let f = v.region.flow_logs.get(&id).unwrap();
            (f.deliver_logs_status, f.deliver_logs_error_message.clone())
        })
        .await
        .unwrap();
    assert_eq!(status, (DeliverLogsStatus::Success, None));

    // deleting the interface takes its own log only
    let eni = a.eni.clone();
    control
        .write(&scope(), |tx| {
            tx.delete_network_interface(&fort_model::NetworkInterfaceId::parse(&eni)?)
        })
        .await
        .unwrap();
    assert_eq!(watching(&control, &a).await.len(), 2);
}

#[tokio::test]
async fn a_connected_s3_service_refuses_missing_buckets() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store, Config::default()).await.unwrap();
    let n = network(&control, "10.0.0.0/16", "10.0.1.0/24").await;
    let s3 = |arn: &str| CreateFlowLogs {
        resource_type: Some("VPC".into()),
        resource_ids: vec![n.vpc.clone(), "vpc-0000000000000dead".into()],
        traffic_type: Some("ALL".into()),
        log_destination_type: Some("s3".into()),
        log_destination: Some(arn.into()),
        ..CreateFlowLogs::default()
    };
    // not connected: the ARN's form is all that is checked
    let out = control
        .write(&scope(), |tx| {
            tx.create_flow_logs(s3("arn:aws:s3:::gone"), None)
        })
        .await
        .unwrap();
    assert_eq!(out.flow_log_ids.len(), 1);
    control.set_destination_check(Arc::new(Buckets));
    let check = control.destination_check();
    let out = control
        .write(&scope(), |tx| {
            tx.create_flow_logs(s3("arn:aws:s3:::missing/x/"), check.as_deref())
        })
        .await
        .unwrap();
    assert!(out.flow_log_ids.is_empty());
    let codes: Vec<_> = out
        .unsuccessful
        .iter()
        .map(|u| (u.code, u.message.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (
                ErrorCode::FlowLogDestinationError,
                "LogDestination: missing does not exist"
            ),
            (
                ErrorCode::InvalidVpcIdNotFound,
                "The vpc ID 'vpc-0000000000000dead' does not exist"
            ),
        ]
    );
    let out = control
        .write(&scope(), |tx| {
            tx.create_flow_logs(s3("arn:aws:s3:::real-bucket"), check.as_deref())
        })
        .await
        .unwrap();
    assert_eq!(out.flow_log_ids.len(), 1);
}
