//! Site-to-Site VPN connection actions, and the customer gateway configuration document
//! (`customerGatewayConfiguration`) in AWS's generic XML format: what a customer turns
//! into the configuration of their device.

use std::fmt::Write;

use fort_control::Region;
use fort_control::vpn::visible;
use fort_control::vpn_connection::CreateVpnConnection;
use fort_model::{
    ApiError, CustomerGateway, EncryptionAlgorithm, IntegrityAlgorithm, Kind, TunnelOptionField,
    TunnelOptionsRequest, VpnConnection, VpnState, VpnTunnel,
};

use super::{Ctx, Describe, b, ok_return};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateVpnConnection,
    DeleteVpnConnection,
    DescribeVpnConnections,
    CreateVpnConnectionRoute,
    DeleteVpnConnectionRoute,
    ModifyVpnConnection,
    ModifyVpnConnectionOptions,
    ModifyVpnTunnelOptions,
);

/// One tunnel's options as the request gives them (`TunnelOptions.N.…` of
/// CreateVpnConnection, `TunnelOptions.…` of ModifyVpnTunnelOptions).
fn tunnel_options(p: &Params) -> Result<TunnelOptionsRequest, ApiError> {
    let values = |name: &str| -> Result<Vec<String>, ApiError> {
        p.list(name)?
            .into_iter()
            .map(|item| item.req("Value").map(str::to_owned))
            .collect()
    };
    let ints = |name: &str| -> Result<Vec<i64>, ApiError> {
        p.list(name)?
            .into_iter()
            .map(|item| item.int("Value")?.ok_or_else(|| ApiError::missing("Value")))
            .collect()
    };
    let logs = p.child("LogOptions").child("CloudWatchLogOptions");
    Ok(TunnelOptionsRequest {
        log_enabled: logs.bool("LogEnabled")?,
        log_group_arn: logs.opt_str("LogGroupArn"),
        log_output_format: logs.opt_str("LogOutputFormat"),
        inside_cidr: p.opt_str("TunnelInsideCidr"),
        inside_ipv6_cidr: p.opt_str("TunnelInsideIpv6Cidr"),
        pre_shared_key: p.opt_str("PreSharedKey"),
        phase1_lifetime_seconds: p.int("Phase1LifetimeSeconds")?,
        phase2_lifetime_seconds: p.int("Phase2LifetimeSeconds")?,
        rekey_margin_time_seconds: p.int("RekeyMarginTimeSeconds")?,
        rekey_fuzz_percentage: p.int("RekeyFuzzPercentage")?,
        replay_window_size: p.int("ReplayWindowSize")?,
        dpd_timeout_seconds: p.int("DPDTimeoutSeconds")?,
        dpd_timeout_action: p.opt_str("DPDTimeoutAction"),
        phase1_encryption: values("Phase1EncryptionAlgorithm")?,
        phase2_encryption: values("Phase2EncryptionAlgorithm")?,
        phase1_integrity: values("Phase1IntegrityAlgorithm")?,
        phase2_integrity: values("Phase2IntegrityAlgorithm")?,
        phase1_dh_groups: ints("Phase1DHGroupNumber")?,
        phase2_dh_groups: ints("Phase2DHGroupNumber")?,
        ike_versions: values("IKEVersion")?,
        startup_action: p.opt_str("StartupAction"),
        enable_tunnel_lifecycle_control: p.bool("EnableTunnelLifecycleControl")?,
    })
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVpnConnection => {
            let o = p.child("Options");
            let req = CreateVpnConnection {
                kind: p.opt_str("Type"),
                customer_gateway_id: p.opt_str("CustomerGatewayId"),
                vpn_gateway_id: p.opt_str("VpnGatewayId"),
                transit_gateway_id: p.opt_str("TransitGatewayId"),
                static_routes_only: o.bool("StaticRoutesOnly")?,
                enable_acceleration: o.bool("EnableAcceleration")?,
                tunnel_inside_ip_version: o.opt_str("TunnelInsideIpVersion"),
                local_ipv4_network_cidr: o.opt_str("LocalIpv4NetworkCidr"),
                remote_ipv4_network_cidr: o.opt_str("RemoteIpv4NetworkCidr"),
                local_ipv6_network_cidr: o.opt_str("LocalIpv6NetworkCidr"),
                remote_ipv6_network_cidr: o.opt_str("RemoteIpv6NetworkCidr"),
                tunnels: o
                    .list("TunnelOptions")?
                    .into_iter()
                    .map(tunnel_options)
                    .collect::<Result<_, _>>()?,
                tags: ctx.tag_specs(&["vpn-connection"])?,
            };
            let c = ctx.write(|tx| tx.create_vpn_connection(req)).await?;
            // Provisioned at once; the answer shows the state AWS answers.
            answer(ctx, c, Some(VpnState::Pending)).await
        }
        Action::DeleteVpnConnection => {
            let id = p.req("VpnConnectionId")?;
            ctx.write(|tx| tx.delete_vpn_connection(id)).await?;
            Ok(ok_return())
        }
        Action::CreateVpnConnectionRoute | Action::DeleteVpnConnectionRoute => {
            let id = p.req("VpnConnectionId")?;
            let destination = p.req("DestinationCidrBlock")?;
            let create = action == Action::CreateVpnConnectionRoute;
            ctx.write(|tx| {
                if create {
                    tx.create_vpn_connection_route(id, destination)
                } else {
                    tx.delete_vpn_connection_route(id, destination)
                }
            })
            .await?;
            Ok(ok_return())
        }
        Action::ModifyVpnConnection => {
            let id = p.req("VpnConnectionId")?;
            let cgw = p.opt_str("CustomerGatewayId");
            let vgw = p.opt_str("VpnGatewayId");
            let tgw = p.opt_str("TransitGatewayId");
            let (c, moved) = ctx
                .write(|tx| {
                    tx.modify_vpn_connection(id, cgw.as_deref(), vgw.as_deref(), tgw.as_deref())
                })
                .await?;
            // moved at once; the answer shows the state AWS answers while it moves
            answer(ctx, c, moved.then_some(VpnState::Modifying)).await
        }
        Action::ModifyVpnConnectionOptions => {
            let id = p.req("VpnConnectionId")?;
            let local = p.opt_str("LocalIpv4NetworkCidr");
            let remote = p.opt_str("RemoteIpv4NetworkCidr");
            modified(ctx, |tx| {
                tx.modify_vpn_connection_options(id, local.as_deref(), remote.as_deref())
            })
            .await
        }
        Action::ModifyVpnTunnelOptions => {
            let id = p.req("VpnConnectionId")?;
            let outside = p.req("VpnTunnelOutsideIpAddress")?;
            let req = tunnel_options(p.child("TunnelOptions"))?;
            modified(ctx, |tx| tx.modify_vpn_tunnel_options(id, outside, &req)).await
        }
        Action::DescribeVpnConnections => {
            let d = Describe {
                ids_param: "VpnConnectionId",
                kind: Kind::VpnConnection,
                filters: FILTERS,
                page: None,
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let region = v.region;
                let page = d.run(
                    p,
                    region
                        .vpn_connections
                        .values()
                        .filter(|c| visible(c.deleted, now)),
                    |x| &x.id,
                    |x| &x.tags,
                    |c, name| field(region, c, name),
                )?;
                let mut w = Xml::new();
                w.set("vpnConnectionSet", page.items, |w, c| {
                    render(w, region, c, None)
                });
                Ok(w)
            })
            .await?
        }
    }
}

/// A Modify call's answer: the connection as it is now.
async fn modified(
    ctx: &Ctx<'_>,
    f: impl FnOnce(&mut fort_control::Tx<'_>) -> Result<VpnConnection, ApiError>,
) -> Result<Xml, ApiError> {
    let c = ctx.write(f).await?;
    answer(ctx, c, None).await
}

/// `<vpnConnection>` of a Create or Modify answer.
async fn answer(ctx: &Ctx<'_>, c: VpnConnection, state: Option<VpnState>) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let mut w = Xml::new();
        w.el("vpnConnection", |w| render(w, v.region, &c, state));
        w
    })
    .await
}

const FILTERS: &[&str] = &[
    "customer-gateway-configuration",
    "customer-gateway-id",
    "state",
    "option.static-routes-only",
    "route.destination-cidr-block",
    "bgp-asn",
    "vpn-connection-id",
    "type",
    "vpn-gateway-id",
    "transit-gateway-id",
];

fn field(region: &Region, c: &VpnConnection, name: &str) -> Vec<String> {
    match name {
        "customer-gateway-configuration" => region
            .customer_gateways
            .get(c.customer_gateway_id.as_str())
            .map(|g| vec![customer_gateway_configuration(region, c, g)])
            .unwrap_or_default(),
        "customer-gateway-id" => vec![c.customer_gateway_id.to_string()],
        "state" => vec![c.state.as_str().to_owned()],
        "option.static-routes-only" => vec![b(c.static_routes_only).to_owned()],
        "route.destination-cidr-block" => {
            c.routes.iter().map(|r| r.destination.to_string()).collect()
        }
        "bgp-asn" => region
            .customer_gateways
            .get(c.customer_gateway_id.as_str())
            .map(|g| vec![g.bgp_asn.to_string()])
            .unwrap_or_default(),
        "vpn-connection-id" => vec![c.id.to_string()],
        "type" => vec!["ipsec.1".to_owned()],
        "vpn-gateway-id" => c.vpn_gateway_id.iter().map(ToString::to_string).collect(),
        "transit-gateway-id" => c
            .transit_gateway_id
            .iter()
            .map(ToString::to_string)
            .collect(),
        _ => vec![],
    }
}

/// `state`: the state to show instead of the stored one (a create's answer).
fn render(w: &mut Xml, region: &Region, c: &VpnConnection, state: Option<VpnState>) {
    let cgw = region.customer_gateways.get(c.customer_gateway_id.as_str());
    w.leaf("vpnConnectionId", &c.id);
    // The document is given while the connection lives.
    if c.is_live()
        && let Some(g) = cgw
    {
        w.leaf(
            "customerGatewayConfiguration",
            customer_gateway_configuration(region, c, g),
        );
    }
    w.leaf("customerGatewayId", &c.customer_gateway_id)
        .leaf("category", "VPN")
        .leaf("state", state.unwrap_or(c.state))
        .leaf("type", "ipsec.1")
        .opt("vpnGatewayId", c.vpn_gateway_id.as_ref())
        .opt("transitGatewayId", c.transit_gateway_id.as_ref())
        .leaf(
            "gatewayAssociationState",
            if c.is_live() && !c.end().is_empty() {
                "associated"
            } else {
                "not-associated"
            },
        )
        .el("options", |w| {
            w.leaf("enableAcceleration", b(c.enable_acceleration))
                .leaf("staticRoutesOnly", b(c.static_routes_only));
            match &c.ipv6_network_cidrs {
                None => {
                    w.leaf("localIpv4NetworkCidr", c.local_ipv4_network_cidr)
                        .leaf("remoteIpv4NetworkCidr", c.remote_ipv4_network_cidr);
                }
                Some((local, remote)) => {
                    w.leaf("localIpv6NetworkCidr", local)
                        .leaf("remoteIpv6NetworkCidr", remote);
                }
            }
            w.leaf("outsideIpAddressType", "PublicIpv4")
                .leaf(
                    "tunnelInsideIpVersion",
                    if c.ipv6_network_cidrs.is_some() {
                        "ipv6"
                    } else {
                        "ipv4"
                    },
                )
                .set("tunnelOptionSet", &c.tunnels, render_tunnel_options);
        })
        .set("routes", &c.routes, |w, r| {
            w.leaf("destinationCidrBlock", r.destination)
                .leaf("source", "Static")
                .leaf("state", r.state);
        })
        .tags(&c.tags)
        .set("vgwTelemetry", &c.tunnels, |w, t| {
            w.leaf("acceptedRouteCount", t.accepted_route_count)
                .leaf(
                    "lastStatusChange",
                    fort_model::format_time(t.last_status_change),
                )
                .leaf("outsideIpAddress", t.outside_ip)
                .leaf("status", t.status)
                .leaf("statusMessage", &t.status_message);
        });
}

/// A tunnel's options: its addresses and key, then only the options the customer chose,
/// as EC2 lists them.
fn render_tunnel_options(w: &mut Xml, t: &VpnTunnel) {
    use TunnelOptionField as F;
    let o = &t.options;
    w.leaf("outsideIpAddress", t.outside_ip);
    // a tunnel with IPv6 inside addresses shows only those
    match t.inside_ipv6_cidr {
        Some(v6) => w.leaf("tunnelInsideIpv6Cidr", v6),
        None => w.leaf("tunnelInsideCidr", t.inside_cidr),
    };
    w.leaf("preSharedKey", &t.pre_shared_key);
    for &f in &t.chosen {
        let name = f.as_str();
        match f {
            F::Phase1LifetimeSeconds => w.leaf(name, o.phase1_lifetime_seconds),
            F::Phase2LifetimeSeconds => w.leaf(name, o.phase2_lifetime_seconds),
            F::RekeyMarginTimeSeconds => w.leaf(name, o.rekey_margin_time_seconds),
            F::RekeyFuzzPercentage => w.leaf(name, o.rekey_fuzz_percentage),
            F::ReplayWindowSize => w.leaf(name, o.replay_window_size),
            F::DpdTimeoutSeconds => w.leaf(name, o.dpd_timeout_seconds),
            F::DpdTimeoutAction => w.leaf(name, o.dpd_timeout_action),
            F::StartupAction => w.leaf(name, o.startup_action),
            F::Phase1EncryptionAlgorithms => values(w, name, &o.phase1_encryption),
            F::Phase2EncryptionAlgorithms => values(w, name, &o.phase2_encryption),
            F::Phase1IntegrityAlgorithms => values(w, name, &o.phase1_integrity),
            F::Phase2IntegrityAlgorithms => values(w, name, &o.phase2_integrity),
            F::Phase1DhGroupNumbers => values(w, name, &o.phase1_dh_groups),
            F::Phase2DhGroupNumbers => values(w, name, &o.phase2_dh_groups),
            F::IkeVersions => values(w, name, &o.ike_versions),
        };
    }
    w.el("logOptions", |w| {
        w.el("cloudWatchLogOptions", |w| {
            w.leaf("logEnabled", b(o.log.enabled))
                .opt("logGroupArn", o.log.group_arn.as_deref())
                .opt("logOutputFormat", o.log.output_format.as_deref());
        });
    })
    .leaf(
        "enableTunnelLifecycleControl",
        b(o.enable_tunnel_lifecycle_control),
    );
}

fn values<'w, T: std::fmt::Display>(w: &'w mut Xml, name: &str, items: &[T]) -> &'w mut Xml {
    w.set(name, items, |w, v| {
        w.leaf("value", v);
    })
}

/// The generic document's name for an encryption algorithm.
fn encryption_name(a: EncryptionAlgorithm) -> &'static str {
    match a {
        EncryptionAlgorithm::Aes128 => "aes-128-cbc",
        EncryptionAlgorithm::Aes256 => "aes-256-cbc",
        EncryptionAlgorithm::Aes128Gcm16 => "aes-128-gcm-16",
        EncryptionAlgorithm::Aes256Gcm16 => "aes-256-gcm-16",
    }
}

/// The generic document's names for an integrity algorithm: (IKE, ESP).
fn integrity_names(a: IntegrityAlgorithm) -> (&'static str, &'static str) {
    match a {
        IntegrityAlgorithm::Sha1 => ("sha1", "hmac-sha1-96"),
        IntegrityAlgorithm::Sha2_256 => ("sha2-256", "hmac-sha2-256-128"),
        IntegrityAlgorithm::Sha2_384 => ("sha2-384", "hmac-sha2-384-192"),
        IntegrityAlgorithm::Sha2_512 => ("sha2-512", "hmac-sha2-512-256"),
    }
}

/// The customer gateway configuration document, in AWS's generic format: per tunnel,
/// both sides' outside and inside addresses (and BGP for a dynamic connection), and the
/// IKE and IPsec settings — the first of each chosen option list, which AWS's own
/// document names (SHA-1, AES-128, group 2 by default), and the tunnel's key.
pub fn customer_gateway_configuration(
    region: &Region,
    c: &VpnConnection,
    cgw: &CustomerGateway,
) -> String {
    // the Amazon side's ASN: the virtual private gateway's, or the transit gateway's
    let amazon_asn = c
        .vpn_gateway_id
        .as_ref()
        .and_then(|v| region.vpn_gateways.get(v.as_str()))
        .map(|g| g.amazon_side_asn)
        .or_else(|| {
            c.transit_gateway_id
                .as_ref()
                .and_then(|t| region.transit_gateways.get(t.as_str()))
                .map(|g| u64::from(g.options.amazon_side_asn))
        })
        .unwrap_or(64512);
    let mut d = String::new();
    let _ = write!(
        d,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vpn_connection id=\"{}\">\n  <customer_gateway_id>{}</customer_gateway_id>\n",
        c.id, c.customer_gateway_id
    );
    if let Some(v) = &c.vpn_gateway_id {
        let _ = writeln!(d, "  <vpn_gateway_id>{v}</vpn_gateway_id>");
    }
    d.push_str("  <vpn_connection_type>ipsec.1</vpn_connection_type>\n");
    if c.static_routes_only {
        d.push_str("  <vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>\n");
    }
    let cgw_ip = cgw.ip_address.map(|ip| ip.to_string()).unwrap_or_default();
    for t in &c.tunnels {
        let o = &t.options;
        let inside = |ip: std::net::Ipv4Addr| {
            format!(
                "      <tunnel_inside_address>\n        <ip_address>{ip}</ip_address>\n        <network_mask>255.255.255.252</network_mask>\n        <network_cidr>30</network_cidr>\n      </tunnel_inside_address>\n"
            )
        };
        let bgp = |asn: u64| {
            if c.static_routes_only {
                String::new()
            } else {
                format!(
                    "      <bgp>\n        <asn>{asn}</asn>\n        <hold_time>30</hold_time>\n      </bgp>\n"
                )
            }
        };
        let enc = o
            .phase1_encryption
            .first()
            .copied()
            .map_or("aes-128-cbc", encryption_name);
        let (ike_auth, _) = o
            .phase1_integrity
            .first()
            .copied()
            .map_or(("sha1", ""), integrity_names);
        let esp_enc = o
            .phase2_encryption
            .first()
            .copied()
            .map_or("aes-128-cbc", encryption_name);
        let (_, esp_auth) = o
            .phase2_integrity
            .first()
            .copied()
            .map_or(("", "hmac-sha1-96"), integrity_names);
        let pfs1 = o.phase1_dh_groups.first().copied().unwrap_or(2);
        let pfs2 = o.phase2_dh_groups.first().copied().unwrap_or(2);
        let _ = write!(
            d,
            "  <ipsec_tunnel>\n    <customer_gateway>\n      <tunnel_outside_address>\n        <ip_address>{cgw_ip}</ip_address>\n      </tunnel_outside_address>\n{}{}    </customer_gateway>\n    <vpn_gateway>\n      <tunnel_outside_address>\n        <ip_address>{}</ip_address>\n      </tunnel_outside_address>\n{}{}    </vpn_gateway>\n",
            inside(t.cgw_inside_ip()),
            bgp(cgw.bgp_asn),
            t.outside_ip,
            inside(t.vgw_inside_ip()),
            bgp(amazon_asn),
        );
        let _ = write!(
            d,
            "    <ike>\n      <authentication_protocol>{ike_auth}</authentication_protocol>\n      <encryption_protocol>{enc}</encryption_protocol>\n      <lifetime>{}</lifetime>\n      <perfect_forward_secrecy>group{pfs1}</perfect_forward_secrecy>\n      <mode>main</mode>\n      <pre_shared_key>{}</pre_shared_key>\n    </ike>\n",
            o.phase1_lifetime_seconds, t.pre_shared_key
        );
        let _ = write!(
            d,
            "    <ipsec>\n      <protocol>esp</protocol>\n      <authentication_protocol>{esp_auth}</authentication_protocol>\n      <encryption_protocol>{esp_enc}</encryption_protocol>\n      <lifetime>{}</lifetime>\n      <perfect_forward_secrecy>group{pfs2}</perfect_forward_secrecy>\n      <mode>tunnel</mode>\n      <clear_df_bit>true</clear_df_bit>\n      <fragmentation_before_encryption>true</fragmentation_before_encryption>\n      <tcp_mss_adjustment>1379</tcp_mss_adjustment>\n      <dead_peer_detection>\n        <delay>10</delay>\n        <retries>3</retries>\n      </dead_peer_detection>\n    </ipsec>\n  </ipsec_tunnel>\n",
            o.phase2_lifetime_seconds
        );
    }
    d.push_str("</vpn_connection>\n");
    d
}
