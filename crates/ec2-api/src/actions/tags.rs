//! CreateTags, DeleteTags, DescribeTags: tags of every kind of resource.

use fort_model::{ApiError, Kind, Tags};

use super::{Ctx, next_token, ok_return};
use crate::filter::{Filters, paginate};
use crate::xml::Xml;

crate::actions!(CreateTags, DeleteTags, DescribeTags);

/// The `resourceType` DescribeTags shows for an id.
pub fn resource_type(id: &str) -> &'static str {
    match Kind::of(id) {
        Some(Kind::Vpc) => "vpc",
        Some(Kind::Subnet) => "subnet",
        Some(Kind::SubnetCidrReservation) => "subnet-cidr-reservation",
        Some(Kind::RouteTable) => "route-table",
        Some(Kind::InternetGateway) => "internet-gateway",
        Some(Kind::EgressOnlyInternetGateway) => "egress-only-internet-gateway",
        Some(Kind::CarrierGateway) => "carrier-gateway",
        Some(Kind::NatGateway) => "natgateway",
        Some(Kind::NetworkAcl) => "network-acl",
        Some(Kind::SecurityGroup) => "security-group",
        Some(Kind::SecurityGroupRule) => "security-group-rule",
        Some(Kind::DhcpOptions) => "dhcp-options",
        Some(Kind::NetworkInterface) => "network-interface",
        Some(Kind::Allocation) => "elastic-ip",
        Some(Kind::Instance) => "instance",
        Some(Kind::SpotInstanceRequest) => "spot-instances-request",
        Some(Kind::Fleet) => "fleet",
        Some(Kind::SpotFleetRequest) => "spot-fleet-request",
        Some(Kind::DedicatedHost) => "dedicated-host",
        Some(Kind::KeyPair) => "key-pair",
        Some(Kind::PlacementGroup) => "placement-group",
        Some(Kind::CapacityReservation) => "capacity-reservation",
        Some(Kind::Image) => "image",
        Some(Kind::Volume) => "volume",
        Some(Kind::Snapshot) => "snapshot",
        Some(Kind::LaunchTemplate) => "launch-template",
        Some(Kind::VpcPeeringConnection) => "vpc-peering-connection",
        Some(Kind::VpcEndpoint) => "vpc-endpoint",
        Some(Kind::FlowLog) => "vpc-flow-log",
        Some(Kind::PrefixList) => "prefix-list",
        Some(Kind::VpnGateway) => "vpn-gateway",
        Some(Kind::CustomerGateway) => "customer-gateway",
        Some(Kind::VpnConnection) => "vpn-connection",
        Some(Kind::VpcBlockPublicAccessExclusion) => "vpc-block-public-access-exclusion",
        Some(Kind::TrafficMirrorFilter) => "traffic-mirror-filter",
        Some(Kind::TrafficMirrorFilterRule) => "traffic-mirror-filter-rule",
        Some(Kind::TrafficMirrorTarget) => "traffic-mirror-target",
        Some(Kind::TrafficMirrorSession) => "traffic-mirror-session",
        Some(Kind::TransitGateway) => "transit-gateway",
        Some(Kind::TransitGatewayAttachment) => "transit-gateway-attachment",
        Some(Kind::TransitGatewayRouteTable) => "transit-gateway-route-table",
        _ => "unknown",
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateTags => {
            let ids = p.strings("ResourceId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("resourceIdSet"));
            }
            let mut tags = Tags::new();
            let items = p.list("Tag")?;
            if items.is_empty() {
                return Err(ApiError::missing("Tag"));
            }
            for t in items {
                tags.insert(
                    t.req("Key")?.to_owned(),
                    t.get("Value").unwrap_or("").to_owned(),
                );
            }
            ctx.write(|tx| tx.create_tags(&ids, &tags)).await?;
            Ok(ok_return())
        }
        Action::DeleteTags => {
            let ids = p.strings("ResourceId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("resourceIdSet"));
            }
            let tags = p
                .list("Tag")?
                .into_iter()
                .map(|t| Ok((t.req("Key")?.to_owned(), t.get("Value").map(str::to_owned))))
                .collect::<Result<Vec<_>, ApiError>>()?;
            ctx.write(|tx| tx.delete_tags(&ids, &tags)).await?;
            Ok(ok_return())
        }
        Action::DescribeTags => {
            let filters = Filters::parse(p, &["key", "resource-id", "resource-type", "value"])?;
            let (account, region) = (ctx.account(), ctx.scope.region.as_str());
            ctx.read(|v| {
                let now = fort_control::now_millis();
                let mut rows: Vec<(String, &str, &String, &String)> = Vec::new();
                // Peering connections and transit gateway peering attachments span regions
                // and live outside the region's tables; each side lists their tags.
                let mut all = v.region.all_tags();
                all.extend(
                    fort_control::peering::visible(v.global, account, region, now)
                        .map(|p| (p.id.as_str(), &p.tags)),
                );
                all.extend(
                    fort_control::transit_gateway::visible_peerings(v.global, account, region, now)
                        .map(|p| (p.id.as_str(), &p.tags)),
                );
                for (id, tags) in all {
                    for (k, val) in tags {
                        rows.push((
                            format!("{}\u{0}{id}\u{0}{k}", resource_type(id)),
                            id,
                            k,
                            val,
                        ));
                    }
                }
                rows.retain(|(_, id, k, val)| {
                    let one = Tags::from([((*k).clone(), (*val).clone())]);
                    filters.matches(&one, |name| match name {
                        "key" => vec![(*k).clone()],
                        "value" => vec![(*val).clone()],
                        "resource-id" => vec![(*id).to_owned()],
                        "resource-type" => vec![resource_type(id).to_owned()],
                        _ => vec![],
                    })
                });
                rows.sort_by(|a, b| a.0.cmp(&b.0));
                let page = paginate(rows, |r| r.0.clone(), p, (5, 1000))?;
                let mut w = Xml::new();
                w.set("tagSet", page.items, |w, (_, id, k, val)| {
                    w.leaf("resourceId", id)
                        .leaf("resourceType", resource_type(id))
                        .leaf("key", k)
                        .leaf("value", val);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}
