//! Flow-log delivery wired to the server's parts: the control plane is its catalog (the
//! flow logs, their subnets' zones, their delivery status), Fort's own CloudWatch Logs
//! and S3 are its destinations, and the mapping service hands it the hosts' windows.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use fort_control::flow_log::DestinationCheck;
use fort_control::{Control, Scope};
use fort_flowlogs::{Catalog, Delivery, Destinations, LogEvent, Owned};
use fort_model::{DeliverLogsStatus, FlowLogId};
use fort_proto::mapping::FlowLogReport;

/// Connects delivery to `mapping`, and the S3 bucket check to CreateFlowLogs.
pub fn connect(
    control: Arc<Control>,
    logs: Arc<fort_logs::Logs>,
    s3: Arc<fort_s3::S3>,
    mapping: &fort_mapping::server::MappingService,
) {
    control.set_destination_check(Arc::new(Buckets(s3.clone())));
    let delivery = Delivery::new(ControlCatalog(control), Stores { logs, s3 });
    mapping.set_flow_log_sink(Arc::new(Sink(delivery)));
}

struct Buckets(Arc<fort_s3::S3>);

impl DestinationCheck for Buckets {
    fn bucket_owner(&self, bucket: &str) -> Option<String> {
        self.0.bucket_owner(bucket)
    }
}

struct ControlCatalog(Arc<Control>);

#[async_trait]
impl Catalog for ControlCatalog {
    async fn flow_log(&self, id: &str) -> Option<Owned> {
        self.0
            .read_world(|w| {
                w.regions.iter().find_map(|((account, region), r)| {
                    r.flow_logs.get(id).map(|f| Owned {
                        account: account.clone(),
                        region: region.clone(),
                        flow_log: f.clone(),
                    })
                })
            })
            .await
    }

    async fn az_id(&self, account: &str, region: &str, subnet_id: &str) -> Option<String> {
        self.0
            .read_world(|w| {
                w.regions
                    .get(&(account.to_owned(), region.to_owned()))?
                    .subnets
                    .get(subnet_id)
                    .map(|s| s.availability_zone_id.clone())
            })
            .await
    }

    async fn set_status(&self, owned: &Owned, error: Option<String>) {
        let scope = Scope {
            account: owned.account.clone(),
            region: owned.region.clone(),
        };
        let id: FlowLogId = owned.flow_log.id.clone();
        let status = if error.is_some() {
            DeliverLogsStatus::Failed
        } else {
            DeliverLogsStatus::Success
        };
        let written = self
            .0
            .write(
                &scope,
                |tx| Ok(tx.set_flow_log_delivery(&id, status, error)),
            )
            .await;
        if let Err(e) = written {
            tracing::warn!(flow_log = %id, error = %e.message, "flow-log status not recorded");
        }
    }
}

struct Stores {
    logs: Arc<fort_logs::Logs>,
    s3: Arc<fort_s3::S3>,
}

#[async_trait]
impl Destinations for Stores {
    async fn put_log_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
        create_group: bool,
    ) -> Result<(), String> {
        let logs = self.logs.clone();
        let (account, region, group, stream) = (
            account.to_owned(),
            region.to_owned(),
            group.to_owned(),
            stream.to_owned(),
        );
        let events: Vec<fort_logs::LogEvent> = events
            .into_iter()
            .map(|e| fort_logs::LogEvent {
                timestamp: e.timestamp_ms,
                message: e.message,
            })
            .collect();
        // the logs store is redb: its writes block
        tokio::task::spawn_blocking(move || {
            if create_group {
                logs.create_group_if_missing(&account, &region, &group)?;
            }
            logs.put_events(&account, &region, &group, &stream, &events)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
        let s3 = self.s3.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        tokio::task::spawn_blocking(move || {
            s3.put_object(&bucket, &key, body, "application/gzip")
                .map(|_| ())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }
}

struct Sink(Delivery<ControlCatalog, Stores>);

impl fort_mapping::server::FlowLogSink for Sink {
    fn deliver(
        &self,
        report: FlowLogReport,
    ) -> Pin<Box<dyn std::future::Future<Output = u32> + Send + '_>> {
        Box::pin(self.0.deliver(report))
    }

    fn metrics(&self, out: &mut String) {
        self.0.metrics(out);
    }
}
