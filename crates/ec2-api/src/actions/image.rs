//! Images (AMIs): DescribeImages over the catalog and every account's images, their
//! lifecycle (RegisterImage, CreateImage, CopyImage, DeregisterImage), their attributes
//! and launch permissions; and DescribeInstanceTypes.

use fort_control::image::{
    CopyImage, CreateImage, INSTANCE_TYPES, ImageChange, InstanceType, RegisterImage, catalog,
    not_found, visible,
};
use fort_control::now_millis;
use fort_model::{
    ApiError, ErrorCode, Image, ImageBlockDevice, ImageEbs, ImageState, Kind, LaunchPermission,
    Millis, Tags, format_time,
};

use super::{Ctx, b, next_token, ok_return};
use crate::filter::{Filters, paginate};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    DescribeImages,
    DescribeInstanceTypes,
    RegisterImage,
    CreateImage,
    CopyImage,
    DeregisterImage,
    DescribeImageAttribute,
    ModifyImageAttribute,
    ResetImageAttribute,
    EnableImageDeprecation,
    DisableImageDeprecation,
    EnableImageDeregistrationProtection,
    DisableImageDeregistrationProtection,
);

/// Catalog entries carry no tags.
static NO_TAGS: Tags = Tags::new();

/// An account id, `self`, or (for owners) an owner alias, as EC2 checks them.
fn check_user(o: &str, aliases: &[&str]) -> Result<(), ApiError> {
    let known = o == "self"
        || aliases.contains(&o)
        || (o.len() == 12 && o.bytes().all(|c| c.is_ascii_digit()));
    if known {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvalidUserIdMalformed,
        format!("Invalid user id: \"{o}\""),
    ))
}

/// The images DescribeImages answers with, before pagination.
fn describe(
    ctx: &Ctx<'_>,
    world: &fort_control::World,
    now: Millis,
) -> Result<Vec<Image>, ApiError> {
    let p = ctx.params;
    let account = ctx.account();
    let region = ctx.scope.region.as_str();
    let owners = p.strings("Owner")?;
    for o in &owners {
        check_user(o, &["amazon", "aws-marketplace", "aws-backup-vault"])?;
    }
    let executable_by = p.strings("ExecutableBy")?;
    for e in &executable_by {
        check_user(e, &["all"])?;
    }
    let ids = p.strings("ImageId")?;
    for id in &ids {
        Kind::Image.check(id)?;
    }
    let include_deprecated = p.bool("IncludeDeprecated")?.unwrap_or(false);
    let filters = Filters::parse(p, IMAGE_FILTERS)?;
    let catalog = catalog(region);
    let seen = visible(&catalog, world.regions.values(), account, region);
    let missing: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| !seen.iter().any(|i| i.id == *id))
        .collect();
    if !missing.is_empty() {
        return Err(not_found(&missing));
    }
    let now_text = format_time(now);
    let owned_by = |i: &Image, o: &str| match o {
        "self" => i.owner_id == account,
        "amazon" | "aws-marketplace" | "aws-backup-vault" => i.owner_alias.as_deref() == Some(o),
        id => i.owner_id == id,
    };
    let executable = |i: &Image, e: &str| match e {
        "all" => i.is_public(),
        user => {
            let user = if user == "self" { account } else { user };
            i.launch_permissions
                .iter()
                .any(|p| matches!(p, LaunchPermission::UserId(u) if u == user))
        }
    };
    Ok(seen
        .into_iter()
        .filter(|i| {
            !matches!(
                i.state_at(now),
                ImageState::Deregistered | ImageState::Disabled
            )
        })
        .filter(|i| ids.is_empty() || ids.iter().any(|id| i.id == *id))
        .filter(|i| owners.is_empty() || owners.iter().any(|o| owned_by(i, o)))
        .filter(|i| executable_by.is_empty() || executable_by.iter().any(|e| executable(i, e)))
        .filter(|i| {
            include_deprecated
                || !ids.is_empty()
                || i.owner_id == account
                || i.deprecation_time.as_ref().is_none_or(|t| *t > now_text)
        })
        .filter(|i| filters.matches(&i.tags, |name| image_field(i, name, now)))
        .cloned()
        .collect())
}

/// `BlockDeviceMapping.N` of RegisterImage and CreateImage.
fn block_devices(p: &Params) -> Result<Vec<ImageBlockDevice>, ApiError> {
    let mut out = Vec::new();
    for m in p.list("BlockDeviceMapping")? {
        let ebs = m.child("Ebs");
        out.push(ImageBlockDevice {
            device_name: m.req("DeviceName")?.to_owned(),
            virtual_name: m.opt_str("VirtualName"),
            no_device: m.get("NoDevice").is_some(),
            ebs: if ebs.is_present() {
                let size = match ebs.int("VolumeSize")? {
                    None => None,
                    Some(s) => Some(u32::try_from(s).map_err(|_| {
                        ApiError::bad_param(
                            "volumeSize",
                            &s.to_string(),
                            "Expected a positive size in GiB.",
                        )
                    })?),
                };
                let small = |name: &str| -> Result<Option<u32>, ApiError> {
                    ebs.int(name)?
                        .map(|v| {
                            u32::try_from(v).map_err(|_| {
                                ApiError::bad_param(
                                    name,
                                    &v.to_string(),
                                    "Expected a positive integer.",
                                )
                            })
                        })
                        .transpose()
                };
                Some(ImageEbs {
                    snapshot_id: ebs.opt_str("SnapshotId"),
                    volume_size: size,
                    volume_type: ebs.opt_str("VolumeType").unwrap_or_else(|| "gp2".into()),
                    delete_on_termination: ebs.bool("DeleteOnTermination")?.unwrap_or(true),
                    iops: small("Iops")?,
                    throughput: small("Throughput")?,
                    encrypted: ebs.bool("Encrypted")?.unwrap_or(false),
                    kms_key_id: ebs.opt_str("KmsKeyId"),
                })
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// `LaunchPermission.Add.N` / `.Remove.N` items.
fn permissions(items: Vec<&Params>) -> Result<Vec<LaunchPermission>, ApiError> {
    let mut out = Vec::new();
    for item in items {
        if let Some(u) = item.get("UserId") {
            out.push(LaunchPermission::UserId(u.to_owned()));
        }
        if let Some(g) = item.get("Group") {
            out.push(LaunchPermission::Group(g.to_owned()));
        }
        if let Some(a) = item.get("OrganizationArn") {
            out.push(LaunchPermission::OrganizationArn(a.to_owned()));
        }
        if let Some(a) = item.get("OrganizationalUnitArn") {
            out.push(LaunchPermission::OrganizationalUnitArn(a.to_owned()));
        }
    }
    Ok(out)
}

/// The change ModifyImageAttribute asks for, in either of its forms: the structured
/// (`LaunchPermission.Add.N`, `Description.Value`) or `Attribute` with its values.
fn image_change(p: &Params) -> Result<ImageChange, ApiError> {
    let lp = p.child("LaunchPermission");
    if lp.is_present() {
        return Ok(ImageChange::LaunchPermission {
            add: permissions(lp.list("Add")?)?,
            remove: permissions(lp.list("Remove")?)?,
        });
    }
    if let Some(d) = p.child("Description").get("Value") {
        return Ok(ImageChange::Description(d.to_owned()));
    }
    if let Some(v) = p.child("ImdsSupport").get("Value") {
        return Ok(ImageChange::ImdsSupport(v.to_owned()));
    }
    let attribute = p.get("Attribute");
    let listed = |name: &str,
                  f: fn(String) -> LaunchPermission|
     -> Result<Vec<LaunchPermission>, ApiError> {
        Ok(p.strings(name)?.into_iter().map(f).collect())
    };
    let mut perms = listed("UserId", LaunchPermission::UserId)?;
    perms.extend(listed("UserGroup", LaunchPermission::Group)?);
    perms.extend(listed(
        "OrganizationArn",
        LaunchPermission::OrganizationArn,
    )?);
    perms.extend(listed(
        "OrganizationalUnitArn",
        LaunchPermission::OrganizationalUnitArn,
    )?);
    match attribute {
        Some("launchPermission") | None if !perms.is_empty() || attribute.is_some() => {
            match p.get("OperationType") {
                Some("add") => Ok(ImageChange::LaunchPermission {
                    add: perms,
                    remove: Vec::new(),
                }),
                Some("remove") => Ok(ImageChange::LaunchPermission {
                    add: Vec::new(),
                    remove: perms,
                }),
                Some(other) => Err(ApiError::bad_param(
                    "operationType",
                    other,
                    "Valid values: add, remove.",
                )),
                None => Err(ApiError::missing("OperationType")),
            }
        }
        Some("description") => Ok(ImageChange::Description(p.req("Value")?.to_owned())),
        Some("imdsSupport") => Ok(ImageChange::ImdsSupport(p.req("Value")?.to_owned())),
        Some(other) => Err(ApiError::bad_param(
            "attribute",
            other,
            "Valid values: description, launchPermission, imdsSupport.",
        )),
        None => Err(ApiError::missing("Attribute")),
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::DescribeImages => {
            let now = now_millis();
            let images = ctx
                .control
                .read_world(|world| describe(ctx, world, now))
                .await?;
            let page = paginate(images, |i| i.id.to_string(), p, (5, 1000))?;
            let mut w = Xml::new();
            w.set("imagesSet", page.items, |w, i| render_image(w, &i, now));
            next_token(&mut w, page.next_token);
            Ok(w)
        }
        Action::RegisterImage => {
            let req = RegisterImage {
                name: p.req("Name")?.to_owned(),
                description: p.opt_str("Description"),
                image_location: p.opt_str("ImageLocation"),
                architecture: p.opt_str("Architecture"),
                root_device_name: p.opt_str("RootDeviceName"),
                block_devices: block_devices(p)?,
                virtualization_type: p.opt_str("VirtualizationType"),
                ena_support: p.bool("EnaSupport")?,
                sriov_net_support: p.opt_str("SriovNetSupport"),
                boot_mode: p.opt_str("BootMode"),
                tpm_support: p.opt_str("TpmSupport"),
                imds_support: p.opt_str("ImdsSupport"),
                uefi_data: p.opt_str("UefiData"),
                kernel_id: p.opt_str("KernelId"),
                ramdisk_id: p.opt_str("RamdiskId"),
                tags: ctx.tag_specs(&["image"])?,
            };
            let id = ctx.write(|tx| tx.register_image(req)).await?;
            let mut w = Xml::new();
            w.leaf("imageId", id);
            Ok(w)
        }
        Action::CreateImage => {
            let req = CreateImage {
                instance_id: p.req("InstanceId")?.to_owned(),
                name: p.req("Name")?.to_owned(),
                description: p.opt_str("Description"),
                block_devices: block_devices(p)?,
                tags: ctx.tag_specs(&["image", "snapshot"])?,
                snapshot_tags: ctx.tag_specs_for("snapshot")?,
            };
            let id = ctx.write(|tx| tx.create_image(req)).await?;
            let mut w = Xml::new();
            w.leaf("imageId", id);
            Ok(w)
        }
        Action::CopyImage => {
            let req = CopyImage {
                source_image_id: p.req("SourceImageId")?.to_owned(),
                source_region: p.req("SourceRegion")?.to_owned(),
                name: p.req("Name")?.to_owned(),
                description: p.opt_str("Description"),
                encrypted: p.bool("Encrypted")?.unwrap_or(false),
                kms_key_id: p.opt_str("KmsKeyId"),
                copy_tags: p.bool("CopyImageTags")?.unwrap_or(false),
                tags: ctx.tag_specs(&["image", "snapshot"])?,
                snapshot_tags: ctx.tag_specs_for("snapshot")?,
            };
            let id = ctx.write(|tx| tx.copy_image(req)).await?;
            let mut w = Xml::new();
            w.leaf("imageId", id);
            Ok(w)
        }
        Action::DeregisterImage => {
            let id = p.req("ImageId")?.to_owned();
            let delete = p.bool("DeleteAssociatedSnapshots")?.unwrap_or(false);
            let snapshots = ctx.write(|tx| tx.deregister_image(&id, delete)).await?;
            let mut w = ok_return();
            if delete {
                w.set("deleteSnapshotResultSet", snapshots, |w, s| {
                    w.leaf("snapshotId", s).leaf("returnCode", "success");
                });
            }
            Ok(w)
        }
        Action::DescribeImageAttribute => {
            let id = p.req("ImageId")?.to_owned();
            let attribute = p.req("Attribute")?.to_owned();
            Kind::Image.check(&id)?;
            let now = now_millis();
            let account = ctx.account().to_owned();
            let region = ctx.scope.region.clone();
            let image = ctx
                .control
                .read_world(|world| {
                    let catalog = catalog(&region);
                    visible(&catalog, world.regions.values(), &account, &region)
                        .into_iter()
                        .find(|i| i.id == id)
                        .cloned()
                })
                .await
                .ok_or_else(|| not_found(&[&id]))?;
            if image.state_at(now) == ImageState::Deregistered {
                return Err(not_found(&[&id]));
            }
            let owner = image.owner_id == account;
            let restricted = || {
                ApiError::new(
                    ErrorCode::AuthFailure,
                    "Unauthorized attempt to access restricted resource",
                )
            };
            let value = |w: &mut Xml, name: &str, v: Option<&str>| {
                w.el(name, |w| {
                    w.opt("value", v);
                });
            };
            let mut w = Xml::new();
            w.leaf("imageId", &id);
            match attribute.as_str() {
                "description" => value(&mut w, "description", image.description.as_deref()),
                "kernel" => value(&mut w, "kernel", image.kernel_id.as_deref()),
                "ramdisk" => value(&mut w, "ramdisk", image.ramdisk_id.as_deref()),
                "sriovNetSupport" => value(
                    &mut w,
                    "sriovNetSupport",
                    image.sriov_net_support.as_deref(),
                ),
                "bootMode" => value(&mut w, "bootMode", image.boot_mode.as_deref()),
                "tpmSupport" => value(&mut w, "tpmSupport", image.tpm_support.as_deref()),
                "uefiData" => value(&mut w, "uefiData", image.uefi_data.as_deref()),
                "imdsSupport" => value(&mut w, "imdsSupport", image.imds_support.as_deref()),
                "lastLaunchedTime" => value(&mut w, "lastLaunchedTime", None),
                "deregistrationProtection" => value(
                    &mut w,
                    "deregistrationProtection",
                    Some(if image.deregistration_protection {
                        "enabled"
                    } else {
                        "disabled"
                    }),
                ),
                "productCodes" => {
                    w.set("productCodes", std::iter::empty::<()>(), |_, _| {});
                }
                "launchPermission" => {
                    if !owner {
                        return Err(restricted());
                    }
                    w.set(
                        "launchPermission",
                        &image.launch_permissions,
                        render_permission,
                    );
                }
                // EC2 no longer answers this one: DescribeImages has the mappings.
                "blockDeviceMapping" => return Err(restricted()),
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        "The request received was invalid",
                    ));
                }
            }
            Ok(w)
        }
        Action::ModifyImageAttribute => {
            let id = p.req("ImageId")?.to_owned();
            let change = image_change(p)?;
            ctx.write(|tx| tx.modify_image_attribute(&id, change))
                .await?;
            Ok(ok_return())
        }
        Action::ResetImageAttribute => {
            let id = p.req("ImageId")?.to_owned();
            let attribute = p.req("Attribute")?.to_owned();
            ctx.write(|tx| tx.reset_image_attribute(&id, &attribute))
                .await?;
            Ok(ok_return())
        }
        Action::EnableImageDeprecation => {
            let id = p.req("ImageId")?.to_owned();
            let at = p.req("DeprecateAt")?.to_owned();
            ctx.write(|tx| tx.set_image_deprecation(&id, Some(at)))
                .await?;
            Ok(ok_return())
        }
        Action::DisableImageDeprecation => {
            let id = p.req("ImageId")?.to_owned();
            ctx.write(|tx| tx.set_image_deprecation(&id, None)).await?;
            Ok(ok_return())
        }
        Action::EnableImageDeregistrationProtection
        | Action::DisableImageDeregistrationProtection => {
            let id = p.req("ImageId")?.to_owned();
            let on = action == Action::EnableImageDeregistrationProtection;
            ctx.write(|tx| tx.set_image_deregistration_protection(&id, on))
                .await?;
            let mut w = Xml::new();
            w.leaf("return", if on { "enabled" } else { "disabled" });
            Ok(w)
        }
        Action::DescribeInstanceTypes => {
            let names = p.strings("InstanceType")?;
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !INSTANCE_TYPES.iter().any(|t| t.name == n.as_str()))
                .collect();
            if !missing.is_empty() {
                let list = missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::new(
                    ErrorCode::InvalidInstanceType,
                    format!("The following supplied instance types do not exist: [{list}]"),
                ));
            }
            let filters = Filters::parse(p, TYPE_FILTERS)?;
            let selected: Vec<&InstanceType> = INSTANCE_TYPES
                .iter()
                .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
                .filter(|t| filters.matches(&NO_TAGS, |f| type_field(t, f)))
                .collect();
            let page = paginate(selected, |t| t.name.to_owned(), p, (5, 100))?;
            let mut w = Xml::new();
            w.set("instanceTypeSet", page.items, render_type);
            next_token(&mut w, page.next_token);
            Ok(w)
        }
    }
}

const IMAGE_FILTERS: &[&str] = &[
    "architecture",
    "block-device-mapping.delete-on-termination",
    "block-device-mapping.device-name",
    "block-device-mapping.encrypted",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size",
    "block-device-mapping.volume-type",
    "boot-mode",
    "creation-date",
    "deprecation-time",
    "description",
    "ena-support",
    "free-tier-eligible",
    "hypervisor",
    "image-allowed",
    "image-id",
    "image-type",
    "imds-support",
    "is-public",
    "kernel-id",
    "manifest-location",
    "name",
    "owner-alias",
    "owner-id",
    "platform",
    "platform-details",
    "product-code",
    "product-code.type",
    "ramdisk-id",
    "root-device-name",
    "root-device-type",
    "source-image-id",
    "source-image-region",
    "source-instance-id",
    "sriov-net-support",
    "state",
    "state-reason-code",
    "state-reason-message",
    "tpm-support",
    "usage-operation",
    "virtualization-type",
];

/// An image's values for the filter `name`.
pub fn image_field(i: &Image, name: &str, now: Millis) -> Vec<String> {
    let one = |s: &str| vec![s.to_owned()];
    let opt = |s: &Option<String>| s.iter().cloned().collect::<Vec<_>>();
    let ebs = || i.block_devices.iter().filter_map(|d| d.ebs.as_ref());
    match name {
        "architecture" => one(&i.architecture),
        "block-device-mapping.delete-on-termination" => ebs()
            .map(|e| b(e.delete_on_termination).to_owned())
            .collect(),
        "block-device-mapping.device-name" => i
            .block_devices
            .iter()
            .map(|d| d.device_name.clone())
            .collect(),
        "block-device-mapping.encrypted" => ebs().map(|e| b(e.encrypted).to_owned()).collect(),
        "block-device-mapping.snapshot-id" => ebs().filter_map(|e| e.snapshot_id.clone()).collect(),
        "block-device-mapping.volume-size" => ebs()
            .filter_map(|e| e.volume_size.map(|s| s.to_string()))
            .collect(),
        "block-device-mapping.volume-type" => ebs().map(|e| e.volume_type.clone()).collect(),
        "boot-mode" => opt(&i.boot_mode),
        "creation-date" => one(&i.creation_date),
        "deprecation-time" => opt(&i.deprecation_time),
        "description" => opt(&i.description),
        "ena-support" => one(b(i.ena_support)),
        "free-tier-eligible" => one(b(i.free_tier_eligible)),
        "hypervisor" => one("xen"),
        "image-allowed" => one("true"),
        "image-id" => one(&i.id),
        "image-type" => one("machine"),
        "imds-support" => opt(&i.imds_support),
        "is-public" => one(b(i.is_public())),
        "kernel-id" => opt(&i.kernel_id),
        "manifest-location" => one(&i.image_location),
        "name" => one(&i.name),
        "owner-alias" => opt(&i.owner_alias),
        "owner-id" => one(&i.owner_id),
        "platform" => opt(&i.platform),
        "platform-details" => one(&i.platform_details),
        "ramdisk-id" => opt(&i.ramdisk_id),
        "root-device-name" => one(&i.root_device_name),
        "root-device-type" => one(&i.root_device_type),
        "source-image-id" => opt(&i.source_image_id),
        "source-image-region" => opt(&i.source_image_region),
        "source-instance-id" => i.source_instance_id.iter().map(|x| x.to_string()).collect(),
        "sriov-net-support" => opt(&i.sriov_net_support),
        "state" => one(i.state_at(now).as_str()),
        "tpm-support" => opt(&i.tpm_support),
        "usage-operation" => one(&i.usage_operation),
        "virtualization-type" => one(&i.virtualization_type),
        _ => vec![],
    }
}

fn render_permission(w: &mut Xml, p: &LaunchPermission) {
    match p {
        LaunchPermission::UserId(u) => w.leaf("userId", u),
        LaunchPermission::Group(g) => w.leaf("group", g),
        LaunchPermission::OrganizationArn(a) => w.leaf("organizationArn", a),
        LaunchPermission::OrganizationalUnitArn(a) => w.leaf("organizationalUnitArn", a),
    };
}

/// One image as EC2 writes it (botocore's `Image` shape).
pub fn render_image(w: &mut Xml, i: &Image, now: Millis) {
    let state = i.state_at(now);
    w.leaf("imageId", &i.id)
        .leaf("imageLocation", &i.image_location)
        .leaf("imageState", state)
        .leaf("imageOwnerId", &i.owner_id)
        .leaf("creationDate", &i.creation_date)
        .leaf("isPublic", b(i.is_public()))
        .leaf("architecture", &i.architecture)
        .leaf("imageType", "machine")
        .opt("kernelId", i.kernel_id.as_ref())
        .opt("ramdiskId", i.ramdisk_id.as_ref())
        .opt("platform", i.platform.as_ref())
        .leaf("platformDetails", &i.platform_details)
        .leaf("usageOperation", &i.usage_operation)
        .opt("imageOwnerAlias", i.owner_alias.as_ref())
        .leaf("name", &i.name)
        .opt("description", i.description.as_ref())
        .leaf("rootDeviceType", &i.root_device_type)
        .leaf("rootDeviceName", &i.root_device_name)
        .set("blockDeviceMapping", &i.block_devices, |w, d| {
            w.leaf("deviceName", &d.device_name)
                .opt("virtualName", d.virtual_name.as_ref());
            if d.no_device {
                w.leaf("noDevice", "");
            }
            if let Some(e) = &d.ebs {
                w.el("ebs", |w| {
                    w.opt("snapshotId", e.snapshot_id.as_ref())
                        .opt("volumeSize", e.volume_size)
                        .leaf("deleteOnTermination", b(e.delete_on_termination))
                        .leaf("volumeType", &e.volume_type)
                        .opt("iops", e.iops)
                        .opt("kmsKeyId", e.kms_key_id.as_ref())
                        .opt("throughput", e.throughput)
                        .leaf("encrypted", b(e.encrypted));
                });
            }
        })
        .leaf("virtualizationType", &i.virtualization_type);
    if !i.tags.is_empty() {
        w.tags(&i.tags);
    }
    w.leaf("hypervisor", "xen")
        .leaf("enaSupport", b(i.ena_support))
        .opt("sriovNetSupport", i.sriov_net_support.as_ref())
        .opt("bootMode", i.boot_mode.as_ref())
        .opt("tpmSupport", i.tpm_support.as_ref())
        .opt("deprecationTime", i.deprecation_time.as_ref())
        .opt("imdsSupport", i.imds_support.as_ref())
        .opt("sourceInstanceId", i.source_instance_id.as_ref())
        .leaf(
            "deregistrationProtection",
            if i.deregistration_protection {
                "enabled"
            } else {
                "disabled"
            },
        )
        .opt("sourceImageId", i.source_image_id.as_ref())
        .opt("sourceImageRegion", i.source_image_region.as_ref())
        .leaf("freeTierEligible", b(i.free_tier_eligible));
    if state == ImageState::Pending {
        w.el("stateReason", |w| {
            w.leaf("code", "pending").leaf("message", "pending");
        });
    }
}

/// DescribeInstanceTypes' filters, as botocore documents them.
const TYPE_FILTERS: &[&str] = &[
    "auto-recovery-supported",
    "bare-metal",
    "burstable-performance-supported",
    "current-generation",
    "dedicated-hosts-supported",
    "ebs-info.attachment-limit-type",
    "ebs-info.maximum-ebs-attachments",
    "ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps",
    "ebs-info.ebs-optimized-info.baseline-iops",
    "ebs-info.ebs-optimized-info.baseline-throughput-in-mbps",
    "ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps",
    "ebs-info.ebs-optimized-info.maximum-iops",
    "ebs-info.ebs-optimized-info.maximum-throughput-in-mbps",
    "ebs-info.ebs-optimized-support",
    "ebs-info.encryption-support",
    "ebs-info.nvme-support",
    "free-tier-eligible",
    "hibernation-supported",
    "hypervisor",
    "instance-storage-info.disk.count",
    "instance-storage-info.disk.size-in-gb",
    "instance-storage-info.disk.type",
    "instance-storage-info.encryption-support",
    "instance-storage-info.nvme-support",
    "instance-storage-info.total-size-in-gb",
    "instance-storage-supported",
    "instance-type",
    "memory-info.size-in-mib",
    "network-info.bandwidth-weightings",
    "network-info.efa-info.maximum-efa-interfaces",
    "network-info.efa-supported",
    "network-info.ena-support",
    "network-info.flexible-ena-queues-support",
    "network-info.encryption-in-transit-supported",
    "network-info.ipv4-addresses-per-interface",
    "network-info.ipv6-addresses-per-interface",
    "network-info.ipv6-supported",
    "network-info.maximum-network-cards",
    "network-info.maximum-network-interfaces",
    "network-info.network-performance",
    "nitro-enclaves-support",
    "nitro-tpm-support",
    "nitro-tpm-info.supported-versions",
    "processor-info.supported-architecture",
    "processor-info.sustained-clock-speed-in-ghz",
    "processor-info.supported-features",
    "reboot-migration-support",
    "supported-boot-mode",
    "supported-root-device-type",
    "supported-usage-class",
    "supported-virtualization-type",
    "vcpu-info.default-cores",
    "vcpu-info.default-threads-per-core",
    "vcpu-info.default-vcpus",
    "vcpu-info.valid-cores",
    "vcpu-info.valid-threads-per-core",
];

fn nitro(t: &InstanceType) -> bool {
    t.nitro()
}

/// ENA: required on Nitro, supported on the later Xen families, else unsupported.
fn ena_support(t: &InstanceType) -> &'static str {
    const XEN_ENA: &[&str] = &["r4", "x1", "x1e", "i3", "p2", "p3", "g3", "g3s", "h1", "f1"];
    let family = t.name.split('.').next().unwrap_or_default();
    if nitro(t) {
        "required"
    } else if XEN_ENA.contains(&family) || t.name == "m4.16xlarge" {
        "supported"
    } else {
        "unsupported"
    }
}

/// The core counts and threads per core CPU options accept: Nitro types only.
fn valid_cpu_options(t: &InstanceType) -> Option<(Vec<u32>, Vec<u32>)> {
    t.valid_cpu_options()
}

/// An instance type's values for DescribeInstanceTypes' filter `name`.
fn type_field(t: &InstanceType, name: &str) -> Vec<String> {
    let one = |s: &str| vec![s.to_owned()];
    match name {
        "instance-type" => one(t.name),
        "auto-recovery-supported" => one(b(!t.bare_metal)),
        "bare-metal" => one(b(t.bare_metal)),
        "current-generation" => one(b(t.current_generation)),
        "dedicated-hosts-supported" => one("false"),
        "free-tier-eligible" => one(b(t.free_tier_eligible)),
        "burstable-performance-supported" => one(b(t.burstable)),
        "hibernation-supported" => one("false"),
        "hypervisor" if t.bare_metal => vec![],
        "hypervisor" => one(t.hypervisor),
        "ebs-info.ebs-optimized-support" => one(if nitro(t) { "default" } else { "unsupported" }),
        "ebs-info.encryption-support" => one("supported"),
        "ebs-info.nvme-support" => one(if nitro(t) { "required" } else { "unsupported" }),
        "instance-storage-supported" => one("false"),
        "processor-info.supported-architecture" => {
            t.architectures.iter().map(|a| (*a).to_owned()).collect()
        }
        "processor-info.sustained-clock-speed-in-ghz" if t.clock_ghz > 0.0 => {
            vec![t.clock_ghz.to_string()]
        }
        "vcpu-info.default-vcpus" => vec![t.vcpus.to_string()],
        "vcpu-info.default-cores" => vec![t.cores.to_string()],
        "vcpu-info.default-threads-per-core" => vec![t.threads_per_core.to_string()],
        "vcpu-info.valid-cores" => valid_cpu_options(t)
            .map(|(c, _)| c.iter().map(u32::to_string).collect())
            .unwrap_or_default(),
        "vcpu-info.valid-threads-per-core" => valid_cpu_options(t)
            .map(|(_, th)| th.iter().map(u32::to_string).collect())
            .unwrap_or_default(),
        "memory-info.size-in-mib" => vec![t.memory_mib.to_string()],
        "network-info.efa-supported" => one("false"),
        "network-info.ena-support" => one(ena_support(t)),
        "network-info.ipv4-addresses-per-interface" => vec![t.ipv4_per_interface.to_string()],
        "network-info.ipv6-addresses-per-interface" => vec![t.ipv6_per_interface.to_string()],
        "network-info.maximum-network-cards" => one("1"),
        "network-info.maximum-network-interfaces" => vec![t.max_interfaces.to_string()],
        "network-info.network-performance" => one(t.network_performance),
        "network-info.ipv6-supported" => one(b(t.ipv6_per_interface > 0)),
        "supported-boot-mode" => vec!["legacy-bios".into(), "uefi".into()],
        "supported-root-device-type" => one("ebs"),
        "supported-usage-class" => vec!["on-demand".into(), "spot".into()],
        "supported-virtualization-type" => one("hvm"),
        _ => vec![],
    }
}

fn render_type(w: &mut Xml, t: &InstanceType) {
    w.leaf("instanceType", t.name)
        .leaf("currentGeneration", b(t.current_generation))
        .leaf("freeTierEligible", b(t.free_tier_eligible))
        .strings("supportedUsageClasses", ["on-demand", "spot"])
        .strings("supportedRootDeviceTypes", ["ebs"])
        .strings("supportedVirtualizationTypes", ["hvm"])
        .leaf("bareMetal", b(t.bare_metal))
        .opt("hypervisor", (!t.bare_metal).then_some(t.hypervisor))
        .el("processorInfo", |w| {
            w.strings("supportedArchitectures", t.architectures);
            if t.clock_ghz > 0.0 {
                w.leaf("sustainedClockSpeedInGhz", t.clock_ghz);
            }
        })
        .el("vCpuInfo", |w| {
            w.leaf("defaultVCpus", t.vcpus)
                .leaf("defaultCores", t.cores)
                .leaf("defaultThreadsPerCore", t.threads_per_core);
            if let Some((cores, threads)) = valid_cpu_options(t) {
                w.strings("validCores", cores)
                    .strings("validThreadsPerCore", threads);
            }
        })
        .el("memoryInfo", |w| {
            w.leaf("sizeInMiB", t.memory_mib);
        })
        .leaf("instanceStorageSupported", "false");
    if let Some(g) = &t.gpus {
        w.el("gpuInfo", |w| {
            w.set("gpus", [g], |w, g| {
                w.leaf("name", g.name)
                    .leaf("manufacturer", g.manufacturer)
                    .leaf("count", g.whole())
                    .leaf("logicalGpuCount", g.count)
                    .leaf("gpuPartitionSize", format!("{:.3}", g.partition()))
                    .strings("workloadSet", g.workloads().iter().copied())
                    .el("memoryInfo", |w| {
                        w.leaf("sizeInMiB", g.memory_mib);
                    });
            })
            .leaf("totalGpuMemoryInMiB", g.memory_mib * u64::from(g.count));
        });
    }
    w.el("ebsInfo", |w| {
        w.leaf(
            "ebsOptimizedSupport",
            if nitro(t) { "default" } else { "unsupported" },
        )
        .leaf("encryptionSupport", "supported")
        .leaf(
            "nvmeSupport",
            if nitro(t) { "required" } else { "unsupported" },
        );
    })
    .el("networkInfo", |w| {
        w.leaf("networkPerformance", t.network_performance)
            .leaf("maximumNetworkInterfaces", t.max_interfaces)
            .leaf("maximumNetworkCards", 1)
            .leaf("defaultNetworkCardIndex", 0)
            .leaf("ipv4AddressesPerInterface", t.ipv4_per_interface)
            .leaf("ipv6AddressesPerInterface", t.ipv6_per_interface)
            .leaf("ipv6Supported", b(t.ipv6_per_interface > 0))
            .leaf("enaSupport", ena_support(t))
            .leaf("efaSupported", "false");
    })
    .el("placementGroupInfo", |w| {
        w.strings("supportedStrategies", ["partition", "spread"]);
    })
    .leaf("hibernationSupported", "false")
    .leaf("burstablePerformanceSupported", b(t.burstable))
    .leaf("dedicatedHostsSupported", "false")
    .leaf("autoRecoverySupported", "true")
    .strings("supportedBootModes", ["legacy-bios", "uefi"]);
}
