//! Instance actions.

use std::collections::HashMap;

use fort_control::instance::{
    CapacityReservationSpec, CpuOptionsRequest, InstanceChange, InterfaceSpec,
    MetadataOptionsRequest, ModifyMetadataDefaults, PrivateDnsNameOptionsRequest, RunInstances,
    StateChange, console_output, metadata_defaults,
};
use fort_control::network_interface::{AddressRequest, private_dns_name};
use fort_control::spot::SpotRequestSpec;
use fort_control::volume::{BlockDeviceSpec, EbsSpec, VolumeSpec};
use fort_control::{Region, now_millis};
use fort_model::dns_name::instance_private_dns_name;
use fort_model::{
    ApiError, CapacityReservationId, DedicatedHostId, ErrorCode, Instance, InstanceId,
    InstanceState, InterruptionBehavior, Kind, LaunchTemplateId, MetadataOptions, NetworkInterface,
    RebootMigration, SpotInstanceType, Volume, VolumeAttachment, format_time,
};

use super::network_interface::{
    association, groups, ipv6_addresses, ipv6_request, private_ip_specs,
};
use super::{Ctx, Describe, b, next_token, ok_return};
use crate::filter::paginate;
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    RunInstances,
    DescribeInstances,
    TerminateInstances,
    StopInstances,
    StartInstances,
    RebootInstances,
    DescribeInstanceAttribute,
    ModifyInstanceAttribute,
    ResetInstanceAttribute,
    DescribeInstanceStatus,
    DescribeInstanceCreditSpecifications,
    ModifyInstanceCreditSpecification,
    ModifyInstanceMetadataOptions,
    ModifyInstanceMaintenanceOptions,
    ModifyInstanceCapacityReservationAttributes,
    GetInstanceMetadataDefaults,
    ModifyInstanceMetadataDefaults,
    ModifyPrivateDnsNameOptions,
    GetConsoleOutput,
    GetPasswordData,
    GetInstanceUefiData,
    MonitorInstances,
    UnmonitorInstances,
);

/// Volumes by the instance they are attached to, built once per request.
/// (with the attachment to that instance: a Multi-Attach volume has several)
type Volumes<'a> = HashMap<&'a InstanceId, Vec<(&'a VolumeAttachment, &'a Volume)>>;

fn volumes(region: &Region) -> Volumes<'_> {
    let mut map: Volumes<'_> = HashMap::new();
    for v in region.volumes.values() {
        for a in v.attachments() {
            map.entry(&a.instance_id).or_default().push((a, v));
        }
    }
    for v in map.values_mut() {
        v.sort_by(|x, y| x.0.device.cmp(&y.0.device));
    }
    map
}

fn metadata_request(p: &Params) -> Result<MetadataOptionsRequest, ApiError> {
    Ok(MetadataOptionsRequest {
        http_tokens: p.opt_str("HttpTokens"),
        http_put_response_hop_limit: p.int("HttpPutResponseHopLimit")?,
        http_endpoint: p.opt_str("HttpEndpoint"),
        http_protocol_ipv6: p.opt_str("HttpProtocolIpv6"),
        instance_metadata_tags: p.opt_str("InstanceMetadataTags"),
    })
}

/// `PrivateDnsNameOptions` of RunInstances (`p` is that structure), or
/// ModifyPrivateDnsNameOptions's parameters (`type_param` names the hostname type in each).
fn private_dns_name_request(
    p: &Params,
    type_param: &str,
) -> Result<PrivateDnsNameOptionsRequest, ApiError> {
    Ok(PrivateDnsNameOptionsRequest {
        hostname_type: p
            .get(type_param)
            .map(|v| super::hostname_type(type_param, v))
            .transpose()?,
        enable_resource_name_dns_a_record: p.bool("EnableResourceNameDnsARecord")?,
        enable_resource_name_dns_aaaa_record: p.bool("EnableResourceNameDnsAAAARecord")?,
    })
}

fn block_device(p: &Params) -> Result<BlockDeviceSpec, ApiError> {
    let ebs = p.child("Ebs");
    // `NoDevice` is a flag: EC2 takes only the empty string.
    if p.get("NoDevice").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "The request received was invalid",
        ));
    }
    Ok(BlockDeviceSpec {
        device_name: p.opt_str("DeviceName").unwrap_or_default(),
        no_device: p.get("NoDevice").is_some(),
        virtual_name: p.opt_str("VirtualName"),
        ebs: if ebs.is_present() {
            Some(EbsSpec {
                spec: VolumeSpec {
                    volume_type: ebs.opt_str("VolumeType"),
                    size: ebs.int("VolumeSize")?,
                    iops: ebs.int("Iops")?,
                    throughput: ebs.int("Throughput")?,
                },
                snapshot_id: ebs.opt_str("SnapshotId"),
                delete_on_termination: ebs.bool("DeleteOnTermination")?,
                encrypted: ebs.bool("Encrypted")?,
                kms_key_id: ebs.opt_str("KmsKeyId"),
            })
        } else {
            None
        },
    })
}

fn render_metadata(w: &mut Xml, m: &MetadataOptions, state: &str) {
    w.leaf("state", state)
        .leaf("httpTokens", &m.http_tokens)
        .leaf("httpPutResponseHopLimit", m.http_put_response_hop_limit)
        .leaf("httpEndpoint", &m.http_endpoint)
        .leaf("httpProtocolIpv6", &m.http_protocol_ipv6)
        .leaf("instanceMetadataTags", &m.instance_metadata_tags);
}

/// `blockDeviceMapping` items of an instance.
fn render_block_devices(w: &mut Xml, name: &str, vols: &[(&VolumeAttachment, &Volume)]) {
    w.set(name, vols.iter(), |w, &(a, v)| {
        w.leaf("deviceName", &a.device).el("ebs", |w| {
            w.leaf("volumeId", &v.id)
                .leaf("status", "attached")
                .leaf("attachTime", format_time(a.attach_time))
                .leaf("deleteOnTermination", b(a.delete_on_termination));
        });
    });
}

/// Interfaces by the instance they are attached to, built once per request.
type Attached<'a> = HashMap<&'a str, Vec<&'a NetworkInterface>>;

fn attached(region: &Region) -> Attached<'_> {
    let mut map: Attached<'_> = HashMap::new();
    for e in region.network_interfaces.values() {
        if let Some(a) = &e.attachment {
            map.entry(a.instance_id.as_str()).or_default().push(e);
        }
    }
    for v in map.values_mut() {
        v.sort_by_key(|e| e.attachment.as_ref().map_or(0, |a| a.device_index));
    }
    map
}

fn interface_spec(p: &Params) -> Result<InterfaceSpec, ApiError> {
    Ok(InterfaceSpec {
        device_index: p.int("DeviceIndex")?,
        network_interface_id: p.opt_str("NetworkInterfaceId"),
        subnet_id: p.opt_str("SubnetId"),
        groups: p.strings("SecurityGroupId")?,
        addresses: AddressRequest {
            private_ip: p.opt_str("PrivateIpAddress"),
            private_ips: private_ip_specs(p, "PrivateIpAddresses")?,
            secondary_count: p.int("SecondaryPrivateIpAddressCount")?,
            ipv6: ipv6_request(p, "Ipv6Addresses")?,
        },
        associate_public_ip: p.bool("AssociatePublicIpAddress")?,
        delete_on_termination: p.bool("DeleteOnTermination")?,
        description: p.opt_str("Description"),
    })
}

/// The image RunInstances launches: `ImageId` itself, or the image the public SSM
/// parameter it names (`resolve:ssm:NAME`) holds.
fn launch_image_id(region: &str, image_id: &str) -> Result<String, ApiError> {
    fort_control::ssm::resolve_image_id(region, image_id).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Invalid value '{image_id}' for ImageId. The Systems Manager parameter it names does not exist or cannot be accessed."
        ))
    })
}

/// RunInstances's request, read from `p` (the request's parameters with its launch
/// template's under them).
pub(crate) fn run_request(
    ctx: &Ctx<'_>,
    p: &Params,
    launch_template: Option<(LaunchTemplateId, u64)>,
) -> Result<RunInstances, ApiError> {
    let min = p
        .int("MinCount")?
        .ok_or_else(|| ApiError::missing("MinCount"))?;
    let max = p
        .int("MaxCount")?
        .ok_or_else(|| ApiError::missing("MaxCount"))?;
    if p.child("Placement").get("HostResourceGroupArn").is_some() {
        return Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            "Fort has no host resource groups (License Manager): name a HostId instead.",
        ));
    }
    // Fort has no License Manager: no license configuration is shared with the account.
    // (EC2's message; its code is not documented, InvalidParameterValue is a guess)
    if !p.list("LicenseSpecification")?.is_empty() {
        return Err(ApiError::invalid_value(
            "An instance is associated with one or more unshared license configurations.",
        ));
    }
    let interfaces = p
        .list("NetworkInterface")?
        .into_iter()
        .map(interface_spec)
        .collect::<Result<_, _>>()?;
    Ok(RunInstances {
        image_id: launch_image_id(&ctx.scope.region, p.req("ImageId")?)?,
        instance_type: p.opt_str("InstanceType"),
        min_count: min,
        max_count: max,
        subnet_id: p.opt_str("SubnetId"),
        // Terraform sends an empty zone for "wherever the subnet is"; EC2 takes it so
        availability_zone: p
            .child("Placement")
            .opt_str("AvailabilityZone")
            .filter(|z| !z.is_empty()),
        group_ids: p.strings("SecurityGroupId")?,
        group_names: p.strings("SecurityGroup")?,
        private_ip: p.opt_str("PrivateIpAddress"),
        ipv6: ipv6_request(p, "Ipv6Address")?,
        interfaces,
        key_name: p.opt_str("KeyName"),
        user_data: p.opt_str("UserData"),
        client_token: ctx.client_token()?,
        disable_api_termination: p.bool("DisableApiTermination")?.unwrap_or(false),
        disable_api_stop: p.bool("DisableApiStop")?.unwrap_or(false),
        tags: super::tag_specs_in(p, &["instance", "network-interface", "volume"])?,
        interface_tags: super::tag_specs_for_in(p, "network-interface")?,
        volume_tags: super::tag_specs_for_in(p, "volume")?,
        block_devices: p
            .list("BlockDeviceMapping")?
            .into_iter()
            .map(block_device)
            .collect::<Result<_, _>>()?,
        metadata_options: if p.child("MetadataOptions").is_present() {
            Some(metadata_request(p.child("MetadataOptions"))?)
        } else {
            None
        },
        private_dns_name_options: private_dns_name_request(
            p.child("PrivateDnsNameOptions"),
            "HostnameType",
        )?,
        cpu_credits: p.child("CreditSpecification").opt_str("CpuCredits"),
        shutdown_behavior: p.opt_str("InstanceInitiatedShutdownBehavior"),
        ebs_optimized: p.bool("EbsOptimized")?.unwrap_or(false),
        monitoring: p.child("Monitoring").bool("Enabled")?.unwrap_or(false),
        cpu_options: cpu_options_request(p.child("CpuOptions"))?,
        launch_template,
        iam_instance_profile: super::iam_instance_profile::profile_spec(p),
        spot: market_options(p.child("InstanceMarketOptions"))?,
        fleet_id: None,
        spot_fleet_request_id: None,
        hibernation: p.child("HibernationOptions").bool("Configured")? == Some(true),
        enclave: p.child("EnclaveOptions").bool("Enabled")? == Some(true),
        auto_recovery_disabled: auto_recovery(p.child("MaintenanceOptions"))?.unwrap_or(false),
        capacity_reservation: capacity_reservation_spec(
            p.child("CapacityReservationSpecification"),
            "CapacityReservationSpecification",
        )?,
        placement_group_name: p.child("Placement").opt_str("GroupName"),
        placement_group_id: p.child("Placement").opt_str("GroupId"),
        partition_number: p.child("Placement").int("PartitionNumber")?,
        tenancy: p.child("Placement").opt_nonempty("Tenancy"),
        host_id: p
            .child("Placement")
            .get("HostId")
            .filter(|h| !h.is_empty())
            .map(DedicatedHostId::parse)
            .transpose()?,
        affinity: super::dedicated_host::affinity(
            p.child("Placement")
                .get("Affinity")
                .filter(|a| !a.is_empty()),
        )?,
    })
}

/// `AutoRecovery` of `MaintenanceOptions` (or ModifyInstanceMaintenanceOptions's
/// parameters): whether it is `disabled`; `None` when not given.
fn auto_recovery(p: &Params) -> Result<Option<bool>, ApiError> {
    match p.get("AutoRecovery") {
        None => Ok(None),
        Some("default") => Ok(Some(false)),
        Some("disabled") => Ok(Some(true)),
        Some(other) => Err(ApiError::invalid_value(format!(
            "Value ({other}) for parameter AutoRecovery is invalid. Valid values: default, disabled."
        ))),
    }
}

fn reboot_migration(p: &Params) -> Result<Option<RebootMigration>, ApiError> {
    match p.get("RebootMigration") {
        None => Ok(None),
        Some("default") => Ok(Some(RebootMigration::Default)),
        Some("disabled") => Ok(Some(RebootMigration::Disabled)),
        Some(other) => Err(ApiError::invalid_value(format!(
            "Value ({other}) for parameter RebootMigration is invalid. Valid values: default, disabled."
        ))),
    }
}

/// A `CapacityReservationSpecification`: a preference (`open` is EC2's default) or a
/// target; `None` when neither is given. `capacity-reservations-only` (which needs
/// Capacity Reservation groups or fleets Fort does not have) and a resource group target
/// are refused as unsupported.
fn capacity_reservation_spec(
    p: &Params,
    param: &str,
) -> Result<Option<CapacityReservationSpec>, ApiError> {
    let unsupported = |what: &str| {
        ApiError::new(
            ErrorCode::UnsupportedOperation,
            format!("{param}.{what} is not supported: Fort has no Capacity Reservation groups."),
        )
    };
    let target = p.child("CapacityReservationTarget");
    let preference = p.get("CapacityReservationPreference");
    if target.is_present() {
        if preference.is_some() {
            return Err(ApiError::combination(format!(
                "The parameters {param}.CapacityReservationPreference and {param}.CapacityReservationTarget cannot be used together."
            )));
        }
        if target.get("CapacityReservationResourceGroupArn").is_some() {
            return Err(unsupported(
                "CapacityReservationTarget.CapacityReservationResourceGroupArn",
            ));
        }
        let id = target.req("CapacityReservationId").map_err(|_| {
            ApiError::missing(&format!(
                "{param}.CapacityReservationTarget.CapacityReservationId"
            ))
        })?;
        return Ok(Some(CapacityReservationSpec::Target(
            CapacityReservationId::parse(id)?,
        )));
    }
    match preference {
        None => Ok(None),
        Some("open") => Ok(Some(CapacityReservationSpec::Preference { none: false })),
        Some("none") => Ok(Some(CapacityReservationSpec::Preference { none: true })),
        Some("capacity-reservations-only") => Err(unsupported(
            "CapacityReservationPreference capacity-reservations-only",
        )),
        Some(other) => Err(ApiError::invalid_value(format!(
            "Value ({other}) for parameter {param}.CapacityReservationPreference is invalid. Valid values: open, none, capacity-reservations-only."
        ))),
    }
}

/// `InstanceMarketOptions` of RunInstances: the Spot market's terms, or `None` for
/// On-Demand (no options, or market type `capacity-block` refused: Fort has no blocks).
fn market_options(q: &Params) -> Result<Option<SpotRequestSpec>, ApiError> {
    match q.get("MarketType") {
        None if !q.child("SpotOptions").is_present() => return Ok(None),
        None | Some("spot") => {}
        Some(other) => {
            return Err(ApiError::invalid_value(format!(
                "Value ({other}) for parameter InstanceMarketOptions.MarketType is invalid. Valid values: spot."
            )));
        }
    }
    let o = q.child("SpotOptions");
    if o.int("BlockDurationMinutes")?.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterCombination,
            "Spot blocks (BlockDurationMinutes) are no longer offered.",
        ));
    }
    Ok(Some(SpotRequestSpec {
        max_price: o.opt_str("MaxPrice"),
        request_type: spot_type(o.get("SpotInstanceType"))?,
        interruption_behavior: interruption_behavior(o.get("InstanceInterruptionBehavior"))?,
        valid_from: None,
        valid_until: o.time("ValidUntil")?,
        launch_group: None,
        availability_zone_group: None,
        tags: Default::default(),
    }))
}

/// `one-time` (the default) or `persistent`.
pub(crate) fn spot_type(v: Option<&str>) -> Result<SpotInstanceType, ApiError> {
    match v {
        None => Ok(SpotInstanceType::OneTime),
        Some(t) => SpotInstanceType::parse(t).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Value ({t}) for parameter type is invalid. Valid values: one-time, persistent."
            ))
        }),
    }
}

/// `terminate` (the default), `stop` or `hibernate`.
pub(crate) fn interruption_behavior(v: Option<&str>) -> Result<InterruptionBehavior, ApiError> {
    match v {
        None => Ok(InterruptionBehavior::Terminate),
        Some(t) => InterruptionBehavior::parse(t).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Value ({t}) for parameter instanceInterruptionBehavior is invalid. Valid values: hibernate, stop, terminate."
            ))
        }),
    }
}

/// `CpuOptions.*` of RunInstances, when given.
fn cpu_options_request(q: &Params) -> Result<Option<CpuOptionsRequest>, ApiError> {
    if !q.is_present() {
        return Ok(None);
    }
    Ok(Some(CpuOptionsRequest {
        core_count: q.int("CoreCount")?,
        threads_per_core: q.int("ThreadsPerCore")?,
        amd_sev_snp: q.opt_str("AmdSevSnp"),
    }))
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::RunInstances => {
            let (merged, template) = ctx
                .read(|v| super::launch_template::with_template(v.region, p))
                .await??;
            let req = run_request(ctx, &merged, template)?;
            let reservation = ctx
                .write(|tx| tx.run_instances(req))
                .await?
                .first()
                .map(|i| i.reservation_id.clone())
                .ok_or_else(|| ApiError::internal("no instance launched"))?;
            ctx.read(|v| {
                let enis = attached(v.region);
                let vols = volumes(v.region);
                let insts: Vec<&Instance> = v
                    .region
                    .instances
                    .values()
                    .filter(|i| i.reservation_id == reservation)
                    .collect();
                let mut w = Xml::new();
                reservation_body(&mut w, v.region, &reservation, &insts, &enis, &vols, true);
                w
            })
            .await
        }
        Action::DescribeInstances => {
            if p.get("MaxResults").is_some() && !p.strings("InstanceId")?.is_empty() {
                return Err(ApiError::combination(
                    "The parameter instancesSet cannot be used with the parameter maxResults",
                ));
            }
            let d = Describe {
                ids_param: "InstanceId",
                kind: Kind::Instance,
                filters: FILTERS,
                page: None,
            };
            ctx.read(|v| {
                let enis = attached(v.region);
                let vols = volumes(v.region);
                let mut selected = d
                    .run(
                        p,
                        v.region.instances.values(),
                        |x| &x.id,
                        |x| &x.tags,
                        |x, n| field(v.region, &enis, x, n),
                    )?
                    .items;
                // In the order they were launched.
                selected.sort_by_cached_key(|i| launch_order(i));
                let page = paginate(selected, |i| launch_order(i), p, (5, 1000))?;
                // Instances grouped by reservation, in order of first appearance.
                let mut order: Vec<&str> = Vec::new();
                let mut groups: HashMap<&str, Vec<&Instance>> = HashMap::new();
                for i in page.items {
                    let r = i.reservation_id.as_str();
                    if !groups.contains_key(r) {
                        order.push(r);
                    }
                    groups.entry(r).or_default().push(i);
                }
                let mut w = Xml::new();
                w.set("reservationSet", order, |w, r| {
                    reservation_body(w, v.region, r, &groups[r], &enis, &vols, false);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::TerminateInstances => {
            let ids = p.strings("InstanceId")?;
            let changes = ctx.write(|tx| tx.terminate_instances(&ids)).await?;
            Ok(state_changes(&changes))
        }
        Action::StopInstances => {
            let ids = p.strings("InstanceId")?;
            p.bool("Force")?;
            // An instance launched for hibernation takes the request and stops (EC2's
            // fallback when hibernation fails); others are refused, as EC2 refuses them.
            if p.bool("Hibernate")?.unwrap_or(false) {
                let refused = ctx
                    .read(|v| {
                        ids.iter()
                            .find(|id| {
                                v.region
                                    .instances
                                    .get(id.as_str())
                                    .is_some_and(|i| !i.hibernation_configured)
                            })
                            .cloned()
                    })
                    .await?;
                if let Some(id) = refused {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedHibernationConfiguration,
                        format!("The instance '{id}' is not enabled for hibernation."),
                    ));
                }
            }
            let changes = ctx.write(|tx| tx.stop_instances(&ids)).await?;
            Ok(state_changes(&changes))
        }
        Action::MonitorInstances | Action::UnmonitorInstances => {
            let on = action == Action::MonitorInstances;
            let ids = p.strings("InstanceId")?;
            let done = ctx.write(|tx| tx.set_monitoring(&ids, on)).await?;
            // EC2 answers the change under way; DescribeInstances shows enabled/disabled
            let state = if on { "pending" } else { "disabling" };
            let mut w = Xml::new();
            w.set("instancesSet", &done, |w, id| {
                w.leaf("instanceId", id).el("monitoring", |w| {
                    w.leaf("state", state);
                });
            });
            Ok(w)
        }
        Action::StartInstances => {
            let ids = p.strings("InstanceId")?;
            let changes = ctx.write(|tx| tx.start_instances(&ids)).await?;
            Ok(state_changes(&changes))
        }
        Action::RebootInstances => {
            let ids = p.strings("InstanceId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("InstanceId"));
            }
            ctx.read(|v| {
                for id in &ids {
                    let i = v.region.instances.find(Kind::Instance, id)?;
                    if i.state == InstanceState::Terminated {
                        return Err(ApiError::new(
                            ErrorCode::IncorrectInstanceState,
                            format!("The instance '{id}' is not in a state from which it can be rebooted."),
                        ));
                    }
                }
                Ok(())
            })
            .await??;
            Ok(ok_return())
        }
        Action::GetConsoleOutput => {
            let id = p.req("InstanceId")?;
            p.bool("Latest")?;
            ctx.read(|v| {
                let i = v.region.instances.find(Kind::Instance, id)?;
                let mut w = Xml::new();
                w.leaf("instanceId", &i.id)
                    .leaf("timestamp", format_time(now_millis()))
                    .opt("output", console_output(i));
                Ok(w)
            })
            .await?
        }
        Action::GetPasswordData => {
            let id = p.req("InstanceId")?;
            ctx.read(|v| {
                let i = v.region.instances.find(Kind::Instance, id)?;
                // EC2 answers an empty password until a Windows instance's launch agent
                // has set and encrypted one, and always for Linux instances. Fort sets a
                // Windows instance's at launch (no guest runs the agent).
                let mut w = Xml::new();
                w.leaf("instanceId", &i.id)
                    .leaf("timestamp", format_time(now_millis()))
                    .leaf("passwordData", i.password_data.as_deref().unwrap_or(""));
                Ok(w)
            })
            .await?
        }
        Action::GetInstanceUefiData => {
            let id = p.req("InstanceId")?;
            ctx.read(|v| {
                let i = v.region.instances.find(Kind::Instance, id)?;
                // The variable store the instance booted with: its image's, if that
                // image was registered with one; otherwise the store is still empty.
                let store = v
                    .region
                    .images
                    .get(i.image_id.as_str())
                    .and_then(|img| img.uefi_data.clone())
                    .unwrap_or_default();
                let mut w = Xml::new();
                w.leaf("instanceId", &i.id).leaf("uefiData", store);
                Ok(w)
            })
            .await?
        }
        Action::DescribeInstanceAttribute => {
            let id = p.req("InstanceId")?;
            let attr = p.req("Attribute")?;
            ctx.read(|v| describe_attribute(v.region, id, attr)).await?
        }
        Action::ModifyInstanceAttribute => {
            let id = p.req("InstanceId")?;
            let change = instance_change(p)?;
            let id = InstanceId::parse(id)?;
            ctx.write(|tx| tx.modify_instance_attribute(&id, change))
                .await?;
            Ok(ok_return())
        }
        Action::ResetInstanceAttribute => {
            let id = InstanceId::parse(p.req("InstanceId")?)?;
            let attribute = p.req("Attribute")?;
            ctx.write(|tx| tx.reset_instance_attribute(&id, attribute))
                .await?;
            Ok(ok_return())
        }
        Action::DescribeInstanceCreditSpecifications => {
            let d = Describe {
                ids_param: "InstanceId",
                kind: Kind::Instance,
                filters: &["instance-id"],
                page: Some((5, 1000)),
            };
            if p.get("MaxResults").is_some() && !p.strings("InstanceId")?.is_empty() {
                return Err(ApiError::combination(
                    "The parameter instancesSet cannot be used with the parameter maxResults",
                ));
            }
            ctx.read(|v| {
                let explicit = !p.strings("InstanceId")?.is_empty();
                let page = d.run(
                    p,
                    v.region
                        .instances
                        .values()
                        .filter(|i| explicit || i.state != InstanceState::Terminated),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "instance-id" => vec![x.id.to_string()],
                        _ => vec![],
                    },
                )?;
                // As the API reference has it: instances named are all answered, one
                // that is not burstable with `standard`; unnamed, only those set to
                // `unlimited` (now or before a resize) are.
                let mut w = Xml::new();
                w.set(
                    "instanceCreditSpecificationSet",
                    page.items
                        .into_iter()
                        .filter(|i| explicit || i.cpu_credits.as_deref() == Some("unlimited")),
                    |w, i| {
                        w.leaf("instanceId", &i.id)
                            .leaf("cpuCredits", i.cpu_credits.as_deref().unwrap_or("standard"));
                    },
                );
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyInstanceCreditSpecification => {
            let mut changes = Vec::new();
            for item in p.list("InstanceCreditSpecification")? {
                changes.push((
                    item.req("InstanceId")?.to_owned(),
                    item.req("CpuCredits")?.to_owned(),
                ));
            }
            if changes.is_empty() {
                return Err(ApiError::missing("InstanceCreditSpecification"));
            }
            let results = ctx
                .write(|tx| Ok(tx.modify_credit_specifications(&changes)))
                .await?;
            let mut w = Xml::new();
            w.set(
                "successfulInstanceCreditSpecificationSet",
                results.iter().filter(|(_, r)| r.is_ok()),
                |w, (id, _)| {
                    w.leaf("instanceId", id);
                },
            )
            .set(
                "unsuccessfulInstanceCreditSpecificationSet",
                results
                    .iter()
                    .filter_map(|(id, r)| r.as_ref().err().map(|e| (id, e))),
                |w, (id, (code, message))| {
                    w.leaf("instanceId", id).el("error", |w| {
                        w.leaf("code", code).leaf("message", message);
                    });
                },
            );
            Ok(w)
        }
        Action::ModifyInstanceMetadataOptions => {
            let id = p.req("InstanceId")?.to_owned();
            let req = metadata_request(p)?;
            let m = ctx
                .write(|tx| tx.modify_instance_metadata_options(&id, &req))
                .await?;
            let mut w = Xml::new();
            w.leaf("instanceId", &id)
                .el("instanceMetadataOptions", |w| {
                    render_metadata(w, &m, "pending")
                });
            Ok(w)
        }
        Action::ModifyInstanceMaintenanceOptions => {
            let id = p.req("InstanceId")?.to_owned();
            let auto = auto_recovery(p)?;
            let reboot = reboot_migration(p)?;
            let (disabled, reboot) = ctx
                .write(|tx| tx.modify_instance_maintenance_options(&id, auto, reboot))
                .await?;
            let mut w = Xml::new();
            w.leaf("instanceId", &id)
                .leaf(
                    "autoRecovery",
                    if disabled { "disabled" } else { "default" },
                )
                .opt("rebootMigration", reboot.map(RebootMigration::as_str));
            Ok(w)
        }
        Action::ModifyInstanceCapacityReservationAttributes => {
            let id = p.req("InstanceId")?.to_owned();
            let spec = p.child("CapacityReservationSpecification");
            let spec = capacity_reservation_spec(spec, "CapacityReservationSpecification")?
                .ok_or_else(|| ApiError::missing("CapacityReservationSpecification"))?;
            ctx.write(|tx| tx.modify_instance_capacity_reservation(&id, spec))
                .await?;
            Ok(ok_return())
        }
        Action::GetInstanceMetadataDefaults => {
            let d = ctx.read(|v| metadata_defaults(v.region)).await?;
            let mut w = Xml::new();
            // settings with no preference are left out, as EC2 does
            w.el("accountLevel", |w| {
                w.opt("httpTokens", d.http_tokens.as_deref())
                    .opt("httpPutResponseHopLimit", d.http_put_response_hop_limit)
                    .opt("httpEndpoint", d.http_endpoint.as_deref())
                    .opt("instanceMetadataTags", d.instance_metadata_tags.as_deref())
                    .leaf("managedBy", "account");
            });
            Ok(w)
        }
        Action::ModifyInstanceMetadataDefaults => {
            if p.get("HttpTokensEnforced").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "HttpTokensEnforced is not supported by Fort.",
                ));
            }
            let req = ModifyMetadataDefaults {
                http_tokens: p.opt_str("HttpTokens"),
                http_put_response_hop_limit: p.int("HttpPutResponseHopLimit")?,
                http_endpoint: p.opt_str("HttpEndpoint"),
                instance_metadata_tags: p.opt_str("InstanceMetadataTags"),
            };
            ctx.write(|tx| tx.modify_instance_metadata_defaults(&req))
                .await?;
            Ok(ok_return())
        }
        Action::ModifyPrivateDnsNameOptions => {
            let id = p.req("InstanceId")?.to_owned();
            let req = private_dns_name_request(p, "PrivateDnsHostnameType")?;
            ctx.write(|tx| tx.modify_private_dns_name_options(&id, &req))
                .await?;
            Ok(ok_return())
        }
        Action::DescribeInstanceStatus => {
            let include_all = p.bool("IncludeAllInstances")?.unwrap_or(false);
            let d = Describe {
                ids_param: "InstanceId",
                kind: Kind::Instance,
                filters: STATUS_FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let rows = v
                    .region
                    .instances
                    .values()
                    .filter(|i| include_all || i.state == InstanceState::Running);
                let page = d.run(
                    p,
                    rows,
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| status_field(v.region, x, n),
                );
                // Explicit ids of instances that exist but are not running are left out.
                let page = match page {
                    Ok(p) => p,
                    Err(e) if e.code == ErrorCode::InvalidInstanceIdNotFound && !include_all => {
                        let all = d.run(
                            p,
                            v.region.instances.values(),
                            |x| &x.id,
                            |x| &x.tags,
                            |x, n| status_field(v.region, x, n),
                        )?;
                        crate::filter::Page {
                            items: all
                                .items
                                .into_iter()
                                .filter(|i| i.state == InstanceState::Running)
                                .collect(),
                            next_token: all.next_token,
                        }
                    }
                    Err(e) => return Err(e),
                };
                let mut w = Xml::new();
                w.set("instanceStatusSet", page.items, |w, i| {
                    let zone_id = v
                        .region
                        .subnets
                        .get(&i.subnet_id)
                        .map(|s| s.availability_zone_id.clone())
                        .unwrap_or_default();
                    let ok = i.state == InstanceState::Running;
                    // A host whose agent went silent: its instances are unreachable.
                    let host_down = i
                        .host_id
                        .as_ref()
                        .and_then(|h| v.global.hosts.get(h))
                        .is_some_and(|h| !h.available);
                    let summary = |w: &mut Xml, name: &str| {
                        w.el(name, |w| {
                            if ok && host_down && name == "systemStatus" {
                                w.leaf("status", "impaired").set("details", [()], |w, ()| {
                                    w.leaf("name", "reachability").leaf("status", "failed");
                                });
                            } else if ok {
                                w.leaf("status", "ok").set("details", [()], |w, ()| {
                                    w.leaf("name", "reachability").leaf("status", "passed");
                                });
                            } else {
                                w.leaf("status", "not-applicable");
                            }
                        });
                    };
                    w.leaf("instanceId", &i.id)
                        .leaf("availabilityZone", &i.availability_zone)
                        .leaf("availabilityZoneId", zone_id)
                        .el("instanceState", |w| {
                            w.leaf("code", i.state.code()).leaf("name", i.state);
                        });
                    summary(w, "systemStatus");
                    summary(w, "instanceStatus");
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

fn instance_change(p: &Params) -> Result<InstanceChange, ApiError> {
    let mut changes = Vec::new();
    let value = |name: &str| p.child(name).get("Value").map(str::to_owned);
    if let Some(v) = value("InstanceType") {
        changes.push(InstanceChange::InstanceType(v));
    }
    if let Some(v) = value("UserData") {
        changes.push(InstanceChange::UserData(v));
    }
    if let Some(v) = p.attr_bool("DisableApiTermination")? {
        changes.push(InstanceChange::DisableApiTermination(v));
    }
    if let Some(v) = p.attr_bool("DisableApiStop")? {
        changes.push(InstanceChange::DisableApiStop(v));
    }
    if let Some(v) = p.attr_bool("SourceDestCheck")? {
        changes.push(InstanceChange::SourceDestCheck(v));
    }
    let groups = p.strings("GroupId")?;
    if !groups.is_empty() {
        changes.push(InstanceChange::Groups(groups));
    }
    if let Some(v) = p.attr_bool("EbsOptimized")? {
        changes.push(InstanceChange::EbsOptimized(v));
    }
    if let Some(v) = p.attr_bool("EnaSupport")? {
        changes.push(InstanceChange::EnaSupport(v));
    }
    if let Some(v) = value("InstanceInitiatedShutdownBehavior") {
        changes.push(InstanceChange::ShutdownBehavior(v));
    }
    if let Some(v) = value("SriovNetSupport") {
        changes.push(InstanceChange::SriovNetSupport(v));
    }
    if let Some(v) = value("Kernel") {
        changes.push(InstanceChange::Kernel(v));
    }
    if let Some(v) = value("Ramdisk") {
        changes.push(InstanceChange::Ramdisk(v));
    }
    let mappings = p.list("BlockDeviceMapping")?;
    if !mappings.is_empty() {
        let mut list = Vec::new();
        for m in mappings {
            let device = m.req("DeviceName")?.to_owned();
            let v = m
                .child("Ebs")
                .bool("DeleteOnTermination")?
                .ok_or_else(|| ApiError::missing("BlockDeviceMapping.Ebs.DeleteOnTermination"))?;
            list.push((device, v));
        }
        changes.push(InstanceChange::DeleteOnTermination(list));
    }
    if let Some(attr) = p.get("Attribute") {
        let v = p.req("Value")?;
        let flag = || match v {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::bad_param(
                "Value",
                other,
                "Expected true or false.",
            )),
        };
        changes.push(match attr {
            "instanceType" => InstanceChange::InstanceType(v.to_owned()),
            "userData" => InstanceChange::UserData(v.to_owned()),
            "disableApiTermination" => InstanceChange::DisableApiTermination(flag()?),
            "disableApiStop" => InstanceChange::DisableApiStop(flag()?),
            "sourceDestCheck" => InstanceChange::SourceDestCheck(flag()?),
            "ebsOptimized" => InstanceChange::EbsOptimized(flag()?),
            "enaSupport" => InstanceChange::EnaSupport(flag()?),
            "instanceInitiatedShutdownBehavior" => InstanceChange::ShutdownBehavior(v.to_owned()),
            "sriovNetSupport" => InstanceChange::SriovNetSupport(v.to_owned()),
            "kernel" => InstanceChange::Kernel(v.to_owned()),
            "ramdisk" => InstanceChange::Ramdisk(v.to_owned()),
            other => return Err(ApiError::bad_param("Attribute", other, "")),
        });
    }
    if changes.len() > 1 {
        return Err(ApiError::combination(
            "Fields for multiple attribute types specified: only one attribute may be modified per request.",
        ));
    }
    changes.pop().ok_or_else(|| ApiError::missing("Attribute"))
}

fn describe_attribute(region: &Region, id: &str, attr: &str) -> Result<Xml, ApiError> {
    let i = region.instances.find(Kind::Instance, id)?;
    let eni = region.network_interfaces.get(&i.primary_eni_id);
    let mut w = Xml::new();
    w.leaf("instanceId", &i.id);
    let value = |w: &mut Xml, name: &str, v: &str| {
        w.el(name, |w| {
            w.leaf("value", v);
        });
    };
    match attr {
        "instanceType" => value(&mut w, "instanceType", &i.instance_type),
        "userData" => match &i.user_data {
            Some(u) => value(&mut w, "userData", u),
            None => {
                w.el("userData", |_| {});
            }
        },
        "disableApiTermination" => value(
            &mut w,
            "disableApiTermination",
            b(i.disable_api_termination),
        ),
        "disableApiStop" => value(&mut w, "disableApiStop", b(i.disable_api_stop)),
        "sourceDestCheck" => value(
            &mut w,
            "sourceDestCheck",
            b(eni.is_none_or(|e| e.source_dest_check)),
        ),
        // Only the groups' ids, as EC2 answers this attribute.
        "groupSet" => match eni {
            Some(e) => {
                w.set("groupSet", &e.security_groups, |w, g| {
                    w.leaf("groupId", g);
                });
            }
            None => {
                w.set("groupSet", [(); 0], |_, ()| {});
            }
        },
        "instanceInitiatedShutdownBehavior" => value(
            &mut w,
            "instanceInitiatedShutdownBehavior",
            i.shutdown_behavior.as_deref().unwrap_or("stop"),
        ),
        "rootDeviceName" => value(
            &mut w,
            "rootDeviceName",
            i.root_device_name.as_deref().unwrap_or("/dev/xvda"),
        ),
        "ebsOptimized" => value(&mut w, "ebsOptimized", b(i.ebs_optimized)),
        "enaSupport" => value(&mut w, "enaSupport", b(i.ena_support.unwrap_or(true))),
        "sriovNetSupport" => match &i.sriov_net_support {
            Some(v) => value(&mut w, "sriovNetSupport", v),
            None => {
                w.el("sriovNetSupport", |_| {});
            }
        },
        "kernel" | "ramdisk" => {
            w.el(attr, |_| {});
        }
        "blockDeviceMapping" => {
            let vols = volumes(region);
            render_block_devices(
                &mut w,
                "blockDeviceMapping",
                vols.get(&i.id).map_or(&[], |v| v.as_slice()),
            );
        }
        "productCodes" => {
            w.set("productCodes", [(); 0], |_, ()| {});
        }
        "enclaveOptions" => {
            w.el("enclaveOptions", |w| {
                w.leaf("enabled", b(i.enclave_enabled));
            });
        }
        other => {
            return Err(ApiError::bad_param(
                "attribute",
                other,
                "Unknown attribute.",
            ));
        }
    }
    Ok(w)
}

fn state_changes(changes: &[StateChange]) -> Xml {
    let mut w = Xml::new();
    w.set("instancesSet", changes, |w, (id, prev, cur)| {
        w.leaf("instanceId", id)
            .el("currentState", |w| {
                w.leaf("code", cur.code()).leaf("name", cur);
            })
            .el("previousState", |w| {
                w.leaf("code", prev.code()).leaf("name", prev);
            });
    });
    w
}

const FILTERS: &[&str] = &[
    "affinity",
    "architecture",
    "availability-zone",
    "client-token",
    "dns-name",
    "group-id",
    "group-name",
    "host-id",
    "iam-instance-profile.arn",
    "iam-instance-profile.id",
    "image-id",
    "instance-id",
    "instance-lifecycle",
    "instance-state-code",
    "instance-state-name",
    "instance-type",
    "instance.group-id",
    "instance.group-name",
    "ip-address",
    "key-name",
    "launch-index",
    "launch-time",
    "network-interface.addresses.private-ip-address",
    "network-interface.addresses.association.public-ip",
    "network-interface.association.public-ip",
    "network-interface.attachment.attachment-id",
    "network-interface.attachment.device-index",
    "network-interface.group-id",
    "network-interface.mac-address",
    "network-interface.network-interface-id",
    "network-interface.private-dns-name",
    "network-interface.source-dest-check",
    "network-interface.status",
    "network-interface.subnet-id",
    "network-interface.vpc-id",
    "owner-id",
    "placement-availability-zone",
    "placement-group-name",
    "placement-partition-number",
    "private-dns-name",
    "private-ip-address",
    "reason",
    "reservation-id",
    "source-dest-check",
    "spot-instance-request-id",
    "state-reason-code",
    "subnet-id",
    "tenancy",
    "vpc-id",
];

const STATUS_FILTERS: &[&str] = &[
    "availability-zone",
    "instance-state-code",
    "instance-state-name",
    "instance-status.reachability",
    "instance-status.status",
    "system-status.reachability",
    "system-status.status",
];

fn status_field(region: &Region, i: &Instance, name: &str) -> Vec<String> {
    let ok = i.state == InstanceState::Running;
    match name {
        "availability-zone" => vec![i.availability_zone.clone()],
        "instance-state-code" => vec![i.state.code().to_string()],
        "instance-state-name" => vec![i.state.as_str().to_owned()],
        "instance-status.status" | "system-status.status" => {
            vec![if ok { "ok" } else { "not-applicable" }.into()]
        }
        "instance-status.reachability" | "system-status.reachability" => {
            if ok {
                vec!["passed".into()]
            } else {
                vec![]
            }
        }
        _ => {
            let _ = region;
            vec![]
        }
    }
}

fn live(i: &Instance) -> bool {
    i.state != InstanceState::Terminated
}

fn public_ip(e: Option<&&NetworkInterface>) -> Option<std::net::Ipv4Addr> {
    let e = e?;
    e.associations
        .iter()
        .find(|a| Some(a.private_ip) == e.private_ip)
        .map(|a| a.public_ip)
}

fn field(region: &Region, enis: &Attached<'_>, i: &Instance, name: &str) -> Vec<String> {
    let mine: &[&NetworkInterface] = enis.get(i.id.as_str()).map_or(&[], |v| v.as_slice());
    let primary = mine.iter().find(|e| e.id == i.primary_eni_id);
    let one = |v: String| vec![v];
    let all = |f: &dyn Fn(&NetworkInterface) -> Vec<String>| -> Vec<String> {
        mine.iter().flat_map(|e| f(e)).collect()
    };
    let group_names = |e: &NetworkInterface| -> Vec<String> {
        e.security_groups
            .iter()
            .filter_map(|g| region.security_groups.get(g).map(|s| s.name.clone()))
            .collect()
    };
    match name {
        "architecture" => one(architecture(region, i).to_owned()),
        "availability-zone" | "placement-availability-zone" => one(i.availability_zone.clone()),
        "placement-group-name" => i.placement_group.iter().map(|g| g.name.clone()).collect(),
        "placement-partition-number" => i
            .placement_group
            .iter()
            .filter_map(|g| g.partition_number)
            .map(|n| n.to_string())
            .collect(),
        "client-token" => i.client_token.clone().into_iter().collect(),
        "dns-name" => public_ip(primary)
            .and_then(|ip| region.public_dns_for(&i.vpc_id, ip))
            .into_iter()
            .collect(),
        "group-id" | "instance.group-id" => primary
            .map(|e| e.security_groups.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        "group-name" | "instance.group-name" => primary.map(|e| group_names(e)).unwrap_or_default(),
        "iam-instance-profile.arn" => i
            .iam_instance_profile
            .iter()
            .map(|a| a.arn.clone())
            .collect(),
        "iam-instance-profile.id" => i
            .iam_instance_profile
            .iter()
            .map(|a| a.profile_id.clone())
            .collect(),
        "image-id" => one(i.image_id.clone()),
        "instance-id" => one(i.id.to_string()),
        "instance-lifecycle" => i
            .spot_instance_request_id
            .iter()
            .map(|_| "spot".to_owned())
            .collect(),
        "spot-instance-request-id" => i
            .spot_instance_request_id
            .iter()
            .map(ToString::to_string)
            .collect(),
        "instance-state-code" => one(i.state.code().to_string()),
        "instance-state-name" => one(i.state.as_str().to_owned()),
        "instance-type" => one(i.instance_type.clone()),
        "ip-address" => public_ip(primary)
            .map(|ip| ip.to_string())
            .into_iter()
            .collect(),
        "key-name" => i.key_name.clone().into_iter().collect(),
        "launch-index" => one(i.ami_launch_index.to_string()),
        "launch-time" => one(format_time(i.launch_time)),
        "network-interface.addresses.private-ip-address" => {
            all(&|e| e.private_ips().map(|a| a.to_string()).collect())
        }
        "network-interface.addresses.association.public-ip"
        | "network-interface.association.public-ip" => all(&|e| {
            e.associations
                .iter()
                .map(|a| a.public_ip.to_string())
                .collect()
        }),
        "network-interface.attachment.attachment-id" => {
            all(&|e| e.attachment.iter().map(|a| a.id.to_string()).collect())
        }
        "network-interface.attachment.device-index" => all(&|e| {
            e.attachment
                .iter()
                .map(|a| a.device_index.to_string())
                .collect()
        }),
        "network-interface.group-id" => {
            all(&|e| e.security_groups.iter().map(ToString::to_string).collect())
        }
        "network-interface.mac-address" => all(&|e| vec![e.mac_address.clone()]),
        "network-interface.network-interface-id" => all(&|e| vec![e.id.to_string()]),
        "network-interface.private-dns-name" => all(&|e| {
            e.private_ip
                .map(|ip| private_dns_name(&region.name, ip))
                .into_iter()
                .collect()
        }),
        "network-interface.source-dest-check" => all(&|e| vec![b(e.source_dest_check).into()]),
        "network-interface.status" => all(&|e| vec![Region::interface_status(e).into()]),
        "network-interface.subnet-id" => all(&|e| vec![e.subnet_id.to_string()]),
        "network-interface.vpc-id" => all(&|e| vec![e.vpc_id.to_string()]),
        "owner-id" => one(region.account.clone()),
        "private-dns-name" => instance_dns_name(region, i, primary).into_iter().collect(),
        "private-ip-address" => primary
            .and_then(|e| e.private_ip)
            .map(|ip| ip.to_string())
            .into_iter()
            .collect(),
        "reason" => one(reason(i)),
        "reservation-id" => one(i.reservation_id.to_string()),
        "source-dest-check" => primary
            .map(|e| b(e.source_dest_check).into())
            .into_iter()
            .collect(),
        "state-reason-code" => i.state_reason.clone().into_iter().collect(),
        "subnet-id" if live(i) => one(i.subnet_id.to_string()),
        "tenancy" => one(tenancy(i).into()),
        "host-id" => i
            .dedicated_host
            .iter()
            .map(|h| h.host_id.to_string())
            .collect(),
        "affinity" => i
            .dedicated_host
            .iter()
            .map(|h| h.affinity.as_str().to_owned())
            .collect(),
        "vpc-id" if live(i) => one(i.vpc_id.to_string()),
        _ => vec![],
    }
}

/// Where an instance comes in DescribeInstances (and its page token): launch time, then
/// reservation and launch index.
fn launch_order(i: &Instance) -> String {
    format!(
        "{:020}/{}/{:05}/{}",
        i.launch_time, i.reservation_id, i.ami_launch_index, i.id
    )
}

/// An instance's architecture: its image's (a launch checks that the type runs it).
fn architecture<'a>(region: &'a Region, i: &Instance) -> &'a str {
    region
        .images
        .get(&i.image_id)
        .map_or("x86_64", |img| img.architecture.as_str())
}

/// EC2's `reason`: `User initiated (2024-01-02 03:04:05 GMT)` after a requested change.
fn reason(i: &Instance) -> String {
    match (i.state, i.state_transition_time) {
        (
            InstanceState::Stopped
            | InstanceState::Stopping
            | InstanceState::Terminated
            | InstanceState::ShuttingDown,
            Some(t),
        ) => {
            let iso = format_time(t);
            format!("User initiated ({} {} GMT)", &iso[..10], &iso[11..19])
        }
        _ => String::new(),
    }
}

fn reservation_body(
    w: &mut Xml,
    region: &Region,
    reservation: &str,
    insts: &[&Instance],
    enis: &Attached<'_>,
    vols: &Volumes<'_>,
    launching: bool,
) {
    let mut insts = insts.to_vec();
    insts.sort_by_key(|i| i.ami_launch_index);
    w.leaf("reservationId", reservation)
        .leaf("ownerId", &region.account)
        .set("groupSet", [(); 0], |_, ()| {})
        .set("instancesSet", &insts, |w, i| {
            render(w, region, i, enis, vols, launching)
        });
}

/// One instance, as DescribeInstances shows it (`launching`: as RunInstances answers,
/// still `pending`).
pub fn render(
    w: &mut Xml,
    region: &Region,
    i: &Instance,
    enis: &Attached<'_>,
    vols: &Volumes<'_>,
    launching: bool,
) {
    let mine: &[&NetworkInterface] = enis.get(i.id.as_str()).map_or(&[], |v| v.as_slice());
    let primary = mine.iter().find(|e| e.id == i.primary_eni_id);
    let state = if launching && i.state == InstanceState::Running {
        InstanceState::Pending
    } else {
        i.state
    };
    let public = public_ip(primary);
    let dns = public
        .and_then(|ip| region.public_dns_for(&i.vpc_id, ip))
        .unwrap_or_default();
    let zone_id = region
        .subnets
        .get(&i.subnet_id)
        .map(|s| s.availability_zone_id.clone());
    w.leaf("instanceId", &i.id)
        .leaf("imageId", &i.image_id)
        .el("instanceState", |w| {
            w.leaf("code", state.code()).leaf("name", state);
        })
        .leaf(
            "privateDnsName",
            instance_dns_name(region, i, primary).unwrap_or_default(),
        )
        .leaf("dnsName", dns)
        .leaf("reason", reason(i))
        .opt("keyName", i.key_name.as_deref())
        .leaf("amiLaunchIndex", i.ami_launch_index)
        .set("productCodes", [(); 0], |_, ()| {})
        .leaf("instanceType", &i.instance_type)
        .leaf("launchTime", format_time(i.launch_time))
        .el("placement", |w| {
            w.leaf("availabilityZone", &i.availability_zone)
                .opt("availabilityZoneId", zone_id.as_deref())
                .leaf(
                    "groupName",
                    i.placement_group.as_ref().map_or("", |g| g.name.as_str()),
                )
                .opt("groupId", i.placement_group.as_ref().map(|g| &g.id))
                .opt(
                    "partitionNumber",
                    i.placement_group.as_ref().and_then(|g| g.partition_number),
                )
                .opt(
                    "hostId",
                    i.dedicated_host.as_ref().map(|h| h.host_id.as_str()),
                )
                .opt(
                    "affinity",
                    i.dedicated_host.as_ref().map(|h| h.affinity.as_str()),
                )
                .leaf("tenancy", tenancy(i));
        })
        .el("monitoring", |w| {
            w.leaf("state", if i.monitoring { "enabled" } else { "disabled" });
        });
    if live(i) {
        w.leaf("subnetId", &i.subnet_id).leaf("vpcId", &i.vpc_id);
    }
    if let Some(e) = primary {
        w.opt("privateIpAddress", e.private_ip)
            .opt("ipAddress", public)
            .leaf("sourceDestCheck", b(e.source_dest_check));
        groups(w, region, e);
    } else {
        w.set("groupSet", [(); 0], |_, ()| {});
    }
    if let Some(code) = &i.state_reason {
        w.el("stateReason", |w| {
            w.leaf("code", code)
                .leaf("message", format!("{code}: User initiated shutdown"));
        });
    } else if launching {
        // RunInstances' answer: EC2's recorded answers all carry this
        w.el("stateReason", |w| {
            w.leaf("code", "pending").leaf("message", "pending");
        });
    }
    w.leaf("architecture", architecture(region, i))
        .leaf("rootDeviceType", "ebs")
        .leaf(
            "rootDeviceName",
            i.root_device_name.as_deref().unwrap_or("/dev/xvda"),
        );
    // RunInstances answers before the volumes are attached: EC2's recorded answers have
    // an empty list, and DescribeInstances shows them
    render_block_devices(
        w,
        "blockDeviceMapping",
        if launching {
            &[]
        } else {
            vols.get(&i.id).map_or(&[], |v| v.as_slice())
        },
    );
    w.leaf("virtualizationType", "hvm")
        .opt("clientToken", i.client_token.as_deref())
        .opt(
            "instanceLifecycle",
            i.spot_instance_request_id.as_ref().map(|_| "spot"),
        )
        .opt(
            "spotInstanceRequestId",
            i.spot_instance_request_id.as_deref(),
        )
        .tags(&i.tags)
        .leaf("hypervisor", "xen");
    if let Some(a) = &i.iam_instance_profile {
        w.el("iamInstanceProfile", |w| {
            super::iam_instance_profile::profile(w, a)
        });
    }
    w.set("networkInterfaceSet", mine, |w, e| {
        instance_interface(w, region, e, launching)
    })
    .leaf("ebsOptimized", b(i.ebs_optimized))
    .leaf("enaSupport", b(i.ena_support.unwrap_or(true)))
    .el("cpuOptions", |w| {
        // what the launch asked for, else the type's own cores and threads
        let (cores, threads, sev) = match &i.cpu_options {
            Some(c) => (c.core_count, c.threads_per_core, c.amd_sev_snp.as_deref()),
            None => fort_control::image::find_instance_type(&i.instance_type)
                .map_or((1, 1, None), |t| (t.cores, t.threads_per_core, None)),
        };
        w.leaf("coreCount", cores)
            .leaf("threadsPerCore", threads)
            .opt("amdSevSnp", sev);
    })
    .el("hibernationOptions", |w| {
        w.leaf("configured", b(i.hibernation_configured));
    })
    .el("metadataOptions", |w| {
        render_metadata(
            w,
            &i.metadata_options,
            if launching { "pending" } else { "applied" },
        )
    })
    .el("enclaveOptions", |w| {
        w.leaf("enabled", b(i.enclave_enabled));
    })
    .leaf("platformDetails", "Linux/UNIX")
    .leaf("usageOperation", "RunInstances")
    .el("privateDnsNameOptions", |w| {
        super::render_private_dns_name_options(w, &i.private_dns_name_options)
    })
    .opt(
        "capacityReservationId",
        i.capacity_reservation_id.as_deref(),
    )
    .el("capacityReservationSpecification", |w| {
        match &i.capacity_reservation_target {
            Some(target) => {
                w.el("capacityReservationTarget", |w| {
                    w.leaf("capacityReservationId", target);
                });
            }
            None => {
                w.leaf(
                    "capacityReservationPreference",
                    if i.capacity_reservation_none {
                        "none"
                    } else {
                        "open"
                    },
                );
            }
        }
    })
    .el("maintenanceOptions", |w| {
        w.leaf(
            "autoRecovery",
            if i.auto_recovery_disabled {
                "disabled"
            } else {
                "default"
            },
        )
        .opt(
            "rebootMigration",
            i.reboot_migration.map(RebootMigration::as_str),
        );
    })
    .leaf("currentInstanceBootMode", "legacy-bios");
}

/// The instance's `privateDnsName`: its resource name when it is named so, else its
/// primary address's IP name (none when it has no interface left).
fn instance_dns_name(
    region: &Region,
    i: &Instance,
    primary: Option<&&NetworkInterface>,
) -> Option<String> {
    primary.map(|e| {
        instance_private_dns_name(
            &region.name,
            i.private_dns_name_options.hostname_type,
            i.id.as_str(),
            e.private_ip,
        )
    })
}

/// An interface as an instance lists it (`networkInterfaceSet/item`); in RunInstances'
/// answer (`launching`) its attachment is still `attaching`, as EC2's recorded answers have it.
fn instance_interface(w: &mut Xml, region: &Region, e: &NetworkInterface, launching: bool) {
    w.leaf("networkInterfaceId", &e.id)
        .leaf("subnetId", &e.subnet_id)
        .leaf("vpcId", &e.vpc_id)
        .leaf("description", &e.description)
        .leaf("ownerId", &region.account)
        .leaf("status", Region::interface_status(e))
        .leaf("macAddress", &e.mac_address)
        .opt("privateIpAddress", e.private_ip)
        .opt(
            "privateDnsName",
            e.private_ip.map(|ip| private_dns_name(&region.name, ip)),
        )
        .leaf("sourceDestCheck", b(e.source_dest_check));
    groups(w, region, e);
    if let Some(a) = &e.attachment {
        w.el("attachment", |w| {
            w.leaf("attachmentId", &a.id)
                .leaf("deviceIndex", a.device_index)
                .leaf(
                    "status",
                    if launching {
                        "attaching".to_owned()
                    } else {
                        a.status.to_string()
                    },
                )
                .leaf("attachTime", format_time(a.attach_time))
                .leaf("deleteOnTermination", b(a.delete_on_termination))
                .leaf("networkCardIndex", 0);
        });
    }
    if let Some(a) = e
        .associations
        .iter()
        .find(|a| Some(a.private_ip) == e.private_ip)
    {
        association(w, region, e, a, false);
    }
    super::network_interface::private_addresses(w, region, e, false);
    ipv6_addresses(w, e);
    w.leaf("interfaceType", &e.interface_type);
}

/// An instance's `placement.tenancy`.
fn tenancy(i: &Instance) -> &'static str {
    if i.dedicated_host.is_some() {
        "host"
    } else if i.dedicated {
        "dedicated"
    } else {
        "default"
    }
}
