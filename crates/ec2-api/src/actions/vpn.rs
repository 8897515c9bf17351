//! Virtual private gateway and customer gateway actions, and route propagation from a
//! virtual private gateway into a route table.

use fort_control::vpn::{CreateCustomerGateway, visible};
use fort_model::{ApiError, CustomerGateway, Kind, VpnAttachmentState, VpnGateway};

use super::{Ctx, Describe, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateVpnGateway,
    DeleteVpnGateway,
    DescribeVpnGateways,
    AttachVpnGateway,
    DetachVpnGateway,
    EnableVgwRoutePropagation,
    DisableVgwRoutePropagation,
    CreateCustomerGateway,
    DeleteCustomerGateway,
    DescribeCustomerGateways,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVpnGateway => {
            let kind = p.opt_str("Type");
            // EC2 takes `AvailabilityZone` and shows none, in the answer or after
            // (LocalStack's recording against AWS): a gateway is regional.
            let asn = p.int("AmazonSideAsn")?;
            let tags = ctx.tag_specs(&["vpn-gateway"])?;
            let g = ctx
                .write(|tx| tx.create_vpn_gateway(kind.as_deref(), asn, tags))
                .await?;
            let mut w = Xml::new();
            w.el("vpnGateway", |w| render_vgw(w, &g, false));
            Ok(w)
        }
        Action::DeleteVpnGateway => {
            let id = p.req("VpnGatewayId")?;
            ctx.write(|tx| tx.delete_vpn_gateway(id)).await?;
            Ok(ok_return())
        }
        Action::AttachVpnGateway => {
            let id = p.req("VpnGatewayId")?;
            let vpc = p.req("VpcId")?;
            ctx.write(|tx| tx.attach_vpn_gateway(id, vpc)).await?;
            // EC2 answers the attachment `attaching`; Describe shows it `attached`.
            let mut w = Xml::new();
            w.el("attachment", |w| {
                w.leaf("vpcId", vpc)
                    .leaf("state", VpnAttachmentState::Attaching);
            });
            Ok(w)
        }
        Action::DetachVpnGateway => {
            let id = p.req("VpnGatewayId")?;
            let vpc = p.req("VpcId")?;
            ctx.write(|tx| tx.detach_vpn_gateway(id, vpc)).await?;
            Ok(ok_return())
        }
        Action::EnableVgwRoutePropagation | Action::DisableVgwRoutePropagation => {
            let table = p.req("RouteTableId")?;
            let gateway = p.req("GatewayId")?;
            let enable = action == Action::EnableVgwRoutePropagation;
            ctx.write(|tx| tx.set_vgw_route_propagation(table, gateway, enable))
                .await?;
            Ok(ok_return())
        }
        Action::DescribeVpnGateways => {
            let d = Describe {
                ids_param: "VpnGatewayId",
                kind: Kind::VpnGateway,
                filters: VGW_FILTERS,
                page: None,
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region
                        .vpn_gateways
                        .values()
                        .filter(|g| visible(g.deleted, now)),
                    |x| &x.id,
                    |x| &x.tags,
                    vgw_field,
                )?;
                let mut w = Xml::new();
                w.set("vpnGatewaySet", page.items, |w, g| render_vgw(w, g, true));
                Ok(w)
            })
            .await?
        }
        Action::CreateCustomerGateway => {
            let req = CreateCustomerGateway {
                kind: p.opt_str("Type"),
                bgp_asn: p.int("BgpAsn")?,
                bgp_asn_extended: p.int("BgpAsnExtended")?,
                // `PublicIp` is the older name of `IpAddress`.
                ip_address: p.opt_str("IpAddress").or_else(|| p.opt_str("PublicIp")),
                certificate_arn: p.opt_str("CertificateArn"),
                device_name: p.opt_str("DeviceName"),
                tags: ctx.tag_specs(&["customer-gateway"])?,
            };
            let g = ctx.write(|tx| tx.create_customer_gateway(req)).await?;
            let mut w = Xml::new();
            w.el("customerGateway", |w| render_cgw(w, &g));
            Ok(w)
        }
        Action::DeleteCustomerGateway => {
            let id = p.req("CustomerGatewayId")?;
            ctx.write(|tx| tx.delete_customer_gateway(id)).await?;
            Ok(ok_return())
        }
        Action::DescribeCustomerGateways => {
            let d = Describe {
                ids_param: "CustomerGatewayId",
                kind: Kind::CustomerGateway,
                filters: CGW_FILTERS,
                page: None,
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region
                        .customer_gateways
                        .values()
                        .filter(|g| visible(g.deleted, now)),
                    |x| &x.id,
                    |x| &x.tags,
                    cgw_field,
                )?;
                let mut w = Xml::new();
                w.set("customerGatewaySet", page.items, render_cgw);
                Ok(w)
            })
            .await?
        }
    }
}

const VGW_FILTERS: &[&str] = &[
    "amazon-side-asn",
    "attachment.state",
    "attachment.vpc-id",
    "availability-zone",
    "state",
    "type",
    "vpn-gateway-id",
];

fn vgw_field(g: &VpnGateway, name: &str) -> Vec<String> {
    match name {
        "amazon-side-asn" => vec![g.amazon_side_asn.to_string()],
        "attachment.state" => g
            .attachments
            .iter()
            .map(|a| a.state.as_str().to_owned())
            .collect(),
        "attachment.vpc-id" => g.attachments.iter().map(|a| a.vpc_id.to_string()).collect(),
        "state" => vec![g.state.as_str().to_owned()],
        "type" => vec!["ipsec.1".to_owned()],
        "vpn-gateway-id" => vec![g.id.to_string()],
        _ => vec![],
    }
}

/// `described`: DescribeVpnGateways writes the tag set even when empty; the create's
/// answer leaves an empty one out (both as AWS recorded them).
fn render_vgw(w: &mut Xml, g: &VpnGateway, described: bool) {
    w.leaf("vpnGatewayId", &g.id)
        .leaf("state", g.state)
        .leaf("type", "ipsec.1")
        .set("attachments", &g.attachments, |w, a| {
            w.leaf("vpcId", &a.vpc_id).leaf("state", a.state);
        })
        .leaf("amazonSideAsn", g.amazon_side_asn);
    if described {
        w.tag_set(&g.tags);
    } else {
        w.tags(&g.tags);
    }
}

const CGW_FILTERS: &[&str] = &[
    "bgp-asn",
    "customer-gateway-id",
    "ip-address",
    "state",
    "type",
];

fn cgw_field(g: &CustomerGateway, name: &str) -> Vec<String> {
    match name {
        "bgp-asn" => vec![g.bgp_asn.to_string()],
        "customer-gateway-id" => vec![g.id.to_string()],
        "ip-address" => g.ip_address.iter().map(ToString::to_string).collect(),
        "state" => vec![g.state.as_str().to_owned()],
        "type" => vec!["ipsec.1".to_owned()],
        _ => vec![],
    }
}

fn render_cgw(w: &mut Xml, g: &CustomerGateway) {
    // An ASN above 2,147,483,647 is shown as `bgpAsnExtended` (and `bgpAsn` holds none).
    let (asn, extended) = if g.bgp_asn <= 2_147_483_647 {
        (Some(g.bgp_asn), None)
    } else {
        (None, Some(g.bgp_asn))
    };
    w.leaf("customerGatewayId", &g.id)
        .leaf("state", g.state)
        .leaf("type", "ipsec.1")
        .opt("ipAddress", g.ip_address)
        .opt("bgpAsn", asn)
        .opt("bgpAsnExtended", extended)
        .opt("certificateArn", g.certificate_arn.as_deref())
        .opt("deviceName", g.device_name.as_deref())
        .tags(&g.tags);
}
