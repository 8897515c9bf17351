//! EBS volume actions.

use fort_control::Region;
use fort_control::volume::{CreateVolume, MANAGED_EBS_ALIAS, VolumeSpec, ebs_settings, shown_iops};
use fort_model::{ApiError, Kind, Volume, VolumeAttachment, VolumeId, format_time};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateVolume,
    DescribeVolumes,
    AttachVolume,
    DetachVolume,
    DeleteVolume,
    ModifyVolume,
    DescribeVolumesModifications,
    DescribeVolumeStatus,
    DescribeVolumeAttribute,
    ModifyVolumeAttribute,
    EnableVolumeIO,
    EnableEbsEncryptionByDefault,
    DisableEbsEncryptionByDefault,
    GetEbsEncryptionByDefault,
    GetEbsDefaultKmsKeyId,
    ModifyEbsDefaultKmsKeyId,
    ResetEbsDefaultKmsKeyId,
);

fn spec(p: &Params) -> Result<VolumeSpec, ApiError> {
    Ok(VolumeSpec {
        volume_type: p.opt_str("VolumeType"),
        size: p.int("Size")?,
        iops: p.int("Iops")?,
        throughput: p.int("Throughput")?,
    })
}

/// A volume's state as Describe shows it.
pub fn state(v: &Volume) -> &'static str {
    if v.attachment.is_some() {
        "in-use"
    } else {
        "available"
    }
}

fn zone_id(region: &Region, zone: &str) -> Option<String> {
    fort_control::zones::find_zone(&region.name, zone).map(|z| z.id)
}

fn attachment(w: &mut Xml, volume_id: &str, a: &VolumeAttachment, state: &str) {
    w.leaf("volumeId", volume_id)
        .leaf("instanceId", &a.instance_id)
        .leaf("device", &a.device)
        .leaf("status", state)
        .leaf("attachTime", format_time(a.attach_time))
        .leaf("deleteOnTermination", b(a.delete_on_termination));
}

/// One volume (`volume_state` overrides the settled state, as a create answers).
fn render(w: &mut Xml, region: &Region, v: &Volume, volume_state: Option<&str>) {
    w.leaf("volumeId", &v.id)
        .leaf("size", v.size)
        .leaf("snapshotId", v.snapshot_id.as_deref().unwrap_or(""))
        .leaf("availabilityZone", &v.availability_zone)
        .opt("availabilityZoneId", zone_id(region, &v.availability_zone))
        .leaf("status", volume_state.unwrap_or(state(v)))
        .leaf("createTime", format_time(v.create_time))
        .set("attachmentSet", v.attachments(), |w, a| {
            attachment(w, &v.id, a, "attached")
        })
        .leaf("volumeType", &v.volume_type)
        .opt("iops", shown_iops(v))
        .opt("throughput", v.throughput)
        .leaf("encrypted", b(v.encrypted))
        .opt("kmsKeyId", v.kms_key_id.as_deref())
        .leaf("multiAttachEnabled", b(v.multi_attach_enabled));
    // EC2 leaves the tag set out of a volume that has no tags.
    if !v.tags.is_empty() {
        w.tags(&v.tags);
    }
}

const FILTERS: &[&str] = &[
    "attachment.attach-time",
    "attachment.delete-on-termination",
    "attachment.device",
    "attachment.instance-id",
    "attachment.status",
    "availability-zone",
    "availability-zone-id",
    "create-time",
    "encrypted",
    "multi-attach-enabled",
    "fast-restored",
    "size",
    "snapshot-id",
    "status",
    "volume-id",
    "volume-type",
];

fn field(region: &Region, v: &Volume, name: &str) -> Vec<String> {
    let a = v.attachments();
    let one = |s: String| vec![s];
    match name {
        "attachment.attach-time" => a.map(|a| format_time(a.attach_time)).collect(),
        "attachment.delete-on-termination" => {
            a.map(|a| b(a.delete_on_termination).to_owned()).collect()
        }
        "attachment.device" => a.map(|a| a.device.clone()).collect(),
        "attachment.instance-id" => a.map(|a| a.instance_id.to_string()).collect(),
        "attachment.status" => a.map(|_| "attached".to_owned()).collect(),
        "availability-zone" => one(v.availability_zone.clone()),
        "availability-zone-id" => zone_id(region, &v.availability_zone).into_iter().collect(),
        "create-time" => one(format_time(v.create_time)),
        "encrypted" => one(b(v.encrypted).into()),
        "multi-attach-enabled" => one(b(v.multi_attach_enabled).into()),
        "fast-restored" => one("false".into()),
        "size" => one(v.size.to_string()),
        "snapshot-id" => one(v.snapshot_id.clone().unwrap_or_default()),
        "status" => one(state(v).into()),
        "volume-id" => one(v.id.to_string()),
        "volume-type" => one(v.volume_type.clone()),
        _ => vec![],
    }
}

fn modification(w: &mut Xml, v: &Volume, modifying: bool) {
    let Some(m) = &v.modification else {
        return;
    };
    w.leaf("volumeId", &v.id)
        .leaf(
            "modificationState",
            if modifying { "modifying" } else { "completed" },
        )
        .leaf("targetSize", v.size)
        .opt("targetIops", shown_iops(v))
        .leaf("targetVolumeType", &v.volume_type)
        .opt("targetThroughput", v.throughput)
        .leaf("targetMultiAttachEnabled", b(v.multi_attach_enabled))
        .leaf("originalSize", m.original_size)
        .opt("originalIops", m.original_iops)
        .leaf("originalVolumeType", &m.original_type)
        .opt("originalThroughput", m.original_throughput)
        .leaf("originalMultiAttachEnabled", b(m.original_multi_attach))
        .leaf("progress", if modifying { 0 } else { 100 })
        .leaf("startTime", format_time(m.start_time));
    if !modifying {
        w.leaf("endTime", format_time(m.start_time));
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVolume => {
            let req = CreateVolume {
                availability_zone: p.opt_str("AvailabilityZone"),
                spec: spec(p)?,
                snapshot_id: p.opt_str("SnapshotId"),
                encrypted: p.bool("Encrypted")?.unwrap_or(false),
                kms_key_id: p.opt_str("KmsKeyId"),
                multi_attach: p.bool("MultiAttachEnabled")?.unwrap_or(false),
                tags: ctx.tag_specs(&["volume"])?,
                client_token: ctx.client_token()?,
            };
            let zone_id_param = p.opt_str("AvailabilityZoneId");
            let v = ctx
                .write(|tx| {
                    let mut req = req;
                    if let Some(zid) = zone_id_param {
                        if req.availability_zone.is_some() {
                            return Err(ApiError::combination(
                                "Either AvailabilityZone or AvailabilityZoneId must be specified, but not both.",
                            ));
                        }
                        let zone = fort_control::zones::zones_of(&tx.region.name)
                            .into_iter()
                            .find(|z| z.id == zid)
                            .map(|z| z.name)
                            .ok_or_else(|| {
                                ApiError::invalid_value(format!(
                                    "Invalid availability zone id: [{zid}]"
                                ))
                            })?;
                        req.availability_zone = Some(zone);
                    }
                    tx.create_volume(req)
                })
                .await?;
            ctx.read(|view| {
                let mut w = Xml::new();
                render(&mut w, view.region, &v, Some("creating"));
                w
            })
            .await
        }
        Action::DescribeVolumes => {
            let d = Describe {
                ids_param: "VolumeId",
                kind: Kind::Volume,
                filters: FILTERS,
                page: Some((5, 500)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.volumes.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(v.region, x, n),
                )?;
                let mut w = Xml::new();
                w.set("volumeSet", page.items, |w, x| render(w, v.region, x, None));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::AttachVolume => {
            let vol = p.req("VolumeId")?;
            let inst = p.req("InstanceId")?.to_owned();
            let device = p.req("Device")?.to_owned();
            // Parsed once every parameter is read: a missing one was reported first.
            let vol = VolumeId::parse(vol)?;
            let v = ctx
                .write(|tx| tx.attach_volume(&vol, &inst, &device))
                .await?;
            let a = v
                .attachment_to(&inst)
                .ok_or_else(|| ApiError::internal("attached volume without attachment"))?;
            let mut w = Xml::new();
            attachment(&mut w, &v.id, a, "attaching");
            Ok(w)
        }
        Action::DetachVolume => {
            let vol = p.req("VolumeId")?;
            let inst = p.opt_str("InstanceId");
            let device = p.opt_str("Device");
            p.bool("Force")?;
            let vol = VolumeId::parse(vol)?;
            let a = ctx
                .write(|tx| tx.detach_volume(&vol, inst.as_deref(), device.as_deref()))
                .await?;
            let mut w = Xml::new();
            attachment(&mut w, &vol, &a, "detaching");
            Ok(w)
        }
        Action::DeleteVolume => {
            let vol = VolumeId::parse(p.req("VolumeId")?)?;
            ctx.write(|tx| tx.delete_volume(&vol)).await?;
            Ok(ok_return())
        }
        Action::ModifyVolume => {
            let vol = p.req("VolumeId")?;
            let s = spec(p)?;
            let multi = p.bool("MultiAttachEnabled")?;
            let vol = VolumeId::parse(vol)?;
            let v = ctx.write(|tx| tx.modify_volume(&vol, s, multi)).await?;
            let mut w = Xml::new();
            w.el("volumeModification", |w| modification(w, &v, true));
            Ok(w)
        }
        Action::DescribeVolumesModifications => {
            let d = Describe {
                ids_param: "VolumeId",
                kind: Kind::Volume,
                filters: &[
                    "modification-state",
                    "original-iops",
                    "original-size",
                    "original-volume-type",
                    "original-multi-attach-enabled",
                    "start-time",
                    "target-iops",
                    "target-size",
                    "target-volume-type",
                    "target-multi-attach-enabled",
                    "volume-id",
                ],
                page: Some((5, 500)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.volumes.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| {
                        let m = x.modification.as_ref();
                        match n {
                            "modification-state" => vec!["completed".into()],
                            "original-size" => {
                                m.map(|m| m.original_size.to_string()).into_iter().collect()
                            }
                            "original-volume-type" => {
                                m.map(|m| m.original_type.clone()).into_iter().collect()
                            }
                            "original-iops" => m
                                .and_then(|m| m.original_iops)
                                .map(|i| i.to_string())
                                .into_iter()
                                .collect(),
                            "target-size" => vec![x.size.to_string()],
                            "target-volume-type" => vec![x.volume_type.clone()],
                            "target-iops" => {
                                shown_iops(x).map(|i| i.to_string()).into_iter().collect()
                            }
                            "start-time" => {
                                m.map(|m| format_time(m.start_time)).into_iter().collect()
                            }
                            "volume-id" => vec![x.id.to_string()],
                            _ => vec![],
                        }
                    },
                )?;
                let mut w = Xml::new();
                w.set(
                    "volumeModificationSet",
                    page.items.into_iter().filter(|x| x.modification.is_some()),
                    |w, x| modification(w, x, false),
                );
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeVolumeStatus => {
            let d = Describe {
                ids_param: "VolumeId",
                kind: Kind::Volume,
                filters: &[
                    "availability-zone",
                    "volume-status.status",
                    "volume-status.details-name",
                    "volume-status.details-status",
                ],
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.volumes.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "availability-zone" => vec![x.availability_zone.clone()],
                        "volume-status.status" => vec!["ok".into()],
                        "volume-status.details-name" => {
                            vec!["io-enabled".into(), "io-performance".into()]
                        }
                        "volume-status.details-status" => {
                            vec!["passed".into(), "not-applicable".into()]
                        }
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("volumeStatusSet", page.items, |w, x| {
                    w.leaf("volumeId", &x.id)
                        .leaf("availabilityZone", &x.availability_zone)
                        .opt(
                            "availabilityZoneId",
                            zone_id(v.region, &x.availability_zone),
                        )
                        .el("volumeStatus", |w| {
                            w.leaf("status", "ok").set(
                                "details",
                                [
                                    ("io-enabled", "passed"),
                                    ("io-performance", "not-applicable"),
                                ],
                                |w, (n, s)| {
                                    w.leaf("name", n).leaf("status", s);
                                },
                            );
                        })
                        .set("eventsSet", [(); 0], |_, ()| {})
                        .set("actionsSet", [(); 0], |_, ()| {})
                        .set("attachmentStatuses", x.attachments(), |w, a| {
                            w.leaf("ioPerformance", "normal")
                                .leaf("instanceId", &a.instance_id);
                        });
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeVolumeAttribute => {
            let vol = p.req("VolumeId")?;
            let attr = p.req("Attribute")?.to_owned();
            let vol = VolumeId::parse(vol)?;
            ctx.read(|v| {
                let x = v.region.volumes.lookup(&vol)?;
                let mut w = Xml::new();
                w.leaf("volumeId", &x.id);
                match attr.as_str() {
                    "autoEnableIO" => {
                        w.el("autoEnableIO", |w| {
                            w.leaf("value", b(x.auto_enable_io));
                        });
                    }
                    "productCodes" => {
                        w.set("productCodes", [(); 0], |_, ()| {});
                    }
                    other => {
                        return Err(ApiError::bad_param(
                            "Attribute",
                            other,
                            "Valid values: autoEnableIO, productCodes.",
                        ));
                    }
                }
                Ok(w)
            })
            .await?
        }
        Action::ModifyVolumeAttribute => {
            let vol = p.req("VolumeId")?;
            let v = p
                .attr_bool("AutoEnableIO")?
                .ok_or_else(|| ApiError::missing("AutoEnableIO"))?;
            let vol = VolumeId::parse(vol)?;
            ctx.write(|tx| tx.modify_volume_attribute(&vol, v)).await?;
            Ok(ok_return())
        }
        Action::EnableEbsEncryptionByDefault | Action::DisableEbsEncryptionByDefault => {
            let on = action == Action::EnableEbsEncryptionByDefault;
            let now = ctx.write(|tx| Ok(tx.set_encryption_by_default(on))).await?;
            let mut w = Xml::new();
            w.leaf("ebsEncryptionByDefault", b(now));
            Ok(w)
        }
        Action::GetEbsEncryptionByDefault => {
            let on = ctx
                .read(|v| ebs_settings(v.region).encryption_by_default)
                .await?;
            let mut w = Xml::new();
            w.leaf("ebsEncryptionByDefault", b(on))
                .leaf("sseType", "none");
            Ok(w)
        }
        Action::GetEbsDefaultKmsKeyId => {
            let key = ctx
                .read(|v| ebs_settings(v.region).default_kms_key_id)
                .await?;
            let mut w = Xml::new();
            w.leaf("kmsKeyId", key.as_deref().unwrap_or(MANAGED_EBS_ALIAS));
            Ok(w)
        }
        Action::ModifyEbsDefaultKmsKeyId => {
            let key = p
                .opt_str("KmsKeyId")
                .ok_or_else(|| ApiError::missing("KmsKeyId"))?;
            let arn = ctx.write(|tx| tx.modify_default_kms_key(&key)).await?;
            let mut w = Xml::new();
            w.leaf("kmsKeyId", arn);
            Ok(w)
        }
        Action::ResetEbsDefaultKmsKeyId => {
            let key = ctx.write(|tx| Ok(tx.reset_default_kms_key())).await?;
            let mut w = Xml::new();
            w.leaf("kmsKeyId", key);
            Ok(w)
        }
        Action::EnableVolumeIO => {
            let vol = VolumeId::parse(p.req("VolumeId")?)?;
            ctx.read(|v| v.region.volumes.lookup(&vol).map(|_| ()))
                .await??;
            Ok(ok_return())
        }
    }
}
