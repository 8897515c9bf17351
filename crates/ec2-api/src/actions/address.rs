//! Elastic IP actions.

use fort_control::Region;
use fort_control::address::{AllocateAddress, AssociateAddress};
use fort_model::{Address, AllocationId, ApiError, EipAssociationId, ErrorCode, Kind, cidr};

use super::{Ctx, Describe, next_token, ok_return};
use crate::filter::Filters;
use crate::xml::Xml;

crate::actions!(
    AllocateAddress,
    AssociateAddress,
    DisassociateAddress,
    ReleaseAddress,
    DescribeAddresses,
    DescribeAddressesAttribute,
    ModifyAddressAttribute,
    ResetAddressAttribute,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::AllocateAddress => {
            if p.get("CustomerOwnedIpv4Pool").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Customer-owned IP pools are not supported.",
                ));
            }
            let req = AllocateAddress {
                address: p.opt_str("Address"),
                public_ipv4_pool: p.opt_str("PublicIpv4Pool"),
                network_border_group: p.opt_str("NetworkBorderGroup"),
                tags: ctx.tag_specs(&["elastic-ip"])?,
            };
            let a = ctx.write(|tx| tx.allocate_address(req)).await?;
            let mut w = Xml::new();
            w.leaf("publicIp", a.public_ip)
                .leaf("domain", "vpc")
                .leaf("allocationId", &a.allocation_id)
                .leaf("publicIpv4Pool", "amazon")
                .leaf("networkBorderGroup", &a.network_border_group);
            Ok(w)
        }
        Action::AssociateAddress => {
            let allow_reassociation = p.bool("AllowReassociation")?.unwrap_or(true);
            // Parsed after AllowReassociation, whose bad value was reported first.
            let allocation_id = p.get("AllocationId").map(AllocationId::parse).transpose()?;
            let req = AssociateAddress {
                allocation_id,
                public_ip: p.opt_str("PublicIp"),
                instance_id: p.opt_str("InstanceId"),
                network_interface_id: p.opt_str("NetworkInterfaceId"),
                private_ip: p.opt_str("PrivateIpAddress"),
                allow_reassociation,
            };
            let id = ctx.write(|tx| tx.associate_address(req)).await?;
            let mut w = Xml::new();
            w.leaf("return", "true").leaf("associationId", id);
            Ok(w)
        }
        Action::DisassociateAddress => {
            let assoc = p
                .get("AssociationId")
                .map(EipAssociationId::parse)
                .transpose()?;
            let ip = p.get("PublicIp");
            ctx.write(|tx| tx.disassociate_address(assoc.as_ref(), ip))
                .await?;
            Ok(ok_return())
        }
        Action::ReleaseAddress => {
            let alloc = p.get("AllocationId");
            let ip = p.get("PublicIp");
            if let Some(g) = p.get("NetworkBorderGroup")
                && g != ctx.scope.region
            {
                return Err(ApiError::bad_param("NetworkBorderGroup", g, ""));
            }
            let alloc = alloc.map(AllocationId::parse).transpose()?;
            ctx.write(|tx| tx.release_address(alloc.as_ref(), ip))
                .await?;
            Ok(ok_return())
        }
        Action::DescribeAddressesAttribute => {
            attribute_name(p.get("Attribute"))?;
            let d = Describe {
                ids_param: "AllocationId",
                kind: Kind::Allocation,
                filters: &[],
                page: Some((1, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.addresses.values(),
                    |x| &x.allocation_id,
                    |x| &x.tags,
                    |_, _| Vec::new(),
                )?;
                let mut w = Xml::new();
                w.set("addressSet", page.items, |w, a| {
                    render_attribute(w, a, None)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyAddressAttribute | Action::ResetAddressAttribute => {
            let id = AllocationId::parse(p.req("AllocationId")?)?;
            let name = match action {
                Action::ModifyAddressAttribute => Some(p.req("DomainName")?),
                _ => {
                    attribute_name(Some(p.req("Attribute")?))?;
                    None
                }
            };
            let (before, update) = ctx.write(|tx| tx.set_address_ptr_record(&id, name)).await?;
            let mut w = Xml::new();
            w.el("address", |w| {
                render_attribute(w, &before, Some(update.as_deref()))
            });
            Ok(w)
        }
        Action::DescribeAddresses => {
            let alloc_ids = p.strings("AllocationId")?;
            let public_ips = p.strings("PublicIp")?;
            let filters = Filters::parse(p, FILTERS)?;
            ctx.read(|v| {
                let r = v.region;
                for id in &alloc_ids {
                    r.addresses.find(Kind::Allocation, id)?;
                }
                for ip in &public_ips {
                    // EC2 checks the form of each PublicIp as a parameter value
                    // (InvalidParameterValue), not as an address (InvalidAddress.*).
                    let parsed = cidr::parse_addr(ip).ok_or_else(|| {
                        ApiError::invalid_value(format!(
                            "Invalid value '{ip}' for PublicIp. Not a valid IPv4 address"
                        ))
                    })?;
                    if !r.addresses.values().any(|a| a.public_ip == parsed) {
                        return Err(ApiError::new(
                            ErrorCode::InvalidAddressNotFound,
                            format!("Address '{ip}' not found."),
                        ));
                    }
                }
                // in the order of their public addresses
                let mut items: Vec<&Address> = r
                    .addresses
                    .values()
                    .filter(|a| {
                        (alloc_ids.is_empty() || alloc_ids.iter().any(|x| *x == a.allocation_id))
                            && (public_ips.is_empty()
                                || public_ips.iter().any(|ip| *ip == a.public_ip.to_string()))
                            && filters.matches(&a.tags, |n| field(r, a, n))
                    })
                    .collect();
                items.sort_by_key(|a| a.public_ip);
                let mut w = Xml::new();
                w.set("addressesSet", items, |w, a| render(w, r, a));
                Ok(w)
            })
            .await?
        }
    }
}

const FILTERS: &[&str] = &[
    "allocation-id",
    "association-id",
    "domain",
    "instance-id",
    "network-border-group",
    "network-interface-id",
    "network-interface-owner-id",
    "private-ip-address",
    "public-ip",
    "public-ipv4-pool",
];

/// The instance an address is mapped to, through its interface's attachment.
fn instance_of(r: &Region, a: &Address) -> Option<String> {
    let assoc = a.association.as_ref()?;
    let eni = r.network_interfaces.get(&assoc.network_interface_id)?;
    eni.attachment.as_ref().map(|at| at.instance_id.to_string())
}

fn field(r: &Region, a: &Address, name: &str) -> Vec<String> {
    let assoc = a.association.as_ref();
    match name {
        "allocation-id" => vec![a.allocation_id.to_string()],
        "association-id" => assoc.map(|s| s.id.to_string()).into_iter().collect(),
        "domain" => vec!["vpc".into()],
        "instance-id" => instance_of(r, a).into_iter().collect(),
        "network-border-group" => vec![a.network_border_group.clone()],
        "network-interface-id" => assoc
            .map(|s| s.network_interface_id.to_string())
            .into_iter()
            .collect(),
        "network-interface-owner-id" => assoc.map(|_| r.account.clone()).into_iter().collect(),
        "private-ip-address" => assoc
            .map(|s| s.private_ip.to_string())
            .into_iter()
            .collect(),
        "public-ip" => vec![a.public_ip.to_string()],
        "public-ipv4-pool" => vec!["amazon".into()],
        _ => vec![],
    }
}

fn render(w: &mut Xml, r: &Region, a: &Address) {
    w.leaf("publicIp", a.public_ip)
        .leaf("allocationId", &a.allocation_id)
        .leaf("domain", "vpc");
    if let Some(s) = &a.association {
        w.opt("instanceId", instance_of(r, a))
            .leaf("associationId", &s.id)
            .leaf("networkInterfaceId", &s.network_interface_id)
            .leaf("networkInterfaceOwnerId", &r.account)
            .leaf("privateIpAddress", s.private_ip);
        if let Some(e) = r.network_interfaces.get(&s.network_interface_id) {
            w.leaf("subnetId", &e.subnet_id);
        }
    }
    w.tags(&a.tags)
        .leaf("publicIpv4Pool", "amazon")
        .leaf("networkBorderGroup", &a.network_border_group);
}

/// The one attribute of an address: `domain-name` (its reverse DNS record).
fn attribute_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        None | Some("domain-name") => Ok(()),
        Some(other) => Err(ApiError::bad_param(
            "Attribute",
            other,
            "Valid values: domain-name.",
        )),
    }
}

/// An address's attribute item; `update` is the change just asked for, which EC2 shows as
/// pending beside the record as it was.
fn render_attribute(w: &mut Xml, a: &Address, update: Option<Option<&str>>) {
    w.leaf("publicIp", a.public_ip)
        .leaf("allocationId", &a.allocation_id)
        .opt("ptrRecord", a.ptr_record.as_deref());
    if let Some(value) = update {
        w.el("ptrRecordUpdate", |w| {
            w.opt("value", value).leaf("status", "PENDING");
        });
    }
}
