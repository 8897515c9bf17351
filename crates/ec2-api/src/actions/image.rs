//! The catalogs: DescribeImages over the built-in public images, DescribeInstanceTypes.

use fort_control::image::{IMAGES, INSTANCE_TYPES, Image, InstanceType};
use fort_model::{ApiError, ErrorCode, Kind, Tags};

use super::{Ctx, Describe, b, next_token};
use crate::filter::{Filters, paginate};
use crate::xml::Xml;

crate::actions!(DescribeImages, DescribeInstanceTypes);

/// Catalog entries carry no tags.
static NO_TAGS: Tags = Tags::new();

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::DescribeImages => {
            let owners = p.strings("Owner")?;
            // Only the catalog is there: `self` (and any other account) owns no image.
            let public_owner = |o: &str| o == "amazon" || o == IMAGES[0].owner_id();
            for o in &owners {
                let known = matches!(o.as_str(), "self" | "amazon" | "aws-marketplace")
                    || (o.len() == 12 && o.bytes().all(|c| c.is_ascii_digit()));
                if !known {
                    return Err(ApiError::new(
                        ErrorCode::InvalidUserIdMalformed,
                        format!("Invalid user id: \"{o}\""),
                    ));
                }
            }
            let ids = p.strings("ImageId")?;
            if let Some(missing) = ids.iter().find(|i| !IMAGES.iter().any(|im| im.id == *i)) {
                Kind::Image.check(missing)?;
                return Err(ApiError::new(
                    ErrorCode::InvalidAmiIdNotFound,
                    format!("The image id '[{missing}]' does not exist"),
                ));
            }
            // Owners that own no catalog image (`self`, other accounts) select nothing.
            let owned = owners.is_empty() || owners.iter().any(|o| public_owner(o));
            let d = Describe {
                ids_param: "ImageId",
                kind: Kind::Image,
                filters: IMAGE_FILTERS,
                page: Some((5, 1000)),
            };
            let mut page = d.run(p, IMAGES.iter(), |i| i.id, |_| &NO_TAGS, image_field)?;
            if !owned {
                page.items.clear();
                page.next_token = None;
            }
            let mut w = Xml::new();
            w.set("imagesSet", page.items, render_image);
            next_token(&mut w, page.next_token);
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
    "block-device-mapping.device-name",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size",
    "block-device-mapping.volume-type",
    "description",
    "ena-support",
    "hypervisor",
    "image-id",
    "image-type",
    "is-public",
    "name",
    "owner-alias",
    "owner-id",
    "platform-details",
    "root-device-name",
    "root-device-type",
    "state",
    "usage-operation",
    "virtualization-type",
];

fn image_field(i: &Image, name: &str) -> Vec<String> {
    let one = |s: &str| vec![s.to_owned()];
    match name {
        "architecture" => one(i.architecture),
        "block-device-mapping.device-name" | "root-device-name" => one("/dev/xvda"),
        "block-device-mapping.snapshot-id" => one(i.snapshot_id),
        "block-device-mapping.volume-size" => vec![i.volume_size.to_string()],
        "block-device-mapping.volume-type" => one("gp3"),
        "description" => one(i.description),
        "ena-support" | "is-public" => one("true"),
        "hypervisor" => one("xen"),
        "image-id" => one(i.id),
        "image-type" => one("machine"),
        "name" => one(i.name),
        "owner-alias" => one("amazon"),
        "owner-id" => one(i.owner_id()),
        "platform-details" => one("Linux/UNIX"),
        "root-device-type" => one("ebs"),
        "state" => one("available"),
        "usage-operation" => one("RunInstances"),
        "virtualization-type" => one("hvm"),
        _ => vec![],
    }
}

fn render_image(w: &mut Xml, i: &Image) {
    w.leaf("imageId", i.id)
        .leaf("imageLocation", format!("amazon/{}", i.name))
        .leaf("imageState", "available")
        .leaf("imageOwnerId", i.owner_id())
        .leaf("creationDate", i.creation_date)
        .leaf("isPublic", "true")
        .leaf("architecture", i.architecture)
        .leaf("imageType", "machine")
        .leaf("platformDetails", "Linux/UNIX")
        .leaf("usageOperation", "RunInstances")
        .leaf("imageOwnerAlias", "amazon")
        .leaf("name", i.name)
        .leaf("description", i.description)
        .leaf("rootDeviceType", "ebs")
        .leaf("rootDeviceName", "/dev/xvda")
        .set("blockDeviceMapping", [i], |w, i| {
            w.leaf("deviceName", "/dev/xvda").el("ebs", |w| {
                w.leaf("snapshotId", i.snapshot_id)
                    .leaf("volumeSize", i.volume_size)
                    .leaf("deleteOnTermination", "true")
                    .leaf("volumeType", "gp3")
                    .leaf("iops", 3000)
                    .leaf("throughput", 125)
                    .leaf("encrypted", "false");
            });
        })
        .leaf("virtualizationType", "hvm")
        .leaf("hypervisor", "xen")
        .leaf("enaSupport", "true")
        .leaf("sriovNetSupport", "simple")
        .leaf("bootMode", "uefi-preferred")
        .leaf("imdsSupport", "v2.0");
}

const TYPE_FILTERS: &[&str] = &[
    "instance-type",
    "current-generation",
    "free-tier-eligible",
    "burstable-performance-supported",
    "hypervisor",
    "processor-info.supported-architecture",
    "vcpu-info.default-vcpus",
    "vcpu-info.default-cores",
    "memory-info.size-in-mib",
    "network-info.maximum-network-interfaces",
    "network-info.ipv6-supported",
    "supported-root-device-type",
    "supported-usage-class",
    "supported-virtualization-type",
];

fn type_field(t: &InstanceType, name: &str) -> Vec<String> {
    match name {
        "instance-type" => vec![t.name.to_owned()],
        "current-generation" => vec![b(t.current_generation).into()],
        "free-tier-eligible" => vec![b(t.free_tier_eligible).into()],
        "burstable-performance-supported" => vec![b(t.burstable).into()],
        "hypervisor" => vec![t.hypervisor.to_owned()],
        "processor-info.supported-architecture" => {
            t.architectures.iter().map(|a| (*a).to_owned()).collect()
        }
        "vcpu-info.default-vcpus" => vec![t.vcpus.to_string()],
        "vcpu-info.default-cores" => vec![t.cores.to_string()],
        "memory-info.size-in-mib" => vec![t.memory_mib.to_string()],
        "network-info.maximum-network-interfaces" => vec![t.max_interfaces.to_string()],
        "network-info.ipv6-supported" => vec![b(t.ipv6_per_interface > 0).into()],
        "supported-root-device-type" => vec!["ebs".into()],
        "supported-usage-class" => vec!["on-demand".into(), "spot".into()],
        "supported-virtualization-type" => vec!["hvm".into()],
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
        .leaf("bareMetal", "false")
        .leaf("hypervisor", t.hypervisor)
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
        })
        .el("memoryInfo", |w| {
            w.leaf("sizeInMiB", t.memory_mib);
        })
        .leaf("instanceStorageSupported", "false")
        .el("ebsInfo", |w| {
            w.leaf(
                "ebsOptimizedSupport",
                if t.hypervisor == "nitro" {
                    "default"
                } else {
                    "unsupported"
                },
            )
            .leaf("encryptionSupport", "supported")
            .leaf(
                "nvmeSupport",
                if t.hypervisor == "nitro" {
                    "required"
                } else {
                    "unsupported"
                },
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
                .leaf(
                    "enaSupport",
                    if t.hypervisor == "nitro" {
                        "required"
                    } else {
                        "unsupported"
                    },
                )
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
