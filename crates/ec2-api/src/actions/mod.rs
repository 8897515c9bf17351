//! Every EC2 action Fort answers: each module parses its actions' parameters into typed
//! calls on the control plane and renders the results as EC2 does.

use fort_auth::sigv4::Verified;
use fort_control::{ClientToken, Control, Scope, Tx, View};
use fort_model::{ApiError, ErrorCode, Kind, Tags};

use crate::filter::{Filters, Page, paginate};
use crate::query::Params;
use crate::xml::Xml;

mod account;
mod address;
mod capacity_reservation;
mod carrier_gateway;
mod classic_link;
mod dedicated_host;
mod dhcp_options;
mod fleet;
mod flow_log;
mod iam_instance_profile;
mod image;
mod instance;
mod internet_gateway;
mod key_pair;
mod launch_template;
mod launch_template_fields;
mod nat_gateway;
mod network_acl;
mod network_interface;
mod peering;
mod placement_group;
mod prefix_list;
mod route_table;
mod security_group;
mod snapshot;
mod spot;
mod spot_fleet;
mod subnet;
mod subnet_cidr_reservation;
mod tags;
mod traffic_mirror;
mod transit_gateway;
mod volume;
mod vpc;
mod vpc_block_public_access;
mod vpc_endpoint;
mod vpn;
mod vpn_connection;

/// One request being answered.
pub struct Ctx<'a> {
    pub control: &'a Control,
    pub scope: Scope,
    pub params: &'a Params,
    pub action: &'a str,
    pub verified: &'a Verified,
    /// The number of the last change this request made (0: none), for `x-fort-change`.
    pub change: std::sync::atomic::AtomicU64,
}

impl Ctx<'_> {
    /// Makes a change in the caller's region.
    pub async fn write<R>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let (value, seq) = self.control.write_numbered(&self.scope, f).await?;
        if seq != 0 {
            self.change.store(seq, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(value)
    }

    /// Reads the caller's region.
    pub async fn read<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> Result<R, ApiError> {
        self.control.read(&self.scope, f).await
    }

    pub fn account(&self) -> &str {
        &self.scope.account
    }

    /// The tags of `TagSpecification.N` for `resource_type` (others are refused).
    pub fn tag_specs(&self, resource_types: &[&str]) -> Result<Tags, ApiError> {
        tag_specs_in(self.params, resource_types)
    }

    /// The tags a TagSpecification gives to a secondary resource type of the call (e.g. the
    /// network interfaces of RunInstances).
    pub fn tag_specs_for(&self, resource_type: &str) -> Result<Tags, ApiError> {
        tag_specs_for_in(self.params, resource_type)
    }

    /// The request's `ClientToken`, for an idempotent create.
    pub fn client_token(&self) -> Result<Option<ClientToken>, ApiError> {
        let Some(token) = self.params.get("ClientToken") else {
            return Ok(None);
        };
        let params = self.params.flatten();
        ClientToken::new(
            self.action,
            token,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map(Some)
    }
}

/// The tags of `TagSpecification.N` of `params` for `resource_types[0]` (types not listed
/// are refused).
pub fn tag_specs_in(params: &Params, resource_types: &[&str]) -> Result<Tags, ApiError> {
    tag_specs_list(params, "TagSpecification", resource_types)
}

/// [`tag_specs_in`] for the calls whose model names the list `TagSpecifications` (several
/// transit gateway calls): `list` is the parameter's name.
pub fn tag_specs_list(
    params: &Params,
    list: &str,
    resource_types: &[&str],
) -> Result<Tags, ApiError> {
    // A TagSpecification of a type the call does not create, or without tags: the calls
    // making VPCs, subnets, interfaces, security group rules and VPC endpoints answer
    // InvalidParameter, the others (instances, images, volumes, gateways, ...)
    // InvalidParameterValue.
    let code = match resource_types[0] {
        "vpc" | "subnet" | "network-interface" | "security-group-rule" | "vpc-endpoint" => {
            ErrorCode::InvalidParameter
        }
        _ => ErrorCode::InvalidParameterValue,
    };
    let mut tags = Tags::new();
    for spec in params.list(list)? {
        // EC2's resource types name the NAT gateway twice
        let ty = match spec.get("ResourceType") {
            None | Some("") => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    "Tag specification resource type must have a value",
                ));
            }
            Some("nat-gateway") => "natgateway",
            Some(ty) => ty,
        };
        if !resource_types.contains(&ty) {
            return Err(ApiError::new(
                code,
                format!("'{ty}' is not a valid taggable resource type for this operation."),
            ));
        }
        let items = spec.list("Tag")?;
        if items.is_empty() {
            return Err(ApiError::new(
                code,
                "Tag specification must have at least one tag",
            ));
        }
        if ty != resource_types[0] {
            continue;
        }
        for t in items {
            tags.insert(
                t.req("Key")?.to_owned(),
                t.get("Value").unwrap_or("").to_owned(),
            );
        }
    }
    Ok(tags)
}

/// The tags `TagSpecification.N` of `params` gives to `resource_type`.
pub fn tag_specs_for_in(params: &Params, resource_type: &str) -> Result<Tags, ApiError> {
    let mut tags = Tags::new();
    for spec in params.list("TagSpecification")? {
        if spec.get("ResourceType") == Some(resource_type) {
            for t in spec.list("Tag")? {
                tags.insert(
                    t.req("Key")?.to_owned(),
                    t.get("Value").unwrap_or("").to_owned(),
                );
            }
        }
    }
    Ok(tags)
}

/// The common shape of a Describe: explicit ids (each must exist), filters, pages.
pub struct Describe<'a> {
    pub ids_param: &'a str,
    pub kind: Kind,
    pub filters: &'a [&'a str],
    /// The accepted `MaxResults` range; `None` for calls that are not paginated.
    pub page: Option<(i64, i64)>,
}

impl Describe<'_> {
    /// Selects from `rows` (in id order) those the request names and its filters pass.
    pub fn run<'r, T>(
        &self,
        p: &Params,
        rows: impl Iterator<Item = &'r T>,
        id: impl Fn(&T) -> &str,
        tags: impl Fn(&T) -> &Tags,
        field: impl Fn(&T, &str) -> Vec<String>,
    ) -> Result<Page<&'r T>, ApiError>
    where
        T: 'r,
    {
        self.select(p, rows, id, tags, field, true)
    }

    /// Like [`Describe::run`], for the calls where EC2 answers an id it does not know with
    /// nothing rather than NotFound (egress-only internet gateways).
    pub fn run_ignoring_unknown<'r, T>(
        &self,
        p: &Params,
        rows: impl Iterator<Item = &'r T>,
        id: impl Fn(&T) -> &str,
        tags: impl Fn(&T) -> &Tags,
        field: impl Fn(&T, &str) -> Vec<String>,
    ) -> Result<Page<&'r T>, ApiError>
    where
        T: 'r,
    {
        self.select(p, rows, id, tags, field, false)
    }

    fn select<'r, T>(
        &self,
        p: &Params,
        rows: impl Iterator<Item = &'r T>,
        id: impl Fn(&T) -> &str,
        tags: impl Fn(&T) -> &Tags,
        field: impl Fn(&T, &str) -> Vec<String>,
        unknown_is_error: bool,
    ) -> Result<Page<&'r T>, ApiError>
    where
        T: 'r,
    {
        let ids = p.strings(self.ids_param)?;
        let filters = Filters::parse(p, self.filters)?;
        let rows: Vec<&T> = rows.collect();
        for wanted in &ids {
            if !rows.iter().any(|r| id(r) == wanted) {
                self.kind.check(wanted)?;
                if unknown_is_error {
                    return Err(self.kind.not_found(wanted));
                }
            }
        }
        let selected: Vec<&T> = rows
            .into_iter()
            .filter(|r| ids.is_empty() || ids.iter().any(|w| w == id(r)))
            .filter(|r| filters.matches(tags(r), |name| field(r, name)))
            .collect();
        match self.page {
            Some(bounds) => paginate(selected, |r| id(r).to_owned(), p, bounds),
            None => Ok(Page {
                items: selected,
                next_token: None,
            }),
        }
    }
}

/// Writes `nextToken` when there is one.
pub fn next_token(w: &mut Xml, token: Option<String>) {
    w.opt("nextToken", token);
}

/// EC2's `<return>true</return>` body of calls without output.
pub fn ok_return() -> Xml {
    let mut w = Xml::new();
    w.leaf("return", "true");
    w
}

/// Runs the action the request names.
pub async fn dispatch(ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let dry_run = ctx.params.bool("DryRun")?.unwrap_or(false);
    let handler = handler(ctx.action).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAction,
            format!(
                "The action {} is not valid for this web service.",
                ctx.action
            ),
        )
    })?;
    if dry_run {
        return Err(ApiError::dry_run());
    }
    handler.run(ctx).await
}

/// An action's handler.
#[derive(Clone, Copy)]
enum Handler {
    Account(account::Action),
    Address(address::Action),
    CapacityReservation(capacity_reservation::Action),
    CarrierGateway(carrier_gateway::Action),
    DhcpOptions(dhcp_options::Action),
    Fleet(fleet::Action),
    DedicatedHost(dedicated_host::Action),
    FlowLog(flow_log::Action),
    IamInstanceProfile(iam_instance_profile::Action),
    Image(image::Action),
    Instance(instance::Action),
    InternetGateway(internet_gateway::Action),
    KeyPair(key_pair::Action),
    PlacementGroup(placement_group::Action),
    LaunchTemplate(launch_template::Action),
    NatGateway(nat_gateway::Action),
    NetworkAcl(network_acl::Action),
    NetworkInterface(network_interface::Action),
    Peering(peering::Action),
    PrefixList(prefix_list::Action),
    RouteTable(route_table::Action),
    SecurityGroup(security_group::Action),
    Snapshot(snapshot::Action),
    Spot(spot::Action),
    SpotFleet(spot_fleet::Action),
    Subnet(subnet::Action),
    SubnetCidrReservation(subnet_cidr_reservation::Action),
    Tags(tags::Action),
    TrafficMirror(traffic_mirror::Action),
    ClassicLink(classic_link::Action),
    TransitGateway(transit_gateway::Action),
    Volume(volume::Action),
    Vpc(vpc::Action),
    VpcBlockPublicAccess(vpc_block_public_access::Action),
    VpcEndpoint(vpc_endpoint::Action),
    Vpn(vpn::Action),
    VpnConnection(vpn_connection::Action),
}

impl Handler {
    async fn run(self, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
        match self {
            Handler::Account(a) => account::run(a, ctx).await,
            Handler::Address(a) => address::run(a, ctx).await,
            Handler::CapacityReservation(a) => capacity_reservation::run(a, ctx).await,
            Handler::CarrierGateway(a) => carrier_gateway::run(a, ctx).await,
            Handler::DhcpOptions(a) => dhcp_options::run(a, ctx).await,
            Handler::Fleet(a) => fleet::run(a, ctx).await,
            Handler::DedicatedHost(a) => dedicated_host::run(a, ctx).await,
            Handler::FlowLog(a) => flow_log::run(a, ctx).await,
            Handler::IamInstanceProfile(a) => iam_instance_profile::run(a, ctx).await,
            Handler::Image(a) => image::run(a, ctx).await,
            Handler::Instance(a) => instance::run(a, ctx).await,
            Handler::InternetGateway(a) => internet_gateway::run(a, ctx).await,
            Handler::KeyPair(a) => key_pair::run(a, ctx).await,
            Handler::PlacementGroup(a) => placement_group::run(a, ctx).await,
            Handler::LaunchTemplate(a) => launch_template::run(a, ctx).await,
            Handler::NatGateway(a) => nat_gateway::run(a, ctx).await,
            Handler::NetworkAcl(a) => network_acl::run(a, ctx).await,
            Handler::NetworkInterface(a) => network_interface::run(a, ctx).await,
            Handler::Peering(a) => peering::run(a, ctx).await,
            Handler::PrefixList(a) => prefix_list::run(a, ctx).await,
            Handler::RouteTable(a) => route_table::run(a, ctx).await,
            Handler::SecurityGroup(a) => security_group::run(a, ctx).await,
            Handler::Snapshot(a) => snapshot::run(a, ctx).await,
            Handler::Spot(a) => spot::run(a, ctx).await,
            Handler::SpotFleet(a) => spot_fleet::run(a, ctx).await,
            Handler::Subnet(a) => subnet::run(a, ctx).await,
            Handler::SubnetCidrReservation(a) => subnet_cidr_reservation::run(a, ctx).await,
            Handler::Tags(a) => tags::run(a, ctx).await,
            Handler::TrafficMirror(a) => traffic_mirror::run(a, ctx).await,
            Handler::ClassicLink(a) => classic_link::run(a, ctx).await,
            Handler::TransitGateway(a) => transit_gateway::run(a, ctx).await,
            Handler::Volume(a) => volume::run(a, ctx).await,
            Handler::Vpc(a) => vpc::run(a, ctx).await,
            Handler::VpcBlockPublicAccess(a) => vpc_block_public_access::run(a, ctx).await,
            Handler::VpcEndpoint(a) => vpc_endpoint::run(a, ctx).await,
            Handler::Vpn(a) => vpn::run(a, ctx).await,
            Handler::VpnConnection(a) => vpn_connection::run(a, ctx).await,
        }
    }
}

fn handler(action: &str) -> Option<Handler> {
    None.or_else(|| account::Action::parse(action).map(Handler::Account))
        .or_else(|| address::Action::parse(action).map(Handler::Address))
        .or_else(|| capacity_reservation::Action::parse(action).map(Handler::CapacityReservation))
        .or_else(|| carrier_gateway::Action::parse(action).map(Handler::CarrierGateway))
        .or_else(|| dhcp_options::Action::parse(action).map(Handler::DhcpOptions))
        .or_else(|| fleet::Action::parse(action).map(Handler::Fleet))
        .or_else(|| dedicated_host::Action::parse(action).map(Handler::DedicatedHost))
        .or_else(|| flow_log::Action::parse(action).map(Handler::FlowLog))
        .or_else(|| iam_instance_profile::Action::parse(action).map(Handler::IamInstanceProfile))
        .or_else(|| image::Action::parse(action).map(Handler::Image))
        .or_else(|| instance::Action::parse(action).map(Handler::Instance))
        .or_else(|| internet_gateway::Action::parse(action).map(Handler::InternetGateway))
        .or_else(|| key_pair::Action::parse(action).map(Handler::KeyPair))
        .or_else(|| placement_group::Action::parse(action).map(Handler::PlacementGroup))
        .or_else(|| launch_template::Action::parse(action).map(Handler::LaunchTemplate))
        .or_else(|| nat_gateway::Action::parse(action).map(Handler::NatGateway))
        .or_else(|| network_acl::Action::parse(action).map(Handler::NetworkAcl))
        .or_else(|| network_interface::Action::parse(action).map(Handler::NetworkInterface))
        .or_else(|| peering::Action::parse(action).map(Handler::Peering))
        .or_else(|| prefix_list::Action::parse(action).map(Handler::PrefixList))
        .or_else(|| route_table::Action::parse(action).map(Handler::RouteTable))
        .or_else(|| security_group::Action::parse(action).map(Handler::SecurityGroup))
        .or_else(|| snapshot::Action::parse(action).map(Handler::Snapshot))
        .or_else(|| spot::Action::parse(action).map(Handler::Spot))
        .or_else(|| spot_fleet::Action::parse(action).map(Handler::SpotFleet))
        .or_else(|| subnet::Action::parse(action).map(Handler::Subnet))
        .or_else(|| {
            subnet_cidr_reservation::Action::parse(action).map(Handler::SubnetCidrReservation)
        })
        .or_else(|| tags::Action::parse(action).map(Handler::Tags))
        .or_else(|| traffic_mirror::Action::parse(action).map(Handler::TrafficMirror))
        .or_else(|| classic_link::Action::parse(action).map(Handler::ClassicLink))
        .or_else(|| transit_gateway::Action::parse(action).map(Handler::TransitGateway))
        .or_else(|| volume::Action::parse(action).map(Handler::Volume))
        .or_else(|| vpc::Action::parse(action).map(Handler::Vpc))
        .or_else(|| {
            vpc_block_public_access::Action::parse(action).map(Handler::VpcBlockPublicAccess)
        })
        .or_else(|| vpc_endpoint::Action::parse(action).map(Handler::VpcEndpoint))
        .or_else(|| vpn::Action::parse(action).map(Handler::Vpn))
        .or_else(|| vpn_connection::Action::parse(action).map(Handler::VpnConnection))
}

/// Declares a module's actions: `actions!(CreateVpc, DeleteVpc, ...)` makes an `Action`
/// enum whose `parse` maps the wire name to the variant.
#[macro_export]
macro_rules! actions {
    ($($name:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(clippy::enum_variant_names)]
        pub enum Action { $($name),* }

        impl Action {
            pub const ALL: &'static [&'static str] = &[$(stringify!($name)),*];

            pub fn parse(s: &str) -> Option<Self> {
                match s { $(stringify!($name) => Some(Action::$name),)* _ => None }
            }
        }
    };
}

/// Whether Fort answers this action (no allocation: it runs on every request).
pub fn is_action(name: &str) -> bool {
    handler(name).is_some()
}

/// Every action name Fort answers, for documentation and coverage tests.
pub fn all_actions() -> Vec<&'static str> {
    [
        account::Action::ALL,
        address::Action::ALL,
        capacity_reservation::Action::ALL,
        carrier_gateway::Action::ALL,
        classic_link::Action::ALL,
        dedicated_host::Action::ALL,
        dhcp_options::Action::ALL,
        fleet::Action::ALL,
        flow_log::Action::ALL,
        iam_instance_profile::Action::ALL,
        image::Action::ALL,
        instance::Action::ALL,
        internet_gateway::Action::ALL,
        key_pair::Action::ALL,
        placement_group::Action::ALL,
        launch_template::Action::ALL,
        nat_gateway::Action::ALL,
        network_acl::Action::ALL,
        network_interface::Action::ALL,
        peering::Action::ALL,
        prefix_list::Action::ALL,
        route_table::Action::ALL,
        security_group::Action::ALL,
        snapshot::Action::ALL,
        spot::Action::ALL,
        spot_fleet::Action::ALL,
        subnet::Action::ALL,
        subnet_cidr_reservation::Action::ALL,
        tags::Action::ALL,
        traffic_mirror::Action::ALL,
        transit_gateway::Action::ALL,
        volume::Action::ALL,
        vpc::Action::ALL,
        vpc_block_public_access::Action::ALL,
        vpc_endpoint::Action::ALL,
        vpn::Action::ALL,
        vpn_connection::Action::ALL,
    ]
    .concat()
}

/// Text for a boolean as EC2 writes it.
pub fn b(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

/// A `HostnameType` parameter (`ip-name` or `resource-name`).
pub fn hostname_type(param: &str, v: &str) -> Result<fort_model::dns_name::HostnameType, ApiError> {
    v.parse()
        .map_err(|_| ApiError::bad_param(param, v, "Valid values: ip-name, resource-name."))
}

/// The body of `privateDnsNameOptions` (an instance's) or `privateDnsNameOptionsOnLaunch`
/// (a subnet's).
pub fn render_private_dns_name_options(
    w: &mut Xml,
    o: &fort_model::dns_name::PrivateDnsNameOptions,
) {
    w.leaf("hostnameType", o.hostname_type.as_str())
        .leaf(
            "enableResourceNameDnsARecord",
            b(o.enable_resource_name_dns_a_record),
        )
        .leaf(
            "enableResourceNameDnsAAAARecord",
            b(o.enable_resource_name_dns_aaaa_record),
        );
}
