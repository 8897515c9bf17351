//! Site-to-Site VPN connections: two IPsec tunnels between a virtual private gateway and
//! a customer gateway. Each tunnel's AWS side has an outside address leased from the
//! public pool (where the edge answers IKE on the simulated internet), an inside /30 of
//! 169.254.0.0/16 and a pre-shared key. Fort provisions at once: a connection is stored
//! `available` (CreateVpnConnection answers `pending`), its static routes `available`;
//! a deleted one is `deleted`, still described for an hour, its addresses back in the
//! pool. A connection's routes (static, or learned by BGP) propagate into the route
//! tables that propagate its gateway, where static routes of a table win.

use std::net::Ipv4Addr;

use fort_model::*;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::Tx;
use crate::region::Region;
use crate::tags::check_tags;
use crate::vpn::check_type;

/// CreateVpnConnection's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateVpnConnection {
    pub kind: Option<String>,
    pub customer_gateway_id: Option<String>,
    pub vpn_gateway_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    pub static_routes_only: Option<bool>,
    pub enable_acceleration: Option<bool>,
    pub tunnel_inside_ip_version: Option<String>,
    pub local_ipv4_network_cidr: Option<String>,
    pub remote_ipv4_network_cidr: Option<String>,
    pub local_ipv6_network_cidr: Option<String>,
    pub remote_ipv6_network_cidr: Option<String>,
    pub tunnels: Vec<TunnelOptionsRequest>,
    pub tags: Tags,
}

/// EC2's parameter for a connection's IPv4 traffic selector.
fn network_cidr(param: &str, text: Option<&str>) -> Result<Ipv4Net, ApiError> {
    match text {
        None => Ok(Ipv4Net::default()),
        Some(t) => t
            .parse::<Ipv4Net>()
            .ok()
            .filter(|n| n.network() == n.addr())
            .ok_or_else(|| ApiError::bad_param(param, t, "It is not a valid IPv4 CIDR block.")),
    }
}

/// EC2's parameter for a connection's IPv6 traffic selector (`::/0` when not given).
fn network_ipv6_cidr(param: &str, text: Option<&str>) -> Result<Ipv6Net, ApiError> {
    match text {
        None => Ok(Ipv6Net::default()),
        Some(t) => t
            .parse::<Ipv6Net>()
            .ok()
            .filter(|n| n.network() == n.addr())
            .ok_or_else(|| ApiError::bad_param(param, t, "It is not a valid IPv6 CIDR block.")),
    }
}

/// EC2's refusal of IPv6 inside addresses on a connection that does not end at a transit
/// gateway.
fn ipv6_needs_transit_gateway() -> ApiError {
    ApiError::invalid_value(
        "IPv6 inside tunnel addresses are supported only for VPN connections on a transit gateway.",
    )
}

impl Tx<'_> {
    /// A VPN connection not deleted, or NotFound.
    fn live_vpn_connection(&self, id: &str) -> Result<VpnConnection, ApiError> {
        let c = self.region.vpn_connections.find(Kind::VpnConnection, id)?;
        if !c.is_live() {
            return Err(Kind::VpnConnection.not_found(id));
        }
        Ok(c.clone())
    }

    /// The inside /30s the live connections of gateway `end` (a virtual private or a
    /// transit gateway) use, but `except`'s.
    fn inside_cidrs_of(&self, end: &str, except: Option<&str>) -> Vec<Ipv4Net> {
        self.region
            .vpn_connections
            .values()
            .filter(|c| c.is_live() && c.ends_at(end) && Some(c.id.as_str()) != except)
            .flat_map(|c| c.tunnels.iter().map(|t| t.inside_cidr))
            .collect()
    }

    /// The inside IPv6 /126s the live connections of transit gateway `end` use, but
    /// `except`'s.
    fn inside_ipv6_cidrs_of(&self, end: &str, except: Option<&str>) -> Vec<Ipv6Net> {
        self.region
            .vpn_connections
            .values()
            .filter(|c| c.is_live() && c.ends_at(end) && Some(c.id.as_str()) != except)
            .flat_map(|c| c.tunnels.iter().filter_map(|t| t.inside_ipv6_cidr))
            .collect()
    }

    /// A tunnel's inside IPv6 /126: the one asked for (checked, unique on the gateway), or
    /// a free one.
    fn inside_ipv6_cidr(asked: Option<&str>, taken: &[Ipv6Net]) -> Result<Ipv6Net, ApiError> {
        match asked {
            Some(text) => {
                let net = check_inside_ipv6_cidr(text)?;
                if taken.contains(&net) {
                    return Err(ApiError::bad_param(
                        "TunnelInsideIpv6Cidr",
                        text,
                        "The inside CIDR is already used by another tunnel of this transit gateway.",
                    ));
                }
                Ok(net)
            }
            None => Ok(random_inside_ipv6_cidr(taken)),
        }
    }

    /// A tunnel's inside /30: the one asked for (checked, unique on the gateway), or a
    /// free one.
    fn inside_cidr(&self, asked: Option<&str>, taken: &[Ipv4Net]) -> Result<Ipv4Net, ApiError> {
        match asked {
            Some(text) => {
                let net = check_inside_cidr(text)?;
                if taken.contains(&net) {
                    return Err(ApiError::bad_param(
                        "TunnelInsideCidr",
                        text,
                        "The inside CIDR is already used by another tunnel of this virtual private gateway.",
                    ));
                }
                Ok(net)
            }
            None => random_inside_cidr(taken).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::VpnConnectionLimitExceeded,
                    "No inside CIDR block is left for this virtual private gateway.",
                )
            }),
        }
    }

    /// CreateVpnConnection: EC2's checks in EC2's order (recorded against AWS in moto's
    /// tests: the two gateways together first, then the customer gateway, then the
    /// transit gateway), then the options and quotas; two tunnels with addresses from the
    /// public pool.
    pub fn create_vpn_connection(
        &mut self,
        req: CreateVpnConnection,
    ) -> Result<VpnConnection, ApiError> {
        if req.vpn_gateway_id.is_some() && req.transit_gateway_id.is_some() {
            return Err(ApiError::invalid_value(
                "The request must not contain both parameter vpnGatewayId and transitGatewayId",
            ));
        }
        check_type(req.kind.as_deref())?;
        let cgw_id = req
            .customer_gateway_id
            .as_deref()
            .ok_or_else(|| ApiError::missing("CustomerGatewayId"))?;
        let cgw = self
            .region
            .customer_gateways
            .find(Kind::CustomerGateway, cgw_id)?
            .clone();
        if cgw.deleted.is_some() {
            return Err(Kind::CustomerGateway.not_found(cgw_id));
        }
        // the gateway it ends at: a virtual private gateway, or a transit gateway
        let (vgw, tgw) = match (&req.vpn_gateway_id, &req.transit_gateway_id) {
            (Some(v), None) => (Some(self.live_vpn_gateway(v)?), None),
            (None, Some(t)) => {
                if !Kind::TransitGateway.matches(t) || !self.region.transit_gateways.contains(t) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidTransitGatewayIdNotFound,
                        format!("The transitGateway ID '{t}' does not exist"),
                    ));
                }
                (None, Some(self.live_gateway(t)?))
            }
            // neither: EC2 makes it, to be moved onto a gateway later (ModifyVpnConnection)
            _ => (None, None),
        };
        let end = vgw
            .as_ref()
            .map(|g| g.id.to_string())
            .or_else(|| tgw.as_ref().map(|g| g.id.to_string()))
            .unwrap_or_default();
        if cgw.ip_address.is_none() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "Fort's tunnels authenticate with pre-shared keys: the customer gateway needs an IP address.",
            ));
        }
        let mut ipv6 = false;
        if let Some(v) = req.tunnel_inside_ip_version.as_deref() {
            match v {
                "ipv4" => {}
                "ipv6" if tgw.is_some() => ipv6 = true,
                "ipv6" => return Err(ipv6_needs_transit_gateway()),
                other => {
                    return Err(ApiError::bad_param(
                        "TunnelInsideIpVersion",
                        other,
                        "Valid values: ipv4 | ipv6.",
                    ));
                }
            }
        }
        if req.enable_acceleration == Some(true) && tgw.is_none() {
            return Err(ApiError::invalid_value(
                "Acceleration is supported only for VPN connections on a transit gateway.",
            ));
        }
        let local = network_cidr(
            "LocalIpv4NetworkCidr",
            req.local_ipv4_network_cidr.as_deref(),
        )?;
        let remote = network_cidr(
            "RemoteIpv4NetworkCidr",
            req.remote_ipv4_network_cidr.as_deref(),
        )?;
        if !ipv6
            && (req.local_ipv6_network_cidr.is_some() || req.remote_ipv6_network_cidr.is_some())
        {
            return Err(ApiError::combination(
                "LocalIpv6NetworkCidr and RemoteIpv6NetworkCidr are only valid when TunnelInsideIpVersion is ipv6.",
            ));
        }
        let ipv6_network_cidrs = if ipv6 {
            Some((
                network_ipv6_cidr(
                    "LocalIpv6NetworkCidr",
                    req.local_ipv6_network_cidr.as_deref(),
                )?,
                network_ipv6_cidr(
                    "RemoteIpv6NetworkCidr",
                    req.remote_ipv6_network_cidr.as_deref(),
                )?,
            ))
        } else {
            None
        };
        if req.tunnels.len() > 2 {
            return Err(ApiError::invalid_value(
                "A VPN connection has two tunnels: at most two TunnelOptions may be given.",
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let live = |c: &&VpnConnection| c.is_live();
        let quota = self.config.quotas.vpn_connections;
        if self.region.vpn_connections.values().filter(live).count() >= quota {
            return Err(ApiError::new(
                ErrorCode::VpnConnectionLimitExceeded,
                format!("The maximum number of VPN connections has been reached ({quota})."),
            ));
        }
        let per_gateway = self.config.quotas.vpn_connections_per_vpn_gateway;
        if let Some(vgw) = &vgw
            && self
                .region
                .vpn_connections
                .values()
                .filter(live)
                .filter(|c| c.ends_at(&vgw.id))
                .count()
                >= per_gateway
        {
            return Err(ApiError::new(
                ErrorCode::VpnConnectionLimitExceeded,
                format!(
                    "The virtual private gateway {} has the maximum number of VPN connections ({per_gateway}).",
                    vgw.id
                ),
            ));
        }
        let id = VpnConnectionId::new();
        let mut taken = self.inside_cidrs_of(&end, None);
        let mut taken6 = self.inside_ipv6_cidrs_of(&end, None);
        let mut specs = Vec::with_capacity(2);
        for n in 0..2 {
            let asked = req.tunnels.get(n).cloned().unwrap_or_default();
            let inside6 = match (&asked.inside_ipv6_cidr, ipv6) {
                (Some(_), false) => {
                    return Err(ApiError::invalid_value(
                        "TunnelInsideIpv6Cidr is supported only for VPN connections on a transit gateway with IPv6 inside addresses.",
                    ));
                }
                (Some(_), true) if asked.inside_cidr.is_some() => {
                    return Err(ApiError::combination(
                        "TunnelInsideCidr cannot be given for a VPN connection with IPv6 inside addresses.",
                    ));
                }
                (asked6, true) => {
                    let net = Self::inside_ipv6_cidr(asked6.as_deref(), &taken6)?;
                    taken6.push(net);
                    Some(net)
                }
                (None, false) => None,
            };
            let inside = self.inside_cidr(asked.inside_cidr.as_deref(), &taken)?;
            taken.push(inside);
            let key = match &asked.pre_shared_key {
                Some(k) => {
                    check_pre_shared_key(k)?;
                    k.clone()
                }
                None => generate_pre_shared_key(),
            };
            let options = asked.apply(&TunnelOptions::default())?;
            specs.push((inside, inside6, key, options, asked.chosen()));
        }
        let mut tunnels = Vec::with_capacity(2);
        for (inside_cidr, inside_ipv6_cidr, pre_shared_key, options, chosen) in specs {
            let outside_ip = self.lease_public_ip(None, id.as_str())?;
            tunnels.push(VpnTunnel {
                outside_ip,
                inside_cidr,
                inside_ipv6_cidr,
                pre_shared_key,
                options,
                chosen: chosen.into_iter().collect(),
                status: TelemetryStatus::Down,
                status_message: String::new(),
                last_status_change: self.now,
                accepted_route_count: 0,
                learned_routes: Vec::new(),
            });
        }
        let tunnels: [VpnTunnel; 2] = tunnels.try_into().expect("two tunnels");
        let c = VpnConnection {
            id,
            state: VpnState::Available,
            customer_gateway_id: cgw.id.clone(),
            vpn_gateway_id: vgw.map(|g| g.id),
            transit_gateway_id: tgw.as_ref().map(|g| g.id.clone()),
            transit_gateway_attachment_id: tgw.as_ref().map(|_| TransitGatewayAttachmentId::new()),
            transit_gateway_attachment_tags: Tags::default(),
            static_routes_only: req.static_routes_only.unwrap_or(false),
            local_ipv4_network_cidr: local,
            remote_ipv4_network_cidr: remote,
            ipv6_network_cidrs,
            tunnels,
            routes: Vec::new(),
            learned_routes: Vec::new(),
            enable_acceleration: req.enable_acceleration == Some(true),
            created: self.now,
            deleted: None,
            tags: req.tags,
        };
        if let (Some(g), Some(a)) = (&tgw, &c.transit_gateway_attachment_id) {
            self.attach_to_default_tables(g, a);
        }
        self.region.vpn_connections.insert(c.clone());
        Ok(c)
    }

    /// DeleteVpnConnection: `deleted` (still described for an hour), its outside
    /// addresses back in the pool, its routes gone from route tables.
    pub fn delete_vpn_connection(&mut self, id: &str) -> Result<(), ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        for t in &c.tunnels {
            self.release_public_ip(t.outside_ip);
        }
        c.state = VpnState::Deleted;
        c.deleted = Some(self.now);
        for r in &mut c.routes {
            r.state = VpnState::Deleted;
        }
        for t in &mut c.tunnels {
            t.status = TelemetryStatus::Down;
        }
        // its transit gateway attachment goes with it (static routes to it: blackholes)
        if let Some(a) = &c.transit_gateway_attachment_id {
            self.unlink_attachment(a);
        }
        self.region.vpn_connections.insert(c);
        Ok(())
    }

    /// CreateVpnConnectionRoute: a static route of a static connection.
    pub fn create_vpn_connection_route(
        &mut self,
        id: &str,
        destination: &str,
    ) -> Result<(), ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        let net = destination
            .parse::<Ipv4Net>()
            .ok()
            .filter(|n| n.network() == n.addr())
            .ok_or_else(|| {
                ApiError::bad_param(
                    "DestinationCidrBlock",
                    destination,
                    "It is not a valid IPv4 CIDR block.",
                )
            })?;
        if !c.static_routes_only {
            return Err(ApiError::new(
                ErrorCode::InvalidVpnConnectionInvalidState,
                format!(
                    "The VPN connection {id} uses BGP: static routes are only for connections with StaticRoutesOnly."
                ),
            ));
        }
        if c.routes.iter().any(|r| r.destination == net) {
            return Err(ApiError::new(
                ErrorCode::RouteAlreadyExists,
                format!("The route {net} already exists on the VPN connection {id}."),
            ));
        }
        let quota = self.config.quotas.routes_per_vpn_connection;
        if c.routes.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::RouteLimitExceeded,
                format!("The VPN connection {id} has the maximum number of routes ({quota})."),
            ));
        }
        c.routes.push(VpnStaticRoute {
            destination: net,
            state: VpnState::Available,
        });
        c.routes.sort_by_key(|r| r.destination);
        self.region.vpn_connections.insert(c);
        Ok(())
    }

    /// DeleteVpnConnectionRoute.
    pub fn delete_vpn_connection_route(
        &mut self,
        id: &str,
        destination: &str,
    ) -> Result<(), ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        let before = c.routes.len();
        c.routes
            .retain(|r| r.destination.to_string() != destination);
        if c.routes.len() == before {
            return Err(ApiError::new(
                ErrorCode::InvalidRouteNotFound,
                format!("The route {destination} does not exist on the VPN connection {id}."),
            ));
        }
        self.region.vpn_connections.insert(c);
        Ok(())
    }

    /// ModifyVpnConnection: the connection moves to another customer gateway, or between
    /// virtual private gateways and transit gateways (a new transit gateway attachment on
    /// one, the old one gone), keeping its tunnels' addresses and options. Whether its
    /// gateway changed is answered (EC2 shows `modifying` then).
    pub fn modify_vpn_connection(
        &mut self,
        id: &str,
        customer_gateway_id: Option<&str>,
        vpn_gateway_id: Option<&str>,
        transit_gateway_id: Option<&str>,
    ) -> Result<(VpnConnection, bool), ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        if vpn_gateway_id.is_some() && transit_gateway_id.is_some() {
            return Err(ApiError::invalid_value(
                "The request must not contain both parameter vpnGatewayId and transitGatewayId",
            ));
        }
        if customer_gateway_id.is_none() && vpn_gateway_id.is_none() && transit_gateway_id.is_none()
        {
            return Err(ApiError::missing(
                "CustomerGatewayId, VpnGatewayId or TransitGatewayId",
            ));
        }
        if let Some(g) = customer_gateway_id {
            let cgw = self
                .region
                .customer_gateways
                .find(Kind::CustomerGateway, g)?;
            if cgw.deleted.is_some() {
                return Err(Kind::CustomerGateway.not_found(g));
            }
            if cgw.ip_address.is_none() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort's tunnels authenticate with pre-shared keys: the customer gateway needs an IP address.",
                ));
            }
            c.customer_gateway_id = cgw.id.clone();
        }
        let old_end = c.end().to_owned();
        if let Some(v) = vpn_gateway_id {
            let vgw = self.live_vpn_gateway(v)?;
            if c.vpn_gateway_id.as_ref() != Some(&vgw.id) {
                if c.ipv6_network_cidrs.is_some() {
                    return Err(ipv6_needs_transit_gateway());
                }
                if c.enable_acceleration {
                    return Err(ApiError::invalid_value(
                        "Acceleration is supported only for VPN connections on a transit gateway.",
                    ));
                }
                let taken = self.inside_cidrs_of(&vgw.id, Some(id));
                if c.tunnels.iter().any(|t| taken.contains(&t.inside_cidr)) {
                    return Err(ApiError::invalid_value(format!(
                        "A tunnel inside CIDR of {id} is already used on the virtual private gateway {v}."
                    )));
                }
                let per_gateway = self.config.quotas.vpn_connections_per_vpn_gateway;
                if taken.len() / 2 >= per_gateway {
                    return Err(ApiError::new(
                        ErrorCode::VpnConnectionLimitExceeded,
                        format!(
                            "The virtual private gateway {v} has the maximum number of VPN connections ({per_gateway})."
                        ),
                    ));
                }
                c.vpn_gateway_id = Some(vgw.id);
                c.transit_gateway_id = None;
                if let Some(a) = c.transit_gateway_attachment_id.take() {
                    self.unlink_attachment(&a);
                }
            }
        }
        if let Some(t) = transit_gateway_id {
            if !Kind::TransitGateway.matches(t) || !self.region.transit_gateways.contains(t) {
                return Err(ApiError::new(
                    ErrorCode::InvalidTransitGatewayIdNotFound,
                    format!("The transitGateway ID '{t}' does not exist"),
                ));
            }
            let tgw = self.live_gateway(t)?;
            if c.transit_gateway_id.as_ref() != Some(&tgw.id) {
                let taken = self.inside_cidrs_of(&tgw.id, Some(id));
                let taken6 = self.inside_ipv6_cidrs_of(&tgw.id, Some(id));
                if c.tunnels.iter().any(|t| {
                    taken.contains(&t.inside_cidr)
                        || t.inside_ipv6_cidr.is_some_and(|n| taken6.contains(&n))
                }) {
                    return Err(ApiError::invalid_value(format!(
                        "A tunnel inside CIDR of {id} is already used on the transit gateway {t}."
                    )));
                }
                if let Some(a) = c.transit_gateway_attachment_id.take() {
                    self.unlink_attachment(&a);
                }
                let attachment = TransitGatewayAttachmentId::new();
                self.attach_to_default_tables(&tgw, &attachment);
                c.vpn_gateway_id = None;
                c.transit_gateway_id = Some(tgw.id);
                c.transit_gateway_attachment_id = Some(attachment);
                c.transit_gateway_attachment_tags = Tags::default();
            }
        }
        let moved = c.end() != old_end;
        // the gateway it left is written again, so what derives from it (the routes it
        // propagated, the edge's items of its VPC) is derived again without the connection
        if moved && self.region.vpn_gateways.contains(&old_end) {
            self.region.vpn_gateways.get_mut(&old_end);
        }
        self.region.vpn_connections.insert(c.clone());
        Ok((c, moved))
    }

    /// ModifyVpnConnectionOptions: the traffic selectors.
    pub fn modify_vpn_connection_options(
        &mut self,
        id: &str,
        local: Option<&str>,
        remote: Option<&str>,
    ) -> Result<VpnConnection, ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        if local.is_some() {
            c.local_ipv4_network_cidr = network_cidr("LocalIpv4NetworkCidr", local)?;
        }
        if remote.is_some() {
            c.remote_ipv4_network_cidr = network_cidr("RemoteIpv4NetworkCidr", remote)?;
        }
        self.region.vpn_connections.insert(c.clone());
        Ok(c)
    }

    /// ModifyVpnTunnelOptions: one tunnel, named by its outside address.
    pub fn modify_vpn_tunnel_options(
        &mut self,
        id: &str,
        outside_ip: &str,
        req: &TunnelOptionsRequest,
    ) -> Result<VpnConnection, ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        let ip: Ipv4Addr = outside_ip.parse().map_err(|_| {
            ApiError::bad_param(
                "VpnTunnelOutsideIpAddress",
                outside_ip,
                "It is not a valid IPv4 address.",
            )
        })?;
        let Some(n) = c.tunnels.iter().position(|t| t.outside_ip == ip) else {
            return Err(ApiError::bad_param(
                "VpnTunnelOutsideIpAddress",
                outside_ip,
                &format!("It is not an outside address of the VPN connection {id}."),
            ));
        };
        if req.is_empty() {
            return Err(ApiError::missing("TunnelOptions"));
        }
        if req.inside_ipv6_cidr.is_some() && c.ipv6_network_cidrs.is_none() {
            return Err(ApiError::invalid_value(
                "TunnelInsideIpv6Cidr is supported only for VPN connections on a transit gateway with IPv6 inside addresses.",
            ));
        }
        let options = req.apply(&c.tunnels[n].options)?;
        if let Some(text) = req.inside_ipv6_cidr.as_deref() {
            let end = c.end().to_owned();
            let mut taken = self.inside_ipv6_cidrs_of(&end, Some(id));
            taken.extend(c.tunnels[1 - n].inside_ipv6_cidr);
            c.tunnels[n].inside_ipv6_cidr = Some(Self::inside_ipv6_cidr(Some(text), &taken)?);
        }
        if let Some(text) = req.inside_cidr.as_deref() {
            let end = c.end().to_owned();
            let mut taken = self.inside_cidrs_of(&end, Some(id));
            taken.push(c.tunnels[1 - n].inside_cidr);
            c.tunnels[n].inside_cidr = self.inside_cidr(Some(text), &taken)?;
        }
        if let Some(k) = &req.pre_shared_key {
            check_pre_shared_key(k)?;
            c.tunnels[n].pre_shared_key = k.clone();
        }
        c.tunnels[n].options = options;
        c.tunnels[n].chosen.extend(req.chosen());
        self.region.vpn_connections.insert(c.clone());
        Ok(c)
    }

    /// What the edge saw of a tunnel: its status (a change is timed) and, on a dynamic
    /// connection, the routes its BGP session accepted (AcceptedRouteCount); the
    /// connection's learned routes are those of its tunnels that are up.
    pub fn set_vpn_tunnel_status(
        &mut self,
        id: &str,
        outside_ip: Ipv4Addr,
        up: bool,
        message: &str,
        learned: &[Ipv4Net],
    ) -> Result<(), ApiError> {
        let mut c = self.live_vpn_connection(id)?;
        let dynamic = !c.static_routes_only;
        let Some(t) = c.tunnels.iter_mut().find(|t| t.outside_ip == outside_ip) else {
            return Err(Kind::VpnConnection.not_found(id));
        };
        let status = if up {
            TelemetryStatus::Up
        } else {
            TelemetryStatus::Down
        };
        if t.status != status {
            t.status = status;
            t.last_status_change = self.now;
        }
        t.status_message = message.to_owned();
        if dynamic {
            let mut routes = if up { learned.to_vec() } else { Vec::new() };
            routes.sort();
            routes.dedup();
            t.accepted_route_count = u32::try_from(routes.len()).unwrap_or(u32::MAX);
            t.learned_routes = routes;
            let mut all: Vec<Ipv4Net> = c
                .tunnels
                .iter()
                .filter(|t| t.status == TelemetryStatus::Up)
                .flat_map(|t| t.learned_routes.iter().copied())
                .collect();
            all.sort();
            all.dedup();
            c.learned_routes = all;
        }
        // A report that changes nothing writes nothing.
        if self.region.vpn_connections.get(id) != Some(&c) {
            self.region.vpn_connections.insert(c);
        }
        Ok(())
    }
}

impl Region {
    /// The routes a table gets by propagation from the virtual private gateways it
    /// propagates (attached to its VPC): each destination of their live connections,
    /// unless the table has a static route to the same block (AWS's route priority).
    pub fn propagated_routes(&self, table: &RouteTable) -> Vec<Route> {
        let statics: Vec<Ipv4Net> = table
            .routes
            .iter()
            .filter_map(|r| match r.destination {
                RouteDestination::Cidr(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut out: Vec<Route> = Vec::new();
        for gw in &table.propagating_vgws {
            let Some(g) = self.vpn_gateways.get(gw.as_str()) else {
                continue;
            };
            if g.deleted.is_some() || g.attached_vpc() != Some(&table.vpc_id) {
                continue;
            }
            for c in self.vpn_connections.values().filter(|c| c.ends_at(&g.id)) {
                for d in c.propagated_routes() {
                    let seen = out
                        .iter()
                        .any(|r| r.destination == RouteDestination::Cidr(d));
                    if !statics.contains(&d) && !seen {
                        out.push(Route {
                            destination: RouteDestination::Cidr(d),
                            target: RouteTarget::VpnGateway(g.id.clone()),
                            origin: RouteOrigin::EnableVgwRoutePropagation,
                        });
                    }
                }
            }
        }
        out
    }

    /// A table's routes as DescribeRouteTables lists them and the data plane follows
    /// them: its own, then the propagated ones.
    pub fn effective_routes(&self, table: &RouteTable) -> Vec<Route> {
        let mut routes = table.routes.clone();
        routes.extend(self.propagated_routes(table));
        routes
    }
}
