//! Network interface actions.

use fort_control::Region;
use fort_control::network_interface::{
    CreateNetworkInterface, EniChange, Ipv6Request, private_dns_name,
};
use fort_model::{
    ApiError, AttachmentId, ErrorCode, Kind, NetworkInterface, NetworkInterfaceId,
    PublicIpAssociation, format_time,
};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateNetworkInterface,
    DeleteNetworkInterface,
    DescribeNetworkInterfaces,
    AttachNetworkInterface,
    DetachNetworkInterface,
    ModifyNetworkInterfaceAttribute,
    DescribeNetworkInterfaceAttribute,
    ResetNetworkInterfaceAttribute,
    AssignPrivateIpAddresses,
    UnassignPrivateIpAddresses,
    AssignIpv6Addresses,
    UnassignIpv6Addresses,
);

/// `Ipv6Addresses.N.Ipv6Address` (or `Ipv6Address.N` at the top of RunInstances) and
/// `Ipv6AddressCount` under `p`.
pub(crate) fn ipv6_request(p: &Params, list: &str) -> Result<Ipv6Request, ApiError> {
    let addresses = p
        .list(list)?
        .into_iter()
        .map(|i| i.req("Ipv6Address").map(str::to_owned))
        .collect::<Result<_, _>>()?;
    Ok(Ipv6Request {
        addresses,
        count: p.int("Ipv6AddressCount")?,
    })
}

/// `PrivateIpAddresses.N.{PrivateIpAddress,Primary}`.
pub(crate) fn private_ip_specs(p: &Params, name: &str) -> Result<Vec<(String, bool)>, ApiError> {
    p.list(name)?
        .into_iter()
        .map(|i| {
            Ok((
                i.req("PrivateIpAddress")?.to_owned(),
                i.bool("Primary")?.unwrap_or(false),
            ))
        })
        .collect()
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateNetworkInterface => {
            if p.child("Ipv6Prefix").is_present() || p.get("Ipv6PrefixCount").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort does not assign IPv6 prefixes yet.",
                ));
            }
            let req = CreateNetworkInterface {
                subnet_id: p.req("SubnetId")?.to_owned(),
                description: p.opt_str("Description"),
                private_ip: p.opt_str("PrivateIpAddress"),
                private_ips: private_ip_specs(p, "PrivateIpAddresses")?,
                secondary_count: p.int("SecondaryPrivateIpAddressCount")?,
                ipv6: ipv6_request(p, "Ipv6Addresses")?,
                groups: p.strings("SecurityGroupId")?,
                interface_type: p.opt_str("InterfaceType"),
                tags: ctx.tag_specs(&["network-interface"])?,
                client_token: ctx.client_token()?,
            };
            let client_token = p.opt_str("ClientToken");
            let eni = ctx.write(|tx| tx.create_network_interface(req)).await?;
            ctx.read(|v| {
                let mut w = Xml::new();
                w.el("networkInterface", |w| render(w, v.region, &eni));
                w.opt("clientToken", client_token.as_deref());
                w
            })
            .await
        }
        Action::DeleteNetworkInterface => {
            let id = NetworkInterfaceId::parse(p.req("NetworkInterfaceId")?)?;
            ctx.write(|tx| tx.delete_network_interface(&id)).await?;
            Ok(ok_return())
        }
        Action::DescribeNetworkInterfaces => {
            let d = Describe {
                ids_param: "NetworkInterfaceId",
                kind: Kind::NetworkInterface,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.network_interfaces.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(v.region, x, n),
                )?;
                let mut w = Xml::new();
                w.set("networkInterfaceSet", page.items, |w, e| {
                    render(w, v.region, e)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::AttachNetworkInterface => {
            let eni = p.req("NetworkInterfaceId")?;
            let inst = p.req("InstanceId")?;
            let index = p
                .int("DeviceIndex")?
                .ok_or_else(|| ApiError::missing("DeviceIndex"))?;
            if p.int("NetworkCardIndex")?.is_some_and(|n| n != 0) {
                return Err(ApiError::invalid_value(
                    "Fort instances have one network card: NetworkCardIndex must be 0.",
                ));
            }
            let eni = NetworkInterfaceId::parse(eni)?;
            let id = ctx
                .write(|tx| tx.attach_network_interface(&eni, inst, index))
                .await?;
            let mut w = Xml::new();
            w.leaf("attachmentId", id).leaf("networkCardIndex", 0);
            Ok(w)
        }
        Action::DetachNetworkInterface => {
            let id = p.req("AttachmentId")?;
            p.bool("Force")?;
            let id = AttachmentId::parse(id)?;
            ctx.write(|tx| tx.detach_network_interface(&id)).await?;
            Ok(ok_return())
        }
        Action::ModifyNetworkInterfaceAttribute => {
            let id = p.req("NetworkInterfaceId")?;
            let mut changes = Vec::new();
            if let Some(d) = p.child("Description").get("Value") {
                changes.push(EniChange::Description(d.to_owned()));
            }
            if let Some(v) = p.attr_bool("SourceDestCheck")? {
                changes.push(EniChange::SourceDestCheck(v));
            }
            let groups = p.strings("SecurityGroupId")?;
            if !groups.is_empty() {
                changes.push(EniChange::Groups(groups));
            }
            let att = p.child("Attachment");
            if att.is_present() {
                changes.push(EniChange::DeleteOnTermination {
                    attachment_id: att.req("AttachmentId")?.to_owned(),
                    value: att
                        .bool("DeleteOnTermination")?
                        .ok_or_else(|| ApiError::missing("Attachment.DeleteOnTermination"))?,
                });
            }
            if changes.len() > 1 {
                return Err(ApiError::combination(
                    "Fields for multiple attribute types specified: only one attribute may be modified per request.",
                ));
            }
            let Some(change) = changes.pop() else {
                return Err(ApiError::missing("Attribute"));
            };
            let id = NetworkInterfaceId::parse(id)?;
            ctx.write(|tx| tx.modify_network_interface_attribute(&id, change))
                .await?;
            Ok(ok_return())
        }
        Action::ResetNetworkInterfaceAttribute => {
            let id = p.req("NetworkInterfaceId")?;
            match p.req("SourceDestCheck")? {
                "sourceDestCheck" => {}
                other => {
                    return Err(ApiError::bad_param(
                        "SourceDestCheck",
                        other,
                        "Valid values: sourceDestCheck.",
                    ));
                }
            }
            let id = NetworkInterfaceId::parse(id)?;
            ctx.write(|tx| {
                tx.modify_network_interface_attribute(&id, EniChange::SourceDestCheck(true))
            })
            .await?;
            Ok(ok_return())
        }
        Action::DescribeNetworkInterfaceAttribute => {
            let id = p.req("NetworkInterfaceId")?;
            let attr = p.req("Attribute")?;
            ctx.read(|v| {
                let e = v
                    .region
                    .network_interfaces
                    .find(Kind::NetworkInterface, id)?;
                let mut w = Xml::new();
                w.leaf("networkInterfaceId", &e.id);
                match attr {
                    "description" => {
                        w.el("description", |w| {
                            w.leaf("value", &e.description);
                        });
                    }
                    "groupSet" => {
                        groups(&mut w, v.region, e);
                    }
                    "sourceDestCheck" => {
                        w.el("sourceDestCheck", |w| {
                            w.leaf("value", b(e.source_dest_check));
                        });
                    }
                    "attachment" => attachment(&mut w, v.region, e),
                    "associatePublicIpAddress" => {
                        w.leaf(
                            "associatePublicIpAddress",
                            b(e.associations.iter().any(|a| a.allocation_id.is_none())),
                        );
                    }
                    other => {
                        return Err(ApiError::bad_param(
                            "Attribute",
                            other,
                            "Valid values: description, groupSet, sourceDestCheck, attachment, associatePublicIpAddress.",
                        ));
                    }
                }
                Ok(w)
            })
            .await?
        }
        Action::AssignPrivateIpAddresses => {
            let id = p.req("NetworkInterfaceId")?;
            if p.child("Ipv4Prefix").is_present() || p.get("Ipv4PrefixCount").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort does not assign IPv4 prefixes yet.",
                ));
            }
            let ips = p.strings("PrivateIpAddress")?;
            let count = p.int("SecondaryPrivateIpAddressCount")?;
            let allow = p.bool("AllowReassignment")?.unwrap_or(false);
            let eni = NetworkInterfaceId::parse(id)?;
            let assigned = ctx
                .write(|tx| tx.assign_private_ip_addresses(&eni, &ips, count, allow))
                .await?;
            let mut w = Xml::new();
            w.leaf("networkInterfaceId", id)
                .set("assignedPrivateIpAddressesSet", assigned, |w, ip| {
                    w.leaf("privateIpAddress", ip);
                })
                .set("assignedIpv4PrefixSet", [(); 0], |_, ()| {});
            Ok(w)
        }
        Action::AssignIpv6Addresses => {
            let id = p.req("NetworkInterfaceId")?;
            if p.child("Ipv6Prefix").is_present() || p.get("Ipv6PrefixCount").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort does not assign IPv6 prefixes yet.",
                ));
            }
            let req = Ipv6Request {
                addresses: p.strings("Ipv6Addresses")?,
                count: p.int("Ipv6AddressCount")?,
            };
            let eni = NetworkInterfaceId::parse(id)?;
            let assigned = ctx.write(|tx| tx.assign_ipv6_addresses(&eni, &req)).await?;
            let mut w = Xml::new();
            w.leaf("networkInterfaceId", id)
                .strings("assignedIpv6Addresses", assigned)
                .set("assignedIpv6PrefixSet", [(); 0], |_, ()| {});
            Ok(w)
        }
        Action::UnassignIpv6Addresses => {
            let id = p.req("NetworkInterfaceId")?;
            let ips = p.strings("Ipv6Addresses")?;
            let eni = NetworkInterfaceId::parse(id)?;
            let gone = ctx
                .write(|tx| tx.unassign_ipv6_addresses(&eni, &ips))
                .await?;
            let mut w = Xml::new();
            w.leaf("networkInterfaceId", id)
                .strings("unassignedIpv6Addresses", gone)
                .set("unassignedIpv6PrefixSet", [(); 0], |_, ()| {});
            Ok(w)
        }
        Action::UnassignPrivateIpAddresses => {
            let id = p.req("NetworkInterfaceId")?;
            let ips = p.strings("PrivateIpAddress")?;
            let id = NetworkInterfaceId::parse(id)?;
            ctx.write(|tx| tx.unassign_private_ip_addresses(&id, &ips))
                .await?;
            Ok(ok_return())
        }
    }
}

const FILTERS: &[&str] = &[
    "addresses.private-ip-address",
    "addresses.primary",
    "addresses.association.public-ip",
    "addresses.association.owner-id",
    "association.allocation-id",
    "association.association-id",
    "association.ip-owner-id",
    "association.public-ip",
    "association.public-dns-name",
    "attachment.attachment-id",
    "attachment.attach-time",
    "attachment.delete-on-termination",
    "attachment.device-index",
    "attachment.instance-id",
    "attachment.instance-owner-id",
    "attachment.status",
    "availability-zone",
    "description",
    "group-id",
    "group-name",
    "interface-type",
    "ipv6-addresses.ipv6-address",
    "ipv6-address",
    "mac-address",
    "network-interface-id",
    "owner-id",
    "private-dns-name",
    "private-ip-address",
    "requester-id",
    "requester-managed",
    "source-dest-check",
    "status",
    "subnet-id",
    "vpc-id",
];

fn ip_owner(region: &Region, a: &PublicIpAssociation) -> String {
    if a.allocation_id.is_some() {
        region.account.clone()
    } else {
        "amazon".into()
    }
}

fn field(region: &Region, e: &NetworkInterface, name: &str) -> Vec<String> {
    let att = e.attachment.as_ref();
    let primary_assoc = e
        .associations
        .iter()
        .find(|a| Some(a.private_ip) == e.private_ip);
    let one = |v: String| vec![v];
    match name {
        "addresses.private-ip-address" => e.private_ips().map(|i| i.to_string()).collect(),
        "addresses.primary" => {
            let mut v = vec!["true".to_owned()];
            if !e.secondary_ips.is_empty() {
                v.push("false".into());
            }
            v
        }
        "addresses.association.public-ip" | "association.public-ip" => e
            .associations
            .iter()
            .map(|a| a.public_ip.to_string())
            .collect(),
        "addresses.association.owner-id" | "association.ip-owner-id" => {
            e.associations.iter().map(|a| ip_owner(region, a)).collect()
        }
        "association.allocation-id" => e
            .associations
            .iter()
            .filter_map(|a| a.allocation_id.as_ref().map(ToString::to_string))
            .collect(),
        "association.association-id" => e
            .associations
            .iter()
            .filter_map(|a| a.association_id.as_ref().map(ToString::to_string))
            .collect(),
        "association.public-dns-name" => primary_assoc
            .and_then(|a| region.public_dns_for(&e.vpc_id, a.public_ip))
            .into_iter()
            .collect(),
        "attachment.attachment-id" => att.map(|a| a.id.to_string()).into_iter().collect(),
        "attachment.attach-time" => att
            .map(|a| format_time(a.attach_time))
            .into_iter()
            .collect(),
        "attachment.delete-on-termination" => att
            .map(|a| b(a.delete_on_termination).to_owned())
            .into_iter()
            .collect(),
        "attachment.device-index" => att
            .map(|a| a.device_index.to_string())
            .into_iter()
            .collect(),
        "attachment.instance-id" => att.map(|a| a.instance_id.to_string()).into_iter().collect(),
        "attachment.instance-owner-id" => att.map(|_| region.account.clone()).into_iter().collect(),
        "attachment.status" => att
            .map(|a| a.status.as_str().to_owned())
            .into_iter()
            .collect(),
        "availability-zone" => one(e.availability_zone.clone()),
        "description" => one(e.description.clone()),
        "group-id" => e.security_groups.iter().map(ToString::to_string).collect(),
        "group-name" => e
            .security_groups
            .iter()
            .filter_map(|g| region.security_groups.get(g).map(|s| s.name.clone()))
            .collect(),
        "interface-type" => one(e.interface_type.clone()),
        "ipv6-addresses.ipv6-address" | "ipv6-address" => {
            e.ipv6_addresses.iter().map(ToString::to_string).collect()
        }
        "mac-address" => one(e.mac_address.clone()),
        "network-interface-id" => one(e.id.to_string()),
        "owner-id" => one(region.account.clone()),
        "private-dns-name" => e
            .private_ip
            .map(|ip| private_dns_name(&region.name, ip))
            .into_iter()
            .collect(),
        "private-ip-address" => e.private_ips().map(|i| i.to_string()).collect(),
        "requester-id" => vec![],
        "requester-managed" => one(b(e.requester_managed).into()),
        "source-dest-check" => one(b(e.source_dest_check).into()),
        "status" => one(Region::interface_status(e).into()),
        "subnet-id" => one(e.subnet_id.to_string()),
        "vpc-id" => one(e.vpc_id.to_string()),
        _ => vec![],
    }
}

/// `<groupSet>` of an interface: id and name of each group.
pub(crate) fn groups(w: &mut Xml, region: &Region, e: &NetworkInterface) {
    w.set("groupSet", &e.security_groups, |w, g| {
        w.leaf("groupId", g);
        w.leaf(
            "groupName",
            region
                .security_groups
                .get(g)
                .map_or("", |s| s.name.as_str()),
        );
    });
}

/// `<association>` of one public address mapping.
pub(crate) fn association(
    w: &mut Xml,
    region: &Region,
    e: &NetworkInterface,
    a: &PublicIpAssociation,
    full: bool,
) {
    w.el("association", |w| {
        w.leaf("publicIp", a.public_ip)
            .leaf(
                "publicDnsName",
                region
                    .public_dns_for(&e.vpc_id, a.public_ip)
                    .unwrap_or_default(),
            )
            .leaf("ipOwnerId", ip_owner(region, a));
        if full {
            w.opt("allocationId", a.allocation_id.as_deref())
                .opt("associationId", a.association_id.as_deref());
        }
    });
}

fn attachment(w: &mut Xml, region: &Region, e: &NetworkInterface) {
    if let Some(a) = &e.attachment {
        w.el("attachment", |w| {
            w.leaf("attachmentId", &a.id)
                .leaf("instanceId", &a.instance_id)
                .leaf("instanceOwnerId", &region.account)
                .leaf("deviceIndex", a.device_index)
                .leaf("status", a.status)
                .leaf("attachTime", format_time(a.attach_time))
                .leaf("deleteOnTermination", b(a.delete_on_termination))
                .leaf("networkCardIndex", 0);
        });
    }
}

/// The private addresses of an interface with their public mappings.
pub(crate) fn private_addresses(w: &mut Xml, region: &Region, e: &NetworkInterface, full: bool) {
    w.set("privateIpAddressesSet", e.private_ips(), |w, ip| {
        w.leaf("privateIpAddress", ip)
            .leaf("privateDnsName", private_dns_name(&region.name, ip))
            .leaf("primary", b(Some(ip) == e.private_ip));
        if let Some(a) = e.associations.iter().find(|a| a.private_ip == ip) {
            association(w, region, e, a, full);
        }
    });
}

pub fn render(w: &mut Xml, region: &Region, e: &NetworkInterface) {
    w.leaf("networkInterfaceId", &e.id)
        .leaf("subnetId", &e.subnet_id)
        .leaf("vpcId", &e.vpc_id)
        .leaf("availabilityZone", &e.availability_zone)
        .leaf("description", &e.description)
        .leaf("ownerId", &region.account)
        .leaf("requesterManaged", b(e.requester_managed))
        .leaf("status", Region::interface_status(e))
        .leaf("macAddress", &e.mac_address)
        .opt("privateIpAddress", e.private_ip)
        .opt(
            "privateDnsName",
            e.private_ip.map(|ip| private_dns_name(&region.name, ip)),
        )
        .leaf("sourceDestCheck", b(e.source_dest_check));
    groups(w, region, e);
    attachment(w, region, e);
    if let Some(a) = e
        .associations
        .iter()
        .find(|a| Some(a.private_ip) == e.private_ip)
    {
        association(w, region, e, a, true);
    }
    // even when empty, as EC2 answers (`TagSet: []` in its examples)
    w.tag_set(&e.tags);
    private_addresses(w, region, e, true);
    ipv6_addresses(w, e);
    // an interface of an IPv6-only subnet: no IPv4 address at all
    w.leaf("ipv6Native", b(e.private_ip.is_none()));
    w.leaf("interfaceType", &e.interface_type);
}

/// `<ipv6AddressesSet>` of an interface.
pub(crate) fn ipv6_addresses(w: &mut Xml, e: &NetworkInterface) {
    w.set("ipv6AddressesSet", &e.ipv6_addresses, |w, ip| {
        w.leaf("ipv6Address", ip);
    });
}
