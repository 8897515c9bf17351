//! Transit gateways: regional routers that join VPCs (VPC attachments, one subnet per zone)
//! and other transit gateways (peering attachments, any account or region of this Fort)
//! through route tables of their own. Each attachment is associated with at most one route
//! table of its gateway (where its packets' destinations are looked up) and propagates its
//! VPC's blocks to any number of them.
//!
//! Fort provisions at once: rows are stored in their settled state, and the actions answer
//! with the transitional one EC2 answers with (`pending`, `modifying`, `deleting`, …). A
//! deleted gateway, attachment or table stays described, `deleted`, for a while.
//!
//! Control plane: what is kept here is what the data plane will forward by. [`routes`]
//! gives a table's effective routes (static over propagated), [`vpc_route_usable`] whether
//! a VPC's route to a gateway carries traffic, and every attachment subnet has a
//! requester-managed interface where the gateway meets the VPC in that zone.

use std::collections::BTreeMap;

use fort_model::*;
use ipnet::IpNet;

use crate::region::Global;
use crate::tags::check_tags;
use crate::{Region, Tx};

/// A deleted gateway, attachment or table is still described for 2 hours.
pub const VISIBLE_AFTER_DELETE_MS: Millis = 2 * 3600 * 1000;
/// EC2's default quotas per transit gateway.
pub const ROUTE_TABLES_PER_GATEWAY: usize = 20;
pub const ATTACHMENTS_PER_GATEWAY: usize = 5000;
pub const PEERINGS_PER_GATEWAY: usize = 50;
pub const STATIC_ROUTES_PER_GATEWAY: usize = 10_000;
pub const CIDR_BLOCKS_PER_GATEWAY: usize = 5;

/// CreateTransitGateway's parameters (`Options.*` as given: `None` takes EC2's default).
#[derive(Clone, Debug, Default)]
pub struct CreateTransitGateway {
    pub description: Option<String>,
    pub amazon_side_asn: Option<i64>,
    pub auto_accept_shared_attachments: Option<bool>,
    pub default_route_table_association: Option<bool>,
    pub default_route_table_propagation: Option<bool>,
    pub vpn_ecmp_support: Option<bool>,
    pub dns_support: Option<bool>,
    pub security_group_referencing_support: Option<bool>,
    pub multicast_support: Option<bool>,
    pub cidr_blocks: Vec<String>,
    pub tags: Tags,
}

/// ModifyTransitGateway's parameters.
#[derive(Clone, Debug, Default)]
pub struct ModifyTransitGateway {
    pub id: TransitGatewayId,
    pub description: Option<String>,
    pub add_cidr_blocks: Vec<String>,
    pub remove_cidr_blocks: Vec<String>,
    pub amazon_side_asn: Option<i64>,
    pub auto_accept_shared_attachments: Option<bool>,
    pub default_route_table_association: Option<bool>,
    pub association_default_route_table_id: Option<String>,
    pub default_route_table_propagation: Option<bool>,
    pub propagation_default_route_table_id: Option<String>,
    pub vpn_ecmp_support: Option<bool>,
    pub dns_support: Option<bool>,
    pub security_group_referencing_support: Option<bool>,
}

/// The `Options` of CreateTransitGatewayVpcAttachment and ModifyTransitGatewayVpcAttachment.
#[derive(Clone, Debug, Default)]
pub struct VpcAttachmentOptionsRequest {
    pub dns_support: Option<bool>,
    pub ipv6_support: Option<bool>,
    pub appliance_mode_support: Option<bool>,
    pub security_group_referencing_support: Option<bool>,
}

/// CreateTransitGatewayVpcAttachment's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateVpcAttachment {
    pub transit_gateway_id: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub options: VpcAttachmentOptionsRequest,
    pub tags: Tags,
}

/// ModifyTransitGatewayVpcAttachment's parameters.
#[derive(Clone, Debug, Default)]
pub struct ModifyVpcAttachment {
    pub id: TransitGatewayAttachmentId,
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub options: VpcAttachmentOptionsRequest,
}

/// CreateTransitGatewayPeeringAttachment's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreatePeeringAttachment {
    pub transit_gateway_id: String,
    pub peer_transit_gateway_id: String,
    pub peer_account_id: String,
    pub peer_region: String,
    pub dynamic_routing: Option<bool>,
    pub tags: Tags,
}

/// An attachment as one side sees it: a VPC attachment, or one side of a peering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentView<'a> {
    pub id: &'a TransitGatewayAttachmentId,
    /// This side's gateway.
    pub transit_gateway_id: &'a TransitGatewayId,
    pub transit_gateway_owner_id: &'a str,
    pub resource_type: TransitGatewayAttachmentResourceType,
    /// The VPC, or the peer's transit gateway.
    pub resource_id: &'a str,
    pub resource_owner_id: &'a str,
    pub state: TransitGatewayAttachmentState,
    pub create_time: Millis,
    pub tags: &'a Tags,
}

/// One route of a transit gateway route table, as SearchTransitGatewayRoutes shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgwRoute {
    pub destination: IpNet,
    pub route_type: TransitGatewayRouteType,
    pub state: TransitGatewayRouteState,
    /// Where it goes (none for a blackhole route).
    pub attachment: Option<TransitGatewayAttachmentId>,
}

fn visible(deleted_at: Option<Millis>, now: Millis) -> bool {
    deleted_at.is_none_or(|t| now < t + VISIBLE_AFTER_DELETE_MS)
}

/// The transit gateways a Describe shows (deleted ones for a while), by id.
pub fn visible_gateways(region: &Region, now: Millis) -> impl Iterator<Item = &TransitGateway> {
    region
        .transit_gateways
        .values()
        .filter(move |g| visible(g.deleted_at, now))
}

/// The VPC attachments a Describe shows.
pub fn visible_vpc_attachments(
    region: &Region,
    now: Millis,
) -> impl Iterator<Item = &TransitGatewayVpcAttachment> {
    region
        .transit_gateway_vpc_attachments
        .values()
        .filter(move |a| visible(a.deleted_at, now))
}

/// The route tables a Describe shows.
pub fn visible_route_tables(
    region: &Region,
    now: Millis,
) -> impl Iterator<Item = &TransitGatewayRouteTable> {
    region
        .transit_gateway_route_tables
        .values()
        .filter(move |t| visible(t.deleted_at, now))
}

/// The peering attachments (`account`, `region`) is a side of (ended ones for a while).
pub fn visible_peerings<'g>(
    global: &'g Global,
    account: &'g str,
    region: &'g str,
    now: Millis,
) -> impl Iterator<Item = &'g TransitGatewayPeeringAttachment> + 'g {
    global
        .transit_gateway_peerings
        .values()
        .filter(move |p| p.side(account, region).is_some() && visible(p.ended, now))
}

fn vpc_view<'a>(region: &'a Region, a: &'a TransitGatewayVpcAttachment) -> AttachmentView<'a> {
    AttachmentView {
        id: &a.id,
        transit_gateway_id: &a.transit_gateway_id,
        transit_gateway_owner_id: &region.account,
        resource_type: TransitGatewayAttachmentResourceType::Vpc,
        resource_id: &a.vpc_id,
        resource_owner_id: &region.account,
        state: a.state,
        create_time: a.create_time,
        tags: &a.tags,
    }
}

fn peering_view<'a>(
    p: &'a TransitGatewayPeeringAttachment,
    mine: &'a PeeringTgwInfo,
    theirs: &'a PeeringTgwInfo,
) -> AttachmentView<'a> {
    AttachmentView {
        id: &p.id,
        transit_gateway_id: &mine.transit_gateway_id,
        transit_gateway_owner_id: &mine.owner_id,
        resource_type: TransitGatewayAttachmentResourceType::Peering,
        resource_id: &theirs.transit_gateway_id,
        resource_owner_id: &theirs.owner_id,
        state: p.state,
        create_time: p.create_time,
        tags: &p.tags,
    }
}

/// A VPN connection's attachment to its transit gateway: `available` while the
/// connection lives, `deleted` after.
fn vpn_view<'a>(region: &'a Region, c: &'a VpnConnection) -> Option<AttachmentView<'a>> {
    Some(AttachmentView {
        id: c.transit_gateway_attachment_id.as_ref()?,
        transit_gateway_id: c.transit_gateway_id.as_ref()?,
        transit_gateway_owner_id: &region.account,
        resource_type: TransitGatewayAttachmentResourceType::Vpn,
        resource_id: &c.id,
        resource_owner_id: &region.account,
        state: if c.is_live() {
            TransitGatewayAttachmentState::Available
        } else {
            TransitGatewayAttachmentState::Deleted
        },
        create_time: c.created,
        tags: &c.transit_gateway_attachment_tags,
    })
}

/// The VPN connection whose transit gateway attachment is `id`.
fn vpn_of<'a>(region: &'a Region, id: &str) -> Option<&'a VpnConnection> {
    region
        .vpn_connections
        .values()
        .find(|c| c.transit_gateway_attachment_id.as_deref() == Some(id))
}

/// The peering's side in this region, and the other (the requester's first when both are).
fn peering_sides<'a>(
    region: &Region,
    p: &'a TransitGatewayPeeringAttachment,
) -> Option<(&'a PeeringTgwInfo, &'a PeeringTgwInfo)> {
    let here = |s: &PeeringTgwInfo| s.owner_id == region.account && s.region == region.name;
    if here(&p.requester) {
        Some((&p.requester, &p.accepter))
    } else if here(&p.accepter) {
        Some((&p.accepter, &p.requester))
    } else {
        None
    }
}

/// Every attachment this region's account sees (deleted ones for a while), by id.
pub fn attachments<'a>(
    region: &'a Region,
    global: &'a Global,
    now: Millis,
) -> Vec<AttachmentView<'a>> {
    let mut out: Vec<AttachmentView<'a>> = visible_vpc_attachments(region, now)
        .map(|a| vpc_view(region, a))
        .collect();
    for p in visible_peerings(global, &region.account, &region.name, now) {
        if let Some((mine, theirs)) = peering_sides(region, p) {
            out.push(peering_view(p, mine, theirs));
        }
    }
    out.extend(
        region
            .vpn_connections
            .values()
            .filter(|c| visible(c.deleted, now))
            .filter_map(|c| vpn_view(region, c)),
    );
    out.sort_by(|a, b| a.id.cmp(b.id));
    out
}

/// One attachment as this region sees it, whatever its state.
pub fn attachment<'a>(
    region: &'a Region,
    global: &'a Global,
    id: &str,
) -> Option<AttachmentView<'a>> {
    if let Some(a) = region.transit_gateway_vpc_attachments.get(id) {
        return Some(vpc_view(region, a));
    }
    if let Some(c) = vpn_of(region, id) {
        return vpn_view(region, c);
    }
    let p = global.transit_gateway_peerings.get(id)?;
    let (mine, theirs) = peering_sides(region, p)?;
    Some(peering_view(p, mine, theirs))
}

/// The live route table of `tgw` an attachment is associated with, if any.
pub fn association<'a>(
    region: &'a Region,
    tgw: &str,
    attachment: &str,
) -> Option<&'a TransitGatewayRouteTable> {
    region.transit_gateway_route_tables.values().find(|t| {
        t.is_live() && t.transit_gateway_id == tgw && t.associations.iter().any(|a| a == attachment)
    })
}

/// The live route tables of `tgw` an attachment propagates to.
pub fn propagations<'a>(
    region: &'a Region,
    tgw: &'a str,
    attachment: &'a str,
) -> impl Iterator<Item = &'a TransitGatewayRouteTable> + 'a {
    region
        .transit_gateway_route_tables
        .values()
        .filter(move |t| {
            t.is_live()
                && t.transit_gateway_id == tgw
                && t.propagations.iter().any(|a| a == attachment)
        })
}

/// Whether an attachment carries traffic: it is `available`.
fn attachment_usable(region: &Region, global: &Global, id: &str) -> bool {
    attachment(region, global, id)
        .is_some_and(|a| a.state == TransitGatewayAttachmentState::Available)
}

/// The routes of a table as the gateway uses them, ordered by destination: its static
/// routes (`active` while their attachment is available, else `blackhole`), then what its
/// propagating VPC attachments propagate (each available attachment's VPC blocks, its IPv6
/// blocks too with Ipv6Support). A static route wins over a propagated one to the same
/// block, and of two attachments propagating the same block the first enabled wins.
pub fn routes(region: &Region, global: &Global, table: &TransitGatewayRouteTable) -> Vec<TgwRoute> {
    let mut out: BTreeMap<IpNet, TgwRoute> = BTreeMap::new();
    for r in &table.routes {
        let (state, attachment) = match &r.target {
            TransitGatewayRouteTarget::Blackhole => (TransitGatewayRouteState::Blackhole, None),
            TransitGatewayRouteTarget::Attachment(a) => (
                if attachment_usable(region, global, a) {
                    TransitGatewayRouteState::Active
                } else {
                    TransitGatewayRouteState::Blackhole
                },
                Some(a.clone()),
            ),
        };
        out.insert(
            r.destination,
            TgwRoute {
                destination: r.destination,
                route_type: TransitGatewayRouteType::Static,
                state,
                attachment,
            },
        );
    }
    for id in &table.propagations {
        // a VPN attachment propagates its connection's static or BGP routes
        if let Some(c) = vpn_of(region, id) {
            for d in c.propagated_routes() {
                let destination = IpNet::V4(d);
                out.entry(destination).or_insert_with(|| TgwRoute {
                    destination,
                    route_type: TransitGatewayRouteType::Propagated,
                    state: TransitGatewayRouteState::Active,
                    attachment: Some(id.clone()),
                });
            }
            continue;
        }
        let Some(a) = region.transit_gateway_vpc_attachments.get(id) else {
            continue;
        };
        if a.state != TransitGatewayAttachmentState::Available {
            continue;
        }
        let Some(vpc) = region.vpcs.get(&a.vpc_id) else {
            continue;
        };
        let v6: Vec<IpNet> = if a.options.ipv6_support {
            vpc.ipv6_cidrs().map(IpNet::V6).collect()
        } else {
            Vec::new()
        };
        for destination in vpc.cidrs().map(IpNet::V4).chain(v6) {
            out.entry(destination).or_insert_with(|| TgwRoute {
                destination,
                route_type: TransitGatewayRouteType::Propagated,
                state: TransitGatewayRouteState::Active,
                attachment: Some(a.id.clone()),
            });
        }
    }
    out.into_values().collect()
}

/// Whether a VPC route to transit gateway `id` carries traffic: the gateway has an
/// available attachment of the route's VPC.
pub fn vpc_route_usable(region: &Region, vpc_id: &str, id: &TransitGatewayId) -> bool {
    region
        .transit_gateways
        .get(id)
        .is_some_and(TransitGateway::is_live)
        && region.transit_gateway_vpc_attachments.values().any(|a| {
            a.transit_gateway_id == *id
                && a.vpc_id == vpc_id
                && a.state == TransitGatewayAttachmentState::Available
        })
}

/// The transit gateway a CreateRoute/ReplaceRoute names: one with a live attachment of the
/// table's VPC. EC2 answers a gateway the VPC is not attached to as one that does not
/// exist (routes are made once the attachment is).
pub fn vpc_route_target(
    region: &Region,
    table: &RouteTable,
    id: &str,
) -> Result<TransitGatewayId, ApiError> {
    let id = TransitGatewayId::parse(id)?;
    let attached = region
        .transit_gateways
        .get(&id)
        .is_some_and(TransitGateway::is_live)
        && region
            .transit_gateway_vpc_attachments
            .values()
            .any(|a| a.transit_gateway_id == id && a.vpc_id == table.vpc_id && a.is_live());
    if !attached {
        return Err(ApiError::new(
            ErrorCode::InvalidTransitGatewayIdNotFound,
            format!("The transitGateway ID '{id}' does not exist."),
        ));
    }
    Ok(id)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_value(message)
}

fn incorrect_state(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IncorrectState, message)
}

/// Checks a gateway's CIDR blocks: IPv4 /24 or larger, IPv6 /64 or larger, none
/// link-local, none overlapping another.
fn check_cidr_blocks(blocks: &[IpNet]) -> Result<(), ApiError> {
    if blocks.len() > CIDR_BLOCKS_PER_GATEWAY {
        return Err(invalid(format!(
            "A transit gateway can have at most {CIDR_BLOCKS_PER_GATEWAY} CIDR blocks."
        )));
    }
    let link_local_v4: IpNet = "169.254.0.0/16".parse().expect("literal");
    let link_local_v6: IpNet = "fe80::/10".parse().expect("literal");
    for (i, b) in blocks.iter().enumerate() {
        let too_small = match b {
            IpNet::V4(n) => n.prefix_len() > 24,
            IpNet::V6(n) => n.prefix_len() > 64,
        };
        if too_small {
            return Err(invalid(format!(
                "The transit gateway CIDR block {b} is too small: an IPv4 block must be /24 or larger, an IPv6 block /64 or larger."
            )));
        }
        if [link_local_v4, link_local_v6]
            .iter()
            .any(|l| l.contains(&b.network()) || b.contains(&l.network()))
        {
            return Err(invalid(format!(
                "The transit gateway CIDR block {b} overlaps the link-local range."
            )));
        }
        if blocks[..i]
            .iter()
            .any(|o| o.contains(&b.network()) || b.contains(&o.network()))
        {
            return Err(invalid(format!(
                "The transit gateway CIDR block {b} overlaps another of its blocks."
            )));
        }
    }
    Ok(())
}

fn parse_block(text: &str) -> Result<IpNet, ApiError> {
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| invalid(format!("The CIDR block {text} is not valid.")))
}

fn parse_asn(asn: i64) -> Result<u32, ApiError> {
    u32::try_from(asn)
        .ok()
        .filter(|_| is_private_asn(asn))
        .ok_or_else(|| {
            invalid(format!(
                "The amazonSideAsn {asn} is not valid: it must be a private ASN, 64512 to 65534 or 4200000000 to 4294967294."
            ))
        })
}

impl Tx<'_> {
    /// A gateway of this region that is not deleted, or NotFound.
    pub(crate) fn live_gateway(&self, id: &str) -> Result<TransitGateway, ApiError> {
        let g = self
            .region
            .transit_gateways
            .find(Kind::TransitGateway, id)?;
        if !g.is_live() {
            return Err(Kind::TransitGateway.not_found(id));
        }
        Ok(g.clone())
    }

    /// A route table of this region that is not deleted, or NotFound.
    fn live_route_table(&self, id: &str) -> Result<TransitGatewayRouteTable, ApiError> {
        let t = self
            .region
            .transit_gateway_route_tables
            .find(Kind::TransitGatewayRouteTable, id)?;
        if !t.is_live() {
            return Err(Kind::TransitGatewayRouteTable.not_found(id));
        }
        Ok(t.clone())
    }

    /// A VPC attachment that is not deleted, or NotFound.
    fn live_vpc_attachment(&self, id: &str) -> Result<TransitGatewayVpcAttachment, ApiError> {
        Kind::TransitGatewayAttachment.check(id)?;
        self.region
            .transit_gateway_vpc_attachments
            .get(id)
            .filter(|a| a.is_live())
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidTransitGatewayAttachmentIdNotFound,
                    format!("Transit Gateway VPC Attachment {id} was deleted or does not exist."),
                )
            })
    }

    /// An attachment of `tgw` (a VPC's or a peering's side) that is not deleted.
    fn live_attachment_of(
        &self,
        tgw: &TransitGatewayId,
        id: &str,
    ) -> Result<AttachmentView<'_>, ApiError> {
        Kind::TransitGatewayAttachment.check(id)?;
        let a = attachment(self.region, self.global, id)
            .filter(|a| !a.state.is_ended())
            .ok_or_else(|| Kind::TransitGatewayAttachment.not_found(id))?;
        if a.transit_gateway_id != tgw {
            // a peering between two gateways of this region: the other side's view
            if let Some(p) = self.global.transit_gateway_peerings.get(id)
                && let Some((mine, theirs)) = p.sides_of(tgw)
                && mine.owner_id == self.region.account
                && mine.region == self.region.name
            {
                return Ok(peering_view(p, mine, theirs));
            }
            return Err(invalid(format!(
                "Transit Gateway Attachment {id} does not belong to transit gateway {tgw}."
            )));
        }
        Ok(a)
    }

    /// CreateTransitGateway: the gateway and, when it associates or propagates by default,
    /// its default route table.
    pub fn create_transit_gateway(
        &mut self,
        req: CreateTransitGateway,
    ) -> Result<TransitGateway, ApiError> {
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let amazon_side_asn = match req.amazon_side_asn {
            Some(asn) => parse_asn(asn)?,
            None => DEFAULT_AMAZON_SIDE_ASN,
        };
        let cidr_blocks = req
            .cidr_blocks
            .iter()
            .map(|c| parse_block(c))
            .collect::<Result<Vec<_>, _>>()?;
        check_cidr_blocks(&cidr_blocks)?;
        let quota = self.config.quotas.transit_gateways;
        let live = self
            .region
            .transit_gateways
            .values()
            .filter(|g| g.is_live())
            .count();
        if live >= quota {
            return Err(ApiError::new(
                ErrorCode::TransitGatewayLimitExceeded,
                format!("The maximum number of transit gateways has been reached ({quota})."),
            ));
        }
        let association = req.default_route_table_association.unwrap_or(true);
        let propagation = req.default_route_table_propagation.unwrap_or(true);
        let mut g = TransitGateway {
            id: TransitGatewayId::new(),
            description: req.description,
            state: TransitGatewayState::Available,
            options: TransitGatewayOptions {
                amazon_side_asn,
                auto_accept_shared_attachments: req.auto_accept_shared_attachments.unwrap_or(false),
                default_route_table_association: association,
                default_route_table_propagation: propagation,
                association_default_route_table_id: None,
                propagation_default_route_table_id: None,
                vpn_ecmp_support: req.vpn_ecmp_support.unwrap_or(true),
                dns_support: req.dns_support.unwrap_or(true),
                security_group_referencing_support: req
                    .security_group_referencing_support
                    .unwrap_or(false),
                multicast_support: req.multicast_support.unwrap_or(false),
                cidr_blocks,
            },
            create_time: self.now,
            deleted_at: None,
            tags: req.tags,
        };
        // EC2 makes no default table when the gateway neither associates nor propagates
        if association || propagation {
            let table = self.insert_route_table(&g.id, Tags::new());
            g.options.association_default_route_table_id = Some(table.clone());
            g.options.propagation_default_route_table_id = Some(table);
        }
        self.region.transit_gateways.insert(g.clone());
        Ok(g)
    }

    fn insert_route_table(
        &mut self,
        tgw: &TransitGatewayId,
        tags: Tags,
    ) -> TransitGatewayRouteTableId {
        let id = TransitGatewayRouteTableId::new();
        self.region
            .transit_gateway_route_tables
            .insert(TransitGatewayRouteTable {
                id: id.clone(),
                transit_gateway_id: tgw.clone(),
                state: TransitGatewayRouteTableState::Available,
                routes: Vec::new(),
                associations: Vec::new(),
                propagations: Vec::new(),
                create_time: self.now,
                deleted_at: None,
                tags,
            });
        id
    }

    /// A live route table of `tgw` that a default may name.
    fn default_table(
        &self,
        tgw: &TransitGatewayId,
        id: &str,
    ) -> Result<TransitGatewayRouteTableId, ApiError> {
        let t = self.live_route_table(id)?;
        if t.transit_gateway_id != *tgw {
            return Err(invalid(format!(
                "Transit Gateway Route Table {id} does not belong to transit gateway {tgw}."
            )));
        }
        Ok(t.id)
    }

    /// ModifyTransitGateway: options apply to attachments made from now on.
    pub fn modify_transit_gateway(
        &mut self,
        req: ModifyTransitGateway,
    ) -> Result<TransitGateway, ApiError> {
        let mut g = self.live_gateway(&req.id)?;
        if let Some(d) = req.description {
            g.description = Some(d);
        }
        if let Some(asn) = req.amazon_side_asn {
            g.options.amazon_side_asn = parse_asn(asn)?;
        }
        let o = &mut g.options;
        for (field, v) in [
            (
                &mut o.auto_accept_shared_attachments,
                req.auto_accept_shared_attachments,
            ),
            (&mut o.vpn_ecmp_support, req.vpn_ecmp_support),
            (&mut o.dns_support, req.dns_support),
            (
                &mut o.security_group_referencing_support,
                req.security_group_referencing_support,
            ),
        ] {
            if let Some(v) = v {
                *field = v;
            }
        }
        if let Some(id) = &req.association_default_route_table_id {
            g.options.association_default_route_table_id = Some(self.default_table(&g.id, id)?);
        }
        if let Some(id) = &req.propagation_default_route_table_id {
            g.options.propagation_default_route_table_id = Some(self.default_table(&g.id, id)?);
        }
        if let Some(on) = req.default_route_table_association {
            if on && g.options.association_default_route_table_id.is_none() {
                return Err(invalid(
                    "enable DefaultRouteTableAssociation conflicts with AssociationDefaultRouteTableId null",
                ));
            }
            g.options.default_route_table_association = on;
        }
        if let Some(on) = req.default_route_table_propagation {
            if on && g.options.propagation_default_route_table_id.is_none() {
                return Err(invalid(
                    "enable DefaultRouteTablePropagation conflicts with PropagationDefaultRouteTableId null",
                ));
            }
            g.options.default_route_table_propagation = on;
        }
        if !req.add_cidr_blocks.is_empty() || !req.remove_cidr_blocks.is_empty() {
            let mut blocks = g.options.cidr_blocks.clone();
            for c in &req.remove_cidr_blocks {
                let b = parse_block(c)?;
                blocks.retain(|x| *x != b);
            }
            for c in &req.add_cidr_blocks {
                let b = parse_block(c)?;
                if !blocks.contains(&b) {
                    blocks.push(b);
                }
            }
            check_cidr_blocks(&blocks)?;
            g.options.cidr_blocks = blocks;
        }
        self.region.transit_gateways.insert(g.clone());
        Ok(g)
    }

    /// DeleteTransitGateway: refused while it has attachments; its route tables go with it.
    pub fn delete_transit_gateway(&mut self, id: &str) -> Result<TransitGateway, ApiError> {
        let mut g = self.live_gateway(id)?;
        let vpcs: Vec<String> = self
            .region
            .transit_gateway_vpc_attachments
            .values()
            .filter(|a| a.transit_gateway_id == g.id && a.is_live())
            .map(|a| a.id.to_string())
            .chain(
                self.region
                    .vpn_connections
                    .values()
                    .filter(|c| c.is_live() && c.ends_at(&g.id))
                    .filter_map(|c| c.transit_gateway_attachment_id.as_ref())
                    .map(ToString::to_string),
            )
            .collect();
        if !vpcs.is_empty() {
            return Err(incorrect_state(format!(
                "{id} has non-deleted Transit Gateway Attachments: {}.",
                vpcs.join(", ")
            )));
        }
        let peerings: Vec<String> = self
            .global
            .transit_gateway_peerings
            .values()
            .filter(|p| p.is_live() && p.sides_of(&g.id).is_some())
            .map(|p| p.id.to_string())
            .collect();
        if !peerings.is_empty() {
            return Err(incorrect_state(format!(
                "{id} has non-deleted Transit Gateway Cross Region Peering Attachments: {}.",
                peerings.join(", ")
            )));
        }
        for t in self
            .region
            .transit_gateway_route_tables
            .ids_where(|t| t.transit_gateway_id == g.id && t.is_live())
        {
            self.end_route_table(&t);
        }
        g.state = TransitGatewayState::Deleted;
        g.deleted_at = Some(self.now);
        self.region.transit_gateways.insert(g.clone());
        Ok(g)
    }

    fn end_route_table(&mut self, id: &TransitGatewayRouteTableId) {
        let now = self.now;
        if let Some(t) = self.region.transit_gateway_route_tables.get_mut(id) {
            t.state = TransitGatewayRouteTableState::Deleted;
            t.deleted_at = Some(now);
            t.associations.clear();
            t.propagations.clear();
        }
    }

    /// The subnets of a VPC attachment, checked: each a subnet of the VPC, none named
    /// twice, at most one per availability zone (counting `kept`, those it already has).
    fn attachment_subnets(
        &self,
        vpc_id: &VpcId,
        ids: &[String],
        kept: &[SubnetId],
    ) -> Result<Vec<Subnet>, ApiError> {
        let mut zones: Vec<String> = kept
            .iter()
            .filter_map(|s| self.region.subnets.get(s))
            .map(|s| s.availability_zone.clone())
            .collect();
        let mut out: Vec<Subnet> = Vec::new();
        for id in ids {
            let s = self.region.subnets.find(Kind::Subnet, id)?;
            if s.vpc_id != *vpc_id {
                return Err(invalid(format!(
                    "The subnet {id} does not belong to the VPC {vpc_id}."
                )));
            }
            if kept.contains(&s.id) || out.iter().any(|o| o.id == s.id) {
                continue;
            }
            if zones.contains(&s.availability_zone) {
                return Err(ApiError::new(
                    ErrorCode::DuplicateSubnetsInSameZone,
                    "Duplicate Subnets for same AZ",
                ));
            }
            zones.push(s.availability_zone.clone());
            out.push(s.clone());
        }
        Ok(out)
    }

    /// The transit gateway's interface in each subnet (requester-managed, no groups).
    fn attach_subnets(
        &mut self,
        attachment: &mut TransitGatewayVpcAttachment,
        subnets: &[Subnet],
    ) -> Result<(), ApiError> {
        for s in subnets {
            let ip =
                crate::network_interface::SubnetAddresses::of(self.region, s)?.take_n(1, &s.id)?[0];
            let eni = self.insert_interface(
                s,
                Some(ip),
                Vec::new(),
                Vec::new(),
                format!(
                    "Network Interface for Transit Gateway Attachment {}",
                    attachment.id
                ),
                "transit_gateway",
                true,
                Tags::new(),
            )?;
            attachment.subnets.push(AttachmentSubnet {
                subnet_id: s.id.clone(),
                network_interface_id: eni.id,
            });
        }
        self.attachment_ipv6(attachment)
    }

    /// With IPv6 support the gateway's interface in each subnet has an IPv6 address of
    /// the subnet's block (EC2: "the transit gateway network interface receives an IPv6
    /// address"); without, none.
    fn attachment_ipv6(&mut self, a: &TransitGatewayVpcAttachment) -> Result<(), ApiError> {
        for s in &a.subnets {
            let Some(eni) = self.region.network_interfaces.get(&s.network_interface_id) else {
                continue;
            };
            let v6 = if !a.options.ipv6_support {
                Vec::new()
            } else if eni.ipv6_addresses.is_empty() {
                match self.region.subnets.get(&s.subnet_id) {
                    Some(subnet) if subnet.ipv6_cidr().is_some() => vec![
                        crate::network_interface::SubnetIpv6Addresses::of(self.region, subnet)
                            .take()?,
                    ],
                    _ => Vec::new(),
                }
            } else {
                continue;
            };
            if let Some(row) = self
                .region
                .network_interfaces
                .get_mut(&s.network_interface_id)
            {
                row.ipv6_addresses = v6;
            }
        }
        Ok(())
    }

    fn detach_subnets(
        &mut self,
        attachment: &mut TransitGatewayVpcAttachment,
        subnets: &[SubnetId],
    ) {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut attachment.subnets)
            .into_iter()
            .partition(|s| subnets.contains(&s.subnet_id));
        for s in gone {
            self.drop_flow_logs_of(&s.network_interface_id);
            self.region
                .network_interfaces
                .remove(&s.network_interface_id);
        }
        attachment.subnets = kept;
    }

    fn check_ipv6_support(&self, vpc_id: &VpcId, subnets: &[SubnetId]) -> Result<(), ApiError> {
        let vpc = self.region.vpcs.lookup(vpc_id)?;
        if vpc.ipv6_cidrs().next().is_none() {
            return Err(invalid(format!(
                "IPv6 support cannot be enabled: the VPC {vpc_id} has no IPv6 CIDR block."
            )));
        }
        for s in subnets {
            if self
                .region
                .subnets
                .get(s)
                .is_some_and(|x| x.ipv6_cidr().is_none())
            {
                return Err(invalid(format!(
                    "IPv6 support cannot be enabled: the subnet {s} has no IPv6 CIDR block."
                )));
            }
        }
        Ok(())
    }

    /// CreateTransitGatewayVpcAttachment: the VPC joins the gateway through one subnet per
    /// zone, associated with and propagating to the gateway's default tables as it says.
    pub fn create_transit_gateway_vpc_attachment(
        &mut self,
        req: CreateVpcAttachment,
    ) -> Result<TransitGatewayVpcAttachment, ApiError> {
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let g = self.live_gateway(&req.transit_gateway_id)?;
        let vpc = self.region.vpcs.find(Kind::Vpc, &req.vpc_id)?.clone();
        if req.subnet_ids.is_empty() {
            return Err(ApiError::missing("SubnetIds"));
        }
        let live = || {
            self.region
                .transit_gateway_vpc_attachments
                .values()
                .filter(|a| a.transit_gateway_id == g.id && a.is_live())
        };
        if live().any(|a| a.vpc_id == vpc.id) {
            return Err(ApiError::new(
                ErrorCode::DuplicateTransitGatewayAttachment,
                format!(
                    "{} has non-deleted Transit Gateway Attachments with same VPC ID.",
                    g.id
                ),
            ));
        }
        if live().count() >= ATTACHMENTS_PER_GATEWAY {
            return Err(ApiError::new(
                ErrorCode::TransitGatewayLimitExceeded,
                format!(
                    "The maximum number of attachments per transit gateway has been reached ({ATTACHMENTS_PER_GATEWAY})."
                ),
            ));
        }
        let subnets = self.attachment_subnets(&vpc.id, &req.subnet_ids, &[])?;
        let defaults = VpcAttachmentOptions::default();
        let o = &req.options;
        let options = VpcAttachmentOptions {
            dns_support: o.dns_support.unwrap_or(defaults.dns_support),
            ipv6_support: o.ipv6_support.unwrap_or(defaults.ipv6_support),
            appliance_mode_support: o
                .appliance_mode_support
                .unwrap_or(defaults.appliance_mode_support),
            security_group_referencing_support: o
                .security_group_referencing_support
                .unwrap_or(g.options.security_group_referencing_support),
        };
        if options.ipv6_support {
            let ids: Vec<SubnetId> = subnets.iter().map(|s| s.id.clone()).collect();
            self.check_ipv6_support(&vpc.id, &ids)?;
        }
        let mut a = TransitGatewayVpcAttachment {
            id: TransitGatewayAttachmentId::new(),
            transit_gateway_id: g.id.clone(),
            vpc_id: vpc.id.clone(),
            state: TransitGatewayAttachmentState::Available,
            subnets: Vec::new(),
            options,
            create_time: self.now,
            deleted_at: None,
            tags: req.tags,
        };
        self.attach_subnets(&mut a, &subnets)?;
        self.attach_to_default_tables(&g, &a.id);
        self.region
            .transit_gateway_vpc_attachments
            .insert(a.clone());
        Ok(a)
    }

    /// A new attachment of `g` (a VPC's or a VPN connection's) is associated with its
    /// default association table and propagates to its default propagation table, when
    /// the gateway's options say so.
    pub(crate) fn attach_to_default_tables(
        &mut self,
        g: &TransitGateway,
        id: &TransitGatewayAttachmentId,
    ) {
        if g.options.default_route_table_association
            && let Some(t) = &g.options.association_default_route_table_id
            && let Some(t) = self.region.transit_gateway_route_tables.get_mut(t)
            && t.is_live()
        {
            t.associations.push(id.clone());
        }
        if g.options.default_route_table_propagation
            && let Some(t) = &g.options.propagation_default_route_table_id
            && let Some(t) = self.region.transit_gateway_route_tables.get_mut(t)
            && t.is_live()
        {
            t.propagations.push(id.clone());
        }
    }

    /// ModifyTransitGatewayVpcAttachment: subnets added and removed (one per zone, at least
    /// one kept), options changed.
    pub fn modify_transit_gateway_vpc_attachment(
        &mut self,
        req: ModifyVpcAttachment,
    ) -> Result<TransitGatewayVpcAttachment, ApiError> {
        let mut a = self.live_vpc_attachment(&req.id)?;
        let mut remove = Vec::new();
        for id in &req.remove_subnet_ids {
            let s = SubnetId::parse(id)?;
            if !a.subnet_ids().any(|x| *x == s) {
                return Err(invalid(format!(
                    "The subnet {s} is not a subnet of the attachment {}.",
                    a.id
                )));
            }
            remove.push(s);
        }
        let kept: Vec<SubnetId> = a
            .subnet_ids()
            .filter(|s| !remove.contains(s))
            .cloned()
            .collect();
        let added = self.attachment_subnets(&a.vpc_id, &req.add_subnet_ids, &kept)?;
        if kept.is_empty() && added.is_empty() {
            return Err(invalid(format!(
                "The attachment {} must keep at least one subnet.",
                a.id
            )));
        }
        let o = &req.options;
        if let Some(v) = o.dns_support {
            a.options.dns_support = v;
        }
        if let Some(v) = o.appliance_mode_support {
            a.options.appliance_mode_support = v;
        }
        if let Some(v) = o.security_group_referencing_support {
            a.options.security_group_referencing_support = v;
        }
        if let Some(v) = o.ipv6_support {
            a.options.ipv6_support = v;
        }
        if a.options.ipv6_support {
            let all: Vec<SubnetId> = kept
                .iter()
                .cloned()
                .chain(added.iter().map(|s| s.id.clone()))
                .collect();
            self.check_ipv6_support(&a.vpc_id, &all)?;
        }
        self.detach_subnets(&mut a, &remove);
        // (and the kept interfaces' IPv6 addresses follow the option)
        self.attach_subnets(&mut a, &added)?;
        self.region
            .transit_gateway_vpc_attachments
            .insert(a.clone());
        Ok(a)
    }

    /// Removes an attachment from every association and propagation of this region.
    pub(crate) fn unlink_attachment(&mut self, id: &TransitGatewayAttachmentId) {
        for t in self
            .region
            .transit_gateway_route_tables
            .ids_where(|t| t.associations.contains(id) || t.propagations.contains(id))
        {
            if let Some(t) = self.region.transit_gateway_route_tables.get_mut(&t) {
                t.associations.retain(|a| a != id);
                t.propagations.retain(|a| a != id);
            }
        }
    }

    /// DeleteTransitGatewayVpcAttachment: its interfaces, association and propagations go
    /// (the deleted attachment still names its subnets, as EC2 shows it); static routes to
    /// it stay, as blackholes.
    pub fn delete_transit_gateway_vpc_attachment(
        &mut self,
        id: &str,
    ) -> Result<TransitGatewayVpcAttachment, ApiError> {
        let mut a = self.live_vpc_attachment(id)?;
        for s in &a.subnets {
            self.drop_flow_logs_of(&s.network_interface_id);
            self.region
                .network_interfaces
                .remove(&s.network_interface_id);
        }
        self.unlink_attachment(&a.id);
        a.state = TransitGatewayAttachmentState::Deleted;
        a.deleted_at = Some(self.now);
        self.region
            .transit_gateway_vpc_attachments
            .insert(a.clone());
        Ok(a)
    }

    /// Accept/RejectTransitGatewayVpcAttachment: only an attachment to a gateway shared by
    /// another account waits for acceptance, and Fort shares none.
    pub fn accept_or_reject_vpc_attachment(
        &self,
        id: &str,
    ) -> Result<TransitGatewayVpcAttachment, ApiError> {
        let a = self.live_vpc_attachment(id)?;
        Err(incorrect_state(format!(
            "Transit Gateway VPC Attachment {} is in state {}: only an attachment in state pendingAcceptance can be accepted or rejected.",
            a.id, a.state
        )))
    }

    /// CreateTransitGatewayRouteTable.
    pub fn create_transit_gateway_route_table(
        &mut self,
        tgw: &str,
        tags: Tags,
    ) -> Result<TransitGatewayRouteTable, ApiError> {
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let g = self.live_gateway(tgw)?;
        let count = self
            .region
            .transit_gateway_route_tables
            .values()
            .filter(|t| t.transit_gateway_id == g.id && t.is_live())
            .count();
        if count >= ROUTE_TABLES_PER_GATEWAY {
            return Err(ApiError::new(
                ErrorCode::TransitGatewayLimitExceeded,
                format!(
                    "The maximum number of route tables per transit gateway has been reached ({ROUTE_TABLES_PER_GATEWAY})."
                ),
            ));
        }
        let id = self.insert_route_table(&g.id, tags);
        Ok(self
            .region
            .transit_gateway_route_tables
            .get(&id)
            .expect("inserted above")
            .clone())
    }

    /// DeleteTransitGatewayRouteTable: refused while attachments are associated with it;
    /// its propagations go with it, and a gateway whose default it was has none after.
    pub fn delete_transit_gateway_route_table(
        &mut self,
        id: &str,
    ) -> Result<TransitGatewayRouteTable, ApiError> {
        let t = self.live_route_table(id)?;
        let associated: Vec<&str> = t
            .associations
            .iter()
            .filter(|a| {
                attachment(self.region, self.global, a).is_some_and(|v| !v.state.is_ended())
            })
            .map(|a| a.as_str())
            .collect();
        if !associated.is_empty() {
            return Err(incorrect_state(format!(
                "Transit Gateway Route Table {id} has non-deleted associations: {}.",
                associated.join(", ")
            )));
        }
        if let Some(g) = self.region.transit_gateways.get_mut(&t.transit_gateway_id) {
            let o = &mut g.options;
            if o.association_default_route_table_id.as_ref() == Some(&t.id) {
                o.association_default_route_table_id = None;
                o.default_route_table_association = false;
            }
            if o.propagation_default_route_table_id.as_ref() == Some(&t.id) {
                o.propagation_default_route_table_id = None;
                o.default_route_table_propagation = false;
            }
        }
        self.end_route_table(&t.id);
        Ok(self
            .region
            .transit_gateway_route_tables
            .get(&t.id)
            .expect("kept as deleted")
            .clone())
    }

    /// AssociateTransitGatewayRouteTable: an attachment has at most one table.
    pub fn associate_transit_gateway_route_table(
        &mut self,
        table: &str,
        attachment_id: &str,
    ) -> Result<(TransitGatewayRouteTableId, TransitGatewayAttachmentId), ApiError> {
        let t = self.live_route_table(table)?;
        let a = self.live_attachment_of(&t.transit_gateway_id, attachment_id)?;
        let a_id = a.id.clone();
        if association(self.region, &t.transit_gateway_id, &a_id).is_some() {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "Transit Gateway Attachment {a_id} is already associated to a route table."
                ),
            ));
        }
        self.found_route_table(&t.id)
            .associations
            .push(a_id.clone());
        Ok((t.id, a_id))
    }

    /// A route table this change has already found live.
    fn found_route_table(
        &mut self,
        id: &TransitGatewayRouteTableId,
    ) -> &mut TransitGatewayRouteTable {
        self.region
            .transit_gateway_route_tables
            .get_mut(id)
            .expect("found above")
    }

    /// DisassociateTransitGatewayRouteTable.
    pub fn disassociate_transit_gateway_route_table(
        &mut self,
        table: &str,
        attachment_id: &str,
    ) -> Result<(TransitGatewayRouteTableId, TransitGatewayAttachmentId), ApiError> {
        let t = self.live_route_table(table)?;
        let a_id = self
            .live_attachment_of(&t.transit_gateway_id, attachment_id)?
            .id
            .clone();
        if !t.associations.contains(&a_id) {
            return Err(ApiError::new(
                ErrorCode::InvalidAssociationNotFound,
                format!(
                    "Association {a_id} not found in Transit Gateway Route Table {}.",
                    t.id
                ),
            ));
        }
        self.found_route_table(&t.id)
            .associations
            .retain(|x| *x != a_id);
        Ok((t.id, a_id))
    }

    /// EnableTransitGatewayRouteTablePropagation: only VPC attachments propagate routes
    /// (routes over a peering are static).
    pub fn enable_transit_gateway_route_table_propagation(
        &mut self,
        table: &str,
        attachment_id: &str,
    ) -> Result<(TransitGatewayRouteTableId, TransitGatewayAttachmentId), ApiError> {
        let t = self.live_route_table(table)?;
        let a = self.live_attachment_of(&t.transit_gateway_id, attachment_id)?;
        if a.resource_type == TransitGatewayAttachmentResourceType::Peering {
            return Err(invalid(format!(
                "Route propagation is not supported for peering attachment {}: add static routes instead.",
                a.id
            )));
        }
        let a_id = a.id.clone();
        if t.propagations.contains(&a_id) {
            return Err(ApiError::new(
                ErrorCode::TransitGatewayRouteTablePropagationDuplicate,
                format!(
                    "Propagation {a_id} already exists in Transit Gateway Route Table {}.",
                    t.id
                ),
            ));
        }
        self.found_route_table(&t.id)
            .propagations
            .push(a_id.clone());
        Ok((t.id, a_id))
    }

    /// DisableTransitGatewayRouteTablePropagation.
    pub fn disable_transit_gateway_route_table_propagation(
        &mut self,
        table: &str,
        attachment_id: &str,
    ) -> Result<(TransitGatewayRouteTableId, TransitGatewayAttachmentId), ApiError> {
        let t = self.live_route_table(table)?;
        let a_id = self
            .live_attachment_of(&t.transit_gateway_id, attachment_id)?
            .id
            .clone();
        if !t.propagations.contains(&a_id) {
            return Err(ApiError::new(
                ErrorCode::TransitGatewayRouteTablePropagationNotFound,
                format!(
                    "Propagation {a_id} does not exist in Transit Gateway Route Table {}.",
                    t.id
                ),
            ));
        }
        self.found_route_table(&t.id)
            .propagations
            .retain(|x| *x != a_id);
        Ok((t.id, a_id))
    }

    /// The target of a Create/ReplaceTransitGatewayRoute: an attachment of the table's
    /// gateway, or a blackhole (never both, never neither).
    fn static_target(
        &self,
        t: &TransitGatewayRouteTable,
        attachment_id: Option<&str>,
        blackhole: bool,
    ) -> Result<TransitGatewayRouteTarget, ApiError> {
        match (attachment_id, blackhole) {
            (Some(_), true) => Err(ApiError::combination(
                "Blackhole and TransitGatewayAttachmentId cannot both be specified.",
            )),
            (None, false) => Err(ApiError::missing("TransitGatewayAttachmentId")),
            (None, true) => Ok(TransitGatewayRouteTarget::Blackhole),
            (Some(id), false) => Ok(TransitGatewayRouteTarget::Attachment(
                self.live_attachment_of(&t.transit_gateway_id, id)?
                    .id
                    .clone(),
            )),
        }
    }

    /// CreateTransitGatewayRoute: a static (or blackhole) route to a block not yet routed
    /// statically (a propagated route to the same block gives way to it).
    pub fn create_transit_gateway_route(
        &mut self,
        table: &str,
        destination: &str,
        attachment_id: Option<&str>,
        blackhole: bool,
    ) -> Result<(TransitGatewayRouteTableId, IpNet), ApiError> {
        let t = self.live_route_table(table)?;
        let destination = parse_block(destination)?;
        let target = self.static_target(&t, attachment_id, blackhole)?;
        if t.routes.iter().any(|r| r.destination == destination) {
            return Err(ApiError::new(
                ErrorCode::RouteAlreadyExists,
                format!(
                    "Route {destination} already exists in Transit Gateway Route Table {}.",
                    t.id
                ),
            ));
        }
        let count: usize = self
            .region
            .transit_gateway_route_tables
            .values()
            .filter(|x| x.transit_gateway_id == t.transit_gateway_id && x.is_live())
            .map(|x| x.routes.len())
            .sum();
        if count >= STATIC_ROUTES_PER_GATEWAY {
            return Err(ApiError::new(
                ErrorCode::RouteLimitExceeded,
                format!(
                    "The maximum number of static routes per transit gateway has been reached ({STATIC_ROUTES_PER_GATEWAY})."
                ),
            ));
        }
        let row = self
            .region
            .transit_gateway_route_tables
            .get_mut(&t.id)
            .expect("found above");
        row.routes.push(TransitGatewayStaticRoute {
            destination,
            target,
        });
        row.routes.sort_by_key(|a| a.destination);
        Ok((t.id, destination))
    }

    /// ReplaceTransitGatewayRoute: a new target for a static route (or a static route over
    /// a propagated one).
    pub fn replace_transit_gateway_route(
        &mut self,
        table: &str,
        destination: &str,
        attachment_id: Option<&str>,
        blackhole: bool,
    ) -> Result<(TransitGatewayRouteTableId, IpNet), ApiError> {
        let t = self.live_route_table(table)?;
        let destination = parse_block(destination)?;
        let target = self.static_target(&t, attachment_id, blackhole)?;
        let routed = routes(self.region, self.global, &t)
            .iter()
            .any(|r| r.destination == destination);
        if !routed {
            return Err(no_route(&t.id, destination));
        }
        let row = self
            .region
            .transit_gateway_route_tables
            .get_mut(&t.id)
            .expect("found above");
        row.routes.retain(|r| r.destination != destination);
        row.routes.push(TransitGatewayStaticRoute {
            destination,
            target,
        });
        row.routes.sort_by_key(|a| a.destination);
        Ok((t.id, destination))
    }

    /// DeleteTransitGatewayRoute: static routes only (a propagated route goes when its
    /// propagation does). Gives the route as it was.
    pub fn delete_transit_gateway_route(
        &mut self,
        table: &str,
        destination: &str,
    ) -> Result<TgwRoute, ApiError> {
        let t = self.live_route_table(table)?;
        let destination = parse_block(destination)?;
        let before = routes(self.region, self.global, &t)
            .into_iter()
            .find(|r| {
                r.destination == destination && r.route_type == TransitGatewayRouteType::Static
            })
            .ok_or_else(|| no_route(&t.id, destination))?;
        self.found_route_table(&t.id)
            .routes
            .retain(|r| r.destination != destination);
        Ok(before)
    }

    /// CreateTransitGatewayPeeringAttachment: a request from one of this region's gateways
    /// to another gateway (any account, any region), which its owner accepts or rejects.
    pub fn create_transit_gateway_peering_attachment(
        &mut self,
        req: CreatePeeringAttachment,
    ) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let g = self.live_gateway(&req.transit_gateway_id)?;
        let peer_id = TransitGatewayId::parse(&req.peer_transit_gateway_id)?;
        let here = (self.region.account.clone(), self.region.name.clone());
        let peer_key = (req.peer_account_id.clone(), req.peer_region.clone());
        let peer = if peer_key == here {
            self.region.transit_gateways.get(&peer_id)
        } else {
            self.others
                .get(&peer_key)
                .and_then(|r| r.transit_gateways.get(&peer_id))
        };
        if !peer.is_some_and(TransitGateway::is_live) {
            return Err(Kind::TransitGateway.not_found(&peer_id));
        }
        if peer_id == g.id {
            return Err(invalid(format!(
                "The transit gateway {} cannot be peered with itself.",
                g.id
            )));
        }
        let live = || {
            self.global
                .transit_gateway_peerings
                .values()
                .filter(|p| p.is_live())
        };
        if live().any(|p| {
            p.sides_of(&g.id)
                .is_some_and(|(_, o)| o.transit_gateway_id == peer_id)
        }) {
            return Err(ApiError::new(
                ErrorCode::DuplicateTransitGatewayAttachment,
                format!(
                    "{} has a non-deleted peering attachment with {peer_id}.",
                    g.id
                ),
            ));
        }
        for tgw in [&g.id, &peer_id] {
            if live().filter(|p| p.sides_of(tgw).is_some()).count() >= PEERINGS_PER_GATEWAY {
                return Err(ApiError::new(
                    ErrorCode::TransitGatewayLimitExceeded,
                    format!(
                        "The maximum number of peering attachments of {tgw} has been reached ({PEERINGS_PER_GATEWAY})."
                    ),
                ));
            }
        }
        let p = TransitGatewayPeeringAttachment {
            id: TransitGatewayAttachmentId::new(),
            requester: PeeringTgwInfo {
                transit_gateway_id: g.id.clone(),
                owner_id: here.0,
                region: here.1,
            },
            accepter: PeeringTgwInfo {
                transit_gateway_id: peer_id,
                owner_id: req.peer_account_id.clone(),
                region: req.peer_region,
            },
            state: TransitGatewayAttachmentState::PendingAcceptance,
            status_message: format!("Pending Acceptance by {}", req.peer_account_id),
            dynamic_routing: req.dynamic_routing,
            create_time: self.now,
            ended: None,
            tags: req.tags,
        };
        self.global.transit_gateway_peerings.insert(p.clone());
        Ok(p)
    }

    /// A peering attachment this side can see, or NotFound.
    fn tgw_peering(&self, id: &str) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        Kind::TransitGatewayAttachment.check(id)?;
        visible_peerings(
            self.global,
            &self.region.account,
            &self.region.name,
            self.now,
        )
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidTransitGatewayAttachmentIdNotFound,
                format!("Transit Gateway Peering Attachment {id} was deleted or does not exist."),
            )
        })
    }

    /// Only the accepter's owner, in the accepter's region, accepts or rejects a pending
    /// request (EC2 answers the requester with InvalidParameterValue).
    fn pending_for_accepter(
        &self,
        id: &str,
        what: &str,
    ) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        let p = self.tgw_peering(id)?;
        // the side that sees it and is not the accepter is the requester
        if p.accepter.owner_id != self.region.account || p.accepter.region != self.region.name {
            return Err(invalid(format!(
                "Cannot {what} {id} as the source of the peering request."
            )));
        }
        if p.state != TransitGatewayAttachmentState::PendingAcceptance {
            return Err(incorrect_state(format!(
                "Transit Gateway Peering Attachment {id} is in state {}: only a pendingAcceptance attachment can be {what}ed.",
                p.state
            )));
        }
        Ok(p)
    }

    /// AcceptTransitGatewayPeeringAttachment.
    pub fn accept_transit_gateway_peering_attachment(
        &mut self,
        id: &str,
    ) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        let p = self.pending_for_accepter(id, "accept")?;
        let row = self
            .global
            .transit_gateway_peerings
            .get_mut(&p.id)
            .expect("found above");
        row.state = TransitGatewayAttachmentState::Available;
        row.status_message = "Available".into();
        Ok(row.clone())
    }

    /// RejectTransitGatewayPeeringAttachment.
    pub fn reject_transit_gateway_peering_attachment(
        &mut self,
        id: &str,
    ) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        let p = self.pending_for_accepter(id, "reject")?;
        let now = self.now;
        let row = self
            .global
            .transit_gateway_peerings
            .get_mut(&p.id)
            .expect("found above");
        row.state = TransitGatewayAttachmentState::Rejected;
        row.status_message = "Rejected".into();
        row.ended = Some(now);
        Ok(row.clone())
    }

    /// DeleteTransitGatewayPeeringAttachment: either side deletes an available peering; the
    /// requester withdraws a pending one (the accepter rejects it). Associations on this
    /// side go; the other side's read as gone.
    pub fn delete_transit_gateway_peering_attachment(
        &mut self,
        id: &str,
    ) -> Result<TransitGatewayPeeringAttachment, ApiError> {
        let p = self.tgw_peering(id)?;
        let requester =
            p.requester.owner_id == self.region.account && p.requester.region == self.region.name;
        match p.state {
            TransitGatewayAttachmentState::Available => {}
            TransitGatewayAttachmentState::PendingAcceptance if requester => {}
            // a deleted attachment is gone for a delete, as for a VPC attachment (either side
            // of a peering in one account deletes it, and the other side's delete then finds
            // nothing, as EC2 answers)
            TransitGatewayAttachmentState::Deleted | TransitGatewayAttachmentState::Deleting => {
                return Err(ApiError::new(
                    ErrorCode::InvalidTransitGatewayAttachmentIdNotFound,
                    format!(
                        "Transit Gateway Peering Attachment {id} was deleted or does not exist."
                    ),
                ));
            }
            s => {
                return Err(incorrect_state(format!(
                    "Transit Gateway Peering Attachment {id} is in state {s} and cannot be deleted."
                )));
            }
        }
        self.unlink_attachment(&p.id);
        let now = self.now;
        let row = self
            .global
            .transit_gateway_peerings
            .get_mut(&p.id)
            .expect("found above");
        row.state = TransitGatewayAttachmentState::Deleted;
        row.status_message = "Deleted".into();
        row.ended = Some(now);
        Ok(row.clone())
    }
}

fn no_route(table: &TransitGatewayRouteTableId, destination: IpNet) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRouteNotFound,
        format!(
            "No route with destination-cidr-block {destination} in Transit Gateway Route Table {table}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn gateway_blocks_are_large_enough_and_apart() {
        assert!(check_cidr_blocks(&nets(&["10.99.0.0/24", "2001:db8::/64"])).is_ok());
        assert!(check_cidr_blocks(&nets(&["10.99.0.0/25"])).is_err());
        assert!(check_cidr_blocks(&nets(&["2001:db8::/96"])).is_err());
        assert!(check_cidr_blocks(&nets(&["169.254.10.0/24"])).is_err());
        assert!(check_cidr_blocks(&nets(&["10.0.0.0/16", "10.0.1.0/24"])).is_err());
        assert!(
            check_cidr_blocks(&nets(&[
                "10.1.0.0/24",
                "10.2.0.0/24",
                "10.3.0.0/24",
                "10.4.0.0/24",
                "10.5.0.0/24",
                "10.6.0.0/24"
            ]))
            .is_err()
        );
    }

    #[test]
    fn asns_are_private() {
        assert_eq!(parse_asn(64513).unwrap(), 64513);
        assert_eq!(
            parse_asn(100).unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(parse_asn(4_294_967_294).unwrap(), 4_294_967_294);
    }
}
