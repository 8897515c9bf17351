//! Subnet actions.

use fort_control::Region;
use fort_control::subnet::{CreateSubnet, SubnetAttribute};
use fort_model::{ApiError, CidrBlockState, ErrorCode, Kind, Subnet, SubnetIpv6CidrBlock};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateSubnet,
    DeleteSubnet,
    DescribeSubnets,
    ModifySubnetAttribute,
    CreateDefaultSubnet,
    AssociateSubnetCidrBlock,
    DisassociateSubnetCidrBlock,
);

/// A boolean attribute of ModifySubnetAttribute: its parameter (`NAME.Value`), and the
/// change it asks for.
type Flag = (&'static str, fn(bool) -> SubnetAttribute);

const FLAGS: &[Flag] = &[
    ("MapPublicIpOnLaunch", SubnetAttribute::MapPublicIpOnLaunch),
    (
        "AssignIpv6AddressOnCreation",
        SubnetAttribute::AssignIpv6AddressOnCreation,
    ),
    ("EnableDns64", SubnetAttribute::EnableDns64),
    (
        "EnableResourceNameDnsARecordOnLaunch",
        SubnetAttribute::EnableResourceNameDnsARecordOnLaunch,
    ),
    (
        "EnableResourceNameDnsAAAARecordOnLaunch",
        SubnetAttribute::EnableResourceNameDnsAAAARecordOnLaunch,
    ),
];

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateSubnet => {
            if p.get("Ipv4IpamPoolId").is_some() || p.get("Ipv6IpamPoolId").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "IPAM pools are not supported.",
                ));
            }
            let req = CreateSubnet {
                vpc_id: p.req("VpcId")?.to_owned(),
                cidr_block: p.opt_str("CidrBlock"),
                ipv6_cidr_block: p.opt_str("Ipv6CidrBlock"),
                ipv6_native: p.bool("Ipv6Native")?.unwrap_or(false),
                availability_zone: p.opt_str("AvailabilityZone"),
                availability_zone_id: p.opt_str("AvailabilityZoneId"),
                tags: ctx.tag_specs(&["subnet"])?,
            };
            let subnet = ctx.write(|tx| tx.create_subnet(req)).await?;
            render_one(ctx, &subnet).await
        }
        Action::CreateDefaultSubnet => {
            let zone = p.req("AvailabilityZone")?;
            let subnet = ctx.write(|tx| tx.create_default_subnet(zone)).await?;
            render_one(ctx, &subnet).await
        }
        Action::AssociateSubnetCidrBlock => {
            let id = p.req("SubnetId")?;
            if p.get("Ipv6IpamPoolId").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "IPAM pools are not supported.",
                ));
            }
            let cidr = p.req("Ipv6CidrBlock")?;
            let mut block = ctx
                .write(|tx| tx.associate_subnet_cidr_block(id, cidr))
                .await?;
            // EC2 answers the association in progress; it is done by the next Describe
            block.state = CidrBlockState::Associating;
            let mut w = Xml::new();
            w.leaf("subnetId", id)
                .el("ipv6CidrBlockAssociation", |w| render_ipv6_block(w, &block));
            Ok(w)
        }
        Action::DisassociateSubnetCidrBlock => {
            let assoc = p.req("AssociationId")?;
            let (subnet_id, mut block) = ctx
                .write(|tx| tx.disassociate_subnet_cidr_block(assoc))
                .await?;
            block.state = CidrBlockState::Disassociating;
            let mut w = Xml::new();
            w.leaf("subnetId", subnet_id)
                .el("ipv6CidrBlockAssociation", |w| render_ipv6_block(w, &block));
            Ok(w)
        }
        Action::DeleteSubnet => {
            let id = p.req("SubnetId")?;
            ctx.write(|tx| tx.delete_subnet(id)).await?;
            Ok(ok_return())
        }
        Action::DescribeSubnets => {
            let d = Describe {
                ids_param: "SubnetId",
                kind: Kind::Subnet,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.subnets.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(v.region, x, n),
                )?;
                let mut w = Xml::new();
                w.set("subnetSet", page.items, |w, s| {
                    render(w, v.region, s, false)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifySubnetAttribute => {
            let id = p.req("SubnetId")?;
            use SubnetAttribute as A;
            let mut given = Vec::new();
            for &(name, attribute) in FLAGS {
                if let Some(on) = p.child(name).bool("Value")? {
                    given.push(attribute(on));
                }
            }
            if let Some(v) = p.get("PrivateDnsHostnameTypeOnLaunch") {
                given.push(A::PrivateDnsHostnameTypeOnLaunch(super::hostname_type(
                    "PrivateDnsHostnameTypeOnLaunch",
                    v,
                )?));
            }
            if p.get("MapCustomerOwnedIpOnLaunch.Value").is_some()
                || p.child("MapCustomerOwnedIpOnLaunch").is_present()
            {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Customer-owned IP pools are not supported.",
                ));
            }
            let [attribute] = given[..] else {
                return Err(if given.is_empty() {
                    ApiError::missing("MapPublicIpOnLaunch")
                } else {
                    ApiError::combination("Only one attribute may be modified per request.")
                });
            };
            ctx.write(|tx| tx.modify_subnet_attribute(id, attribute))
                .await?;
            Ok(ok_return())
        }
    }
}

async fn render_one(ctx: &Ctx<'_>, subnet: &Subnet) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let mut w = Xml::new();
        // A new subnet's answer has its (maybe empty) tag set; Describe leaves an
        // empty one out.
        w.el("subnet", |w| render(w, v.region, subnet, true));
        w
    })
    .await
}

const FILTERS: &[&str] = &[
    "availability-zone",
    "availability-zone-id",
    "availableIpAddressCount",
    "available-ip-address-count",
    "cidr",
    "cidr-block",
    "cidrBlock",
    "default-for-az",
    "defaultForAz",
    "enable-dns64",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "ipv6-native",
    "map-customer-owned-ip-on-launch",
    "map-public-ip-on-launch",
    "private-dns-name-options-on-launch.hostname-type",
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
    "owner-id",
    "state",
    "subnet-arn",
    "subnet-id",
    "vpc-id",
];

fn field(region: &Region, s: &Subnet, name: &str) -> Vec<String> {
    let blocks = |f: fn(&SubnetIpv6CidrBlock) -> String| s.ipv6_cidr_blocks.iter().map(f).collect();
    let v = match name {
        "ipv6-cidr-block-association.ipv6-cidr-block" => return blocks(|b| b.cidr.to_string()),
        "ipv6-cidr-block-association.association-id" => {
            return blocks(|b| b.association_id.to_string());
        }
        "ipv6-cidr-block-association.state" => return blocks(|b| b.state.as_str().to_owned()),
        "enable-dns64" => b(s.enable_dns64).into(),
        "ipv6-native" => b(s.cidr.is_none()).into(),
        "map-customer-owned-ip-on-launch" => "false".into(),
        "private-dns-name-options-on-launch.hostname-type" => s
            .private_dns_name_options_on_launch
            .hostname_type
            .to_string(),
        "private-dns-name-options-on-launch.enable-resource-name-dns-a-record" => b(s
            .private_dns_name_options_on_launch
            .enable_resource_name_dns_a_record)
        .into(),
        "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record" => b(s
            .private_dns_name_options_on_launch
            .enable_resource_name_dns_aaaa_record)
        .into(),
        "availability-zone" => s.availability_zone.clone(),
        "availability-zone-id" => s.availability_zone_id.clone(),
        "availableIpAddressCount" | "available-ip-address-count" => {
            region.available_addresses(s).to_string()
        }
        "cidr" | "cidr-block" | "cidrBlock" => match s.cidr {
            Some(net) => net.to_string(),
            None => return vec![],
        },
        "default-for-az" | "defaultForAz" => b(s.default_for_az).into(),
        "map-public-ip-on-launch" => b(s.map_public_ip_on_launch).into(),
        "owner-id" => region.account.clone(),
        "state" => "available".into(),
        "subnet-arn" => arn(region, s),
        "subnet-id" => s.id.to_string(),
        "vpc-id" => s.vpc_id.to_string(),
        _ => return vec![],
    };
    vec![v]
}

fn arn(region: &Region, s: &Subnet) -> String {
    format!(
        "arn:aws:ec2:{}:{}:subnet/{}",
        region.name, region.account, s.id
    )
}

fn render_ipv6_block(w: &mut Xml, block: &SubnetIpv6CidrBlock) {
    w.leaf("associationId", &block.association_id)
        .leaf("ipv6CidrBlock", block.cidr)
        .el("ipv6CidrBlockState", |w| {
            w.leaf("state", block.state);
        });
}

pub fn render(w: &mut Xml, region: &Region, s: &Subnet, empty_tags: bool) {
    w.leaf("subnetId", &s.id)
        .leaf("subnetArn", arn(region, s))
        .leaf("state", "available")
        .leaf("vpcId", &s.vpc_id)
        .opt("cidrBlock", s.cidr)
        .set(
            "ipv6CidrBlockAssociationSet",
            &s.ipv6_cidr_blocks,
            render_ipv6_block,
        )
        .leaf("availableIpAddressCount", region.available_addresses(s))
        .leaf("availabilityZone", &s.availability_zone)
        .leaf("availabilityZoneId", &s.availability_zone_id)
        .leaf("defaultForAz", b(s.default_for_az))
        .leaf("mapPublicIpOnLaunch", b(s.map_public_ip_on_launch))
        .leaf("mapCustomerOwnedIpOnLaunch", "false")
        .leaf(
            "assignIpv6AddressOnCreation",
            b(s.assign_ipv6_address_on_creation),
        )
        .leaf("ipv6Native", b(s.cidr.is_none()))
        .leaf("enableDns64", b(s.enable_dns64))
        .leaf("ownerId", &region.account)
        .el("privateDnsNameOptionsOnLaunch", |w| {
            super::render_private_dns_name_options(w, &s.private_dns_name_options_on_launch)
        });
    if empty_tags {
        w.tag_set(&s.tags);
    } else {
        w.tags(&s.tags);
    }
}
