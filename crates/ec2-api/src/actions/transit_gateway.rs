//! Transit gateways, their VPC and peering attachments, their route tables (associations,
//! propagations, static routes) and SearchTransitGatewayRoutes.

use fort_control::Region;
use fort_control::region::Global;
use fort_control::transit_gateway::{
    self as tgw, AttachmentView, CreatePeeringAttachment, CreateTransitGateway,
    CreateVpcAttachment, ModifyTransitGateway, ModifyVpcAttachment, TgwRoute,
    VpcAttachmentOptionsRequest,
};
use fort_model::{
    ApiError, ErrorCode, Kind, TransitGateway, TransitGatewayAttachmentId,
    TransitGatewayAttachmentState, TransitGatewayId, TransitGatewayPeeringAttachment,
    TransitGatewayRouteTable, TransitGatewayRouteTableId, TransitGatewayRouteTableState,
    TransitGatewayState, TransitGatewayToggle, TransitGatewayVpcAttachment, format_time,
};
use ipnet::IpNet;

use super::{Ctx, Describe, b, next_token, tag_specs_in, tag_specs_list};
use crate::filter::{Filters, paginate, wildcard};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateTransitGateway,
    DescribeTransitGateways,
    ModifyTransitGateway,
    DeleteTransitGateway,
    CreateTransitGatewayVpcAttachment,
    DescribeTransitGatewayVpcAttachments,
    ModifyTransitGatewayVpcAttachment,
    DeleteTransitGatewayVpcAttachment,
    AcceptTransitGatewayVpcAttachment,
    RejectTransitGatewayVpcAttachment,
    DescribeTransitGatewayAttachments,
    CreateTransitGatewayRouteTable,
    DeleteTransitGatewayRouteTable,
    DescribeTransitGatewayRouteTables,
    AssociateTransitGatewayRouteTable,
    DisassociateTransitGatewayRouteTable,
    EnableTransitGatewayRouteTablePropagation,
    DisableTransitGatewayRouteTablePropagation,
    GetTransitGatewayRouteTableAssociations,
    GetTransitGatewayRouteTablePropagations,
    GetTransitGatewayAttachmentPropagations,
    CreateTransitGatewayRoute,
    DeleteTransitGatewayRoute,
    ReplaceTransitGatewayRoute,
    SearchTransitGatewayRoutes,
    CreateTransitGatewayPeeringAttachment,
    AcceptTransitGatewayPeeringAttachment,
    RejectTransitGatewayPeeringAttachment,
    DeleteTransitGatewayPeeringAttachment,
    DescribeTransitGatewayPeeringAttachments,
);

/// MaxResults of the transit gateway Describe and Get calls.
const PAGE: (i64, i64) = (5, 1000);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateTransitGateway => {
            let o = p.child("Options");
            let req = CreateTransitGateway {
                description: p.opt_str("Description"),
                amazon_side_asn: o.int("AmazonSideAsn")?,
                auto_accept_shared_attachments: toggle(o, "AutoAcceptSharedAttachments")?,
                default_route_table_association: toggle(o, "DefaultRouteTableAssociation")?,
                default_route_table_propagation: toggle(o, "DefaultRouteTablePropagation")?,
                vpn_ecmp_support: toggle(o, "VpnEcmpSupport")?,
                dns_support: toggle(o, "DnsSupport")?,
                security_group_referencing_support: toggle(o, "SecurityGroupReferencingSupport")?,
                multicast_support: toggle(o, "MulticastSupport")?,
                cidr_blocks: o.strings("TransitGatewayCidrBlocks")?,
                tags: tag_specs_in(p, &["transit-gateway"])?,
            };
            let g = ctx.write(|tx| tx.create_transit_gateway(req)).await?;
            let mut w = Xml::new();
            w.el("transitGateway", |w| {
                render_gateway(
                    w,
                    &ctx.scope.region,
                    ctx.account(),
                    &g,
                    TransitGatewayState::Pending,
                    In::Answer,
                );
            });
            Ok(w)
        }
        Action::DescribeTransitGateways => {
            let d = Describe {
                ids_param: "TransitGatewayIds",
                kind: Kind::TransitGateway,
                filters: GATEWAY_FILTERS,
                page: Some(PAGE),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let r = v.region;
                let page = d.run(
                    p,
                    tgw::visible_gateways(r, now),
                    |g| &g.id,
                    |g| &g.tags,
                    |g, f| gateway_field(r, g, f),
                )?;
                let mut w = Xml::new();
                w.set("transitGatewaySet", page.items, |w, g| {
                    render_gateway(w, &r.name, &r.account, g, g.state, In::Describe);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyTransitGateway => {
            let o = p.child("Options");
            let req = ModifyTransitGateway {
                id: TransitGatewayId::parse(p.req("TransitGatewayId")?)?,
                description: p.opt_str("Description"),
                add_cidr_blocks: o.strings("AddTransitGatewayCidrBlocks")?,
                remove_cidr_blocks: o.strings("RemoveTransitGatewayCidrBlocks")?,
                amazon_side_asn: o.int("AmazonSideAsn")?,
                auto_accept_shared_attachments: toggle(o, "AutoAcceptSharedAttachments")?,
                default_route_table_association: toggle(o, "DefaultRouteTableAssociation")?,
                association_default_route_table_id: o.opt_str("AssociationDefaultRouteTableId"),
                default_route_table_propagation: toggle(o, "DefaultRouteTablePropagation")?,
                propagation_default_route_table_id: o.opt_str("PropagationDefaultRouteTableId"),
                vpn_ecmp_support: toggle(o, "VpnEcmpSupport")?,
                dns_support: toggle(o, "DnsSupport")?,
                security_group_referencing_support: toggle(o, "SecurityGroupReferencingSupport")?,
            };
            if o.get("EncryptionSupport").is_some() {
                return Err(unsupported("EncryptionSupport"));
            }
            let g = ctx.write(|tx| tx.modify_transit_gateway(req)).await?;
            let mut w = Xml::new();
            w.el("transitGateway", |w| {
                render_gateway(
                    w,
                    &ctx.scope.region,
                    ctx.account(),
                    &g,
                    TransitGatewayState::Modifying,
                    In::Answer,
                );
            });
            Ok(w)
        }
        Action::DeleteTransitGateway => {
            let id = p.req("TransitGatewayId")?.to_owned();
            let g = ctx.write(|tx| tx.delete_transit_gateway(&id)).await?;
            let mut w = Xml::new();
            w.el("transitGateway", |w| {
                render_gateway(
                    w,
                    &ctx.scope.region,
                    ctx.account(),
                    &g,
                    TransitGatewayState::Deleting,
                    In::Answer,
                );
            });
            Ok(w)
        }
        Action::CreateTransitGatewayVpcAttachment => {
            let req = CreateVpcAttachment {
                transit_gateway_id: p.req("TransitGatewayId")?.to_owned(),
                vpc_id: p.req("VpcId")?.to_owned(),
                subnet_ids: p.strings("SubnetIds")?,
                options: attachment_options(p.child("Options"))?,
                tags: tag_specs_list(p, "TagSpecifications", &["transit-gateway-attachment"])?,
            };
            let a = ctx
                .write(|tx| tx.create_transit_gateway_vpc_attachment(req))
                .await?;
            Ok(vpc_attachment_answer(
                ctx,
                &a,
                TransitGatewayAttachmentState::Pending,
            ))
        }
        Action::DescribeTransitGatewayVpcAttachments => {
            let d = Describe {
                ids_param: "TransitGatewayAttachmentIds",
                kind: Kind::TransitGatewayAttachment,
                filters: &[
                    "state",
                    "transit-gateway-attachment-id",
                    "transit-gateway-id",
                    "vpc-id",
                ],
                page: Some(PAGE),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let r = v.region;
                let page = d.run(
                    p,
                    tgw::visible_vpc_attachments(r, now),
                    |a| &a.id,
                    |a| &a.tags,
                    |a, f| match f {
                        "state" => vec![a.state.to_string()],
                        "transit-gateway-attachment-id" => vec![a.id.to_string()],
                        "transit-gateway-id" => vec![a.transit_gateway_id.to_string()],
                        "vpc-id" => vec![a.vpc_id.to_string()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("transitGatewayVpcAttachments", page.items, |w, a| {
                    render_vpc_attachment(w, &r.account, a, a.state, In::Describe);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyTransitGatewayVpcAttachment => {
            let req = ModifyVpcAttachment {
                id: TransitGatewayAttachmentId::parse(p.req("TransitGatewayAttachmentId")?)?,
                add_subnet_ids: p.strings("AddSubnetIds")?,
                remove_subnet_ids: p.strings("RemoveSubnetIds")?,
                options: attachment_options(p.child("Options"))?,
            };
            let a = ctx
                .write(|tx| tx.modify_transit_gateway_vpc_attachment(req))
                .await?;
            Ok(vpc_attachment_answer(
                ctx,
                &a,
                TransitGatewayAttachmentState::Modifying,
            ))
        }
        Action::DeleteTransitGatewayVpcAttachment => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            let a = ctx
                .write(|tx| tx.delete_transit_gateway_vpc_attachment(&id))
                .await?;
            Ok(vpc_attachment_answer(
                ctx,
                &a,
                TransitGatewayAttachmentState::Deleting,
            ))
        }
        Action::AcceptTransitGatewayVpcAttachment | Action::RejectTransitGatewayVpcAttachment => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            ctx.read(|v| {
                // a read: nothing changes whatever the answer
                let r = v.region;
                let a = r
                    .transit_gateway_vpc_attachments
                    .get(id.as_str())
                    .filter(|a| a.is_live());
                match a {
                    None => {
                        Kind::TransitGatewayAttachment.check(&id)?;
                        Err(ApiError::new(
                            ErrorCode::InvalidTransitGatewayAttachmentIdNotFound,
                            format!("Transit Gateway VPC Attachment {id} was deleted or does not exist."),
                        ))
                    }
                    Some(a) => Err(ApiError::new(
                        ErrorCode::IncorrectState,
                        format!(
                            "Transit Gateway VPC Attachment {} is in state {}: only an attachment in state pendingAcceptance can be accepted or rejected.",
                            a.id, a.state
                        ),
                    )),
                }
            })
            .await?
        }
        Action::DescribeTransitGatewayAttachments => {
            let d = Describe {
                ids_param: "TransitGatewayAttachmentIds",
                kind: Kind::TransitGatewayAttachment,
                filters: ATTACHMENT_FILTERS,
                page: Some(PAGE),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let r = v.region;
                let all = tgw::attachments(r, v.global, now);
                let page = d.run(
                    p,
                    all.iter(),
                    |a| a.id,
                    |a| a.tags,
                    |a, f| attachment_field(r, a, f),
                )?;
                let mut w = Xml::new();
                w.set("transitGatewayAttachments", page.items, |w, a| {
                    w.leaf("transitGatewayAttachmentId", a.id)
                        .leaf("transitGatewayId", a.transit_gateway_id)
                        .leaf("transitGatewayOwnerId", a.transit_gateway_owner_id)
                        .leaf("resourceOwnerId", a.resource_owner_id)
                        .leaf("resourceType", a.resource_type)
                        .leaf("resourceId", a.resource_id)
                        .leaf("state", a.state);
                    if let Some(t) = tgw::association(r, a.transit_gateway_id, a.id) {
                        w.el("association", |w| {
                            w.leaf("transitGatewayRouteTableId", &t.id)
                                .leaf("state", "associated");
                        });
                    }
                    w.leaf("creationTime", format_time(a.create_time))
                        .tag_set(a.tags);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateTransitGatewayRouteTable => {
            let id = p.req("TransitGatewayId")?.to_owned();
            let tags = tag_specs_list(p, "TagSpecifications", &["transit-gateway-route-table"])?;
            let t = ctx
                .write(|tx| tx.create_transit_gateway_route_table(&id, tags))
                .await?;
            route_table_answer(ctx, &t, TransitGatewayRouteTableState::Pending).await
        }
        Action::DeleteTransitGatewayRouteTable => {
            let id = p.req("TransitGatewayRouteTableId")?.to_owned();
            let t = ctx
                .write(|tx| tx.delete_transit_gateway_route_table(&id))
                .await?;
            route_table_answer(ctx, &t, TransitGatewayRouteTableState::Deleting).await
        }
        Action::DescribeTransitGatewayRouteTables => {
            let d = Describe {
                ids_param: "TransitGatewayRouteTableIds",
                kind: Kind::TransitGatewayRouteTable,
                filters: &[
                    "default-association-route-table",
                    "default-propagation-route-table",
                    "state",
                    "transit-gateway-id",
                    "transit-gateway-route-table-id",
                ],
                page: Some(PAGE),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let r = v.region;
                let page = d.run(
                    p,
                    tgw::visible_route_tables(r, now),
                    |t| &t.id,
                    |t| &t.tags,
                    |t, f| {
                        let (assoc, prop) = defaults_of(r, t);
                        match f {
                            "default-association-route-table" => vec![b(assoc).into()],
                            "default-propagation-route-table" => vec![b(prop).into()],
                            "state" => vec![t.state.to_string()],
                            "transit-gateway-id" => vec![t.transit_gateway_id.to_string()],
                            "transit-gateway-route-table-id" => vec![t.id.to_string()],
                            _ => vec![],
                        }
                    },
                )?;
                let mut w = Xml::new();
                w.set("transitGatewayRouteTables", page.items, |w, t| {
                    render_route_table(w, r, t, t.state, In::Describe);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::AssociateTransitGatewayRouteTable
        | Action::DisassociateTransitGatewayRouteTable => {
            let table = p.req("TransitGatewayRouteTableId")?.to_owned();
            let attachment = p.req("TransitGatewayAttachmentId")?.to_owned();
            let associate = action == Action::AssociateTransitGatewayRouteTable;
            let (table, attachment) = ctx
                .write(|tx| {
                    if associate {
                        tx.associate_transit_gateway_route_table(&table, &attachment)
                    } else {
                        tx.disassociate_transit_gateway_route_table(&table, &attachment)
                    }
                })
                .await?;
            let state = if associate {
                "associating"
            } else {
                "disassociating"
            };
            link_answer(ctx, "association", &table, &attachment, state).await
        }
        Action::EnableTransitGatewayRouteTablePropagation
        | Action::DisableTransitGatewayRouteTablePropagation => {
            if p.get("TransitGatewayRouteTableAnnouncementId").is_some() {
                return Err(unsupported("TransitGatewayRouteTableAnnouncementId"));
            }
            let table = p.req("TransitGatewayRouteTableId")?.to_owned();
            let attachment = p.req("TransitGatewayAttachmentId")?.to_owned();
            let enable = action == Action::EnableTransitGatewayRouteTablePropagation;
            let (table, attachment) = ctx
                .write(|tx| {
                    if enable {
                        tx.enable_transit_gateway_route_table_propagation(&table, &attachment)
                    } else {
                        tx.disable_transit_gateway_route_table_propagation(&table, &attachment)
                    }
                })
                .await?;
            let state = if enable { "enabling" } else { "disabling" };
            link_answer(ctx, "propagation", &table, &attachment, state).await
        }
        Action::GetTransitGatewayRouteTableAssociations
        | Action::GetTransitGatewayRouteTablePropagations => {
            let id = p.req("TransitGatewayRouteTableId")?.to_owned();
            let associations = action == Action::GetTransitGatewayRouteTableAssociations;
            let filters = Filters::parse(
                p,
                &[
                    "resource-id",
                    "resource-type",
                    "transit-gateway-attachment-id",
                ],
            )?;
            ctx.read(|v| {
                let r = v.region;
                let t = live_table(r, &id)?;
                let ids = if associations {
                    &t.associations
                } else {
                    &t.propagations
                };
                let empty = fort_model::Tags::new();
                // in the order they were made, numbered for the page token
                let views: Vec<(usize, AttachmentView<'_>)> = ids
                    .iter()
                    .filter_map(|a| tgw::attachment(r, v.global, a))
                    .filter(|a| !a.state.is_ended())
                    .enumerate()
                    .filter(|(_, a)| {
                        filters.matches(&empty, |f| match f {
                            "resource-id" => vec![a.resource_id.to_owned()],
                            "resource-type" => vec![a.resource_type.to_string()],
                            "transit-gateway-attachment-id" => vec![a.id.to_string()],
                            _ => vec![],
                        })
                    })
                    .collect();
                let page = paginate(views, |(i, _)| format!("{i:08}"), p, PAGE)?;
                let (set, state) = if associations {
                    ("associations", "associated")
                } else {
                    ("transitGatewayRouteTablePropagations", "enabled")
                };
                let mut w = Xml::new();
                w.set(set, page.items, |w, (_, a)| {
                    w.leaf("transitGatewayAttachmentId", a.id)
                        .leaf("resourceId", a.resource_id)
                        .leaf("resourceType", a.resource_type)
                        .leaf("state", state);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::GetTransitGatewayAttachmentPropagations => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            let filters = Filters::parse(p, &["transit-gateway-route-table-id"])?;
            ctx.read(|v| {
                let r = v.region;
                Kind::TransitGatewayAttachment.check(&id)?;
                let a = tgw::attachment(r, v.global, &id)
                    .filter(|a| !a.state.is_ended())
                    .ok_or_else(|| Kind::TransitGatewayAttachment.not_found(&id))?;
                let empty = fort_model::Tags::new();
                let tables: Vec<&TransitGatewayRouteTable> =
                    tgw::propagations(r, a.transit_gateway_id, a.id)
                        .filter(|t| {
                            filters.matches(&empty, |f| match f {
                                "transit-gateway-route-table-id" => vec![t.id.to_string()],
                                _ => vec![],
                            })
                        })
                        .collect();
                let page = paginate(tables, |t| t.id.to_string(), p, PAGE)?;
                let mut w = Xml::new();
                w.set(
                    "transitGatewayAttachmentPropagations",
                    page.items,
                    |w, t| {
                        w.leaf("transitGatewayRouteTableId", &t.id)
                            .leaf("state", "enabled");
                    },
                );
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateTransitGatewayRoute | Action::ReplaceTransitGatewayRoute => {
            let table = p.req("TransitGatewayRouteTableId")?.to_owned();
            let destination = p.req("DestinationCidrBlock")?.to_owned();
            // an empty id is no id: SDKs send `TransitGatewayAttachmentId=` with a blackhole
            let attachment = p.opt_nonempty("TransitGatewayAttachmentId");
            let blackhole = p.bool("Blackhole")?.unwrap_or(false);
            let create = action == Action::CreateTransitGatewayRoute;
            let (table, destination) = ctx
                .write(|tx| {
                    if create {
                        tx.create_transit_gateway_route(
                            &table,
                            &destination,
                            attachment.as_deref(),
                            blackhole,
                        )
                    } else {
                        tx.replace_transit_gateway_route(
                            &table,
                            &destination,
                            attachment.as_deref(),
                            blackhole,
                        )
                    }
                })
                .await?;
            ctx.read(|v| {
                let r = v.region;
                let t = r
                    .transit_gateway_route_tables
                    .get(&table)
                    .ok_or_else(|| Kind::TransitGatewayRouteTable.not_found(&table))?;
                let route = tgw::routes(r, v.global, t)
                    .into_iter()
                    .find(|x| x.destination == destination)
                    .ok_or_else(|| ApiError::internal("the route just made is gone"))?;
                let mut w = Xml::new();
                w.el("route", |w| render_route(w, r, v.global, &route, None));
                Ok(w)
            })
            .await?
        }
        Action::DeleteTransitGatewayRoute => {
            let table = p.req("TransitGatewayRouteTableId")?.to_owned();
            let destination = p.req("DestinationCidrBlock")?.to_owned();
            let route = ctx
                .write(|tx| tx.delete_transit_gateway_route(&table, &destination))
                .await?;
            ctx.read(|v| {
                let mut w = Xml::new();
                w.el("route", |w| {
                    render_route(w, v.region, v.global, &route, Some("deleted"))
                });
                w
            })
            .await
        }
        Action::SearchTransitGatewayRoutes => search_routes(ctx).await,
        Action::CreateTransitGatewayPeeringAttachment => {
            if p.get("PeerCoreNetworkId").is_some() {
                return Err(unsupported("PeerCoreNetworkId"));
            }
            let req = CreatePeeringAttachment {
                transit_gateway_id: p.req("TransitGatewayId")?.to_owned(),
                peer_transit_gateway_id: p.req("PeerTransitGatewayId")?.to_owned(),
                peer_account_id: p.req("PeerAccountId")?.to_owned(),
                peer_region: p.req("PeerRegion")?.to_owned(),
                dynamic_routing: toggle(p.child("Options"), "DynamicRouting")?,
                tags: tag_specs_in(p, &["transit-gateway-attachment"])?,
            };
            let a = ctx
                .write(|tx| tx.create_transit_gateway_peering_attachment(req))
                .await?;
            Ok(peering_answer(
                &a,
                TransitGatewayAttachmentState::InitiatingRequest,
            ))
        }
        Action::AcceptTransitGatewayPeeringAttachment => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            let a = ctx
                .write(|tx| tx.accept_transit_gateway_peering_attachment(&id))
                .await?;
            Ok(peering_answer(&a, TransitGatewayAttachmentState::Pending))
        }
        Action::RejectTransitGatewayPeeringAttachment => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            let a = ctx
                .write(|tx| tx.reject_transit_gateway_peering_attachment(&id))
                .await?;
            Ok(peering_answer(&a, TransitGatewayAttachmentState::Rejecting))
        }
        Action::DeleteTransitGatewayPeeringAttachment => {
            let id = p.req("TransitGatewayAttachmentId")?.to_owned();
            let a = ctx
                .write(|tx| tx.delete_transit_gateway_peering_attachment(&id))
                .await?;
            Ok(peering_answer(&a, TransitGatewayAttachmentState::Deleting))
        }
        Action::DescribeTransitGatewayPeeringAttachments => {
            let d = Describe {
                ids_param: "TransitGatewayAttachmentIds",
                kind: Kind::TransitGatewayAttachment,
                filters: &[
                    "transit-gateway-attachment-id",
                    "local-owner-id",
                    "remote-owner-id",
                    "state",
                    "transit-gateway-id",
                ],
                page: Some(PAGE),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let r = v.region;
                let account = r.account.clone();
                let page = d.run(
                    p,
                    tgw::visible_peerings(v.global, &r.account, &r.name, now),
                    |a| &a.id,
                    |a| &a.tags,
                    |a, f| {
                        let mine_is_requester =
                            a.requester.owner_id == account && a.requester.region == r.name;
                        let (mine, theirs) = if mine_is_requester {
                            (&a.requester, &a.accepter)
                        } else {
                            (&a.accepter, &a.requester)
                        };
                        match f {
                            "transit-gateway-attachment-id" => vec![a.id.to_string()],
                            "local-owner-id" => vec![mine.owner_id.clone()],
                            "remote-owner-id" => vec![theirs.owner_id.clone()],
                            "state" => vec![a.state.to_string()],
                            "transit-gateway-id" => vec![
                                a.requester.transit_gateway_id.to_string(),
                                a.accepter.transit_gateway_id.to_string(),
                            ],
                            _ => vec![],
                        }
                    },
                )?;
                let mut w = Xml::new();
                w.set("transitGatewayPeeringAttachments", page.items, |w, a| {
                    render_peering(w, a, a.state, In::Describe);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

fn unsupported(param: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedOperation,
        format!("{param} is not supported by Fort."),
    )
}

/// An `enable` / `disable` option.
fn toggle(p: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => TransitGatewayToggle::parse(v)
            .map(|t| Some(t.is_on()))
            .ok_or_else(|| ApiError::bad_param(name, v, "Valid values: enable, disable.")),
    }
}

fn attachment_options(o: &Params) -> Result<VpcAttachmentOptionsRequest, ApiError> {
    Ok(VpcAttachmentOptionsRequest {
        dns_support: toggle(o, "DnsSupport")?,
        ipv6_support: toggle(o, "Ipv6Support")?,
        appliance_mode_support: toggle(o, "ApplianceModeSupport")?,
        security_group_referencing_support: toggle(o, "SecurityGroupReferencingSupport")?,
    })
}

fn on(v: bool) -> &'static str {
    TransitGatewayToggle::of(v).as_str()
}

const GATEWAY_FILTERS: &[&str] = &[
    "options.propagation-default-route-table-id",
    "options.amazon-side-asn",
    "options.association-default-route-table-id",
    "options.auto-accept-shared-attachments",
    "options.default-route-table-association",
    "options.default-route-table-propagation",
    "options.dns-support",
    "options.vpn-ecmp-support",
    // (not in the API reference's list, but EC2 takes it: Ansible's ec2_transit_gateway
    // target filters by it on AWS)
    "options.multicast-support",
    "owner-id",
    "state",
    "transit-gateway-id",
];

fn gateway_field(r: &Region, g: &TransitGateway, name: &str) -> Vec<String> {
    let o = &g.options;
    match name {
        "options.propagation-default-route-table-id" => o
            .propagation_default_route_table_id
            .iter()
            .map(ToString::to_string)
            .collect(),
        "options.amazon-side-asn" => vec![o.amazon_side_asn.to_string()],
        "options.association-default-route-table-id" => o
            .association_default_route_table_id
            .iter()
            .map(ToString::to_string)
            .collect(),
        "options.auto-accept-shared-attachments" => {
            vec![on(o.auto_accept_shared_attachments).into()]
        }
        "options.default-route-table-association" => {
            vec![on(o.default_route_table_association).into()]
        }
        "options.default-route-table-propagation" => {
            vec![on(o.default_route_table_propagation).into()]
        }
        "options.dns-support" => vec![on(o.dns_support).into()],
        "options.vpn-ecmp-support" => vec![on(o.vpn_ecmp_support).into()],
        "options.multicast-support" => vec![on(o.multicast_support).into()],
        "owner-id" => vec![r.account.clone()],
        "state" => vec![g.state.to_string()],
        "transit-gateway-id" => vec![g.id.to_string()],
        _ => vec![],
    }
}

/// Where a resource is written: in a Describe list, where EC2 writes its tag set even when
/// it is empty (`Tags: []`, the CLI's describe-transit-gateway-vpc-attachments example), or
/// in an action's own answer (create, modify, accept, reject, delete), where EC2 leaves an
/// empty one out (moto's AWS-verified CreateTransitGatewayVpcAttachment test; the CLI's
/// accept/delete-transit-gateway-peering-attachment examples).
#[derive(Clone, Copy)]
enum In {
    Describe,
    Answer,
}

fn tags_in(w: &mut Xml, tags: &fort_model::Tags, at: In) {
    match at {
        In::Describe => w.tag_set(tags),
        In::Answer => w.tags(tags),
    };
}

fn render_gateway(
    w: &mut Xml,
    region: &str,
    account: &str,
    g: &TransitGateway,
    state: TransitGatewayState,
    at: In,
) {
    let o = &g.options;
    w.leaf("transitGatewayId", &g.id)
        .leaf("transitGatewayArn", g.arn(region, account))
        .leaf("state", state)
        .leaf("ownerId", account)
        .opt("description", g.description.as_deref())
        .leaf("creationTime", format_time(g.create_time))
        .el("options", |w| {
            w.leaf("amazonSideAsn", o.amazon_side_asn);
            if !o.cidr_blocks.is_empty() {
                w.strings("transitGatewayCidrBlocks", &o.cidr_blocks);
            }
            w.leaf(
                "autoAcceptSharedAttachments",
                on(o.auto_accept_shared_attachments),
            )
            .leaf(
                "defaultRouteTableAssociation",
                on(o.default_route_table_association),
            )
            .opt(
                "associationDefaultRouteTableId",
                o.association_default_route_table_id.as_ref(),
            )
            .leaf(
                "defaultRouteTablePropagation",
                on(o.default_route_table_propagation),
            )
            .opt(
                "propagationDefaultRouteTableId",
                o.propagation_default_route_table_id.as_ref(),
            )
            .leaf("vpnEcmpSupport", on(o.vpn_ecmp_support))
            .leaf("dnsSupport", on(o.dns_support))
            .leaf(
                "securityGroupReferencingSupport",
                on(o.security_group_referencing_support),
            )
            .leaf("multicastSupport", on(o.multicast_support));
        });
    tags_in(w, &g.tags, at);
}

fn render_vpc_attachment(
    w: &mut Xml,
    account: &str,
    a: &TransitGatewayVpcAttachment,
    state: TransitGatewayAttachmentState,
    at: In,
) {
    let o = &a.options;
    w.leaf("transitGatewayAttachmentId", &a.id)
        .leaf("transitGatewayId", &a.transit_gateway_id)
        .leaf("vpcId", &a.vpc_id)
        .leaf("vpcOwnerId", account)
        .leaf("state", state)
        .strings("subnetIds", a.subnet_ids())
        .leaf("creationTime", format_time(a.create_time))
        .el("options", |w| {
            w.leaf("dnsSupport", on(o.dns_support))
                .leaf(
                    "securityGroupReferencingSupport",
                    on(o.security_group_referencing_support),
                )
                .leaf("ipv6Support", on(o.ipv6_support))
                .leaf("applianceModeSupport", on(o.appliance_mode_support));
        });
    tags_in(w, &a.tags, at);
}

fn vpc_attachment_answer(
    ctx: &Ctx<'_>,
    a: &TransitGatewayVpcAttachment,
    state: TransitGatewayAttachmentState,
) -> Xml {
    let mut w = Xml::new();
    w.el("transitGatewayVpcAttachment", |w| {
        render_vpc_attachment(w, ctx.account(), a, state, In::Answer);
    });
    w
}

const ATTACHMENT_FILTERS: &[&str] = &[
    "association.state",
    "association.transit-gateway-route-table-id",
    "resource-id",
    "resource-owner-id",
    "resource-type",
    "state",
    "transit-gateway-attachment-id",
    "transit-gateway-id",
    "transit-gateway-owner-id",
];

fn attachment_field(r: &Region, a: &AttachmentView<'_>, name: &str) -> Vec<String> {
    let assoc = || tgw::association(r, a.transit_gateway_id, a.id);
    match name {
        "association.state" => assoc()
            .map(|_| "associated".to_owned())
            .into_iter()
            .collect(),
        "association.transit-gateway-route-table-id" => {
            assoc().map(|t| t.id.to_string()).into_iter().collect()
        }
        "resource-id" => vec![a.resource_id.to_owned()],
        "resource-owner-id" => vec![a.resource_owner_id.to_owned()],
        "resource-type" => vec![a.resource_type.to_string()],
        "state" => vec![a.state.to_string()],
        "transit-gateway-attachment-id" => vec![a.id.to_string()],
        "transit-gateway-id" => vec![a.transit_gateway_id.to_string()],
        "transit-gateway-owner-id" => vec![a.transit_gateway_owner_id.to_owned()],
        _ => vec![],
    }
}

/// Whether the table is its gateway's default association and propagation table.
fn defaults_of(r: &Region, t: &TransitGatewayRouteTable) -> (bool, bool) {
    r.transit_gateways
        .get(&t.transit_gateway_id)
        .map_or((false, false), |g| {
            (
                g.options.association_default_route_table_id.as_ref() == Some(&t.id),
                g.options.propagation_default_route_table_id.as_ref() == Some(&t.id),
            )
        })
}

fn render_route_table(
    w: &mut Xml,
    r: &Region,
    t: &TransitGatewayRouteTable,
    state: TransitGatewayRouteTableState,
    at: In,
) {
    let (assoc, prop) = defaults_of(r, t);
    w.leaf("transitGatewayRouteTableId", &t.id)
        .leaf("transitGatewayId", &t.transit_gateway_id)
        .leaf("state", state)
        .leaf("defaultAssociationRouteTable", b(assoc))
        .leaf("defaultPropagationRouteTable", b(prop))
        .leaf("creationTime", format_time(t.create_time));
    tags_in(w, &t.tags, at);
}

async fn route_table_answer(
    ctx: &Ctx<'_>,
    t: &TransitGatewayRouteTable,
    state: TransitGatewayRouteTableState,
) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let mut w = Xml::new();
        w.el("transitGatewayRouteTable", |w| {
            render_route_table(w, v.region, t, state, In::Answer);
        });
        w
    })
    .await
}

/// A live table of the region, or NotFound.
fn live_table<'r>(r: &'r Region, id: &str) -> Result<&'r TransitGatewayRouteTable, ApiError> {
    let t = r
        .transit_gateway_route_tables
        .find(Kind::TransitGatewayRouteTable, id)?;
    if !t.is_live() {
        return Err(Kind::TransitGatewayRouteTable.not_found(id));
    }
    Ok(t)
}

/// The answer of Associate/Disassociate (`association`) and Enable/Disable propagation
/// (`propagation`): the attachment, its resource and the transitional state.
async fn link_answer(
    ctx: &Ctx<'_>,
    element: &str,
    table: &TransitGatewayRouteTableId,
    attachment: &TransitGatewayAttachmentId,
    state: &str,
) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let a = tgw::attachment(v.region, v.global, attachment)
            .ok_or_else(|| Kind::TransitGatewayAttachment.not_found(attachment))?;
        let mut w = Xml::new();
        w.el(element, |w| {
            w.leaf("transitGatewayRouteTableId", table)
                .leaf("transitGatewayAttachmentId", attachment)
                .leaf("resourceId", a.resource_id)
                .leaf("resourceType", a.resource_type)
                .leaf("state", state);
        });
        Ok(w)
    })
    .await?
}

fn render_route(w: &mut Xml, r: &Region, global: &Global, route: &TgwRoute, state: Option<&str>) {
    w.leaf("destinationCidrBlock", route.destination);
    if let Some(id) = &route.attachment {
        let a = tgw::attachment(r, global, id);
        w.set("transitGatewayAttachments", [id], |w, id| {
            if let Some(a) = &a {
                w.leaf("resourceId", a.resource_id);
            }
            w.leaf("transitGatewayAttachmentId", id);
            if let Some(a) = &a {
                w.leaf("resourceType", a.resource_type);
            }
        });
    }
    w.leaf("type", route.route_type)
        .leaf("state", state.unwrap_or(route.state.as_str()));
}

const SEARCH_FILTERS: &[&str] = &[
    "attachment.transit-gateway-attachment-id",
    "attachment.resource-id",
    "attachment.resource-type",
    "prefix-list-id",
    "route-search.exact-match",
    "route-search.longest-prefix-match",
    "route-search.subnet-of-match",
    "route-search.supernet-of-match",
    "state",
    "type",
];

fn search_block(value: &str) -> Result<IpNet, ApiError> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| ApiError::invalid_value(format!("The CIDR '{value}' is not valid.")))
}

fn contains(outer: &IpNet, inner: &IpNet) -> bool {
    outer.prefix_len() <= inner.prefix_len() && outer.contains(&inner.network())
}

/// SearchTransitGatewayRoutes: the table's routes (static and propagated) that pass every
/// filter; `route-search.*` compare blocks, the others values (with wildcards).
async fn search_routes(ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let id = p.req("TransitGatewayRouteTableId")?.to_owned();
    let filters = Filters::parse(p, SEARCH_FILTERS)?;
    if filters.is_empty() {
        return Err(ApiError::missing("Filters"));
    }
    let max = match p.int("MaxResults")? {
        None => 1000,
        Some(m) => usize::try_from(m)
            .ok()
            .filter(|_| (5..=1000).contains(&m))
            .ok_or_else(|| {
                ApiError::invalid_value(format!(
                    "Value ( {m} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."
                ))
            })?,
    };
    let blocks = |name: &str| -> Result<Vec<IpNet>, ApiError> {
        filters.values(name).map(search_block).collect()
    };
    let exact = blocks("route-search.exact-match")?;
    let longest = blocks("route-search.longest-prefix-match")?;
    let subnet_of = blocks("route-search.subnet-of-match")?;
    let supernet_of = blocks("route-search.supernet-of-match")?;
    ctx.read(|v| {
        let r = v.region;
        let t = live_table(r, &id)?;
        let all = tgw::routes(r, v.global, t);
        // for each longest-prefix value, the route with the longest block holding it
        let best: Vec<IpNet> = longest
            .iter()
            .filter_map(|x| {
                all.iter()
                    .filter(|route| contains(&route.destination, x))
                    .max_by_key(|route| route.destination.prefix_len())
                    .map(|route| route.destination)
            })
            .collect();
        let passes = |route: &TgwRoute| {
            let d = &route.destination;
            let view = route
                .attachment
                .as_ref()
                .and_then(|a| tgw::attachment(r, v.global, a));
            let values = |name: &str| -> Vec<String> {
                match name {
                    "attachment.transit-gateway-attachment-id" => {
                        route.attachment.iter().map(ToString::to_string).collect()
                    }
                    "attachment.resource-id" => {
                        view.iter().map(|a| a.resource_id.to_owned()).collect()
                    }
                    "attachment.resource-type" => {
                        view.iter().map(|a| a.resource_type.to_string()).collect()
                    }
                    "state" => vec![route.state.to_string()],
                    "type" => vec![route.route_type.to_string()],
                    _ => vec![],
                }
            };
            let plain = [
                "attachment.transit-gateway-attachment-id",
                "attachment.resource-id",
                "attachment.resource-type",
                "prefix-list-id",
                "state",
                "type",
            ]
            .iter()
            .all(|name| {
                let wanted: Vec<&str> = filters.values(name).collect();
                wanted.is_empty()
                    || values(name)
                        .iter()
                        .any(|x| wanted.iter().any(|w| wildcard(w, x)))
            });
            plain
                && (exact.is_empty() || exact.contains(d))
                && (longest.is_empty() || best.contains(d))
                && (subnet_of.is_empty() || subnet_of.iter().any(|s| contains(s, d)))
                && (supernet_of.is_empty() || supernet_of.iter().any(|s| contains(d, s)))
        };
        let mut found: Vec<&TgwRoute> = all.iter().filter(|route| passes(route)).collect();
        let more = found.len() > max;
        found.truncate(max);
        let mut w = Xml::new();
        w.set("routeSet", found, |w, route| {
            render_route(w, r, v.global, route, None);
        })
        .leaf("additionalRoutesAvailable", b(more));
        Ok(w)
    })
    .await?
}

fn render_peering(
    w: &mut Xml,
    a: &TransitGatewayPeeringAttachment,
    state: TransitGatewayAttachmentState,
    at: In,
) {
    let side = |w: &mut Xml, s: &fort_model::PeeringTgwInfo| {
        w.leaf("transitGatewayId", &s.transit_gateway_id)
            .leaf("ownerId", &s.owner_id)
            .leaf("region", &s.region);
    };
    w.leaf("transitGatewayAttachmentId", &a.id)
        .el("requesterTgwInfo", |w| side(w, &a.requester))
        .el("accepterTgwInfo", |w| side(w, &a.accepter));
    // options only when the request set them, as EC2 describes them
    if let Some(d) = a.dynamic_routing {
        w.el("options", |w| {
            w.leaf("dynamicRouting", on(d));
        });
    }
    w.el("status", |w| {
        w.leaf("code", state).leaf("message", &a.status_message);
    })
    .leaf("state", state)
    .leaf("creationTime", format_time(a.create_time));
    tags_in(w, &a.tags, at);
}

fn peering_answer(
    a: &TransitGatewayPeeringAttachment,
    state: TransitGatewayAttachmentState,
) -> Xml {
    let mut w = Xml::new();
    w.el("transitGatewayPeeringAttachment", |w| {
        render_peering(w, a, state, In::Answer)
    });
    w
}
