//! Images (AMIs) and instance types.
//!
//! Every region offers a catalog of the current public images of Amazon Linux 2023 and 2,
//! Ubuntu 22.04 and 24.04, Debian 12, Fedora 40 and 41 and Windows Server 2022, with their
//! publishers' real owner ids, aliases and names, several releases of each (so
//! `most_recent` matters), and ids of their own in each region (derived from the region and
//! the name: stable across restarts, different between regions, as EC2's are; one old
//! Amazon Linux image keeps AWS's own ids, which tests name). Accounts add their own images
//! (RegisterImage, CreateImage, CopyImage), share them by launch permission, and
//! deregister them. RunInstances with an id no one registered registers a generic Linux
//! image of that id for the caller, unless the server runs with `--images strict`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use fort_model::*;
use sha2::{Digest, Sha256};

use crate::Tx;
use crate::region::Region;
use crate::tags::check_tags;

/// Amazon's account: the Amazon Linux images (alias `amazon`).
pub const AMAZON_OWNER_ID: &str = "137112412989";
/// Amazon's account for the Windows images (alias `amazon` too).
pub const WINDOWS_OWNER_ID: &str = "801119661308";
/// Canonical's account: the Ubuntu images (no alias).
pub const CANONICAL_OWNER_ID: &str = "099720109477";
/// Debian's account: the Debian images (no alias).
pub const DEBIAN_OWNER_ID: &str = "136693071363";
/// Fedora's account (the CentOS and Fedora infrastructure team's): the Fedora Cloud
/// images (no alias).
pub const FEDORA_OWNER_ID: &str = "125523088429";

/// One image of the catalog, before it gets its region's ids.
struct Entry {
    owner: &'static str,
    alias: Option<&'static str>,
    name: String,
    description: String,
    arch: &'static str,
    created: &'static str,
    root: &'static str,
    size: u32,
    volume_type: &'static str,
    boot_mode: Option<&'static str>,
    imds_v2: bool,
    windows: bool,
    /// Ubuntu's images map two instance store volumes (`/dev/sdb`, `/dev/sdc`).
    ephemerals: bool,
    deprecated: Option<&'static str>,
    /// The ids AWS gave it, by region, where tests name it by id (elsewhere, and for the
    /// rest of the catalog, ids are derived).
    aws_ids: &'static [(&'static str, &'static str)],
}

impl Entry {
    fn new(owner: &'static str, name: String, description: String, arch: &'static str) -> Self {
        Self {
            owner,
            alias: (owner == AMAZON_OWNER_ID || owner == WINDOWS_OWNER_ID).then_some("amazon"),
            name,
            description,
            arch,
            created: "",
            root: "/dev/xvda",
            size: 8,
            volume_type: "gp2",
            boot_mode: (arch == "arm64").then_some("uefi"),
            imds_v2: false,
            windows: false,
            ephemerals: false,
            deprecated: None,
            aws_ids: &[],
        }
    }
}

/// The catalog's images, as published (same in every region but for ids).
fn entries() -> Vec<Entry> {
    let mut v = Vec::new();
    // Amazon Linux 2023: standard (8 GiB) and minimal (2 GiB), gp3, IMDSv2 only.
    for (ver, created) in [
        ("2023.6.20241121.0", "2024-11-21T22:12:49.000Z"),
        ("2023.6.20241212.0", "2024-12-13T01:57:38.000Z"),
    ] {
        for arch in ["x86_64", "arm64"] {
            for minimal in [false, true] {
                let (kind, what) = if minimal {
                    ("al2023-ami-minimal", " Minimal")
                } else {
                    ("al2023-ami", "")
                };
                v.push(Entry {
                    created,
                    size: if minimal { 2 } else { 8 },
                    volume_type: "gp3",
                    boot_mode: Some(if arch == "arm64" {
                        "uefi"
                    } else {
                        "uefi-preferred"
                    }),
                    imds_v2: true,
                    ..Entry::new(
                        AMAZON_OWNER_ID,
                        format!("{kind}-{ver}-kernel-6.1-{arch}"),
                        format!("Amazon Linux 2023 AMI {ver} {arch}{what} HVM kernel-6.1"),
                        arch,
                    )
                });
            }
        }
    }
    // Amazon Linux 2: kernel 5.10 and the original (4.14) images, gp2.
    for (ver, created, deprecated) in [
        (
            "2.0.20230404.0",
            "2023-04-04T20:53:44.000Z",
            Some("2025-04-04T20:53:00.000Z"),
        ),
        ("2.0.20241113.1", "2024-11-14T00:33:11.000Z", None),
        ("2.0.20241217.0", "2024-12-17T23:06:46.000Z", None),
    ] {
        for arch in ["x86_64", "arm64"] {
            v.push(Entry {
                created,
                deprecated,
                ..Entry::new(
                    AMAZON_OWNER_ID,
                    format!("amzn2-ami-kernel-5.10-hvm-{ver}-{arch}-gp2"),
                    format!("Amazon Linux 2 Kernel 5.10 AMI {ver} {arch} HVM gp2"),
                    arch,
                )
            });
            v.push(Entry {
                created,
                deprecated,
                ..Entry::new(
                    AMAZON_OWNER_ID,
                    format!("amzn2-ami-hvm-{ver}-{arch}-gp2"),
                    format!("Amazon Linux 2 AMI {ver} {arch} HVM gp2"),
                    arch,
                )
            });
            // The minimal images on a magnetic (`standard`) root volume: what the provider's
            // acceptance tests look up (`amzn2-ami-minimal-hvm-*`, root device type ebs).
            v.push(Entry {
                created,
                deprecated,
                volume_type: "standard",
                ..Entry::new(
                    AMAZON_OWNER_ID,
                    format!("amzn2-ami-minimal-hvm-{ver}-{arch}-ebs"),
                    format!("Amazon Linux 2 AMI {ver} {arch} Minimal HVM ebs"),
                    arch,
                )
            });
        }
    }
    // The Amazon Linux AMI (2018.03, "Amazon Linux 1"): its last releases stay public and
    // are what `amzn-ami-hvm-*-x86_64-gp2` lookups (terraform-aws-ec2-instance's examples)
    // find; x86_64 only, legacy BIOS boot, gp2.
    for (ver, created) in [
        ("2018.03.0.20230905.0", "2023-09-05T21:10:17.000Z"),
        ("2018.03.0.20231218.0", "2023-12-18T23:03:22.000Z"),
    ] {
        v.push(Entry {
            created,
            ..Entry::new(
                AMAZON_OWNER_ID,
                format!("amzn-ami-hvm-{ver}-x86_64-gp2"),
                format!("Amazon Linux AMI {ver} x86_64 HVM gp2"),
                "x86_64",
            )
        });
    }
    // Its 2017.09.0 release, which Ansible's amazon.aws EC2 image targets look up by the
    // ids AWS gave it (still public there, though long superseded).
    v.push(Entry {
        created: "2017-09-30T00:00:00.000Z", // (the day its name gives)
        aws_ids: AMAZON_LINUX_2017_09_IDS,
        ..Entry::new(
            AMAZON_OWNER_ID,
            "amzn-ami-hvm-2017.09.0.20170930-x86_64-gp2".into(),
            "Amazon Linux AMI 2017.09.0.20170930 x86_64 HVM GP2".into(),
            "x86_64",
        )
    });
    // Ubuntu 24.04 (gp3) and 22.04 (gp2): /dev/sda1 and two instance store mappings.
    for (release, codename, dir, volume_type, builds) in [
        (
            "24.04",
            "noble",
            "hvm-ssd-gp3",
            "gp3",
            [
                ("20241119", "2024-11-19T21:05:29.000Z"),
                ("20241206", "2024-12-06T22:51:02.000Z"),
            ],
        ),
        (
            "22.04",
            "jammy",
            "hvm-ssd",
            "gp2",
            [
                ("20241115", "2024-11-15T18:32:04.000Z"),
                ("20241206", "2024-12-06T21:47:38.000Z"),
            ],
        ),
    ] {
        for (build, created) in builds {
            for arch in ["amd64", "arm64"] {
                let day = format!("{}-{}-{}", &build[..4], &build[4..6], &build[6..]);
                let description = if codename == "jammy" {
                    format!(
                        "Canonical, Ubuntu, {release} LTS, {arch} {codename} image build on {day}"
                    )
                } else {
                    format!("Canonical, Ubuntu, {release}, {arch} {codename} image")
                };
                let ec2_arch = if arch == "amd64" { "x86_64" } else { "arm64" };
                v.push(Entry {
                    created,
                    root: "/dev/sda1",
                    volume_type,
                    ephemerals: true,
                    boot_mode: match (arch, codename) {
                        ("arm64", _) => Some("uefi"),
                        (_, "noble") => Some("uefi-preferred"),
                        _ => None,
                    },
                    ..Entry::new(
                        CANONICAL_OWNER_ID,
                        format!(
                            "ubuntu/images/{dir}/ubuntu-{codename}-{release}-{arch}-server-{build}"
                        ),
                        description,
                        ec2_arch,
                    )
                });
            }
        }
    }
    // Debian 12.
    for (build, created) in [
        ("20241110-1919", "2024-11-10T19:24:52.000Z"),
        ("20241201-1948", "2024-12-01T19:53:11.000Z"),
    ] {
        for arch in ["amd64", "arm64"] {
            let ec2_arch = if arch == "amd64" { "x86_64" } else { "arm64" };
            v.push(Entry {
                created,
                ..Entry::new(
                    DEBIAN_OWNER_ID,
                    format!("debian-12-{arch}-{build}"),
                    format!("Debian 12 ({build})"),
                    ec2_arch,
                )
            });
        }
    }
    // Fedora Cloud 40 and 41: /dev/sda1, 5 GiB gp3; the region is in the name.
    for (release, created) in [
        ("40-1.14", "2024-04-16T06:07:46.000Z"),
        ("41-1.4", "2024-10-24T05:55:08.000Z"),
    ] {
        for arch in ["x86_64", "aarch64"] {
            let base = format!("Fedora-Cloud-Base-AmazonEC2.{arch}-{release}");
            v.push(Entry {
                created,
                root: "/dev/sda1",
                size: 5,
                volume_type: "gp3",
                boot_mode: Some(if arch == "x86_64" {
                    "uefi-preferred"
                } else {
                    "uefi"
                }),
                ..Entry::new(
                    FEDORA_OWNER_ID,
                    format!("{base}-hvm-{{region}}-gp3-0"),
                    base,
                    if arch == "x86_64" { "x86_64" } else { "arm64" },
                )
            });
        }
    }
    // Windows Server 2022, English, full base, and 2016 core (what the provider's acceptance
    // tests of GetPasswordData look up): x86_64 only, 30 GiB.
    for (date, created) in [
        ("2024.11.13", "2024-11-13T22:17:40.000Z"),
        ("2024.12.13", "2024-12-13T19:47:07.000Z"),
    ] {
        for (release, edition) in [("2022", "Full"), ("2016", "Core")] {
            v.push(Entry {
                created,
                root: "/dev/sda1",
                size: 30,
                windows: true,
                boot_mode: None,
                ..Entry::new(
                    WINDOWS_OWNER_ID,
                    format!("Windows_Server-{release}-English-{edition}-Base-{date}"),
                    format!(
                        "Microsoft Windows Server {release} {edition} Locale English AMI provided by Amazon"
                    ),
                    "x86_64",
                )
            });
        }
    }
    v
}

/// AWS's ids of `amzn-ami-hvm-2017.09.0.20170930-x86_64-gp2` (8 hex digits, as ids were
/// in 2017), as amazon.aws's integration targets list them.
const AMAZON_LINUX_2017_09_IDS: &[(&str, &str)] = &[
    ("us-east-1", "ami-8c1be5f6"),
    ("us-east-2", "ami-c5062ba0"),
    ("us-west-1", "ami-02eada62"),
    ("us-west-2", "ami-e689729e"),
    ("ca-central-1", "ami-fd55ec99"),
    ("eu-west-1", "ami-acd005d5"),
    ("eu-central-1", "ami-c7ee5ca8"),
    ("eu-west-2", "ami-1a7f6d7e"),
    ("ap-southeast-1", "ami-0797ea64"),
    ("ap-southeast-2", "ami-8536d6e7"),
    ("ap-northeast-2", "ami-9bec36f5"),
    ("ap-northeast-1", "ami-2a69be4c"),
    ("ap-south-1", "ami-4fc58420"),
    ("sa-east-1", "ami-f1344b9d"),
    ("cn-north-1", "ami-fba67596"),
];

/// 17 hex digits (the first a 0, as EC2's current ids have) derived from `parts`.
fn derived_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("0{digest}")
}

fn catalog_image(region: &str, e: &Entry) -> Image {
    let name = e.name.replace("{region}", region);
    let mut block_devices = vec![ImageBlockDevice {
        device_name: e.root.into(),
        virtual_name: None,
        no_device: false,
        ebs: Some(ImageEbs {
            snapshot_id: Some(format!("snap-{}", derived_hex(&["snap", region, &e.name]))),
            volume_size: Some(e.size),
            volume_type: e.volume_type.into(),
            delete_on_termination: true,
            iops: (e.volume_type == "gp3").then_some(3000),
            throughput: (e.volume_type == "gp3").then_some(125),
            encrypted: false,
            kms_key_id: None,
        }),
    }];
    if e.ephemerals {
        for (dev, n) in [("/dev/sdb", 0), ("/dev/sdc", 1)] {
            block_devices.push(ImageBlockDevice {
                device_name: dev.into(),
                virtual_name: Some(format!("ephemeral{n}")),
                no_device: false,
                ebs: None,
            });
        }
    }
    let aws_id = e
        .aws_ids
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, id)| *id);
    Image {
        id: ImageId::parse(&aws_id.map_or_else(
            || format!("ami-{}", derived_hex(&["ami", region, &e.name])),
            str::to_owned,
        ))
        .expect("derived ids have the form"),
        owner_id: e.owner.into(),
        owner_alias: e.alias.map(Into::into),
        image_location: format!("{}/{name}", e.alias.unwrap_or(e.owner)),
        name,
        description: Some(e.description.clone()),
        architecture: e.arch.into(),
        creation_date: e.created.into(),
        state: ImageState::Available,
        available_at: None,
        launch_permissions: vec![LaunchPermission::Group("all".into())],
        root_device_name: e.root.into(),
        root_device_type: "ebs".into(),
        block_devices,
        virtualization_type: "hvm".into(),
        ena_support: true,
        sriov_net_support: Some("simple".into()),
        boot_mode: e.boot_mode.map(Into::into),
        tpm_support: None,
        imds_support: e.imds_v2.then(|| "v2.0".into()),
        uefi_data: None,
        platform: e.windows.then(|| "windows".into()),
        platform_details: if e.windows { "Windows" } else { "Linux/UNIX" }.into(),
        usage_operation: if e.windows {
            "RunInstances:0002"
        } else {
            "RunInstances"
        }
        .into(),
        kernel_id: None,
        ramdisk_id: None,
        source_instance_id: None,
        source_image_id: None,
        source_image_region: None,
        deprecation_time: e.deprecated.map(Into::into),
        deregistration_protection: false,
        free_tier_eligible: !e.windows && e.arch == "x86_64",
        tags: Tags::new(),
    }
}

static CATALOGS: LazyLock<Mutex<HashMap<String, Arc<Vec<Image>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The public images `region` offers, in id order.
pub fn catalog(region: &str) -> Arc<Vec<Image>> {
    let mut cache = CATALOGS.lock().expect("catalog lock");
    cache
        .entry(region.to_owned())
        .or_insert_with(|| {
            let mut images: Vec<Image> =
                entries().iter().map(|e| catalog_image(region, e)).collect();
            images.sort_by(|a, b| a.id.cmp(&b.id));
            Arc::new(images)
        })
        .clone()
}

/// EC2's answer to image ids that name nothing the caller can see.
pub fn not_found(ids: &[&str]) -> ApiError {
    let message = match ids {
        [one] => format!("The image id '[{one}]' does not exist"),
        many => format!("The image ids '[{}]' do not exist", many.join(", ")),
    };
    ApiError::new(ErrorCode::InvalidAmiIdNotFound, message)
}

fn unavailable(id: &str, state: ImageState) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAmiIdUnavailable,
        format!("Image {id} is {state} and cannot be used."),
    )
}

fn not_owner(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AuthFailure,
        format!("Not authorized for image:{id}"),
    )
}

/// Every image `account` can see in `region`, by id: the catalog, its own images (with
/// deregistered ones, which Describe leaves out), and other accounts' images that are
/// public or shared with it. Its own row wins when two accounts hold the same id.
pub fn visible<'a>(
    catalog: &'a [Image],
    regions: impl Iterator<Item = &'a Region>,
    account: &str,
    region: &str,
) -> Vec<&'a Image> {
    let mut by_id: std::collections::BTreeMap<&str, &'a Image> =
        catalog.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut others = Vec::new();
    for r in regions.filter(|r| r.name == region) {
        if r.account == account {
            for i in r.images.values() {
                by_id.insert(i.id.as_str(), i);
            }
        } else {
            others.extend(
                r.images
                    .values()
                    .filter(|i| i.state != ImageState::Deregistered && i.launchable_by(account)),
            );
        }
    }
    for i in others {
        by_id.entry(i.id.as_str()).or_insert(i);
    }
    by_id.into_values().collect()
}

/// AMI names: 3 to 128 of letters, digits and `()[] ./-'@_`.
pub fn check_image_name(name: &str) -> Result<(), ApiError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    if (3..=128).contains(&name.chars().count()) && name.chars().all(ok_char) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvalidAmiNameMalformed,
        "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
    ))
}

fn check_description(d: &Option<String>) -> Result<(), ApiError> {
    match d {
        Some(d) if d.chars().count() > 255 => Err(ApiError::invalid_value(
            "AMI descriptions may be at most 255 characters long.",
        )),
        _ => Ok(()),
    }
}

/// RegisterImage's parameters.
#[derive(Clone, Debug, Default)]
pub struct RegisterImage {
    pub name: String,
    pub description: Option<String>,
    pub image_location: Option<String>,
    pub architecture: Option<String>,
    pub root_device_name: Option<String>,
    pub block_devices: Vec<ImageBlockDevice>,
    pub virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
    pub sriov_net_support: Option<String>,
    pub boot_mode: Option<String>,
    pub tpm_support: Option<String>,
    pub imds_support: Option<String>,
    pub uefi_data: Option<String>,
    pub kernel_id: Option<String>,
    pub ramdisk_id: Option<String>,
    pub tags: Tags,
}

/// CreateImage's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateImage {
    pub instance_id: String,
    pub name: String,
    pub description: Option<String>,
    pub block_devices: Vec<ImageBlockDevice>,
    pub tags: Tags,
    /// The tags of the snapshots it makes.
    pub snapshot_tags: Tags,
}

/// CopyImage's parameters.
#[derive(Clone, Debug, Default)]
pub struct CopyImage {
    pub source_image_id: String,
    pub source_region: String,
    pub name: String,
    pub description: Option<String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub copy_tags: bool,
    pub tags: Tags,
    /// The tags of the snapshots it makes.
    pub snapshot_tags: Tags,
}

/// What a new image's snapshot is made from, for its description.
pub struct SnapshotSource<'a> {
    /// The image it is copied from (CopyImage).
    pub id: &'a str,
    /// The snapshot of the source's mapping.
    pub snapshot: Option<&'a str>,
}

/// One ModifyImageAttribute change.
#[derive(Clone, Debug)]
pub enum ImageChange {
    LaunchPermission {
        add: Vec<LaunchPermission>,
        remove: Vec<LaunchPermission>,
    },
    Description(String),
    ImdsSupport(String),
}

/// Checks launch permissions as EC2 does: 12-digit account ids, the group `all`.
pub fn check_launch_permissions(perms: &[LaunchPermission]) -> Result<(), ApiError> {
    for p in perms {
        let (ok, value, kind) = match p {
            LaunchPermission::UserId(u) => (
                u.len() == 12 && u.bytes().all(|b| b.is_ascii_digit()),
                u,
                "userId",
            ),
            LaunchPermission::Group(g) => (g == "all", g, "group"),
            LaunchPermission::OrganizationArn(a) => (!a.is_empty(), a, "organizationArn"),
            LaunchPermission::OrganizationalUnitArn(a) => {
                (!a.is_empty(), a, "organizationalUnitArn")
            }
        };
        if !ok {
            return Err(ApiError::new(
                ErrorCode::InvalidAmiAttributeItemValue,
                format!("Invalid attribute item value \"{value}\" for {kind} item type."),
            ));
        }
    }
    Ok(())
}

impl Tx<'_> {
    /// The image `id` as the caller sees it in this region (deregistered ones included).
    pub fn find_image(&self, id: &str) -> Option<Image> {
        let catalog = catalog(&self.region.name);
        let regions = std::iter::once(&*self.region).chain(self.others.values());
        visible(&catalog, regions, &self.region.account, &self.region.name)
            .into_iter()
            .find(|i| i.id == id)
            .cloned()
    }

    /// The image RunInstances boots: it must be available. An id no one registered is
    /// registered for the caller as a generic Linux image, unless the server is strict.
    pub fn image_for_launch(&mut self, id: &str) -> Result<Image, ApiError> {
        Kind::Image.check(id)?;
        if let Some(image) = self.find_image(id) {
            return match image.state_at(self.now) {
                ImageState::Available => Ok(image),
                state => Err(unavailable(id, state)),
            };
        }
        if self.config.strict_images {
            return Err(not_found(&[id]));
        }
        let mut image = self.generic_image(ImageId::parse(id)?);
        let description = format!("Auto-created snapshot for AMI {id}");
        self.snapshot_image(&mut image, None, |_| description.clone(), &Tags::new());
        self.region.images.insert(image.clone());
        Ok(image)
    }

    /// A plain Linux image of the caller's: x86_64, HVM, an 8 GiB gp3 root on /dev/sda1
    /// (the root device name EC2 gives an image registered without one).
    fn generic_image(&self, id: ImageId) -> Image {
        let name = format!("fort-imported-{id}");
        Image {
            owner_id: self.region.account.clone(),
            owner_alias: None,
            image_location: format!("{}/{name}", self.region.account),
            description: Some(format!(
                "Image {id}, registered by Fort when it was first launched"
            )),
            name,
            architecture: "x86_64".into(),
            creation_date: format_time(self.now),
            state: ImageState::Available,
            available_at: None,
            launch_permissions: Vec::new(),
            root_device_name: "/dev/sda1".into(),
            root_device_type: "ebs".into(),
            block_devices: vec![ImageBlockDevice {
                device_name: "/dev/sda1".into(),
                virtual_name: None,
                no_device: false,
                ebs: Some(ImageEbs {
                    snapshot_id: None,
                    volume_size: Some(8),
                    volume_type: "gp3".into(),
                    delete_on_termination: true,
                    iops: Some(3000),
                    throughput: Some(125),
                    encrypted: false,
                    kms_key_id: None,
                }),
            }],
            virtualization_type: "hvm".into(),
            ena_support: true,
            sriov_net_support: Some("simple".into()),
            boot_mode: None,
            tpm_support: None,
            imds_support: None,
            uefi_data: None,
            platform: None,
            platform_details: "Linux/UNIX".into(),
            usage_operation: "RunInstances".into(),
            kernel_id: None,
            ramdisk_id: None,
            source_instance_id: None,
            source_image_id: None,
            source_image_region: None,
            deprecation_time: None,
            deregistration_protection: false,
            free_tier_eligible: false,
            tags: Tags::new(),
            id,
        }
    }

    /// A new image's name must be free among the caller's images in the region.
    fn check_name_free(&self, name: &str) -> Result<(), ApiError> {
        check_image_name(name)?;
        if let Some(i) = self
            .region
            .images
            .values()
            .find(|i| i.name == name && i.state != ImageState::Deregistered)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidAmiNameDuplicate,
                format!("AMI name {name} is already in use by AMI {}", i.id),
            ));
        }
        Ok(())
    }

    /// RegisterImage: an image of snapshots (or a manifest) the caller names; available at
    /// once.
    pub fn register_image(&mut self, req: RegisterImage) -> Result<ImageId, ApiError> {
        self.check_name_free(&req.name)?;
        check_description(&req.description)?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let architecture = req.architecture.unwrap_or_else(|| "i386".into());
        if !["i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"].contains(&architecture.as_str())
        {
            return Err(ApiError::bad_param(
                "architecture",
                &architecture,
                "Valid values: i386, x86_64, arm64, x86_64_mac, arm64_mac.",
            ));
        }
        let virtualization_type = req
            .virtualization_type
            .unwrap_or_else(|| "paravirtual".into());
        if !["hvm", "paravirtual"].contains(&virtualization_type.as_str()) {
            return Err(ApiError::bad_param(
                "virtualizationType",
                &virtualization_type,
                "Valid values: hvm, paravirtual.",
            ));
        }
        check_block_devices(&req.block_devices)?;
        let root_device_name = req.root_device_name.unwrap_or_else(|| "/dev/sda1".into());
        let ebs_root = req
            .block_devices
            .iter()
            .any(|b| b.device_name == root_device_name && b.ebs.is_some());
        let id = ImageId::new();
        let mut image = self.generic_image(id.clone());
        image.name = req.name.clone();
        image.description = req.description;
        image.image_location = req
            .image_location
            .clone()
            .unwrap_or_else(|| format!("{}/{}", self.region.account, req.name));
        image.architecture = architecture;
        image.root_device_name = root_device_name;
        image.root_device_type = if ebs_root || req.image_location.is_none() {
            "ebs"
        } else {
            "instance-store"
        }
        .into();
        image.block_devices = req.block_devices;
        image.virtualization_type = virtualization_type;
        image.ena_support = req.ena_support.unwrap_or(false);
        image.sriov_net_support = req.sriov_net_support;
        image.boot_mode = req.boot_mode;
        image.tpm_support = req.tpm_support;
        image.imds_support = req.imds_support;
        image.uefi_data = req.uefi_data;
        image.kernel_id = req.kernel_id;
        image.ramdisk_id = req.ramdisk_id;
        image.tags = req.tags;
        self.region.images.insert(image);
        Ok(id)
    }

    /// CreateImage: an image of an instance's root device and mappings, `available` at
    /// once (see `own`).
    pub fn create_image(&mut self, req: CreateImage) -> Result<ImageId, ApiError> {
        let inst = self
            .region
            .instances
            .find(Kind::Instance, &req.instance_id)?
            .clone();
        if matches!(
            inst.state,
            InstanceState::Terminated | InstanceState::ShuttingDown
        ) {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!(
                    "The instance '{}' is not in a state from which it can be imaged.",
                    inst.id
                ),
            ));
        }
        self.check_name_free(&req.name)?;
        check_description(&req.description)?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        check_block_devices(&req.block_devices)?;
        let id = ImageId::new();
        let mut image = match self.find_image(&inst.image_id) {
            Some(source) => Image {
                id: id.clone(),
                ..source
            },
            None => self.generic_image(id.clone()),
        };
        self.own(&mut image, req.name, req.description);
        let description = format!("Created by CreateImage({}) for {id}", inst.id);
        self.snapshot_image(
            &mut image,
            Some(&inst.id),
            |_| description.clone(),
            &req.snapshot_tags,
        );
        for b in req.block_devices {
            image
                .block_devices
                .retain(|x| x.device_name != b.device_name);
            if !b.no_device {
                image.block_devices.push(b);
            }
        }
        image.source_instance_id = Some(inst.id.clone());
        image.tags = req.tags;
        self.region.images.insert(image);
        Ok(id)
    }

    /// Gives each EBS mapping of a new image a snapshot of the caller's: of the volume
    /// `instance` has at that device, else of the mapping's size.
    fn snapshot_image(
        &mut self,
        image: &mut Image,
        instance: Option<&InstanceId>,
        description: impl Fn(SnapshotSource<'_>) -> String,
        tags: &Tags,
    ) {
        let source_image = image.source_image_id.clone();
        for b in &mut image.block_devices {
            let Some(ebs) = &mut b.ebs else {
                continue;
            };
            let text = description(SnapshotSource {
                id: source_image.as_deref().unwrap_or(""),
                snapshot: ebs.snapshot_id.as_deref(),
            });
            let volume = instance.and_then(|i| {
                self.region
                    .volumes
                    .values()
                    .find(|v| {
                        v.attachment_to(i.as_str())
                            .is_some_and(|a| a.device == b.device_name)
                    })
                    .cloned()
            });
            let id = match volume {
                Some(v) => {
                    ebs.volume_size = Some(v.size);
                    self.new_snapshot(&v, text, tags.clone()).id
                }
                None => {
                    let id = self.image_snapshot(ebs.volume_size.unwrap_or(8), ebs, text);
                    if let Some(s) = self.region.snapshots.get_mut(id.as_str()) {
                        s.tags = tags.clone();
                    }
                    id
                }
            };
            ebs.snapshot_id = Some(id.into_string());
        }
    }

    /// Makes `image` (a copy of another) a new image of the caller's. EC2 keeps a new image
    /// `pending` while it copies the disks; Fort has no disk to copy (its snapshots are
    /// records), so the image is `available` at once, as its snapshots are `completed`.
    fn own(&self, image: &mut Image, name: String, description: Option<String>) {
        image.owner_id = self.region.account.clone();
        image.owner_alias = None;
        image.image_location = format!("{}/{name}", self.region.account);
        image.name = name;
        image.description = description;
        image.creation_date = format_time(self.now);
        image.state = ImageState::Available;
        image.available_at = None;
        image.launch_permissions.clear();
        image.deprecation_time = None;
        image.deregistration_protection = false;
        image.free_tier_eligible = false;
        image.source_instance_id = None;
        image.source_image_id = None;
        image.source_image_region = None;
        image.tags = Tags::new();
    }

    /// CopyImage: a copy in this region of an image the caller can see in `source_region`.
    /// The copy's name is checked for form only: EC2 copies into the source's own region
    /// under the source's name (the provider's aws_ami_copy tests do; Packer users met
    /// the duplicates), where RegisterImage and CreateImage refuse a name in use.
    pub fn copy_image(&mut self, req: CopyImage) -> Result<ImageId, ApiError> {
        Kind::Image.check(&req.source_image_id)?;
        check_image_name(&req.name)?;
        check_description(&req.description)?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let catalog = catalog(&req.source_region);
        let regions = std::iter::once(&*self.region).chain(self.others.values());
        let source = visible(&catalog, regions, &self.region.account, &req.source_region)
            .into_iter()
            .find(|i| i.id == req.source_image_id)
            .cloned()
            .ok_or_else(|| not_found(&[&req.source_image_id]))?;
        match source.state_at(self.now) {
            ImageState::Available => {}
            state => return Err(unavailable(&source.id, state)),
        }
        let id = ImageId::new();
        let description = req.description.or_else(|| {
            Some(format!(
                "[Copied {} from {}] {}",
                source.id, req.source_region, source.name
            ))
        });
        let source_tags = source.tags.clone();
        let mut image = Image {
            id: id.clone(),
            ..source.clone()
        };
        self.own(&mut image, req.name, description);
        for b in &mut image.block_devices {
            if let Some(ebs) = &mut b.ebs {
                ebs.encrypted |= req.encrypted;
                if req.encrypted {
                    ebs.kms_key_id = req.kms_key_id.clone();
                }
            }
        }
        image.source_image_id = Some(source.id.to_string());
        image.source_image_region = Some(req.source_region.clone());
        let task = format_time(self.now);
        self.snapshot_image(
            &mut image,
            None,
            |source| {
                format!(
                    "Copied for DestinationAmi {id} from SourceAmi {} for SourceSnapshot {}. Task created on {task}.",
                    source.id,
                    source.snapshot.unwrap_or("snap-ffffffff")
                )
            },
            &req.snapshot_tags,
        );
        if req.copy_tags && source.owner_id == self.region.account {
            image.tags = source_tags;
        }
        image.tags.extend(req.tags);
        self.region.images.insert(image);
        Ok(id)
    }

    /// The caller's own image `id`, to change: EC2's errors for an unknown, another
    /// account's, or a deregistered image.
    fn own_image(&mut self, id: &str) -> Result<&mut Image, ApiError> {
        Kind::Image.check(id)?;
        let owned = self
            .region
            .images
            .get(id)
            .is_some_and(|i| i.owner_id == self.region.account);
        if !owned {
            return Err(match self.find_image(id) {
                Some(_) => not_owner(id),
                None => not_found(&[id]),
            });
        }
        let now = self.now;
        let image = self.region.images.get_mut(id).expect("found above");
        match image.state_at(now) {
            ImageState::Deregistered => Err(unavailable(id, ImageState::Deregistered)),
            _ => Ok(image),
        }
    }

    /// DeregisterImage: the image is gone (a Describe of its id finds nothing); gives the
    /// snapshots deleted with it when asked to.
    pub fn deregister_image(
        &mut self,
        id: &str,
        delete_snapshots: bool,
    ) -> Result<Vec<String>, ApiError> {
        let image = self.own_image(id)?;
        if image.deregistration_protection {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("Image {id} has deregistration protection enabled; disable it first."),
            ));
        }
        image.state = ImageState::Deregistered;
        image.available_at = None;
        image.launch_permissions.clear();
        if !delete_snapshots {
            return Ok(Vec::new());
        }
        let snapshots: Vec<String> = image
            .block_devices
            .iter()
            .filter_map(|b| b.ebs.as_ref()?.snapshot_id.clone())
            .collect();
        for s in &snapshots {
            self.region.snapshots.remove(s);
        }
        Ok(snapshots)
    }

    /// ModifyImageAttribute (owner only); all or nothing.
    pub fn modify_image_attribute(
        &mut self,
        id: &str,
        change: ImageChange,
    ) -> Result<(), ApiError> {
        if let ImageChange::LaunchPermission { add, remove } = &change {
            check_launch_permissions(add)?;
            check_launch_permissions(remove)?;
        }
        let image = self.own_image(id)?;
        match change {
            ImageChange::LaunchPermission { add, remove } => {
                for p in add {
                    if !image.launch_permissions.contains(&p) {
                        image.launch_permissions.push(p);
                    }
                }
                image.launch_permissions.retain(|p| !remove.contains(p));
            }
            ImageChange::Description(d) => {
                check_description(&Some(d.clone()))?;
                image.description = Some(d);
            }
            ImageChange::ImdsSupport(v) => {
                if v != "v2.0" {
                    return Err(ApiError::bad_param(
                        "ImdsSupport",
                        &v,
                        "Valid values: v2.0.",
                    ));
                }
                image.imds_support = Some(v);
            }
        }
        Ok(())
    }

    /// ResetImageAttribute: only `launchPermission` resets (the image becomes private).
    pub fn reset_image_attribute(&mut self, id: &str, attribute: &str) -> Result<(), ApiError> {
        if attribute != "launchPermission" {
            return Err(ApiError::bad_param(
                "attribute",
                attribute,
                "Valid values: launchPermission.",
            ));
        }
        self.own_image(id)?.launch_permissions.clear();
        Ok(())
    }

    /// Enable/DisableImageDeprecation (owner only).
    pub fn set_image_deprecation(&mut self, id: &str, at: Option<String>) -> Result<(), ApiError> {
        self.own_image(id)?.deprecation_time = at;
        Ok(())
    }

    /// Enable/DisableImageDeregistrationProtection (owner only).
    pub fn set_image_deregistration_protection(
        &mut self,
        id: &str,
        on: bool,
    ) -> Result<(), ApiError> {
        self.own_image(id)?.deregistration_protection = on;
        Ok(())
    }
}

/// Block device mappings as EC2 accepts them: device names, volume types and sizes.
fn check_block_devices(devices: &[ImageBlockDevice]) -> Result<(), ApiError> {
    for b in devices {
        if b.device_name.is_empty() {
            return Err(ApiError::missing("BlockDeviceMapping.DeviceName"));
        }
        if let Some(ebs) = &b.ebs {
            if !["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]
                .contains(&ebs.volume_type.as_str())
            {
                return Err(ApiError::bad_param(
                    "volumeType",
                    &ebs.volume_type,
                    "Valid values: standard, io1, io2, gp2, gp3, sc1, st1.",
                ));
            }
            if ebs.snapshot_id.is_none() && ebs.volume_size.is_none() {
                return Err(ApiError::missing("BlockDeviceMapping.Ebs.VolumeSize"));
            }
            if ebs.volume_size.is_some_and(|s| s == 0 || s > 65_536) {
                return Err(ApiError::invalid_value(format!(
                    "Volume size {} for device {} is outside the allowed range.",
                    ebs.volume_size.unwrap_or_default(),
                    b.device_name
                )));
            }
        }
    }
    Ok(())
}

/// One instance type of the catalog ([`INSTANCE_TYPES`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub current_generation: bool,
    pub free_tier_eligible: bool,
    /// `x86_64`, `i386`, `arm64`, `x86_64_mac` or `arm64_mac`.
    pub architectures: &'static [&'static str],
    pub clock_ghz: f32,
    pub vcpus: u32,
    pub cores: u32,
    pub threads_per_core: u32,
    pub memory_mib: u64,
    pub network_performance: &'static str,
    pub max_interfaces: u32,
    pub ipv4_per_interface: u32,
    pub ipv6_per_interface: u32,
    pub burstable: bool,
    /// A `.metal` type: no hypervisor.
    pub bare_metal: bool,
    /// `nitro` or `xen`; empty for bare metal.
    pub hypervisor: &'static str,
    pub gpus: Option<Gpus>,
}

/// The accelerators of a GPU instance type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gpus {
    pub name: &'static str,
    pub manufacturer: &'static str,
    pub count: u32,
    /// Memory of each GPU.
    pub memory_mib: u64,
}

/// A whole L4's memory: the fractional types (g6f, gr6f) get a slice of one.
const L4_MIB: u64 = 22888;

impl Gpus {
    /// What EC2 says each GPU is for: the data-centre training parts only `ml-ai`.
    pub fn workloads(&self) -> &'static [&'static str] {
        match self.name {
            "A100" | "B200" | "B300" | "GB200" | "H100" | "H200" | "V100" | "K80" => &["ml-ai"],
            _ => &["graphics", "ml-ai"],
        }
    }

    /// The share of one GPU the type gets (1 unless it is a slice of an L4).
    pub fn partition(&self) -> f64 {
        if self.name == "L4" && self.memory_mib < L4_MIB {
            // Eighths, quarters or halves of the card.
            (self.memory_mib as f64 * 8.0 / L4_MIB as f64).round() / 8.0
        } else {
            1.0
        }
    }

    /// Whole GPUs (0 for a slice).
    pub fn whole(&self) -> u32 {
        if self.partition() < 1.0 {
            0
        } else {
            self.count
        }
    }
}

pub(crate) const X86: &[&str] = &["x86_64"];
pub(crate) const ARM: &[&str] = &["arm64"];
pub(crate) const OLD_X86: &[&str] = &["i386", "x86_64"];
pub(crate) const MAC_X86: &[&str] = &["x86_64_mac"];
pub(crate) const MAC_ARM: &[&str] = &["arm64_mac"];

pub use crate::instance_types::INSTANCE_TYPES;

/// The catalog's instance type named `name`, if any.
impl InstanceType {
    /// A Nitro type (or bare metal): CPU options, ENA and NVMe are theirs.
    pub fn nitro(&self) -> bool {
        self.hypervisor == "nitro" || self.bare_metal
    }

    /// Whether an instance of the type may run a Nitro Enclave: Nitro virtualised types of
    /// 4 vCPUs or more, not burstable (T) ones.
    pub fn nitro_enclaves(&self) -> bool {
        self.hypervisor == "nitro"
            && !self.bare_metal
            && self.vcpus >= 4
            && !self.name.starts_with('t')
    }

    /// The core counts and threads per core CPU options accept: Nitro types only.
    pub fn valid_cpu_options(&self) -> Option<(Vec<u32>, Vec<u32>)> {
        if !self.nitro() {
            return None;
        }
        let cores = if self.cores <= 8 {
            (1..=self.cores).collect()
        } else {
            (1..=self.cores / 2).map(|n| n * 2).collect()
        };
        let threads = (1..=self.threads_per_core).collect();
        Some((cores, threads))
    }
}

pub fn find_instance_type(name: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES
        .binary_search_by(|t| t.name.cmp(name))
        .ok()
        .map(|i| &INSTANCE_TYPES[i])
}

/// Whether `itype` can boot `image`: their architectures must meet, as EC2 requires.
pub fn check_architecture(image: &Image, itype: &InstanceType) -> Result<(), ApiError> {
    if itype.architectures.contains(&image.architecture.as_str()) {
        return Ok(());
    }
    Err(ApiError::invalid_value(format!(
        "The architecture '{}' of the specified instance type does not match the architecture '{}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.",
        itype.architectures.join(", "),
        image.architecture
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn instance_types_are_sorted_and_well_formed() {
        assert!(INSTANCE_TYPES.windows(2).all(|w| w[0].name < w[1].name));
        let m1 = find_instance_type("m1.small").unwrap();
        assert_eq!((m1.vcpus, m1.cores, m1.threads_per_core), (1, 1, 1));
        let t3 = find_instance_type("t3.micro").unwrap();
        assert_eq!((t3.vcpus, t3.cores, t3.threads_per_core), (2, 1, 2));
        let t4g = find_instance_type("t4g.micro").unwrap();
        assert_eq!((t4g.cores, t4g.threads_per_core), (2, 1));
    }

    #[test]
    fn catalog_is_well_formed() {
        let c = catalog("us-east-1");
        assert!(
            c.windows(2).all(|w| w[0].id < w[1].id),
            "sorted, unique ids"
        );
        let mut names: Vec<&str> = c.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), c.len(), "unique names");
        for i in c.iter() {
            assert!(Kind::Image.matches(&i.id), "{}", i.id);
            assert!(i.is_public() && i.state == ImageState::Available);
            let root = &i.block_devices[0];
            assert_eq!(root.device_name, i.root_device_name);
            let ebs = root.ebs.as_ref().unwrap();
            assert!(ebs.snapshot_id.as_ref().unwrap().starts_with("snap-0"));
            assert!(ebs.delete_on_termination);
            assert_eq!(i.creation_date.len(), 24, "{}", i.creation_date);
            match i.owner_id.as_str() {
                AMAZON_OWNER_ID | WINDOWS_OWNER_ID => {
                    assert_eq!(i.owner_alias.as_deref(), Some("amazon"))
                }
                CANONICAL_OWNER_ID | DEBIAN_OWNER_ID | FEDORA_OWNER_ID => {
                    assert_eq!(i.owner_alias, None)
                }
                other => panic!("owner {other}"),
            }
            assert_eq!(i.platform.is_some(), i.name.starts_with("Windows_Server"));
        }
        let windows = c.iter().find(|i| i.platform.is_some()).unwrap();
        assert_eq!(
            (
                windows.platform_details.as_str(),
                windows.usage_operation.as_str()
            ),
            ("Windows", "RunInstances:0002")
        );
        assert_eq!(windows.root_device_name, "/dev/sda1");
        // Every family has x86_64 and (but Windows) arm64 images, in two releases or more.
        for prefix in [
            "al2023-ami-2023",
            "amzn2-ami-kernel-5.10-hvm",
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04",
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04",
            "debian-12",
            "Fedora-Cloud-Base-AmazonEC2.",
            "Windows_Server-2022",
        ] {
            let family: Vec<&Image> = c.iter().filter(|i| i.name.starts_with(prefix)).collect();
            let dates: std::collections::BTreeSet<&str> =
                family.iter().map(|i| i.creation_date.as_str()).collect();
            assert!(dates.len() >= 2, "{prefix}");
            assert!(
                family.iter().any(|i| i.architecture == "x86_64"),
                "{prefix}"
            );
            if prefix != "Windows_Server-2022" {
                assert!(family.iter().any(|i| i.architecture == "arm64"), "{prefix}");
            }
        }
    }

    #[test]
    fn newest_al2023_is_the_december_release() {
        let c = catalog("us-east-1");
        let newest = c
            .iter()
            .filter(|i| i.owner_alias.as_deref() == Some("amazon"))
            .filter(|i| i.name.starts_with("al2023-ami-2023.") && i.name.ends_with("-x86_64"))
            .max_by_key(|i| i.creation_date.clone())
            .unwrap();
        assert_eq!(
            newest.name,
            "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64"
        );
        assert_eq!(newest.imds_support.as_deref(), Some("v2.0"));
    }

    #[test]
    fn ids_are_per_region_and_stable() {
        let a = catalog("us-east-1");
        let b = catalog("eu-west-1");
        assert_eq!(a.len(), b.len());
        for i in a.iter() {
            // (Fedora's names carry their region)
            let name = i.name.replace("us-east-1", "eu-west-1");
            let j = b.iter().find(|j| j.name == name).unwrap();
            assert_ne!(i.id, j.id);
            assert_ne!(
                i.block_devices[0].ebs.as_ref().unwrap().snapshot_id,
                j.block_devices[0].ebs.as_ref().unwrap().snapshot_id
            );
        }
        let again: Vec<Image> = entries()
            .iter()
            .map(|e| catalog_image("us-east-1", e))
            .collect();
        assert!(again.iter().all(|i| a.iter().any(|j| j.id == i.id)));
    }

    #[test]
    fn id_and_name_checks() {
        assert_eq!(
            not_found(&["ami-abcd1234", "ami-1234abcd"]).message,
            "The image ids '[ami-abcd1234, ami-1234abcd]' do not exist"
        );
        assert!(check_image_name("my image (v1.2) [x]/y_z-'@").is_ok());
        for bad in ["ab", "a*b", "é-name", &"x".repeat(129)] {
            assert_eq!(
                check_image_name(bad).unwrap_err().code,
                "InvalidAMIName.Malformed"
            );
        }
        assert!(
            check_launch_permissions(&[
                LaunchPermission::UserId("123456789012".into()),
                LaunchPermission::Group("all".into())
            ])
            .is_ok()
        );
        for bad in [
            LaunchPermission::UserId("12345678901A".into()),
            LaunchPermission::UserId("1234567890123".into()),
            LaunchPermission::Group("everyone".into()),
        ] {
            assert_eq!(
                check_launch_permissions(&[bad]).unwrap_err().code,
                "InvalidAMIAttributeItemValue"
            );
        }
    }

    #[test]
    fn visibility_follows_ownership_and_launch_permissions() {
        let c = catalog("us-east-1");
        let mut mine = Region::new("111111111111", "us-east-1");
        let mut theirs = Region::new("222222222222", "us-east-1");
        let elsewhere = Region::new("222222222222", "us-west-2");
        let mut private = c[0].clone();
        private.id = ImageId::parse("ami-0aaaaaaaaaaaaaaaa").unwrap();
        private.owner_id = "222222222222".into();
        private.launch_permissions.clear();
        let mut shared = private.clone();
        shared.id = ImageId::parse("ami-0bbbbbbbbbbbbbbbb").unwrap();
        shared.launch_permissions = vec![LaunchPermission::UserId("111111111111".into())];
        theirs.images.insert(private.clone());
        theirs.images.insert(shared.clone());
        let mut own = private.clone();
        own.id = ImageId::parse("ami-0cccccccccccccccc").unwrap();
        own.owner_id = "111111111111".into();
        mine.images.insert(own.clone());
        let regions = [&mine, &theirs, &elsewhere];
        let seen: Vec<&str> = visible(&c, regions.into_iter(), "111111111111", "us-east-1")
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert!(seen.contains(&own.id.as_str()) && seen.contains(&shared.id.as_str()));
        assert!(!seen.contains(&private.id.as_str()));
        assert_eq!(seen.len(), c.len() + 2);
        let theirs_view = visible(&c, regions.into_iter(), "222222222222", "us-east-1");
        assert!(!theirs_view.iter().any(|i| i.id == own.id));
    }

    proptest! {
        #[test]
        fn every_region_gets_well_formed_distinct_ids(region in "[a-z]{2}-[a-z]{4,9}-[1-9]") {
            let c = catalog(&region);
            prop_assert!(c.iter().all(|i| Kind::Image.matches(&i.id)));
            prop_assert!(c.windows(2).all(|w| w[0].id < w[1].id));
        }
    }
}
