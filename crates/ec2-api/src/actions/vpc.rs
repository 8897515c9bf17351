//! VPC actions.

use fort_control::vpc::{CreateVpc, Ipv6BlockRequest, VpcBlock};
use fort_model::{
    ApiError, CidrBlockState, ErrorCode, Kind, Vpc, VpcCidrAssociationId, VpcCidrBlock,
    VpcIpv6CidrBlock,
};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateVpc,
    DeleteVpc,
    DescribeVpcs,
    ModifyVpcAttribute,
    ModifyVpcTenancy,
    DescribeVpcAttribute,
    AssociateVpcCidrBlock,
    DisassociateVpcCidrBlock,
    CreateDefaultVpc,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVpc => {
            if p.get("Ipv4IpamPoolId").is_some() || p.get("Ipv6IpamPoolId").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "IPAM pools are not supported.",
                ));
            }
            let req = CreateVpc {
                cidr_block: p.req("CidrBlock")?.to_owned(),
                instance_tenancy: p.opt_str("InstanceTenancy"),
                ipv6: ipv6_request(ctx)?,
                tags: ctx.tag_specs(&["vpc"])?,
            };
            let vpc = ctx.write(|tx| tx.create_vpc(req)).await?;
            let mut w = Xml::new();
            w.el("vpc", |w| render_as(w, &vpc, ctx.account(), "pending"));
            Ok(w)
        }
        Action::CreateDefaultVpc => {
            let vpc = ctx.write(|tx| tx.create_default_vpc()).await?;
            let mut w = Xml::new();
            w.el("vpc", |w| render_as(w, &vpc, ctx.account(), "pending"));
            Ok(w)
        }
        Action::DeleteVpc => {
            let id = p.req("VpcId")?;
            ctx.write(|tx| tx.delete_vpc(id)).await?;
            Ok(ok_return())
        }
        Action::DescribeVpcs => {
            let d = Describe {
                ids_param: "VpcId",
                kind: Kind::Vpc,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.vpcs.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(x, n, ctx.account()),
                )?;
                let mut w = Xml::new();
                w.set("vpcSet", page.items, |w, vpc| render(w, vpc, ctx.account()));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyVpcAttribute => {
            let id = p.req("VpcId")?;
            let attrs: Vec<(&str, bool)> = [
                ("enableDnsSupport", "EnableDnsSupport"),
                ("enableDnsHostnames", "EnableDnsHostnames"),
                (
                    "enableNetworkAddressUsageMetrics",
                    "EnableNetworkAddressUsageMetrics",
                ),
            ]
            .into_iter()
            .filter_map(|(attr, param)| {
                p.attr_bool(param).transpose().map(|v| v.map(|v| (attr, v)))
            })
            .collect::<Result<_, _>>()?;
            let [(attr, value)] = attrs[..] else {
                return Err(ApiError::combination(
                    "Fields for multiple attribute types specified: exactly one attribute may be modified per request.",
                ));
            };
            ctx.write(|tx| tx.modify_vpc_attribute(id, attr, value))
                .await?;
            Ok(ok_return())
        }
        Action::ModifyVpcTenancy => {
            let id = p.req("VpcId")?;
            let tenancy = p.req("InstanceTenancy")?;
            ctx.write(|tx| tx.modify_vpc_tenancy(id, tenancy)).await?;
            Ok(ok_return())
        }
        Action::DescribeVpcAttribute => {
            let id = p.req("VpcId")?;
            let attr = p.req("Attribute")?;
            ctx.read(|v| {
                let vpc = v.region.vpcs.find(Kind::Vpc, id)?;
                let value = match attr {
                    "enableDnsSupport" => vpc.enable_dns_support,
                    "enableDnsHostnames" => vpc.enable_dns_hostnames,
                    "enableNetworkAddressUsageMetrics" => vpc.enable_network_address_usage_metrics,
                    other => {
                        return Err(ApiError::bad_param(
                            "Attribute",
                            other,
                            "Valid values: enableDnsSupport, enableDnsHostnames, enableNetworkAddressUsageMetrics.",
                        ));
                    }
                };
                let mut w = Xml::new();
                w.leaf("vpcId", &vpc.id).el(attr, |w| {
                    w.leaf("value", b(value));
                });
                Ok(w)
            })
            .await?
        }
        Action::AssociateVpcCidrBlock => {
            let id = p.req("VpcId")?;
            if p.get("Ipv4IpamPoolId").is_some() || p.get("Ipv6IpamPoolId").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "IPAM pools are not supported.",
                ));
            }
            let v6 = ipv6_request(ctx)?;
            if v6.is_requested() {
                if p.get("CidrBlock").is_some() {
                    return Err(ApiError::combination(
                        "Either an IPv4 or an IPv6 CIDR block may be associated per request, not both.",
                    ));
                }
                let (vpc, mut block) = ctx
                    .write(|tx| tx.associate_vpc_ipv6_cidr_block(id, &v6))
                    .await?;
                block.state = CidrBlockState::Associating;
                let mut w = Xml::new();
                w.leaf("vpcId", &vpc.id)
                    .el("ipv6CidrBlockAssociation", |w| render_ipv6_block(w, &block));
                return Ok(w);
            }
            let cidr = p.req("CidrBlock")?;
            let (vpc, mut block) = ctx
                .write(|tx| tx.associate_vpc_cidr_block(id, cidr))
                .await?;
            // EC2 answers the association in progress; it is done by the next Describe
            block.state = CidrBlockState::Associating;
            let mut w = Xml::new();
            w.leaf("vpcId", &vpc.id)
                .el("cidrBlockAssociation", |w| render_block(w, &block));
            Ok(w)
        }
        Action::DisassociateVpcCidrBlock => {
            let assoc = VpcCidrAssociationId::parse(p.req("AssociationId")?)?;
            let (vpc_id, block) = ctx
                .write(|tx| tx.disassociate_vpc_cidr_block(&assoc))
                .await?;
            let mut w = Xml::new();
            w.leaf("vpcId", vpc_id);
            match block {
                VpcBlock::V4(mut b) => {
                    b.state = CidrBlockState::Disassociating;
                    w.el("cidrBlockAssociation", |w| render_block(w, &b));
                }
                VpcBlock::V6(mut b) => {
                    b.state = CidrBlockState::Disassociating;
                    w.el("ipv6CidrBlockAssociation", |w| render_ipv6_block(w, &b));
                }
            }
            Ok(w)
        }
    }
}

/// The IPv6 block CreateVpc or AssociateVpcCidrBlock asks for, if any.
fn ipv6_request(ctx: &Ctx<'_>) -> Result<Ipv6BlockRequest, ApiError> {
    let p = ctx.params;
    Ok(Ipv6BlockRequest {
        amazon_provided: p.bool("AmazonProvidedIpv6CidrBlock")?.unwrap_or(false),
        cidr_block: p.opt_str("Ipv6CidrBlock"),
        pool: p.opt_str("Ipv6Pool"),
        network_border_group: p.opt_str("Ipv6CidrBlockNetworkBorderGroup"),
    })
}

const FILTERS: &[&str] = &[
    "cidr",
    // EC2 still takes the filter's old name (Ansible's ec2_vpc_net looks VPCs up by it)
    "cidr-block",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "is-default",
    "owner-id",
    "state",
    "vpc-id",
    "instance-tenancy",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.ipv6-pool",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
];

fn field(v: &Vpc, name: &str, account: &str) -> Vec<String> {
    match name {
        "cidr" | "cidr-block" => vec![v.primary_cidr().to_string()],
        "cidr-block-association.cidr-block" => {
            v.cidr_blocks.iter().map(|c| c.cidr.to_string()).collect()
        }
        "cidr-block-association.association-id" => v
            .cidr_blocks
            .iter()
            .map(|c| c.association_id.to_string())
            .collect(),
        "cidr-block-association.state" => v
            .cidr_blocks
            .iter()
            .map(|c| c.state.as_str().to_owned())
            .collect(),
        "dhcp-options-id" => vec![v.dhcp_options_text().to_owned()],
        "is-default" => vec![b(v.is_default).into()],
        "owner-id" => vec![account.into()],
        "state" => vec!["available".into()],
        "vpc-id" => vec![v.id.to_string()],
        "instance-tenancy" => vec![v.instance_tenancy.clone()],
        "ipv6-cidr-block-association.ipv6-cidr-block" => v
            .ipv6_cidr_blocks
            .iter()
            .map(|c| c.cidr.to_string())
            .collect(),
        "ipv6-cidr-block-association.ipv6-pool" => v
            .ipv6_cidr_blocks
            .iter()
            .filter_map(|c| c.pool.clone())
            .collect(),
        "ipv6-cidr-block-association.association-id" => v
            .ipv6_cidr_blocks
            .iter()
            .map(|c| c.association_id.to_string())
            .collect(),
        "ipv6-cidr-block-association.state" => v
            .ipv6_cidr_blocks
            .iter()
            .map(|c| c.state.as_str().to_owned())
            .collect(),
        _ => vec![],
    }
}

fn render_block(w: &mut Xml, block: &VpcCidrBlock) {
    w.leaf("associationId", &block.association_id)
        .leaf("cidrBlock", block.cidr)
        .el("cidrBlockState", |w| {
            w.leaf("state", block.state);
        });
}

fn render_ipv6_block(w: &mut Xml, block: &VpcIpv6CidrBlock) {
    w.leaf("associationId", &block.association_id)
        .leaf("ipv6CidrBlock", block.cidr)
        .el("ipv6CidrBlockState", |w| {
            w.leaf("state", block.state);
        })
        .leaf("networkBorderGroup", &block.network_border_group)
        .opt("ipv6Pool", block.pool.as_deref());
}

pub fn render(w: &mut Xml, vpc: &Vpc, account: &str) {
    render_as(w, vpc, account, "available")
}

/// `vpc` in `state`: CreateVpc and CreateDefaultVpc answer `pending`, as EC2 does (its
/// recorded answers); Describe shows the VPC `available`.
fn render_as(w: &mut Xml, vpc: &Vpc, account: &str, state: &str) {
    w.leaf("vpcId", &vpc.id)
        .leaf("ownerId", account)
        .leaf("state", state)
        .leaf("cidrBlock", vpc.primary_cidr())
        .set("cidrBlockAssociationSet", &vpc.cidr_blocks, |w, block| {
            render_block(w, block)
        })
        .set(
            "ipv6CidrBlockAssociationSet",
            &vpc.ipv6_cidr_blocks,
            render_ipv6_block,
        )
        .leaf("dhcpOptionsId", vpc.dhcp_options_text())
        .leaf("instanceTenancy", &vpc.instance_tenancy)
        .leaf("isDefault", b(vpc.is_default))
        .tags(&vpc.tags);
}
