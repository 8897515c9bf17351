//! Subnet actions.

use fort_control::Region;
use fort_control::subnet::CreateSubnet;
use fort_model::{ApiError, ErrorCode, Kind, Subnet};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateSubnet,
    DeleteSubnet,
    DescribeSubnets,
    ModifySubnetAttribute,
    CreateDefaultSubnet
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateSubnet => {
            if p.get("Ipv6CidrBlock").is_some() || p.bool("Ipv6Native")?.unwrap_or(false) {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort does not provide IPv6 blocks yet.",
                ));
            }
            let req = CreateSubnet {
                vpc_id: p.req("VpcId")?.to_owned(),
                cidr_block: p.opt_str("CidrBlock"),
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
                w.set("subnetSet", page.items, |w, s| render(w, v.region, s));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifySubnetAttribute => {
            let id = p.req("SubnetId")?;
            let mut given = Vec::new();
            for attr in [
                "MapPublicIpOnLaunch",
                "AssignIpv6AddressOnCreation",
                "EnableDns64",
                "EnableResourceNameDnsARecordOnLaunch",
                "EnableResourceNameDnsAAAARecordOnLaunch",
            ] {
                if let Some(v) = p.child(attr).get("Value") {
                    given.push((attr, v.to_owned()));
                }
            }
            if let Some(v) = p.get("PrivateDnsHostnameTypeOnLaunch") {
                given.push(("PrivateDnsHostnameTypeOnLaunch", v.to_owned()));
            }
            if p.get("MapCustomerOwnedIpOnLaunch.Value").is_some()
                || p.child("MapCustomerOwnedIpOnLaunch").is_present()
            {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Customer-owned IP pools are not supported.",
                ));
            }
            let [(attr, value)] = &given[..] else {
                return Err(if given.is_empty() {
                    ApiError::missing("MapPublicIpOnLaunch")
                } else {
                    ApiError::combination("Only one attribute may be modified per request.")
                });
            };
            ctx.write(|tx| tx.modify_subnet_attribute(id, attr, value))
                .await?;
            Ok(ok_return())
        }
    }
}

async fn render_one(ctx: &Ctx<'_>, subnet: &Subnet) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let mut w = Xml::new();
        w.el("subnet", |w| render(w, v.region, subnet));
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
    "map-public-ip-on-launch",
    "owner-id",
    "state",
    "subnet-arn",
    "subnet-id",
    "vpc-id",
];

fn field(region: &Region, s: &Subnet, name: &str) -> Vec<String> {
    let v = match name {
        "availability-zone" => s.availability_zone.clone(),
        "availability-zone-id" => s.availability_zone_id.clone(),
        "availableIpAddressCount" | "available-ip-address-count" => {
            region.available_addresses(s).to_string()
        }
        "cidr" | "cidr-block" | "cidrBlock" => s.cidr.to_string(),
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

pub fn render(w: &mut Xml, region: &Region, s: &Subnet) {
    w.leaf("subnetId", &s.id)
        .leaf("subnetArn", arn(region, s))
        .leaf("state", "available")
        .leaf("vpcId", &s.vpc_id)
        .leaf("cidrBlock", s.cidr)
        .set("ipv6CidrBlockAssociationSet", [(); 0], |_, ()| {})
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
        .leaf("ipv6Native", "false")
        .leaf("enableDns64", b(s.enable_dns64))
        .leaf("ownerId", &region.account)
        .el("privateDnsNameOptionsOnLaunch", |w| {
            w.leaf("hostnameType", &s.hostname_type)
                .leaf(
                    "enableResourceNameDnsARecord",
                    b(s.enable_resource_name_dns_a_record),
                )
                .leaf(
                    "enableResourceNameDnsAAAARecord",
                    b(s.enable_resource_name_dns_aaaa_record),
                );
        })
        .tags(&s.tags);
}
