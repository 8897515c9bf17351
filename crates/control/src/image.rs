//! The built-in catalogs: the public images (AMIs) instances boot from, and the instance
//! types. Fort keeps no image store: every region offers the same few images, owned by
//! Amazon's account as EC2's Amazon Linux images are.
//!
//! `ami-12345678` and `ami-0123456789abcdef0` are in the catalog on purpose: they are the
//! ids the tests, examples and simulations of this project launch with.

use fort_model::{ApiError, ErrorCode, Kind};

/// The account that owns the catalog's images (Amazon's, as on EC2's Amazon Linux AMIs).
pub const AMAZON_OWNER_ID: &str = "137112412989";

/// One public image of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// `x86_64` or `arm64`.
    pub architecture: &'static str,
    pub creation_date: &'static str,
    /// The root volume's snapshot and size (GiB).
    pub snapshot_id: &'static str,
    pub volume_size: u32,
}

impl Image {
    pub fn owner_id(&self) -> &'static str {
        AMAZON_OWNER_ID
    }
}

/// The images every region offers, in id order.
pub const IMAGES: &[Image] = &[
    Image {
        id: "ami-0123456789abcdef0",
        name: "fort-linux-2023.6.20250115.0-kernel-6.1-x86_64",
        description: "Fort Linux 2023 AMI 2023.6.20250115.0 x86_64 HVM kernel-6.1",
        architecture: "x86_64",
        creation_date: "2025-01-15T10:00:00.000Z",
        snapshot_id: "snap-0a1b2c3d4e5f60718",
        volume_size: 8,
    },
    Image {
        id: "ami-0f1e2d3c4b5a69788",
        name: "fort-linux-2023.6.20250115.0-kernel-6.1-arm64",
        description: "Fort Linux 2023 AMI 2023.6.20250115.0 arm64 HVM kernel-6.1",
        architecture: "arm64",
        creation_date: "2025-01-15T10:00:00.000Z",
        snapshot_id: "snap-0b2c3d4e5f6071829",
        volume_size: 8,
    },
    Image {
        id: "ami-0fa1e2b3c4d5e6f70",
        name: "fort-linux-minimal-2023.6.20250115.0-kernel-6.1-x86_64",
        description: "Fort Linux 2023 minimal AMI 2023.6.20250115.0 x86_64 HVM kernel-6.1",
        architecture: "x86_64",
        creation_date: "2025-01-15T10:00:00.000Z",
        snapshot_id: "snap-0c3d4e5f60718293a",
        volume_size: 2,
    },
    Image {
        id: "ami-12345678",
        name: "fort-linux-2023.5.20240601.0-kernel-6.1-x86_64",
        description: "Fort Linux 2023 AMI 2023.5.20240601.0 x86_64 HVM kernel-6.1",
        architecture: "x86_64",
        creation_date: "2024-06-01T10:00:00.000Z",
        snapshot_id: "snap-0d4e5f60718293a4b",
        volume_size: 8,
    },
];

/// The catalog image `id` names: malformed → `InvalidAMIID.Malformed`, unknown →
/// `InvalidAMIID.NotFound`.
pub fn find_image(id: &str) -> Result<&'static Image, ApiError> {
    Kind::Image.check(id)?;
    IMAGES.iter().find(|i| i.id == id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAmiIdNotFound,
            format!("The image id '[{id}]' does not exist"),
        )
    })
}

/// One instance type of the catalog.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub current_generation: bool,
    pub free_tier_eligible: bool,
    /// `x86_64`, `i386` or `arm64`.
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
    /// `nitro` or `xen`.
    pub hypervisor: &'static str,
}

const X86: &[&str] = &["x86_64"];
const ARM: &[&str] = &["arm64"];
const OLD_X86: &[&str] = &["i386", "x86_64"];

#[allow(clippy::too_many_arguments)]
const fn t(
    name: &'static str,
    architectures: &'static [&'static str],
    vcpus: u32,
    memory_mib: u64,
    network_performance: &'static str,
    max_interfaces: u32,
    ipv4_per_interface: u32,
    burstable: bool,
) -> InstanceType {
    // Graviton (arm64) has one thread per core; x86 two, from 2 vCPUs up.
    let arm = architectures[0].as_bytes()[0] == b'a';
    let threads_per_core = if vcpus > 1 && !arm { 2 } else { 1 };
    InstanceType {
        name,
        current_generation: true,
        free_tier_eligible: false,
        architectures,
        clock_ghz: if arm { 2.5 } else { 3.1 },
        vcpus,
        cores: vcpus / threads_per_core,
        threads_per_core,
        memory_mib,
        network_performance,
        max_interfaces,
        ipv4_per_interface,
        ipv6_per_interface: ipv4_per_interface,
        burstable,
        hypervisor: "nitro",
    }
}

/// The instance types every zone offers, by name.
pub const INSTANCE_TYPES: &[InstanceType] = &[
    t("c5.large", X86, 2, 4096, "Up to 10 Gigabit", 3, 10, false),
    t("c5.xlarge", X86, 4, 8192, "Up to 10 Gigabit", 4, 15, false),
    InstanceType {
        current_generation: false,
        hypervisor: "xen",
        architectures: OLD_X86,
        clock_ghz: 0.0,
        ipv6_per_interface: 0,
        ..t("m1.small", OLD_X86, 1, 1740, "Low", 2, 4, false)
    },
    t("m5.large", X86, 2, 8192, "Up to 10 Gigabit", 3, 10, false),
    t("m5.xlarge", X86, 4, 16384, "Up to 10 Gigabit", 4, 15, false),
    t("m6g.large", ARM, 2, 8192, "Up to 10 Gigabit", 3, 10, false),
    InstanceType {
        free_tier_eligible: true,
        hypervisor: "xen",
        clock_ghz: 2.5,
        ipv6_per_interface: 2,
        ..t("t2.micro", X86, 1, 1024, "Low to Moderate", 2, 2, true)
    },
    t("t3.large", X86, 2, 8192, "Up to 5 Gigabit", 3, 12, true),
    t("t3.medium", X86, 2, 4096, "Up to 5 Gigabit", 3, 6, true),
    InstanceType {
        free_tier_eligible: true,
        ..t("t3.micro", X86, 2, 1024, "Up to 5 Gigabit", 2, 2, true)
    },
    t("t3.nano", X86, 2, 512, "Up to 5 Gigabit", 2, 2, true),
    t("t3.small", X86, 2, 2048, "Up to 5 Gigabit", 3, 4, true),
    t("t4g.micro", ARM, 2, 1024, "Up to 5 Gigabit", 2, 2, true),
    t("t4g.small", ARM, 2, 2048, "Up to 5 Gigabit", 3, 4, true),
];

/// The catalog's instance type named `name`, if any.
pub fn find_instance_type(name: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES.iter().find(|t| t.name == name)
}

/// Whether `itype` can boot `image`: their architectures must meet, as EC2 requires.
pub fn check_architecture(image: &Image, itype: &InstanceType) -> Result<(), ApiError> {
    if itype.architectures.contains(&image.architecture) {
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

    #[test]
    fn catalogs_are_sorted_and_well_formed() {
        assert!(IMAGES.windows(2).all(|w| w[0].id < w[1].id));
        assert!(IMAGES.iter().all(|i| Kind::Image.matches(i.id)));
        assert!(INSTANCE_TYPES.windows(2).all(|w| w[0].name < w[1].name));
        let m1 = find_instance_type("m1.small").unwrap();
        assert_eq!((m1.vcpus, m1.cores, m1.threads_per_core), (1, 1, 1));
        let t3 = find_instance_type("t3.micro").unwrap();
        assert_eq!((t3.vcpus, t3.cores, t3.threads_per_core), (2, 1, 2));
        let t4g = find_instance_type("t4g.micro").unwrap();
        assert_eq!((t4g.cores, t4g.threads_per_core), (2, 1));
        assert_eq!(find_image("ami-12345678").unwrap().architecture, "x86_64");
        assert_eq!(
            find_image("ami-00000000").unwrap_err().code,
            "InvalidAMIID.NotFound"
        );
        assert_eq!(
            find_image("ami-x").unwrap_err().code,
            "InvalidAMIID.Malformed"
        );
    }
}
