//! Site-to-Site VPN's VPC side: virtual private gateways (attached to at most one VPC, a
//! route target and a source of propagated routes) and customer gateways (the remote
//! device's address and ASN), and the Site-to-Site VPN connections between them: two
//! IPsec tunnels each, with the options AWS lets a customer choose and checks.

use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{
    ApiError, CustomerGatewayId, Millis, Tags, TransitGatewayAttachmentId, TransitGatewayId, VpcId,
    VpnConnectionId, VpnGatewayId,
};

wire_enum! {
    /// A virtual private gateway's or a customer gateway's state: Fort's are `available`
    /// when created and `deleted` (still described for a while) when deleted.
    pub enum VpnGatewayState {
        Pending = "pending",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// The state of a virtual private gateway's attachment to a VPC.
    pub enum VpnAttachmentState {
        Attaching = "attaching",
        Attached = "attached",
        Detaching = "detaching",
        Detached = "detached",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnGatewayAttachment {
    pub vpc_id: VpcId,
    pub state: VpnAttachmentState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnGateway {
    pub id: VpnGatewayId,
    pub state: VpnGatewayState,
    pub amazon_side_asn: u64,
    /// The VPCs it was attached to: at most one `attached`; detached ones stay listed.
    pub attachments: Vec<VpnGatewayAttachment>,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}

impl VpnGateway {
    /// The VPC it is attached to now.
    pub fn attached_vpc(&self) -> Option<&VpcId> {
        self.attachments
            .iter()
            .find(|a| a.state == VpnAttachmentState::Attached)
            .map(|a| &a.vpc_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerGateway {
    pub id: CustomerGatewayId,
    pub state: VpnGatewayState,
    /// `BgpAsn` (up to 2,147,483,647) or `BgpAsnExtended` (above).
    pub bgp_asn: u64,
    pub ip_address: Option<Ipv4Addr>,
    pub certificate_arn: Option<String>,
    pub device_name: Option<String>,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}

wire_enum! {
    /// A VPN connection's (and its static routes') state.
    pub enum VpnState {
        Pending = "pending",
        Available = "available",
        Modifying = "modifying",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// A tunnel's status as VgwTelemetry shows it.
    pub enum TelemetryStatus {
        Up = "UP",
        Down = "DOWN",
    }
}

wire_enum! {
    /// What the AWS side does when dead-peer detection times out.
    pub enum DpdTimeoutAction {
        Clear = "clear",
        None = "none",
        Restart = "restart",
    }
}

wire_enum! {
    /// Who starts IKE: `add` waits for the customer gateway, `start` initiates.
    pub enum StartupAction {
        Add = "add",
        Start = "start",
    }
}

wire_enum! {
    pub enum IkeVersion {
        V1 = "ikev1",
        V2 = "ikev2",
    }
}

wire_enum! {
    /// Phase 1 and phase 2 encryption algorithms AWS offers.
    pub enum EncryptionAlgorithm {
        Aes128 = "AES128",
        Aes256 = "AES256",
        Aes128Gcm16 = "AES128-GCM-16",
        Aes256Gcm16 = "AES256-GCM-16",
    }
}

wire_enum! {
    /// Phase 1 and phase 2 integrity algorithms AWS offers.
    pub enum IntegrityAlgorithm {
        Sha1 = "SHA1",
        Sha2_256 = "SHA2-256",
        Sha2_384 = "SHA2-384",
        Sha2_512 = "SHA2-512",
    }
}

wire_enum! {
    /// A tunnel option a customer can choose, by its element in DescribeVpnConnections:
    /// EC2 lists only the options chosen (Terraform's provider counts on it).
    pub enum TunnelOptionField {
        Phase1LifetimeSeconds = "phase1LifetimeSeconds",
        Phase2LifetimeSeconds = "phase2LifetimeSeconds",
        RekeyMarginTimeSeconds = "rekeyMarginTimeSeconds",
        RekeyFuzzPercentage = "rekeyFuzzPercentage",
        ReplayWindowSize = "replayWindowSize",
        DpdTimeoutSeconds = "dpdTimeoutSeconds",
        DpdTimeoutAction = "dpdTimeoutAction",
        Phase1EncryptionAlgorithms = "phase1EncryptionAlgorithmSet",
        Phase2EncryptionAlgorithms = "phase2EncryptionAlgorithmSet",
        Phase1IntegrityAlgorithms = "phase1IntegrityAlgorithmSet",
        Phase2IntegrityAlgorithms = "phase2IntegrityAlgorithmSet",
        Phase1DhGroupNumbers = "phase1DHGroupNumberSet",
        Phase2DhGroupNumbers = "phase2DHGroupNumberSet",
        IkeVersions = "ikeVersionSet",
        StartupAction = "startupAction",
    }
}

/// Diffie-Hellman groups AWS offers in phase 1 and in phase 2 (which adds group 5).
pub const PHASE1_DH_GROUPS: &[u8] = &[2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
pub const PHASE2_DH_GROUPS: &[u8] = &[2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];

/// Inside /30s AWS keeps for itself: a tunnel may not use them.
pub const RESERVED_INSIDE_CIDRS: &[&str] = &[
    "169.254.0.0/30",
    "169.254.1.0/30",
    "169.254.2.0/30",
    "169.254.3.0/30",
    "169.254.4.0/30",
    "169.254.5.0/30",
    "169.254.169.252/30",
];

/// One tunnel's IKE and IPsec options (AWS's defaults unless the customer chose).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelOptions {
    pub phase1_lifetime_seconds: u32,
    pub phase2_lifetime_seconds: u32,
    pub rekey_margin_time_seconds: u32,
    pub rekey_fuzz_percentage: u32,
    pub replay_window_size: u32,
    pub dpd_timeout_seconds: u32,
    pub dpd_timeout_action: DpdTimeoutAction,
    pub phase1_encryption: Vec<EncryptionAlgorithm>,
    pub phase2_encryption: Vec<EncryptionAlgorithm>,
    pub phase1_integrity: Vec<IntegrityAlgorithm>,
    pub phase2_integrity: Vec<IntegrityAlgorithm>,
    pub phase1_dh_groups: Vec<u8>,
    pub phase2_dh_groups: Vec<u8>,
    pub ike_versions: Vec<IkeVersion>,
    pub startup_action: StartupAction,
    pub enable_tunnel_lifecycle_control: bool,
    /// `LogOptions.CloudWatchLogOptions`: Fort keeps and reports them (its edge writes no
    /// tunnel logs yet).
    #[serde(default)]
    pub log: TunnelLogOptions,
}

/// A tunnel's CloudWatch Logs options, as the customer set them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelLogOptions {
    pub enabled: bool,
    pub group_arn: Option<String>,
    /// `json` or `text`.
    pub output_format: Option<String>,
}

impl Default for TunnelOptions {
    /// AWS's defaults: every algorithm, both IKE versions, DPD after 30 s.
    fn default() -> Self {
        TunnelOptions {
            phase1_lifetime_seconds: 28_800,
            phase2_lifetime_seconds: 3_600,
            rekey_margin_time_seconds: 270,
            rekey_fuzz_percentage: 100,
            replay_window_size: 1024,
            dpd_timeout_seconds: 30,
            dpd_timeout_action: DpdTimeoutAction::Clear,
            phase1_encryption: EncryptionAlgorithm::ALL.to_vec(),
            phase2_encryption: EncryptionAlgorithm::ALL.to_vec(),
            phase1_integrity: IntegrityAlgorithm::ALL.to_vec(),
            phase2_integrity: IntegrityAlgorithm::ALL.to_vec(),
            phase1_dh_groups: PHASE1_DH_GROUPS.to_vec(),
            phase2_dh_groups: PHASE2_DH_GROUPS.to_vec(),
            ike_versions: IkeVersion::ALL.to_vec(),
            startup_action: StartupAction::Add,
            enable_tunnel_lifecycle_control: false,
            log: TunnelLogOptions::default(),
        }
    }
}

/// What a request may say of one tunnel (CreateVpnConnection's `TunnelOptions.N`,
/// ModifyVpnTunnelOptions' `TunnelOptions`), as text: [`TunnelOptionsRequest::apply`]
/// checks it against AWS's rules.
#[derive(Clone, Debug, Default)]
pub struct TunnelOptionsRequest {
    pub inside_cidr: Option<String>,
    pub inside_ipv6_cidr: Option<String>,
    pub pre_shared_key: Option<String>,
    pub phase1_lifetime_seconds: Option<i64>,
    pub phase2_lifetime_seconds: Option<i64>,
    pub rekey_margin_time_seconds: Option<i64>,
    pub rekey_fuzz_percentage: Option<i64>,
    pub replay_window_size: Option<i64>,
    pub dpd_timeout_seconds: Option<i64>,
    pub dpd_timeout_action: Option<String>,
    pub phase1_encryption: Vec<String>,
    pub phase2_encryption: Vec<String>,
    pub phase1_integrity: Vec<String>,
    pub phase2_integrity: Vec<String>,
    pub phase1_dh_groups: Vec<i64>,
    pub phase2_dh_groups: Vec<i64>,
    pub ike_versions: Vec<String>,
    pub startup_action: Option<String>,
    pub enable_tunnel_lifecycle_control: Option<bool>,
    /// `LogOptions.CloudWatchLogOptions.LogEnabled` / `LogGroupArn` / `LogOutputFormat`.
    pub log_enabled: Option<bool>,
    pub log_group_arn: Option<String>,
    pub log_output_format: Option<String>,
}

fn in_range(param: &str, v: i64, lo: i64, hi: i64) -> Result<u32, ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(u32::try_from(v).expect("in range"))
    } else {
        Err(ApiError::bad_param(
            param,
            &v.to_string(),
            &format!("Valid values are {lo} to {hi}."),
        ))
    }
}

fn parse_list<T: Copy + PartialEq>(
    param: &str,
    given: &[String],
    parse: impl Fn(&str) -> Option<T>,
    valid: &str,
) -> Result<Option<Vec<T>>, ApiError> {
    if given.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for g in given {
        let v = parse(g)
            .ok_or_else(|| ApiError::bad_param(param, g, &format!("Valid values: {valid}.")))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(Some(out))
}

fn dh_groups(param: &str, given: &[i64], valid: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
    if given.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for &g in given {
        let v = u8::try_from(g)
            .ok()
            .filter(|v| valid.contains(v))
            .ok_or_else(|| {
                let list: Vec<String> = valid.iter().map(ToString::to_string).collect();
                ApiError::bad_param(
                    param,
                    &g.to_string(),
                    &format!("Valid values: {}.", list.join(" | ")),
                )
            })?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(Some(out))
}

/// AWS's rule for a pre-shared key: 8 to 64 letters, digits, periods and underscores,
/// not starting with zero.
pub fn check_pre_shared_key(key: &str) -> Result<(), ApiError> {
    let ok = (8..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && !key.starts_with('0');
    if ok {
        Ok(())
    } else {
        // The key itself is not echoed.
        Err(ApiError::invalid_value(
            "The pre-shared key is invalid: it must be 8 to 64 characters of letters, digits, periods (.) and underscores (_), and cannot start with zero (0).",
        ))
    }
}

/// AWS's rule for a tunnel's inside IPv4 CIDR: a /30 of 169.254.0.0/16, not one AWS keeps.
pub fn check_inside_cidr(text: &str) -> Result<Ipv4Net, ApiError> {
    let bad = |why: &str| ApiError::bad_param("TunnelInsideCidr", text, why);
    let net: Ipv4Net = text
        .parse()
        .map_err(|_| bad("It is not a valid IPv4 CIDR block."))?;
    let link_local: Ipv4Net = "169.254.0.0/16".parse().expect("literal");
    if net.prefix_len() != 30 || !link_local.contains(&net) || net.network() != net.addr() {
        return Err(bad(
            "A tunnel's inside CIDR is a /30 block within 169.254.0.0/16.",
        ));
    }
    if RESERVED_INSIDE_CIDRS
        .iter()
        .any(|r| r.parse::<Ipv4Net>().ok() == Some(net))
    {
        return Err(bad("This block is reserved by AWS and cannot be used."));
    }
    Ok(net)
}

/// AWS's rule for a tunnel's inside IPv6 CIDR: a /126 of fd00::/8.
pub fn check_inside_ipv6_cidr(text: &str) -> Result<Ipv6Net, ApiError> {
    let bad = |why: &str| ApiError::bad_param("TunnelInsideIpv6Cidr", text, why);
    let net: Ipv6Net = text
        .parse()
        .map_err(|_| bad("It is not a valid IPv6 CIDR block."))?;
    let unique_local: Ipv6Net = "fd00::/8".parse().expect("literal");
    if net.prefix_len() != 126 || !unique_local.contains(&net) || net.network() != net.addr() {
        return Err(bad(
            "A tunnel's inside IPv6 CIDR is a /126 block within fd00::/8.",
        ));
    }
    Ok(net)
}

/// A free /126 of fd00::/8 (random, as AWS picks them).
pub fn random_inside_ipv6_cidr(taken: &[Ipv6Net]) -> Ipv6Net {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let bits: u128 = rng.random::<u128>() & !0x3 & ((1u128 << 120) - 1);
        let n =
            Ipv6Net::new(std::net::Ipv6Addr::from((0xfdu128 << 120) | bits), 126).expect("/126");
        if !taken.contains(&n) {
            return n;
        }
    }
}

impl TunnelOptionsRequest {
    /// Whether the request says anything of the tunnel.
    pub fn is_empty(&self) -> bool {
        self.inside_cidr.is_none()
            && self.inside_ipv6_cidr.is_none()
            && self.pre_shared_key.is_none()
            && self.phase1_lifetime_seconds.is_none()
            && self.phase2_lifetime_seconds.is_none()
            && self.rekey_margin_time_seconds.is_none()
            && self.rekey_fuzz_percentage.is_none()
            && self.replay_window_size.is_none()
            && self.dpd_timeout_seconds.is_none()
            && self.dpd_timeout_action.is_none()
            && self.phase1_encryption.is_empty()
            && self.phase2_encryption.is_empty()
            && self.phase1_integrity.is_empty()
            && self.phase2_integrity.is_empty()
            && self.phase1_dh_groups.is_empty()
            && self.phase2_dh_groups.is_empty()
            && self.ike_versions.is_empty()
            && self.startup_action.is_none()
            && self.enable_tunnel_lifecycle_control.is_none()
            && self.log_enabled.is_none()
            && self.log_group_arn.is_none()
            && self.log_output_format.is_none()
    }

    /// The options the request chooses.
    pub fn chosen(&self) -> Vec<TunnelOptionField> {
        use TunnelOptionField as F;
        let mut out = Vec::new();
        let mut mark = |set: bool, f: F| {
            if set {
                out.push(f);
            }
        };
        mark(
            self.phase1_lifetime_seconds.is_some(),
            F::Phase1LifetimeSeconds,
        );
        mark(
            self.phase2_lifetime_seconds.is_some(),
            F::Phase2LifetimeSeconds,
        );
        mark(
            self.rekey_margin_time_seconds.is_some(),
            F::RekeyMarginTimeSeconds,
        );
        mark(self.rekey_fuzz_percentage.is_some(), F::RekeyFuzzPercentage);
        mark(self.replay_window_size.is_some(), F::ReplayWindowSize);
        mark(self.dpd_timeout_seconds.is_some(), F::DpdTimeoutSeconds);
        mark(self.dpd_timeout_action.is_some(), F::DpdTimeoutAction);
        mark(
            !self.phase1_encryption.is_empty(),
            F::Phase1EncryptionAlgorithms,
        );
        mark(
            !self.phase2_encryption.is_empty(),
            F::Phase2EncryptionAlgorithms,
        );
        mark(
            !self.phase1_integrity.is_empty(),
            F::Phase1IntegrityAlgorithms,
        );
        mark(
            !self.phase2_integrity.is_empty(),
            F::Phase2IntegrityAlgorithms,
        );
        mark(!self.phase1_dh_groups.is_empty(), F::Phase1DhGroupNumbers);
        mark(!self.phase2_dh_groups.is_empty(), F::Phase2DhGroupNumbers);
        mark(!self.ike_versions.is_empty(), F::IkeVersions);
        mark(self.startup_action.is_some(), F::StartupAction);
        out
    }

    /// `base` with what the request changes, checked as AWS checks tunnel options
    /// (ranges, enumerations, phase 2 shorter than phase 1, the rekey margin at most half
    /// of phase 2). The inside CIDR and the key are checked by the caller, which knows
    /// the connection's other tunnel.
    pub fn apply(&self, base: &TunnelOptions) -> Result<TunnelOptions, ApiError> {
        let mut o = base.clone();
        if let Some(v) = self.phase1_lifetime_seconds {
            o.phase1_lifetime_seconds = in_range("Phase1LifetimeSeconds", v, 900, 28_800)?;
        }
        if let Some(v) = self.phase2_lifetime_seconds {
            o.phase2_lifetime_seconds = in_range("Phase2LifetimeSeconds", v, 900, 3_600)?;
        }
        if o.phase2_lifetime_seconds >= o.phase1_lifetime_seconds {
            return Err(ApiError::invalid_value(format!(
                "Phase2LifetimeSeconds ({}) must be less than Phase1LifetimeSeconds ({}).",
                o.phase2_lifetime_seconds, o.phase1_lifetime_seconds
            )));
        }
        if let Some(v) = self.rekey_margin_time_seconds {
            o.rekey_margin_time_seconds = in_range("RekeyMarginTimeSeconds", v, 60, 1_800)?;
        }
        if o.rekey_margin_time_seconds > o.phase2_lifetime_seconds / 2 {
            return Err(ApiError::invalid_value(format!(
                "RekeyMarginTimeSeconds ({}) must be between 60 and half of Phase2LifetimeSeconds ({}).",
                o.rekey_margin_time_seconds, o.phase2_lifetime_seconds
            )));
        }
        if let Some(v) = self.rekey_fuzz_percentage {
            o.rekey_fuzz_percentage = in_range("RekeyFuzzPercentage", v, 0, 100)?;
        }
        if let Some(v) = self.replay_window_size {
            o.replay_window_size = in_range("ReplayWindowSize", v, 64, 2_048)?;
        }
        if let Some(v) = self.dpd_timeout_seconds {
            o.dpd_timeout_seconds = in_range("DPDTimeoutSeconds", v, 30, i64::from(u32::MAX))?;
        }
        if let Some(t) = &self.dpd_timeout_action {
            o.dpd_timeout_action = DpdTimeoutAction::parse(t).ok_or_else(|| {
                ApiError::bad_param(
                    "DPDTimeoutAction",
                    t,
                    "Valid values: clear | none | restart.",
                )
            })?;
        }
        if let Some(t) = &self.startup_action {
            o.startup_action = StartupAction::parse(t).ok_or_else(|| {
                ApiError::bad_param("StartupAction", t, "Valid values: add | start.")
            })?;
        }
        let enc = "AES128 | AES256 | AES128-GCM-16 | AES256-GCM-16";
        let integ = "SHA1 | SHA2-256 | SHA2-384 | SHA2-512";
        if let Some(v) = parse_list(
            "Phase1EncryptionAlgorithm",
            &self.phase1_encryption,
            EncryptionAlgorithm::parse,
            enc,
        )? {
            o.phase1_encryption = v;
        }
        if let Some(v) = parse_list(
            "Phase2EncryptionAlgorithm",
            &self.phase2_encryption,
            EncryptionAlgorithm::parse,
            enc,
        )? {
            o.phase2_encryption = v;
        }
        if let Some(v) = parse_list(
            "Phase1IntegrityAlgorithm",
            &self.phase1_integrity,
            IntegrityAlgorithm::parse,
            integ,
        )? {
            o.phase1_integrity = v;
        }
        if let Some(v) = parse_list(
            "Phase2IntegrityAlgorithm",
            &self.phase2_integrity,
            IntegrityAlgorithm::parse,
            integ,
        )? {
            o.phase2_integrity = v;
        }
        if let Some(v) = dh_groups(
            "Phase1DHGroupNumber",
            &self.phase1_dh_groups,
            PHASE1_DH_GROUPS,
        )? {
            o.phase1_dh_groups = v;
        }
        if let Some(v) = dh_groups(
            "Phase2DHGroupNumber",
            &self.phase2_dh_groups,
            PHASE2_DH_GROUPS,
        )? {
            o.phase2_dh_groups = v;
        }
        if let Some(v) = parse_list(
            "IKEVersion",
            &self.ike_versions,
            IkeVersion::parse,
            "ikev1 | ikev2",
        )? {
            o.ike_versions = v;
        }
        if let Some(v) = self.enable_tunnel_lifecycle_control {
            o.enable_tunnel_lifecycle_control = v;
        }
        if let Some(f) = self.log_output_format.as_deref()
            && !matches!(f, "json" | "text")
        {
            return Err(ApiError::bad_param(
                "LogOutputFormat",
                f,
                "Valid values: json | text.",
            ));
        }
        if let Some(v) = self.log_enabled {
            o.log.enabled = v;
        }
        if self.log_group_arn.is_some() {
            o.log.group_arn.clone_from(&self.log_group_arn);
        }
        if self.log_output_format.is_some() {
            o.log.output_format.clone_from(&self.log_output_format);
        }
        Ok(o)
    }
}

/// One of a connection's two tunnels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnTunnel {
    /// The AWS side's outside address, leased from the public pool.
    pub outside_ip: Ipv4Addr,
    /// The /30 inside the tunnel: the AWS side is its first host, the customer side the
    /// second.
    pub inside_cidr: Ipv4Net,
    /// A connection with IPv6 inside addresses: the tunnel's /126 of fd00::/8 (the
    /// edge's tunnel still runs on `inside_cidr`, which EC2 does not show for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_ipv6_cidr: Option<Ipv6Net>,
    pub pre_shared_key: String,
    pub options: TunnelOptions,
    /// The options the customer chose (the others are AWS's defaults, not listed).
    #[serde(default)]
    pub chosen: std::collections::BTreeSet<TunnelOptionField>,
    /// What the edge last reported of the tunnel (DOWN until it does).
    pub status: TelemetryStatus,
    pub status_message: String,
    pub last_status_change: Millis,
    pub accepted_route_count: u32,
    /// The routes its BGP session accepted (a dynamic connection), as the edge reports.
    #[serde(default)]
    pub learned_routes: Vec<Ipv4Net>,
}

impl VpnTunnel {
    /// The virtual private gateway's address inside the tunnel.
    pub fn vgw_inside_ip(&self) -> Ipv4Addr {
        nth(self.inside_cidr, 1)
    }

    /// The customer gateway's address inside the tunnel.
    pub fn cgw_inside_ip(&self) -> Ipv4Addr {
        nth(self.inside_cidr, 2)
    }
}

fn nth(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// A static route of a connection: traffic to it goes through the tunnels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnStaticRoute {
    pub destination: Ipv4Net,
    pub state: VpnState,
}

/// A Site-to-Site VPN connection between a virtual private gateway and a customer gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnConnection {
    pub id: VpnConnectionId,
    pub state: VpnState,
    pub customer_gateway_id: CustomerGatewayId,
    /// The virtual private gateway it ends at, or none: it ends at a transit gateway.
    pub vpn_gateway_id: Option<VpnGatewayId>,
    /// The transit gateway it ends at, and its attachment there (resource type `vpn`).
    #[serde(default)]
    pub transit_gateway_id: Option<TransitGatewayId>,
    #[serde(default)]
    pub transit_gateway_attachment_id: Option<TransitGatewayAttachmentId>,
    /// The transit gateway attachment's own tags (EC2 tags it apart from its connection).
    #[serde(default)]
    pub transit_gateway_attachment_tags: Tags,
    pub static_routes_only: bool,
    /// The traffic selectors: the customer side's and the VPC side's networks.
    pub local_ipv4_network_cidr: Ipv4Net,
    pub remote_ipv4_network_cidr: Ipv4Net,
    /// `TunnelInsideIpVersion` `ipv6` (transit gateway connections only): its tunnels
    /// have IPv6 inside addresses and its traffic selectors are these IPv6 networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_network_cidrs: Option<(Ipv6Net, Ipv6Net)>,
    pub tunnels: [VpnTunnel; 2],
    pub routes: Vec<VpnStaticRoute>,
    /// BGP routes the tunnels learned from the customer gateway (as the edge reports).
    #[serde(default)]
    pub learned_routes: Vec<Ipv4Net>,
    /// `EnableAcceleration` (transit gateway connections only): EC2 puts the tunnels'
    /// outside addresses behind AWS Global Accelerator; Fort keeps and reports the option,
    /// its tunnels are the same.
    #[serde(default)]
    pub enable_acceleration: bool,
    pub created: Millis,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}

impl VpnConnection {
    pub fn is_live(&self) -> bool {
        self.deleted.is_none()
    }

    /// The id of the gateway it ends at: its virtual private or transit gateway.
    pub fn end(&self) -> &str {
        self.vpn_gateway_id
            .as_deref()
            .or(self.transit_gateway_id.as_deref())
            .unwrap_or("")
    }

    /// Whether it ends at gateway `id` (a virtual private or a transit gateway).
    pub fn ends_at(&self, id: &str) -> bool {
        !id.is_empty() && self.end() == id
    }

    /// The destinations it propagates into route tables: its static routes (a static
    /// connection) or what BGP learned (a dynamic one).
    pub fn propagated_routes(&self) -> Vec<Ipv4Net> {
        if !self.is_live() {
            return Vec::new();
        }
        if self.static_routes_only {
            self.routes
                .iter()
                .filter(|r| r.state == VpnState::Available)
                .map(|r| r.destination)
                .collect()
        } else {
            self.learned_routes.clone()
        }
    }
}

/// A pre-shared key as AWS makes them: 32 letters, digits, periods and underscores, not
/// starting with zero.
pub fn generate_pre_shared_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut rng = rand::rng();
    let mut key = String::with_capacity(32);
    while key.len() < 32 {
        let c = char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]);
        if key.is_empty() && c == '0' {
            continue;
        }
        key.push(c);
    }
    key
}

/// A random inside /30 of 169.254.0.0/16 that is neither reserved nor in `taken`.
pub fn random_inside_cidr(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    use rand::Rng;
    let mut rng = rand::rng();
    let usable = |n: &Ipv4Net| {
        !taken.contains(n)
            && !RESERVED_INSIDE_CIDRS
                .iter()
                .any(|r| r.parse::<Ipv4Net>().ok().as_ref() == Some(n))
    };
    let block = |i: u32| Ipv4Net::new(Ipv4Addr::from(0xA9FE_0000 | (i << 2)), 30).expect("/30");
    for _ in 0..64 {
        let n = block(rng.random_range(0..16_384));
        if usable(&n) {
            return Some(n);
        }
    }
    (0..16_384).map(block).find(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_cidrs_follow_aws_rules() {
        assert!(check_inside_cidr("169.254.10.0/30").is_ok());
        for bad in [
            "169.254.10.0/29",
            "169.254.10.1/30",
            "10.0.0.0/30",
            "169.254.5.0/30",
            "169.254.169.252/30",
            "nonsense",
        ] {
            assert!(check_inside_cidr(bad).is_err(), "{bad}");
        }
        let t = VpnTunnel {
            outside_ip: Ipv4Addr::new(198, 51, 100, 9),
            inside_cidr: "169.254.10.4/30".parse().unwrap(),
            inside_ipv6_cidr: None,
            pre_shared_key: "abcdefgh".into(),
            options: TunnelOptions::default(),
            chosen: Default::default(),
            status: TelemetryStatus::Down,
            status_message: String::new(),
            last_status_change: 0,
            accepted_route_count: 0,
            learned_routes: Vec::new(),
        };
        assert_eq!(t.vgw_inside_ip(), Ipv4Addr::new(169, 254, 10, 5));
        assert!(check_inside_ipv6_cidr("fd00:1:2:3::4/126").is_ok());
        for bad in [
            "fd00::/64",
            "fd00::1/126",
            "fe80::/126",
            "2001:db8::/126",
            "x",
        ] {
            assert!(check_inside_ipv6_cidr(bad).is_err(), "{bad}");
        }
        let n = random_inside_ipv6_cidr(&[]);
        assert!(check_inside_ipv6_cidr(&n.to_string()).is_ok(), "{n}");
        assert_eq!(t.cgw_inside_ip(), Ipv4Addr::new(169, 254, 10, 6));
    }

    #[test]
    fn pre_shared_keys_follow_aws_rules() {
        assert!(check_pre_shared_key("abc_def.123").is_ok());
        for bad in ["short", "0abcdefgh", "abc-defgh", &"a".repeat(65)] {
            assert!(check_pre_shared_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tunnel_options_are_checked() {
        let base = TunnelOptions::default();
        let req = TunnelOptionsRequest {
            phase2_lifetime_seconds: Some(1800),
            rekey_margin_time_seconds: Some(900),
            phase1_dh_groups: vec![14, 14, 19],
            ike_versions: vec!["ikev2".into()],
            ..Default::default()
        };
        let o = req.apply(&base).unwrap();
        assert_eq!(o.phase1_dh_groups, vec![14, 19]);
        assert_eq!(o.ike_versions, vec![IkeVersion::V2]);
        for bad in [
            TunnelOptionsRequest {
                phase1_lifetime_seconds: Some(899),
                ..Default::default()
            },
            TunnelOptionsRequest {
                phase2_lifetime_seconds: Some(3601),
                ..Default::default()
            },
            TunnelOptionsRequest {
                phase1_lifetime_seconds: Some(1000),
                phase2_lifetime_seconds: Some(1000),
                ..Default::default()
            },
            TunnelOptionsRequest {
                rekey_margin_time_seconds: Some(1801),
                ..Default::default()
            },
            TunnelOptionsRequest {
                dpd_timeout_seconds: Some(29),
                ..Default::default()
            },
            TunnelOptionsRequest {
                phase1_dh_groups: vec![5],
                ..Default::default()
            },
            TunnelOptionsRequest {
                phase2_encryption: vec!["DES".into()],
                ..Default::default()
            },
            TunnelOptionsRequest {
                ike_versions: vec!["ikev3".into()],
                ..Default::default()
            },
            TunnelOptionsRequest {
                dpd_timeout_action: Some("hold".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.apply(&base).is_err(), "{bad:?}");
        }
        assert!(
            TunnelOptionsRequest {
                phase2_dh_groups: vec![5],
                ..Default::default()
            }
            .apply(&base)
            .is_ok()
        );
    }
}
