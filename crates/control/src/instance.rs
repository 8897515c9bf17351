//! Instances: launched into a subnet with their primary interface (and public address when
//! the subnet or the request says so); started, stopped, terminated; their attributes.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use fort_model::dns_name::{HostnameType, PrivateDnsNameOptions};
use fort_model::*;

use crate::capacity_reservation::InstanceShape;
use crate::iam_instance_profile::ProfileSpec;
use crate::image::InstanceType;
use crate::network_interface::{AddressRequest, Ipv6Request, SubnetAddresses};
use crate::tags::check_tags;
use crate::volume::{BlockDeviceSpec, check_mappings};
use crate::{ClientToken, Tx};

/// RunInstances's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct RunInstances {
    pub image_id: String,
    pub instance_type: Option<String>,
    pub min_count: i64,
    pub max_count: i64,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub group_ids: Vec<String>,
    pub group_names: Vec<String>,
    pub private_ip: Option<String>,
    /// `Ipv6AddressCount` / `Ipv6Address.N`, for the interface the instance is given.
    pub ipv6: Ipv6Request,
    pub interfaces: Vec<InterfaceSpec>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub client_token: Option<ClientToken>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub tags: Tags,
    pub interface_tags: Tags,
    pub volume_tags: Tags,
    pub block_devices: Vec<BlockDeviceSpec>,
    pub metadata_options: Option<MetadataOptionsRequest>,
    /// `PrivateDnsNameOptions`: what is not given comes from the subnet's on-launch options.
    pub private_dns_name_options: PrivateDnsNameOptionsRequest,
    pub cpu_credits: Option<String>,
    pub shutdown_behavior: Option<String>,
    pub ebs_optimized: bool,
    pub monitoring: bool,
    /// `CpuOptions.{CoreCount,ThreadsPerCore,AmdSevSnp}`, as given.
    pub cpu_options: Option<CpuOptionsRequest>,
    /// The launch template (id, version number) the request was made from.
    pub launch_template: Option<(LaunchTemplateId, u64)>,
    pub iam_instance_profile: ProfileSpec,
    /// The Spot market's terms, for a launch on it (`InstanceMarketOptions`, or
    /// RequestSpotInstances); `None` for On-Demand.
    pub spot: Option<crate::spot::SpotRequestSpec>,
    /// The EC2 Fleet launching the instances, if one is.
    pub fleet_id: Option<FleetId>,
    /// The Spot Fleet request launching the instances, if one is.
    pub spot_fleet_request_id: Option<SpotFleetRequestId>,
    /// `Placement.GroupName` / `Placement.GroupId` / `Placement.PartitionNumber`.
    pub placement_group_name: Option<String>,
    pub placement_group_id: Option<String>,
    pub partition_number: Option<i64>,
    /// `Placement.Tenancy`.
    pub tenancy: Option<String>,
    /// `Placement.HostId` and `Placement.Affinity` (tenancy `host`).
    pub host_id: Option<DedicatedHostId>,
    pub affinity: Option<HostAffinity>,
    /// `HibernationOptions.Configured`.
    pub hibernation: bool,
    /// `MaintenanceOptions.AutoRecovery` `disabled`.
    pub auto_recovery_disabled: bool,
    /// `CapacityReservationSpecification`: a preference or a target (`None`: `open`).
    pub capacity_reservation: Option<CapacityReservationSpec>,
    /// `EnclaveOptions.Enabled`.
    pub enclave: bool,
}

/// A `CapacityReservationSpecification`: a preference (`open`, or `none`), or a target.
#[derive(Clone, Debug)]
pub enum CapacityReservationSpec {
    Preference { none: bool },
    Target(CapacityReservationId),
}

impl CapacityReservationSpec {
    /// As an instance keeps it: whether its preference is `none`, and its target.
    fn parts(spec: Option<&Self>) -> (bool, Option<CapacityReservationId>) {
        match spec {
            None => (false, None),
            Some(Self::Preference { none }) => (*none, None),
            Some(Self::Target(id)) => (false, Some(id.clone())),
        }
    }
}

/// `CpuOptions` of RunInstances: what is given.
#[derive(Clone, Debug, Default)]
pub struct CpuOptionsRequest {
    pub core_count: Option<i64>,
    pub threads_per_core: Option<i64>,
    pub amd_sev_snp: Option<String>,
}

/// The families whose instances can run with AMD SEV-SNP.
const SEV_SNP_FAMILIES: &[&str] = &["c6a", "m6a", "r6a"];

impl CpuOptionsRequest {
    /// The options checked against the type: both counts or neither, each one the type
    /// accepts (its valid core counts and threads per core), SEV-SNP on the AMD families.
    pub fn check(&self, itype: &InstanceType) -> Result<CpuOptions, ApiError> {
        let (cores, threads) = match (self.core_count, self.threads_per_core) {
            (None, None) => (i64::from(itype.cores), i64::from(itype.threads_per_core)),
            (Some(c), Some(t)) => (c, t),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "When specifying CpuOptions you must specify both CoreCount and ThreadsPerCore.",
                ));
            }
        };
        if self.core_count.is_some() {
            let Some((valid_cores, valid_threads)) = itype.valid_cpu_options() else {
                return Err(ApiError::combination(format!(
                    "The instance type {} does not support specifying CpuOptions.",
                    itype.name
                )));
            };
            let fits = |v: i64, valid: &[u32]| u32::try_from(v).is_ok_and(|v| valid.contains(&v));
            if !fits(cores, &valid_cores) {
                return Err(ApiError::invalid_value(format!(
                    "Invalid value '{cores}' for CoreCount. Valid values for {}: {}.",
                    itype.name,
                    join(&valid_cores)
                )));
            }
            if !fits(threads, &valid_threads) {
                return Err(ApiError::invalid_value(format!(
                    "Invalid value '{threads}' for ThreadsPerCore. Valid values for {}: {}.",
                    itype.name,
                    join(&valid_threads)
                )));
            }
        }
        if let Some(v) = &self.amd_sev_snp {
            if !matches!(v.as_str(), "enabled" | "disabled") {
                return Err(ApiError::invalid_value(format!(
                    "Value ({v}) for parameter CpuOptions.AmdSevSnp is invalid. Valid values: enabled, disabled."
                )));
            }
            let family = itype.name.split('.').next().unwrap_or_default();
            if v == "enabled" && !SEV_SNP_FAMILIES.contains(&family) {
                return Err(ApiError::combination(format!(
                    "AMD SEV-SNP is not supported for instance type {}.",
                    itype.name
                )));
            }
        }
        Ok(CpuOptions {
            core_count: u32::try_from(cores).unwrap_or(itype.cores),
            threads_per_core: u32::try_from(threads).unwrap_or(itype.threads_per_core),
            amd_sev_snp: self.amd_sev_snp.clone(),
        })
    }
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `MetadataOptions` of RunInstances and ModifyInstanceMetadataOptions: what is given.
#[derive(Clone, Debug, Default)]
pub struct MetadataOptionsRequest {
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
    pub http_endpoint: Option<String>,
    pub http_protocol_ipv6: Option<String>,
    pub instance_metadata_tags: Option<String>,
}

impl MetadataOptionsRequest {
    /// `base` with the given options applied, each checked as EC2 does.
    pub fn apply(&self, base: &MetadataOptions) -> Result<MetadataOptions, ApiError> {
        let pick = |v: &Option<String>, param: &str, allowed: &[&str], cur: &str| match v {
            None => Ok(cur.to_owned()),
            Some(x) if allowed.contains(&x.as_str()) => Ok(x.clone()),
            Some(x) => Err(ApiError::invalid_value(format!(
                "Value ({x}) for parameter {param} is invalid. Valid values: {}.",
                allowed.join(", ")
            ))),
        };
        let hop = match self.http_put_response_hop_limit {
            None => base.http_put_response_hop_limit,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Value ({n}) for parameter HttpPutResponseHopLimit is invalid. Expected a value between 1 and 64."
                    ))
                })?,
        };
        Ok(MetadataOptions {
            http_tokens: pick(
                &self.http_tokens,
                "HttpTokens",
                &["optional", "required"],
                &base.http_tokens,
            )?,
            http_put_response_hop_limit: hop,
            http_endpoint: pick(
                &self.http_endpoint,
                "HttpEndpoint",
                &["enabled", "disabled"],
                &base.http_endpoint,
            )?,
            http_protocol_ipv6: pick(
                &self.http_protocol_ipv6,
                "HttpProtocolIpv6",
                &["enabled", "disabled"],
                &base.http_protocol_ipv6,
            )?,
            instance_metadata_tags: pick(
                &self.instance_metadata_tags,
                "InstanceMetadataTags",
                &["enabled", "disabled"],
                &base.instance_metadata_tags,
            )?,
        })
    }
}

/// The metadata options a launch starts from, before its own (or its launch template's):
/// EC2's defaults, or for an image registered with `ImdsSupport` `v2.0` (Amazon Linux 2023
/// among the catalog's), IMDSv2 required with a hop limit of 2, as EC2 gives instances of
/// such images.
pub fn image_metadata_defaults(image: &Image) -> MetadataOptions {
    let mut options = MetadataOptions::default();
    if image.imds_support.as_deref() == Some("v2.0") {
        options.http_tokens = "required".into();
        options.http_put_response_hop_limit = 2;
    }
    options
}

/// The id of an account's one [`InstanceMetadataDefaults`] row in a region.
const METADATA_DEFAULTS: &str = "default";

/// An account's default instance metadata options in a region (no preference until set).
pub fn metadata_defaults(region: &crate::Region) -> InstanceMetadataDefaults {
    region
        .instance_metadata_defaults
        .get(METADATA_DEFAULTS)
        .cloned()
        .unwrap_or_else(|| InstanceMetadataDefaults {
            id: METADATA_DEFAULTS.into(),
            ..InstanceMetadataDefaults::default()
        })
}

/// ModifyInstanceMetadataDefaults's parameters: what is given. `no-preference` (`-1` for
/// the hop limit) clears a setting; one not given stays as it is.
#[derive(Clone, Debug, Default)]
pub struct ModifyMetadataDefaults {
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
    pub http_endpoint: Option<String>,
    pub instance_metadata_tags: Option<String>,
}

impl ModifyMetadataDefaults {
    /// `cur` with the given settings applied, each checked as EC2 does.
    fn apply(&self, cur: &InstanceMetadataDefaults) -> Result<InstanceMetadataDefaults, ApiError> {
        let pick = |v: &Option<String>, param: &str, allowed: &[&str], cur: &Option<String>| match v
            .as_deref()
        {
            None => Ok(cur.clone()),
            Some("no-preference") => Ok(None),
            Some(x) if allowed.contains(&x) => Ok(Some(x.to_owned())),
            Some(x) => Err(ApiError::invalid_value(format!(
                "Value ({x}) for parameter {param} is invalid. Valid values: {}, no-preference.",
                allowed.join(", ")
            ))),
        };
        let hop = match self.http_put_response_hop_limit {
            None => cur.http_put_response_hop_limit,
            Some(-1) => None,
            Some(n) => Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_value(format!(
                            "Value ({n}) for parameter HttpPutResponseHopLimit is invalid. Expected a value between 1 and 64, or -1 for no preference."
                        ))
                    })?,
            ),
        };
        Ok(InstanceMetadataDefaults {
            id: cur.id.clone(),
            http_tokens: pick(
                &self.http_tokens,
                "HttpTokens",
                &["optional", "required"],
                &cur.http_tokens,
            )?,
            http_put_response_hop_limit: hop,
            http_endpoint: pick(
                &self.http_endpoint,
                "HttpEndpoint",
                &["disabled", "enabled"],
                &cur.http_endpoint,
            )?,
            instance_metadata_tags: pick(
                &self.instance_metadata_tags,
                "InstanceMetadataTags",
                &["disabled", "enabled"],
                &cur.instance_metadata_tags,
            )?,
        })
    }
}

/// `PrivateDnsNameOptions` of RunInstances, or ModifyPrivateDnsNameOptions's parameters:
/// what is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrivateDnsNameOptionsRequest {
    pub hostname_type: Option<HostnameType>,
    pub enable_resource_name_dns_a_record: Option<bool>,
    pub enable_resource_name_dns_aaaa_record: Option<bool>,
}

impl PrivateDnsNameOptionsRequest {
    /// `base` with the given options applied.
    pub fn apply(&self, base: PrivateDnsNameOptions) -> PrivateDnsNameOptions {
        PrivateDnsNameOptions {
            hostname_type: self.hostname_type.unwrap_or(base.hostname_type),
            enable_resource_name_dns_a_record: self
                .enable_resource_name_dns_a_record
                .unwrap_or(base.enable_resource_name_dns_a_record),
            enable_resource_name_dns_aaaa_record: self
                .enable_resource_name_dns_aaaa_record
                .unwrap_or(base.enable_resource_name_dns_aaaa_record),
        }
    }
}

/// An instance of an IPv6-only subnet has no IPv4 address to be named by: "For IPv6 only
/// subnets, an instance DNS name must be based on the instance ID" (EC2 API reference,
/// `PrivateDnsNameOptionsRequest`).
fn check_hostname_type(subnet: &Subnet, t: HostnameType, param: &str) -> Result<(), ApiError> {
    if subnet.cidr.is_none() && t == HostnameType::IpName {
        return Err(ApiError::bad_param(
            param,
            t.as_str(),
            "An instance in an IPv6-only subnet must be named by resource name.",
        ));
    }
    Ok(())
}

/// The CPU credit option a type launches with: `standard` for T2, `unlimited` for T3,
/// T3a and T4g; `None` for types that do not burst.
pub fn default_cpu_credits(instance_type: &str) -> Option<&'static str> {
    let family = instance_type.split('.').next().unwrap_or_default();
    match family {
        "t2" => Some("standard"),
        "t3" | "t3a" | "t4g" => Some("unlimited"),
        _ => None,
    }
}

fn check_cpu_credits(v: &str) -> Result<(), ApiError> {
    if matches!(v, "standard" | "unlimited") {
        Ok(())
    } else {
        Err(ApiError::invalid_value(format!(
            "Value ({v}) for parameter cpuCredits is invalid. Valid values: standard, unlimited."
        )))
    }
}

/// One `NetworkInterface.N` of RunInstances.
#[derive(Clone, Debug, Default)]
pub struct InterfaceSpec {
    pub device_index: Option<i64>,
    pub network_interface_id: Option<String>,
    pub subnet_id: Option<String>,
    pub groups: Vec<String>,
    pub addresses: AddressRequest,
    pub associate_public_ip: Option<bool>,
    pub delete_on_termination: Option<bool>,
    pub description: Option<String>,
}

/// One ModifyInstanceAttribute change.
#[derive(Clone, Debug)]
pub enum InstanceChange {
    InstanceType(String),
    UserData(String),
    DisableApiTermination(bool),
    DisableApiStop(bool),
    SourceDestCheck(bool),
    Groups(Vec<String>),
    ShutdownBehavior(String),
    EbsOptimized(bool),
    EnaSupport(bool),
    SriovNetSupport(String),
    Kernel(String),
    Ramdisk(String),
    /// `BlockDeviceMapping.N`: (device name, DeleteOnTermination).
    DeleteOnTermination(Vec<(String, bool)>),
    /// Accepted and ignored: no effect on a Fort instance.
    Ignored,
}

/// Why one instance's credit option was not changed: (EC2's code, message).
pub type CreditError = (&'static str, String);

/// A state change of one instance: (id, previous state, current state as EC2 answers).
pub type StateChange = (InstanceId, InstanceState, InstanceState);

/// User data is base64, at most 16 KB once decoded.
pub fn check_user_data(data: &str) -> Result<(), ApiError> {
    let body = data.trim_end_matches('=');
    let valid = data.len().is_multiple_of(4)
        && data.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid {
        return Err(ApiError::invalid_value(
            "Invalid BASE64 encoding of user data.",
        ));
    }
    if body.len() * 3 / 4 > 16 * 1024 {
        return Err(ApiError::invalid_value(
            "User data is limited to 16384 bytes",
        ));
    }
    Ok(())
}

/// GetConsoleOutput's text, base64: a Fort instance is a namespace on its host's kernel,
/// so its console shows that kernel's banner (`/proc/version`), once it has booted.
pub fn console_output(i: &Instance) -> Option<String> {
    use base64::Engine;
    static BANNER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        std::fs::read_to_string("/proc/version")
            .unwrap_or_else(|_| "Linux version unknown\n".into())
    });
    (i.state != InstanceState::Pending)
        .then(|| base64::engine::general_purpose::STANDARD.encode(BANNER.as_bytes()))
}

/// A type of the catalog ([`crate::image::INSTANCE_TYPES`]), as EC2 answers an unknown one.
fn check_instance_type(t: &str) -> Result<&'static crate::image::InstanceType, ApiError> {
    let ok = t.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    });
    match crate::image::find_instance_type(t) {
        Some(found) if ok => Ok(found),
        _ => Err(ApiError::invalid_value(format!(
            "Invalid value '{t}' for InstanceType."
        ))),
    }
}

fn incorrect_state(id: &str, verb: &str) -> ApiError {
    ApiError::new(
        ErrorCode::IncorrectInstanceState,
        format!("This instance '{id}' is not in a state from which it can be {verb}."),
    )
}

impl Tx<'_> {
    fn no_capacity(&self, zone: &str, instance_type: &str) -> ApiError {
        ApiError::new(
            ErrorCode::InsufficientInstanceCapacity,
            format!(
                "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested ({zone}). Our system will be working on provisioning additional capacity."
            ),
        )
    }

    /// The subnet a launch goes in: the one named, or the default subnet of the zone asked
    /// for (or the first zone) in the default VPC.
    fn launch_subnet(&self, req: &RunInstances) -> Result<Subnet, ApiError> {
        let named = req
            .subnet_id
            .clone()
            .or_else(|| req.interfaces.iter().find_map(|i| i.subnet_id.clone()));
        if let Some(id) = named {
            let s = self.region.subnets.find(Kind::Subnet, &id)?.clone();
            if let Some(z) = &req.availability_zone
                && *z != s.availability_zone
            {
                return Err(ApiError::invalid_value(format!(
                    "The subnet '{id}' is not in availability zone '{z}'."
                )));
            }
            return Ok(s);
        }
        if let Some(eni) = req
            .interfaces
            .iter()
            .find_map(|i| i.network_interface_id.as_ref())
        {
            let e = self
                .region
                .network_interfaces
                .find(Kind::NetworkInterface, eni)?;
            return self
                .region
                .subnets
                .get(&e.subnet_id)
                .cloned()
                .ok_or_else(|| ApiError::internal("interface without subnet"));
        }
        let vpc = self.region.default_vpc().ok_or_else(|| {
            ApiError::new(ErrorCode::VpcIdNotSpecified, "No default VPC for this user")
        })?;
        let mut defaults: Vec<&Subnet> = self
            .region
            .subnets
            .values()
            .filter(|s| s.vpc_id == vpc.id && s.default_for_az)
            .collect();
        defaults.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
        let pick = match &req.availability_zone {
            Some(z) => {
                if !self.config.zones(&self.region.name).contains(z) {
                    return Err(ApiError::invalid_value(format!(
                        "Invalid availability zone: [{z}]"
                    )));
                }
                defaults.into_iter().find(|s| &s.availability_zone == z)
            }
            None => defaults.into_iter().next(),
        };
        pick.cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingInput,
                "No subnets found for the default VPC. Please specify a subnet.",
            )
        })
    }

    /// Security group names of RunInstances (`SecurityGroup.N`) to ids in the VPC.
    fn group_ids_by_name(&self, vpc_id: &str, names: &[String]) -> Result<Vec<String>, ApiError> {
        names
            .iter()
            .map(|n| {
                self.region
                    .security_groups
                    .values()
                    .find(|g| g.vpc_id == vpc_id && &g.name == n)
                    .map(|g| g.id.to_string())
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidGroupNotFound,
                            format!("The security group '{n}' does not exist in VPC '{vpc_id}'"),
                        )
                    })
            })
            .collect()
    }

    /// RunInstances: one reservation of `min_count` to `max_count` instances (as many as
    /// fit); idempotent under its client token, which answers with the reservation's
    /// instances while any is still described.
    pub fn run_instances(&mut self, req: RunInstances) -> Result<Vec<Instance>, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, reservation| {
                let insts: Vec<Instance> = r
                    .instances
                    .values()
                    .filter(|i| i.reservation_id == reservation)
                    .cloned()
                    .collect();
                (!insts.is_empty()).then_some(insts)
            },
            |tx| tx.launch(req),
            |insts| {
                insts
                    .first()
                    .map(|i| i.reservation_id.to_string())
                    .unwrap_or_default()
            },
        )
    }

    fn launch(&mut self, req: RunInstances) -> Result<Vec<Instance>, ApiError> {
        // The request's own shape is checked before anything it names is looked up.
        check_mappings(&req.block_devices)?;
        let image = self.image_for_launch(&req.image_id)?;
        let instance_type = req
            .instance_type
            .clone()
            .unwrap_or_else(|| "m1.small".into());
        let itype = check_instance_type(&instance_type)?;
        crate::image::check_architecture(&image, itype)?;
        if req.enclave && !itype.nitro_enclaves() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!("The instance type {instance_type} does not support Nitro Enclaves."),
            ));
        }
        if let Some(key) = &req.key_name {
            self.check_key_name_exists(key)?;
        }
        if req.min_count < 1 {
            return Err(ApiError::invalid_value(format!(
                "Value ({}) for parameter minCount is invalid. Expected a positive integer.",
                req.min_count
            )));
        }
        if req.max_count < req.min_count {
            return Err(ApiError::invalid_value(format!(
                "Value ({}) for parameter maxCount is invalid. Expected a value at least minCount ({}).",
                req.max_count, req.min_count
            )));
        }
        if let Some(u) = &req.user_data {
            check_user_data(u)?;
        }
        if let Some(spot) = &req.spot {
            spot.check()?;
            check_tags(&spot.tags, self.config.quotas.tags_per_resource)?;
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        check_tags(&req.interface_tags, self.config.quotas.tags_per_resource)?;
        check_tags(&req.volume_tags, self.config.quotas.tags_per_resource)?;
        if let Some(m) = &req.metadata_options {
            m.apply(&MetadataOptions::default())?;
        }
        if !req.iam_instance_profile.is_empty() {
            self.profile_association(&req.iam_instance_profile)?;
        }
        if let Some(c) = &req.cpu_credits {
            check_cpu_credits(c)?;
            if default_cpu_credits(&instance_type).is_none() {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterCombination,
                    format!(
                        "The parameter CreditSpecification is not supported for {instance_type} instances."
                    ),
                ));
            }
        }
        let cpu_options = req
            .cpu_options
            .as_ref()
            .map(|c| c.check(itype))
            .transpose()?;
        let placement = |tx: &Self| {
            tx.placement_for_launch(
                req.placement_group_name.as_deref(),
                req.placement_group_id.as_deref(),
                req.partition_number,
            )
        };
        placement(self)?;
        let on_host = check_tenancy(&req)?;
        if let Some(b) = &req.shutdown_behavior
            && !matches!(b.as_str(), "stop" | "terminate")
        {
            return Err(ApiError::invalid_value(format!(
                "Value ({b}) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate."
            )));
        }
        // Interfaces: at most one per device index, exactly one at index 0.
        let mut specs = req.interfaces.clone();
        if !specs.is_empty() {
            if req.subnet_id.is_some() {
                return Err(ApiError::combination(
                    "Network interfaces and an instance-level subnet ID may not be specified on the same request",
                ));
            }
            if !req.group_ids.is_empty() || !req.group_names.is_empty() {
                return Err(ApiError::combination(
                    "Network interfaces and an instance-level security groups may not be specified on the same request",
                ));
            }
            if req.private_ip.is_some() {
                return Err(ApiError::combination(
                    "Network interfaces and an instance-level private IP address may not be specified on the same request",
                ));
            }
            let mut seen = Vec::new();
            for s in &specs {
                let Some(d) = s.device_index else {
                    return Err(ApiError::missing("NetworkInterface.DeviceIndex"));
                };
                if !(0..=31).contains(&d) || seen.contains(&d) {
                    return Err(ApiError::invalid_value(format!(
                        "Each network interface requires a unique device index: {d}"
                    )));
                }
                seen.push(d);
                if s.associate_public_ip.is_some() && (d != 0 || specs.len() > 1) {
                    return Err(ApiError::combination(
                        "The associatePublicIPAddress parameter can only be specified for the network interface with DeviceIndex 0 when launching with a single network interface.",
                    ));
                }
                if s.network_interface_id.is_some() {
                    if req.max_count > 1 {
                        return Err(ApiError::combination(
                            "An existing network interface can only be attached when launching one instance.",
                        ));
                    }
                    if s.subnet_id.is_some()
                        || !s.groups.is_empty()
                        || s.addresses.private_ip.is_some()
                        || !s.addresses.private_ips.is_empty()
                        || s.addresses.secondary_count.is_some()
                        || !s.addresses.ipv6.is_empty()
                    {
                        return Err(ApiError::combination(
                            "A network interface may not specify both a network interface ID and interface settings.",
                        ));
                    }
                }
            }
            if !seen.contains(&0) {
                return Err(ApiError::invalid_value(
                    "A network interface with device index 0 is required.",
                ));
            }
            specs.sort_by_key(|s| s.device_index);
        } else {
            specs.push(InterfaceSpec {
                device_index: Some(0),
                subnet_id: req.subnet_id.clone(),
                addresses: AddressRequest {
                    private_ip: req.private_ip.clone(),
                    ipv6: req.ipv6.clone(),
                    ..AddressRequest::default()
                },
                ..InterfaceSpec::default()
            });
        }
        let subnet = self.launch_subnet(&req)?;
        let names = req
            .private_dns_name_options
            .apply(subnet.private_dns_name_options_on_launch);
        check_hostname_type(
            &subnet,
            names.hostname_type,
            "PrivateDnsNameOptions.HostnameType",
        )?;
        if subnet.cidr.is_none() {
            // "You can launch EC2 instances built on the Nitro System in IPv6-only
            // subnets" (VPC user guide); they have no IPv4 address to make public
            let nitro = crate::image::find_instance_type(&instance_type).is_some_and(|t| t.nitro());
            if !nitro {
                return Err(ApiError::combination(format!(
                    "The instance type '{instance_type}' is not supported in the IPv6-only subnet '{}': only instances built on the Nitro System are.",
                    subnet.id
                )));
            }
            if specs.iter().any(|s| s.associate_public_ip == Some(true)) {
                return Err(ApiError::combination(format!(
                    "A public IPv4 address cannot be assigned to an instance in the IPv6-only subnet '{}'.",
                    subnet.id
                )));
            }
        }
        let has_explicit_ip = specs.iter().any(|s| {
            s.addresses.private_ip.is_some()
                || !s.addresses.private_ips.is_empty()
                || !s.addresses.ipv6.addresses.is_empty()
        });
        if has_explicit_ip && req.max_count > 1 {
            return Err(ApiError::combination(
                "A private IP address may only be specified when launching one instance.",
            ));
        }
        let mut group_ids = req.group_ids.clone();
        group_ids.extend(self.group_ids_by_name(&subnet.vpc_id, &req.group_names)?);
        // Resolve every interface's subnet and groups once.
        let mut resolved = Vec::with_capacity(specs.len());
        for s in &specs {
            if let Some(eni_id) = &s.network_interface_id {
                let e = self
                    .region
                    .network_interfaces
                    .find(Kind::NetworkInterface, eni_id)?;
                if e.attachment.is_some() || e.requester_managed {
                    return Err(ApiError::new(
                        ErrorCode::InvalidNetworkInterfaceInUse,
                        format!("Interface: [{eni_id}] in use."),
                    ));
                }
                if e.availability_zone != subnet.availability_zone {
                    return Err(ApiError::invalid_value(format!(
                        "Interface {eni_id} is not in availability zone {}.",
                        subnet.availability_zone
                    )));
                }
                resolved.push((e.subnet_id.clone(), Vec::new()));
                continue;
            }
            let sub = match &s.subnet_id {
                Some(id) => self.region.subnets.find(Kind::Subnet, id)?.clone(),
                None => subnet.clone(),
            };
            if sub.vpc_id != subnet.vpc_id || sub.availability_zone != subnet.availability_zone {
                return Err(ApiError::invalid_value(
                    "All network interfaces of an instance must be in the same availability zone and VPC.",
                ));
            }
            let ids = if s.network_interface_id.is_none() && specs.len() == 1 && s.groups.is_empty()
            {
                group_ids.clone()
            } else {
                s.groups.clone()
            };
            let groups = self.resolve_groups(&sub.vpc_id, &sub.id, &ids)?;
            resolved.push((sub.id.clone(), groups));
        }
        if self.config.dataplane
            && !self.global.hosts.values().any(|h| {
                h.zone == subnet.availability_zone && h.role == HostRole::Instance && h.available
            })
        {
            return Err(self.no_capacity(&subnet.availability_zone, &instance_type));
        }
        let active = self
            .region
            .instances
            .values()
            .filter(|i| i.state != InstanceState::Terminated)
            .count();
        let quota = self.config.quotas.instances;
        if active as i64 + req.min_count > quota as i64 {
            return Err(ApiError::new(
                ErrorCode::InstanceLimitExceeded,
                format!(
                    "You have requested more instances ({}) than your current instance limit of {quota} allows.",
                    req.min_count
                ),
            ));
        }
        let room = quota.saturating_sub(active) as i64;
        let count = req.max_count.min(room).max(req.min_count);
        let reservation_id = ReservationId::new();
        // EC2's order: the launch's own options, the account's defaults, the image's
        let base = metadata_defaults(self.region).over(image_metadata_defaults(&image));
        let metadata_options = match &req.metadata_options {
            Some(m) => m.apply(&base)?,
            None => base,
        };
        let mut allocators: Vec<(SubnetId, SubnetAddresses)> = Vec::new();
        let mut launched = Vec::new();
        for (index, launch_index) in (0..count).zip(0u32..) {
            match self.launch_one(
                &req,
                &instance_type,
                &subnet,
                &specs,
                &resolved,
                &reservation_id,
                launch_index,
                &mut allocators,
            ) {
                Ok(inst) => launched.push(inst),
                Err(e)
                    if e.code == ErrorCode::InsufficientFreeAddressesInSubnet
                        && index >= req.min_count =>
                {
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        for inst in &mut launched {
            if req.hibernation {
                self.check_hibernation_root(inst)?;
                inst.hibernation_configured = true;
            }
            inst.enclave_enabled = req.enclave;
            // No Fort guest runs EC2Launch: the Windows password it would set is made here.
            if image.platform.as_deref() == Some("windows")
                && let Some(key) = &req.key_name
                && let Some(pair) = self.region.key_pairs.values().find(|k| &k.name == key)
            {
                inst.password_data = crate::key_pair::launch_password_data(&pair.public_key);
            }
            inst.cpu_options = cpu_options.clone();
            inst.metadata_options = metadata_options.clone();
            inst.fleet_id = req.fleet_id.clone();
            if let Some(sfr) = &req.spot_fleet_request_id {
                // EC2 tags a Spot Fleet's instances with their request
                inst.spot_fleet_request_id = Some(sfr.clone());
                inst.tags
                    .insert("aws:ec2spot:fleet-request-id".into(), sfr.to_string());
            }
            if let Some(spot) = &req.spot {
                let launch = self.spot_launch_specification(&req, inst);
                inst.spot_instance_request_id =
                    Some(self.fulfilled_spot_request(spot, inst, launch));
            }
            // each in turn, so a partition group's partitions fill evenly
            inst.placement_group = placement(self)?;
            // and so each takes the room the ones before it left in a reservation
            (
                inst.capacity_reservation_none,
                inst.capacity_reservation_target,
            ) = CapacityReservationSpec::parts(req.capacity_reservation.as_ref());
            inst.capacity_reservation_id = self.reservation_for(
                &InstanceShape::of(inst, &image.platform_details),
                inst.capacity_reservation_target.as_ref(),
                inst.capacity_reservation_none,
            )?;
            // and on a Dedicated Host, the room the ones before it left
            if on_host {
                inst.dedicated_host = Some(HostPlacement {
                    host_id: self.host_for(
                        &inst.id,
                        &inst.instance_type,
                        &inst.availability_zone,
                        req.host_id.as_ref(),
                    )?,
                    affinity: req.affinity.unwrap_or(HostAffinity::Default),
                });
            }
            self.region.instances.insert(inst.clone());
        }
        Ok(launched)
    }

    /// EC2 hibernates an instance to its root volume, which must be encrypted.
    fn check_hibernation_root(&self, inst: &Instance) -> Result<(), ApiError> {
        let encrypted = self.region.volumes.values().any(|v| {
            v.encrypted
                && v.attachment_to(&inst.id)
                    .is_some_and(|a| Some(&a.device) == inst.root_device_name.as_ref())
        });
        if encrypted {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::UnsupportedHibernationConfiguration,
                "For hibernation, the root device volume must be encrypted.",
            ))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_one(
        &mut self,
        req: &RunInstances,
        instance_type: &str,
        subnet: &Subnet,
        specs: &[InterfaceSpec],
        resolved: &[(SubnetId, Vec<SecurityGroupId>)],
        reservation_id: &ReservationId,
        index: u32,
        allocators: &mut Vec<(SubnetId, SubnetAddresses)>,
    ) -> Result<Instance, ApiError> {
        let instance_id = InstanceId::new();
        let mut primary_eni = None;
        let mut public = false;
        for (spec, (subnet_id, groups)) in specs.iter().zip(resolved) {
            // checked to be 0-31 when the request was read
            let device = spec
                .device_index
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(0);
            let eni_id = match &spec.network_interface_id {
                // Found when the request was resolved.
                Some(id) => NetworkInterfaceId::parse(id)?,
                None => {
                    let sub = self
                        .region
                        .subnets
                        .get(subnet_id)
                        .cloned()
                        .ok_or_else(|| ApiError::internal("resolved subnet vanished"))?;
                    let (primary, secondary) = if sub.cidr.is_none() {
                        // an IPv6-only subnet: no IPv4 address at all
                        ipv6_only_addresses(&sub, &spec.addresses)?;
                        (None, Vec::new())
                    } else {
                        let pos = match allocators.iter().position(|(id, _)| id == subnet_id) {
                            Some(p) => p,
                            None => {
                                allocators.push((
                                    subnet_id.clone(),
                                    SubnetAddresses::of(self.region, &sub)?,
                                ));
                                allocators.len() - 1
                            }
                        };
                        let (p, s) =
                            self.pick_addresses(&sub, &spec.addresses, &mut allocators[pos].1)?;
                        (Some(p), s)
                    };
                    let eni = self.insert_interface(
                        &sub,
                        primary,
                        secondary,
                        groups.clone(),
                        spec.description.clone().unwrap_or_default(),
                        "interface",
                        false,
                        req.interface_tags.clone(),
                    )?;
                    let v6 = self.pick_ipv6(&sub, &spec.addresses.ipv6)?;
                    if !v6.is_empty() {
                        let row = self
                            .region
                            .network_interfaces
                            .get_mut(&eni.id)
                            .expect("made above");
                        row.ipv6_addresses = v6;
                    }
                    if device == 0 {
                        public = spec
                            .associate_public_ip
                            .unwrap_or(sub.map_public_ip_on_launch);
                    }
                    eni.id
                }
            };
            let delete_on_termination = spec
                .delete_on_termination
                .unwrap_or(spec.network_interface_id.is_none());
            let row = self
                .region
                .network_interfaces
                .get_mut(&eni_id)
                .expect("made or found above");
            row.attachment = Some(EniAttachment {
                id: AttachmentId::new(),
                instance_id: instance_id.clone(),
                device_index: device,
                status: AttachmentStatus::Attached,
                attach_time: self.now,
                delete_on_termination,
            });
            if device == 0 {
                primary_eni = Some(eni_id);
            }
        }
        // Launch requests are checked to have an interface at device index 0.
        let primary_eni =
            primary_eni.ok_or_else(|| ApiError::internal("no interface at device index 0"))?;
        if public {
            let eni = self
                .region
                .network_interfaces
                .get(&primary_eni)
                .expect("made above");
            // (an IPv6-only interface has none: refused when the request was read)
            if let Some(private_ip) = eni.private_ip {
                let ip = self.lease_public_ip(None, &primary_eni)?;
                self.region
                    .network_interfaces
                    .get_mut(&primary_eni)
                    .expect("made above")
                    .associations
                    .push(PublicIpAssociation {
                        private_ip,
                        public_ip: ip,
                        allocation_id: None,
                        association_id: None,
                    });
            }
        }
        // With the data plane on, the instance runs on the least-loaded host of its zone.
        let host_id = if self.config.dataplane {
            match self.global.place(&subnet.availability_zone) {
                Some(h) => Some(h),
                None => return Err(self.no_capacity(&subnet.availability_zone, instance_type)),
            }
        } else {
            None
        };
        // each instance has an association of its own
        let iam_instance_profile = if req.iam_instance_profile.is_empty() {
            None
        } else {
            Some(self.profile_association(&req.iam_instance_profile)?)
        };
        let mut inst = Instance {
            id: instance_id,
            reservation_id: reservation_id.clone(),
            image_id: req.image_id.clone(),
            instance_type: instance_type.to_owned(),
            key_name: req.key_name.clone(),
            state: InstanceState::Running,
            state_reason: None,
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            availability_zone: subnet.availability_zone.clone(),
            primary_eni_id: primary_eni,
            launch_time: self.now,
            terminate_time: None,
            client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
            // empty user data is none, as EC2 (and Terraform reading it back) has it
            user_data: req.user_data.clone().filter(|u| !u.is_empty()),
            host_id,
            disable_api_termination: req.disable_api_termination,
            disable_api_stop: req.disable_api_stop,
            ami_launch_index: index,
            tags: req.tags.clone(),
            associate_public_ip: public,
            state_transition_time: None,
            root_device_name: None,
            metadata_options: match &req.metadata_options {
                Some(m) => m.apply(&MetadataOptions::default())?,
                None => MetadataOptions::default(),
            },
            cpu_credits: req
                .cpu_credits
                .clone()
                .or_else(|| default_cpu_credits(instance_type).map(str::to_owned)),
            shutdown_behavior: req.shutdown_behavior.clone(),
            ebs_optimized: req.ebs_optimized,
            ena_support: None,
            sriov_net_support: None,
            monitoring: req.monitoring,
            private_dns_name_options: req
                .private_dns_name_options
                .apply(subnet.private_dns_name_options_on_launch),
            iam_instance_profile,
            cpu_options: None,
            spot_instance_request_id: None,
            fleet_id: None,
            placement_group: None,
            hibernation_configured: false,
            auto_recovery_disabled: req.auto_recovery_disabled,
            reboot_migration: None,
            capacity_reservation_none: false,
            capacity_reservation_target: None,
            capacity_reservation_id: None,
            dedicated: req.tenancy.as_deref() == Some("dedicated")
                || self
                    .region
                    .vpcs
                    .get(&subnet.vpc_id)
                    .is_some_and(|v| v.instance_tenancy == "dedicated"),
            password_data: None,
            enclave_enabled: false,
            dedicated_host: None,
            spot_fleet_request_id: None,
        };
        if let Some((id, version)) = &req.launch_template {
            inst.tags
                .insert("aws:ec2launchtemplate:id".into(), id.to_string());
            inst.tags
                .insert("aws:ec2launchtemplate:version".into(), version.to_string());
        }
        inst.root_device_name =
            Some(self.launch_volumes(&inst, &req.block_devices, &req.volume_tags)?);
        self.region.instances.insert(inst.clone());
        Ok(inst)
    }

    /// Gives an instance's primary address a fresh public IP when it was launched with one
    /// and has none now (after an elastic IP left it, or on start).
    pub(crate) fn restore_launch_public_ip(&mut self, eni_id: &str) -> Result<(), ApiError> {
        let Some(eni) = self.region.network_interfaces.get(eni_id) else {
            return Ok(());
        };
        let Some(att) = eni.attachment.as_ref().filter(|a| a.device_index == 0) else {
            return Ok(());
        };
        let wants = self
            .region
            .instances
            .get(&att.instance_id)
            .is_some_and(|i| i.associate_public_ip && i.state == InstanceState::Running);
        // an IPv6-only interface has no IPv4 address to map
        let Some(private_ip) = eni.private_ip else {
            return Ok(());
        };
        if !wants || eni.associations.iter().any(|a| a.private_ip == private_ip) {
            return Ok(());
        }
        let ip = self.lease_public_ip(None, eni_id)?;
        self.region
            .network_interfaces
            .get_mut(eni_id)
            .expect("read above")
            .associations
            .push(PublicIpAssociation {
                private_ip,
                public_ip: ip,
                allocation_id: None,
                association_id: None,
            });
        Ok(())
    }

    /// What a Spot request launched, as its `launchSpecification` shows it.
    fn spot_launch_specification(
        &self,
        req: &RunInstances,
        inst: &Instance,
    ) -> SpotLaunchSpecification {
        let groups = self
            .region
            .network_interfaces
            .get(&inst.primary_eni_id)
            .map(|e| {
                e.security_groups
                    .iter()
                    .map(|g| {
                        let name = self
                            .region
                            .security_groups
                            .get(g)
                            .map(|sg| sg.name.clone())
                            .unwrap_or_default();
                        (g.clone(), name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        SpotLaunchSpecification {
            image_id: inst.image_id.clone(),
            instance_type: inst.instance_type.clone(),
            key_name: inst.key_name.clone(),
            groups,
            subnet_id: req.subnet_id.as_ref().map(|_| inst.subnet_id.clone()),
            availability_zone: req.availability_zone.clone(),
            monitoring: inst.monitoring,
            ebs_optimized: inst.ebs_optimized,
        }
    }

    /// Every named instance, checked before any is changed (all or nothing).
    /// The instances a Start/Stop/Terminate names: every unknown id is reported at once.
    fn instances_named(&self, ids: &[String]) -> Result<Vec<Instance>, ApiError> {
        if ids.is_empty() {
            return Err(ApiError::combination("No instances specified"));
        }
        let mut found = Vec::with_capacity(ids.len());
        let mut unknown: Vec<&str> = Vec::new();
        for id in ids {
            Kind::Instance.check(id)?;
            match self.region.instances.get(id.as_str()) {
                Some(i) => found.push(i.clone()),
                None => unknown.push(id),
            }
        }
        match unknown[..] {
            [] => Ok(found),
            [one] => Err(Kind::Instance.not_found(one)),
            ref many => Err(ApiError::new(
                ErrorCode::InvalidInstanceIdNotFound,
                format!("The instance IDs '{}' do not exist", many.join(", ")),
            )),
        }
    }

    /// The interfaces attached to each of `insts`, with their delete-on-termination flag:
    /// one pass over the region's interfaces, however many instances.
    fn attached_to(
        &self,
        insts: &[Instance],
    ) -> HashMap<InstanceId, Vec<(NetworkInterfaceId, bool)>> {
        let wanted: HashSet<&str> = insts.iter().map(|i| i.id.as_str()).collect();
        let mut map: HashMap<InstanceId, Vec<(NetworkInterfaceId, bool)>> = HashMap::new();
        for e in self.region.network_interfaces.values() {
            if let Some(a) = &e.attachment
                && wanted.contains(a.instance_id.as_str())
            {
                map.entry(a.instance_id.clone())
                    .or_default()
                    .push((e.id.clone(), a.delete_on_termination));
            }
        }
        map
    }

    fn set_state(&mut self, id: &str, state: InstanceState, reason: Option<&str>) {
        let now = self.now;
        let row = self
            .region
            .instances
            .get_mut(id)
            .expect("checked by caller");
        row.state = state;
        row.state_reason = reason.map(str::to_owned);
        // Leaving "running": the host is free of it.
        let left = if matches!(state, InstanceState::Stopped | InstanceState::Terminated) {
            row.host_id.take()
        } else {
            None
        };
        row.state_transition_time = Some(now);
        if state == InstanceState::Terminated {
            row.terminate_time = Some(now);
        }
        if let Some(host) = left {
            self.global.unplace(&host);
        }
    }

    pub fn terminate_instances(&mut self, ids: &[String]) -> Result<Vec<StateChange>, ApiError> {
        let insts = self.instances_named(ids)?;
        for i in &insts {
            if i.disable_api_termination && i.state != InstanceState::Terminated {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    format!(
                        "The instance '{}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.",
                        i.id
                    ),
                ));
            }
        }
        let mut by_instance = self.attached_to(&insts);
        let mut out = Vec::with_capacity(insts.len());
        let mut done: Vec<InstanceId> = Vec::new();
        for i in insts {
            if i.state == InstanceState::Terminated || done.contains(&i.id) {
                out.push((
                    i.id.clone(),
                    InstanceState::Terminated,
                    InstanceState::Terminated,
                ));
                continue;
            }
            self.terminate_volumes(&i.id);
            for (eni, delete) in by_instance.remove(&i.id).unwrap_or_default() {
                if delete {
                    self.drop_public_addresses(&eni, None);
                    self.drop_flow_logs_of(&eni);
                    self.region.network_interfaces.remove(&eni);
                } else {
                    self.release_auto_public_ips(&eni);
                    if let Some(e) = self.region.network_interfaces.get_mut(&eni) {
                        e.attachment = None;
                    }
                }
            }
            self.set_state(
                &i.id,
                InstanceState::Terminated,
                Some("Client.UserInitiatedShutdown"),
            );
            if let Some(request) = &i.spot_instance_request_id {
                self.spot_instance_terminated(request);
            }
            done.push(i.id.clone());
            out.push((i.id, i.state, InstanceState::ShuttingDown));
        }
        Ok(out)
    }

    pub fn stop_instances(&mut self, ids: &[String]) -> Result<Vec<StateChange>, ApiError> {
        let insts = self.instances_named(ids)?;
        let mut by_instance = self.attached_to(&insts);
        for i in &insts {
            if matches!(
                i.state,
                InstanceState::Terminated | InstanceState::ShuttingDown
            ) {
                return Err(incorrect_state(&i.id, "stopped"));
            }
            if i.disable_api_stop && i.state != InstanceState::Stopped {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    format!(
                        "The instance '{}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.",
                        i.id
                    ),
                ));
            }
        }
        let mut out = Vec::with_capacity(insts.len());
        for i in insts {
            let current = self.region.instances.get(&i.id).expect("checked").state;
            if current == InstanceState::Stopped {
                out.push((i.id.clone(), current, current));
                continue;
            }
            for (eni, _) in by_instance.remove(&i.id).unwrap_or_default() {
                self.release_auto_public_ips(&eni);
            }
            self.set_state(
                &i.id,
                InstanceState::Stopped,
                Some("Client.UserInitiatedShutdown"),
            );
            out.push((i.id, current, InstanceState::Stopping));
        }
        Ok(out)
    }

    /// MonitorInstances / UnmonitorInstances: detailed monitoring on or off, for every
    /// instance named (all known and not terminated, or nothing changes).
    pub fn set_monitoring(
        &mut self,
        ids: &[String],
        on: bool,
    ) -> Result<Vec<InstanceId>, ApiError> {
        let insts = self.instances_named(ids)?;
        if let Some(i) = insts.iter().find(|i| i.state == InstanceState::Terminated) {
            return Err(incorrect_state(
                &i.id,
                if on { "monitored" } else { "unmonitored" },
            ));
        }
        let mut out = Vec::with_capacity(insts.len());
        for i in insts {
            self.region
                .instances
                .get_mut(&i.id)
                .expect("named above")
                .monitoring = on;
            out.push(i.id);
        }
        Ok(out)
    }

    pub fn start_instances(&mut self, ids: &[String]) -> Result<Vec<StateChange>, ApiError> {
        let insts = self.instances_named(ids)?;
        for i in &insts {
            if !matches!(
                i.state,
                InstanceState::Stopped | InstanceState::Running | InstanceState::Pending
            ) {
                return Err(incorrect_state(&i.id, "started"));
            }
        }

        let mut out = Vec::with_capacity(insts.len());
        for i in insts {
            let current = self.region.instances.get(&i.id).expect("checked").state;
            if current != InstanceState::Stopped {
                out.push((i.id.clone(), current, current));
                continue;
            }
            // a started instance runs in its reservation again, if there is room (a
            // targeted one that has ended: outside any)
            let platform = self.instance_platform(&i.image_id);
            let target = i
                .capacity_reservation_target
                .as_ref()
                .filter(|t| self.reservation_is_active(t));
            let reservation = self.reservation_for(
                &InstanceShape::of(&i, &platform),
                target,
                i.capacity_reservation_none || i.capacity_reservation_target.is_some(),
            )?;
            self.region
                .instances
                .get_mut(&i.id)
                .expect("checked")
                .capacity_reservation_id = reservation;
            // on a Dedicated Host: its own again if it has room; with affinity `default`,
            // any auto-placement host that has
            if let Some(p) = &i.dedicated_host {
                let host = match self.host_for(
                    &i.id,
                    &i.instance_type,
                    &i.availability_zone,
                    Some(&p.host_id),
                ) {
                    Err(_) if p.affinity == HostAffinity::Default => {
                        self.host_for(&i.id, &i.instance_type, &i.availability_zone, None)?
                    }
                    other => other?,
                };
                if let Some(p) = &mut self
                    .region
                    .instances
                    .get_mut(&i.id)
                    .expect("checked")
                    .dedicated_host
                {
                    p.host_id = host;
                }
            }
            if self.config.dataplane {
                let Some(host) = self.global.place(&i.availability_zone) else {
                    return Err(self.no_capacity(&i.availability_zone, &i.instance_type));
                };
                self.region
                    .instances
                    .get_mut(&i.id)
                    .expect("checked")
                    .host_id = Some(host);
            }
            self.set_state(&i.id, InstanceState::Running, None);
            self.restore_launch_public_ip(&i.primary_eni_id)?;
            out.push((i.id, current, InstanceState::Pending));
        }
        Ok(out)
    }

    /// ResetInstanceAttribute: `sourceDestCheck` back to true; `kernel` and `ramdisk` back
    /// to the image's (a stopped instance only). Fort's images are HVM, without either, so
    /// those resets leave nothing to change.
    pub fn reset_instance_attribute(
        &mut self,
        id: &InstanceId,
        attribute: &str,
    ) -> Result<(), ApiError> {
        let inst = self.region.instances.lookup(id)?;
        match attribute {
            "sourceDestCheck" => {
                self.modify_instance_attribute(id, InstanceChange::SourceDestCheck(true))
            }
            "kernel" | "ramdisk" => {
                if inst.state == InstanceState::Terminated {
                    return Err(incorrect_state(id, "modified"));
                }
                if inst.state != InstanceState::Stopped {
                    return Err(ApiError::new(
                        ErrorCode::IncorrectInstanceState,
                        format!("The instance '{id}' is not in the 'stopped' state."),
                    ));
                }
                Ok(())
            }
            other => Err(ApiError::invalid_value(format!(
                "Value ({other}) for parameter attribute is invalid. Valid values: kernel, ramdisk, sourceDestCheck."
            ))),
        }
    }

    pub fn modify_instance_attribute(
        &mut self,
        id: &InstanceId,
        change: InstanceChange,
    ) -> Result<(), ApiError> {
        let inst = self.region.instances.lookup(id)?.clone();
        if inst.state == InstanceState::Terminated {
            return Err(incorrect_state(id, "modified"));
        }
        let needs_stopped = matches!(
            change,
            InstanceChange::InstanceType(_)
                | InstanceChange::UserData(_)
                | InstanceChange::EbsOptimized(_)
                | InstanceChange::EnaSupport(_)
                | InstanceChange::SriovNetSupport(_)
                | InstanceChange::Kernel(_)
                | InstanceChange::Ramdisk(_)
        );
        if needs_stopped && inst.state != InstanceState::Stopped {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!("The instance '{id}' is not in the 'stopped' state."),
            ));
        }
        match change {
            InstanceChange::InstanceType(t) => {
                let itype = check_instance_type(&t)?;
                // Instances launched before the catalog may name an image it lacks.
                if let Some(image) = self.find_image(&inst.image_id) {
                    crate::image::check_architecture(&image, itype)?;
                }
                let row = self.region.instances.get_mut(id).expect("found");
                // A burstable type keeps its credit option; others have none.
                row.cpu_credits = match default_cpu_credits(&t) {
                    None => None,
                    Some(d) => row.cpu_credits.clone().or(Some(d.to_owned())),
                };
                row.instance_type = t;
            }
            InstanceChange::ShutdownBehavior(b) => {
                if !matches!(b.as_str(), "stop" | "terminate") {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({b}) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate."
                    )));
                }
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .shutdown_behavior = Some(b);
            }
            InstanceChange::EbsOptimized(v) => {
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .ebs_optimized = v;
            }
            InstanceChange::EnaSupport(v) => {
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .ena_support = Some(v);
            }
            InstanceChange::SriovNetSupport(v) => {
                if v != "simple" {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({v}) for parameter sriovNetSupport is invalid. Valid values: simple."
                    )));
                }
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .sriov_net_support = Some(v);
            }
            InstanceChange::Kernel(_) | InstanceChange::Ramdisk(_) => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "The kernel and RAM disk of an HVM instance cannot be changed.",
                ));
            }
            InstanceChange::DeleteOnTermination(list) => {
                for (device, v) in list {
                    self.set_delete_on_termination(id, &device, v)?;
                }
            }
            InstanceChange::UserData(u) => {
                check_user_data(&u)?;
                self.region.instances.get_mut(id).expect("found").user_data =
                    (!u.is_empty()).then_some(u);
            }
            InstanceChange::DisableApiTermination(v) => {
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .disable_api_termination = v;
            }
            InstanceChange::DisableApiStop(v) => {
                self.region
                    .instances
                    .get_mut(id)
                    .expect("found")
                    .disable_api_stop = v;
            }
            InstanceChange::SourceDestCheck(v) => {
                if let Some(e) = self.region.network_interfaces.get_mut(&inst.primary_eni_id) {
                    e.source_dest_check = v;
                }
            }
            InstanceChange::Groups(ids) => {
                let eni = self
                    .region
                    .network_interfaces
                    .get(&inst.primary_eni_id)
                    .cloned()
                    .ok_or_else(|| ApiError::internal("instance without interface"))?;
                if ids.is_empty() {
                    return Err(ApiError::missing("GroupId"));
                }
                let groups = self.resolve_groups(&eni.vpc_id, &eni.subnet_id, &ids)?;
                self.region
                    .network_interfaces
                    .get_mut(&eni.id)
                    .expect("found above")
                    .security_groups = groups;
            }
            InstanceChange::Ignored => {}
        }
        Ok(())
    }
}

impl Tx<'_> {
    /// ModifyInstanceMetadataDefaults: the account's defaults in this region for instances
    /// launched from now on (running ones keep theirs).
    pub fn modify_instance_metadata_defaults(
        &mut self,
        req: &ModifyMetadataDefaults,
    ) -> Result<InstanceMetadataDefaults, ApiError> {
        let next = req.apply(&metadata_defaults(self.region))?;
        self.region.instance_metadata_defaults.insert(next.clone());
        Ok(next)
    }

    /// ModifyInstanceMaintenanceOptions: auto-recovery and reboot migration, on an
    /// instance in any state but terminated. Answers the options now in force.
    pub fn modify_instance_maintenance_options(
        &mut self,
        id: &str,
        auto_recovery_disabled: Option<bool>,
        reboot_migration: Option<RebootMigration>,
    ) -> Result<(bool, Option<RebootMigration>), ApiError> {
        let inst = self.region.instances.find(Kind::Instance, id)?;
        if matches!(
            inst.state,
            InstanceState::Terminated | InstanceState::ShuttingDown
        ) {
            return Err(incorrect_state(id, "modified"));
        }
        let inst = self.region.instances.get_mut(id).expect("found");
        if let Some(d) = auto_recovery_disabled {
            inst.auto_recovery_disabled = d;
        }
        if reboot_migration.is_some() {
            inst.reboot_migration = reboot_migration;
        }
        Ok((inst.auto_recovery_disabled, inst.reboot_migration))
    }

    /// ModifyInstanceCapacityReservationAttributes: the instance's Capacity Reservation
    /// preference (`none`: true) or target, changed only while it is stopped, as EC2
    /// requires; a target must be active and match the instance.
    pub fn modify_instance_capacity_reservation(
        &mut self,
        id: &str,
        spec: CapacityReservationSpec,
    ) -> Result<(), ApiError> {
        let inst = self.region.instances.find(Kind::Instance, id)?.clone();
        if inst.state != InstanceState::Stopped {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!("The instance '{id}' is not in the 'stopped' state."),
            ));
        }
        let (none, target) = CapacityReservationSpec::parts(Some(&spec));
        let platform = self.instance_platform(&inst.image_id);
        let reservation = match &target {
            Some(t) => {
                self.reservation_for(&InstanceShape::of(&inst, &platform), Some(t), false)?
            }
            None => None,
        };
        let row = self.region.instances.get_mut(id).expect("found");
        row.capacity_reservation_none = none;
        row.capacity_reservation_target = target;
        row.capacity_reservation_id = reservation;
        Ok(())
    }

    /// ModifyInstanceMetadataOptions: answers the options now in force.
    pub fn modify_instance_metadata_options(
        &mut self,
        id: &str,
        req: &MetadataOptionsRequest,
    ) -> Result<MetadataOptions, ApiError> {
        let inst = self.region.instances.find(Kind::Instance, id)?;
        if inst.state == InstanceState::Terminated {
            return Err(incorrect_state(id, "modified"));
        }
        let options = req.apply(&inst.metadata_options)?;
        self.region
            .instances
            .get_mut(id)
            .expect("found")
            .metadata_options = options.clone();
        Ok(options)
    }

    /// ModifyPrivateDnsNameOptions. The resource name's records can be turned on and off
    /// while the instance runs; its hostname type changes only while it is stopped, as
    /// the guest's hostname was set at boot. EC2 refuses a running instance's with
    /// `InvalidParameterValue: Cannot modify hostname-type for running instances` (as
    /// terraform-provider-aws's TestAccEC2Instance_PrivateDNSNameOptions_configured
    /// records it).
    pub fn modify_private_dns_name_options(
        &mut self,
        id: &str,
        req: &PrivateDnsNameOptionsRequest,
    ) -> Result<PrivateDnsNameOptions, ApiError> {
        let inst = self.region.instances.find(Kind::Instance, id)?;
        if matches!(
            inst.state,
            InstanceState::Terminated | InstanceState::ShuttingDown
        ) {
            return Err(incorrect_state(id, "modified"));
        }
        let options = req.apply(inst.private_dns_name_options);
        if options.hostname_type != inst.private_dns_name_options.hostname_type {
            if inst.state != InstanceState::Stopped {
                return Err(ApiError::invalid_value(
                    "Cannot modify hostname-type for running instances",
                ));
            }
            let subnet = self.region.subnets.find(Kind::Subnet, &inst.subnet_id)?;
            check_hostname_type(subnet, options.hostname_type, "PrivateDnsHostnameType")?;
        }
        self.region
            .instances
            .get_mut(id)
            .expect("found")
            .private_dns_name_options = options;
        Ok(options)
    }

    /// ModifyInstanceCreditSpecification: each instance's change, or its error
    /// (code, message), in the order given.
    pub fn modify_credit_specifications(
        &mut self,
        changes: &[(String, String)],
    ) -> Vec<(String, Result<(), CreditError>)> {
        changes
            .iter()
            .map(|(id, credits)| {
                let r = (|| {
                    if check_cpu_credits(credits).is_err() {
                        return Err((
                            "InvalidParameterValue",
                            format!("Value ({credits}) for parameter cpuCredits is invalid."),
                        ));
                    }
                    let Some(inst) = self.region.instances.get(id) else {
                        return Err((
                            "InvalidInstanceID.NotFound",
                            format!("The instance ID '{id}' does not exist"),
                        ));
                    };
                    if default_cpu_credits(&inst.instance_type).is_none() {
                        return Err((
                            "InstanceCreditSpecification.NotSupported",
                            format!(
                                "The instance '{id}' does not support credit specifications: its type is not burstable."
                            ),
                        ));
                    }
                    if inst.state == InstanceState::Terminated {
                        return Err((
                            "IncorrectInstanceState",
                            format!(
                                "The instance '{id}' is not in a state in which the credit specification can be modified."
                            ),
                        ));
                    }
                    self.region
                        .instances
                        .get_mut(id)
                        .expect("found")
                        .cpu_credits = Some(credits.clone());
                    Ok(())
                })();
                (id.clone(), r)
            })
            .collect()
    }
}

/// An interface of an IPv6-only subnet has no IPv4 address: a request for one is refused.
pub(crate) fn ipv6_only_addresses(subnet: &Subnet, req: &AddressRequest) -> Result<(), ApiError> {
    if req.private_ip.is_some() || !req.private_ips.is_empty() || req.secondary_count.is_some() {
        return Err(ApiError::combination(format!(
            "The subnet '{}' is IPv6-only: its network interfaces cannot have private IPv4 addresses.",
            subnet.id
        )));
    }
    Ok(())
}

/// The primary private address of an instance, for callers that only have its interface.
pub fn primary_ip(eni: Option<&NetworkInterface>) -> Option<Ipv4Addr> {
    eni.and_then(|e| e.private_ip)
}

/// `Placement.Tenancy`: `default`, `dedicated` or `host`; whether the launch is on a
/// Dedicated Host (tenancy `host`, or a `HostId`, which implies it). An affinity needs
/// tenancy `host`, and Spot Instances do not run on Dedicated Hosts.
fn check_tenancy(req: &RunInstances) -> Result<bool, ApiError> {
    let host = match req.tenancy.as_deref() {
        None => req.host_id.is_some() || req.affinity.is_some(),
        Some("host") => true,
        Some("default" | "dedicated") => {
            if req.host_id.is_some() || req.affinity.is_some() {
                return Err(ApiError::combination(
                    "A host ID or affinity can only be specified for instances with tenancy host.",
                ));
            }
            false
        }
        Some(other) => {
            return Err(ApiError::bad_param(
                "tenancy",
                other,
                "Valid values: default, dedicated, host.",
            ));
        }
    };
    if host && req.spot.is_some() {
        return Err(ApiError::combination(
            "Spot Instances cannot be launched onto Dedicated Hosts.",
        ));
    }
    Ok(host)
}
