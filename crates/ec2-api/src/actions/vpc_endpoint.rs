//! VPC endpoint actions, and DescribeVpcEndpointServices (the region's AWS services).

use fort_control::Region;
use fort_control::vpc_endpoint::{
    CreateVpcEndpoint, EndpointService, ModifyVpcEndpoint, SubnetConfiguration, no_such_service,
    services,
};
use fort_control::zones::zone_names;
use fort_model::{
    ApiError, ErrorCode, Kind, Tags, VpcEndpoint, VpcEndpointId, VpcEndpointState, VpcEndpointType,
    format_time,
};

use super::{Ctx, Describe, b, next_token};
use crate::filter::{Filters, paginate};
use crate::xml::Xml;

crate::actions!(
    CreateVpcEndpoint,
    ModifyVpcEndpoint,
    DeleteVpcEndpoints,
    DescribeVpcEndpoints,
    DescribeVpcEndpointServices,
);

/// The hosted zone of the region's `vpce.amazonaws.com` names (Fort's, fixed).
const VPCE_ZONE: &str = "Z7HUB22UULQXV";
/// The private hosted zone of an interface endpoint's private DNS name (Fort's, fixed).
const PRIVATE_ZONE: &str = "ZFORTPRIVATEDNS";

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVpcEndpoint => {
            for unsupported in [
                "ServiceNetworkArn",
                "ResourceConfigurationArn",
                "ServiceRegion",
            ] {
                if p.child(unsupported).is_present() {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedOperation,
                        format!("{unsupported} is not supported by Fort."),
                    ));
                }
            }
            if p.get("IpAddressType").is_some_and(|t| t != "ipv4") {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort endpoints are IPv4 only.",
                ));
            }
            let client_token = p.opt_str("ClientToken");
            let req = CreateVpcEndpoint {
                vpc_id: p.req("VpcId")?.to_owned(),
                service_name: p.opt_str("ServiceName"),
                endpoint_type: p.opt_str("VpcEndpointType"),
                policy_document: p.opt_str("PolicyDocument"),
                route_table_ids: p.strings("RouteTableId")?,
                subnet_ids: p.strings("SubnetId")?,
                subnet_configurations: subnet_configurations(p)?,
                security_group_ids: p.strings("SecurityGroupId")?,
                private_dns_enabled: p.bool("PrivateDnsEnabled")?,
                tags: ctx.tag_specs(&["vpc-endpoint"])?,
                client_token: ctx.client_token()?,
            };
            let id = ctx.write(|tx| tx.create_vpc_endpoint(req)).await?.id;
            ctx.read(|v| {
                let e = v
                    .region
                    .vpc_endpoints
                    .get(&id)
                    .ok_or_else(|| Kind::VpcEndpoint.not_found(&id))?;
                // EC2 answers an interface endpoint as it starts: `pending`.
                let state = match e.endpoint_type {
                    VpcEndpointType::Gateway => e.state,
                    _ => VpcEndpointState::Pending,
                };
                let mut w = Xml::new();
                w.el("vpcEndpoint", |w| render(w, v.region, e, state))
                    .opt("clientToken", client_token.as_deref());
                Ok(w)
            })
            .await?
        }
        Action::ModifyVpcEndpoint => {
            let req = ModifyVpcEndpoint {
                id: VpcEndpointId::parse(p.req("VpcEndpointId")?)?,
                policy_document: p.opt_str("PolicyDocument"),
                reset_policy: p.bool("ResetPolicy")?.unwrap_or(false),
                add_route_table_ids: p.strings("AddRouteTableId")?,
                remove_route_table_ids: p.strings("RemoveRouteTableId")?,
                add_subnet_ids: p.strings("AddSubnetId")?,
                remove_subnet_ids: p.strings("RemoveSubnetId")?,
                add_security_group_ids: p.strings("AddSecurityGroupId")?,
                remove_security_group_ids: p.strings("RemoveSecurityGroupId")?,
                private_dns_enabled: p.bool("PrivateDnsEnabled")?,
                subnet_configurations: subnet_configurations(p)?,
            };
            ctx.write(|tx| tx.modify_vpc_endpoint(req)).await?;
            Ok(super::ok_return())
        }
        Action::DeleteVpcEndpoints => {
            let ids = p.strings("VpcEndpointId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("VpcEndpointId"));
            }
            let failed = ctx.write(|tx| Ok(tx.delete_vpc_endpoints(&ids))).await?;
            let mut w = Xml::new();
            w.set("unsuccessful", failed, |w, (id, e)| {
                w.el("error", |w| {
                    w.leaf("code", e.code).leaf("message", &e.message);
                })
                .leaf("resourceId", id);
            });
            Ok(w)
        }
        Action::DescribeVpcEndpoints => {
            let d = Describe {
                ids_param: "VpcEndpointId",
                kind: Kind::VpcEndpoint,
                filters: FILTERS,
                page: Some((1, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.vpc_endpoints.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    field,
                )?;
                let mut w = Xml::new();
                w.set("vpcEndpointSet", page.items, |w, e| {
                    render(w, v.region, e, e.state)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeVpcEndpointServices => {
            let names = p.strings("ServiceName")?;
            let filters = Filters::parse(
                p,
                &[
                    "owner",
                    "service-name",
                    "service-region",
                    "service-type",
                    "supported-ip-address-types",
                ],
            )?;
            ctx.read(|v| {
                let region = &v.region.name;
                let all = services(region);
                for n in &names {
                    if !all.iter().any(|s| &s.name == n) {
                        return Err(no_such_service(n));
                    }
                }
                let empty = Tags::new();
                let selected: Vec<&EndpointService> = all
                    .iter()
                    .filter(|s| names.is_empty() || names.contains(&s.name))
                    .filter(|s| filters.matches(&empty, |f| service_field(region, s, f)))
                    .collect();
                let page = paginate(
                    selected,
                    |s| format!("{}/{}", s.name, s.endpoint_type),
                    p,
                    (5, 1000),
                )?;
                let mut unique: Vec<&str> = page.items.iter().map(|s| s.name.as_str()).collect();
                unique.dedup();
                let zones = zone_names(region);
                let mut w = Xml::new();
                w.strings("serviceNameSet", unique)
                    .set("serviceDetailSet", page.items, |w, s| {
                        render_service(w, region, &zones, s);
                    });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

const FILTERS: &[&str] = &[
    "ip-address-type",
    "service-name",
    "vpc-endpoint-id",
    "vpc-endpoint-state",
    "vpc-endpoint-type",
    "vpc-id",
];

fn field(e: &VpcEndpoint, name: &str) -> Vec<String> {
    match name {
        "ip-address-type" => vec!["ipv4".into()],
        "service-name" => vec![e.service_name.clone()],
        "vpc-endpoint-id" => vec![e.id.to_string()],
        "vpc-endpoint-state" => vec![e.state.as_str().into()],
        "vpc-endpoint-type" => vec![e.endpoint_type.as_str().into()],
        "vpc-id" => vec![e.vpc_id.to_string()],
        _ => vec![],
    }
}

fn service_field(region: &str, s: &EndpointService, name: &str) -> Vec<String> {
    match name {
        "owner" => vec!["amazon".into()],
        "service-name" => vec![s.name.clone()],
        "service-region" => vec![region.to_owned()],
        "service-type" => vec![s.endpoint_type.as_str().into()],
        "supported-ip-address-types" => vec!["ipv4".into()],
        _ => vec![],
    }
}

fn render_service(w: &mut Xml, region: &str, zones: &[String], s: &EndpointService) {
    let gateway = s.endpoint_type == VpcEndpointType::Gateway;
    let base = if gateway {
        format!("{}.{region}.amazonaws.com", s.short)
    } else {
        format!("{}.{region}.vpce.amazonaws.com", s.short)
    };
    let private = (!gateway).then(|| format!("{}.{region}.amazonaws.com", s.short));
    w.leaf("serviceName", &s.name)
        .leaf("serviceId", &s.id)
        .set("serviceType", [s.endpoint_type], |w, t| {
            w.leaf("serviceType", t);
        })
        .leaf("serviceRegion", region)
        .strings("availabilityZoneSet", zones)
        .leaf("owner", "amazon")
        .strings("baseEndpointDnsNameSet", [base])
        .opt("privateDnsName", private.as_deref());
    if let Some(name) = &private {
        w.set("privateDnsNameSet", [name], |w, n| {
            w.leaf("privateDnsName", n);
        });
    }
    w.leaf("vpcEndpointPolicySupported", "true")
        .leaf("acceptanceRequired", "false")
        .leaf("managesVpcEndpoints", "false");
    if !gateway {
        w.leaf("privateDnsNameVerificationState", "verified");
    }
    w.strings("supportedIpAddressTypeSet", ["ipv4"]);
}

/// `SubnetConfiguration.N.{SubnetId,Ipv4,Ipv6}`: Fort's endpoints are IPv4 only, so an
/// IPv6 address is refused as `IpAddressType` other than ipv4 is.
fn subnet_configurations(p: &crate::query::Params) -> Result<Vec<SubnetConfiguration>, ApiError> {
    p.list("SubnetConfiguration")?
        .into_iter()
        .map(|c| {
            if c.get("Ipv6").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort endpoints are IPv4 only.",
                ));
            }
            Ok(SubnetConfiguration {
                subnet_id: c.req("SubnetId")?.to_owned(),
                ipv4: c.opt_str("Ipv4"),
            })
        })
        .collect()
}

/// The DNS names of an interface endpoint: regional, one per zone, then the service's
/// own name when private DNS is on.
fn dns_entries(region: &Region, e: &VpcEndpoint) -> Vec<(String, &'static str)> {
    let zones: Vec<String> = e
        .subnet_ids()
        .filter_map(|s| region.subnets.get(s))
        .map(|s| s.availability_zone.clone())
        .collect();
    e.dns_names(&region.name, &zones)
        .into_iter()
        .map(|n| (n.name, if n.private { PRIVATE_ZONE } else { VPCE_ZONE }))
        .collect()
}

pub fn render(w: &mut Xml, region: &Region, e: &VpcEndpoint, state: VpcEndpointState) {
    let tables = e
        .route_table_ids
        .iter()
        .filter(|t| region.route_tables.contains(t));
    w.leaf("vpcEndpointId", &e.id)
        .leaf("vpcEndpointType", e.endpoint_type)
        .leaf("vpcId", &e.vpc_id)
        .leaf("serviceName", &e.service_name)
        // the region's own services only: a cross-region endpoint is not offered
        .leaf("serviceRegion", &region.name)
        .leaf("state", state)
        .leaf("policyDocument", &e.policy_document)
        .strings("routeTableIdSet", tables)
        .strings("subnetIdSet", e.subnet_ids())
        .set("groupSet", &e.security_group_ids, |w, g| {
            w.leaf("groupId", g).leaf(
                "groupName",
                region
                    .security_groups
                    .get(g)
                    .map(|x| x.name.as_str())
                    .unwrap_or_default(),
            );
        })
        .leaf("ipAddressType", "ipv4");
    if e.endpoint_type == VpcEndpointType::Interface {
        w.el("dnsOptions", |w| {
            w.leaf("dnsRecordIpType", "ipv4");
        });
    }
    w.leaf("privateDnsEnabled", b(e.private_dns_enabled))
        .leaf("requesterManaged", "false")
        .strings(
            "networkInterfaceIdSet",
            e.interfaces.iter().map(|i| &i.network_interface_id),
        )
        .set("dnsEntrySet", dns_entries(region, e), |w, (name, zone)| {
            w.leaf("dnsName", name).leaf("hostedZoneId", zone);
        })
        .leaf("creationTimestamp", format_time(e.create_time))
        // even when empty, as EC2 answers
        .tag_set(&e.tags)
        .leaf("ownerId", &region.account);
}
