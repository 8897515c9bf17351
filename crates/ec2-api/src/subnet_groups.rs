//! The subnet-group actions of RDS, ElastiCache and Redshift (their Query APIs, SigV4
//! services `rds`, `elasticache`, `redshift`): what a configuration that makes a VPC also
//! makes for the databases it will run there (terraform-aws-vpc makes an `aws_db_subnet_group`,
//! `aws_elasticache_subnet_group` and `aws_redshift_subnet_group` by default). Create,
//! Describe, Modify and Delete, and each service's tag actions on the groups. Any other action
//! of these services is `InvalidAction`: Fort runs no databases (see
//! [`fort_control::service_subnet_group`]).

use axum::response::Response;
use fort_control::service_subnet_group::{self as groups, ServiceSubnetGroup, SubnetGroupService};
use fort_control::{Control, Scope};
use fort_model::{ApiError, ErrorCode, Tags};

use crate::query::Params;
use crate::xml::Xml;

/// The service a request signed for `service` is about, if it is one of these.
pub fn service(name: &str) -> Option<SubnetGroupService> {
    match name {
        "rds" => Some(SubnetGroupService::Rds),
        "elasticache" => Some(SubnetGroupService::ElastiCache),
        "redshift" => Some(SubnetGroupService::Redshift),
        _ => None,
    }
}

/// The XML namespace of the service's answers.
pub fn namespace(service: SubnetGroupService) -> &'static str {
    match service {
        SubnetGroupService::Rds => "http://rds.amazonaws.com/doc/2014-10-31/",
        SubnetGroupService::ElastiCache => "http://elasticache.amazonaws.com/doc/2015-02-02/",
        SubnetGroupService::Redshift => "http://redshift.amazonaws.com/doc/2012-12-01/",
    }
}

/// The service's names for a subnet group's fields and actions.
struct Names {
    /// `DBSubnetGroup`, `CacheSubnetGroup`, `ClusterSubnetGroup`.
    group: &'static str,
    /// The request's and answer's name field.
    name: &'static str,
    /// The description field.
    description: &'static str,
}

fn names(service: SubnetGroupService) -> Names {
    match service {
        SubnetGroupService::Rds => Names {
            group: "DBSubnetGroup",
            name: "DBSubnetGroupName",
            description: "DBSubnetGroupDescription",
        },
        SubnetGroupService::ElastiCache => Names {
            group: "CacheSubnetGroup",
            name: "CacheSubnetGroupName",
            description: "CacheSubnetGroupDescription",
        },
        SubnetGroupService::Redshift => Names {
            group: "ClusterSubnetGroup",
            name: "ClusterSubnetGroupName",
            description: "Description",
        },
    }
}

type Answer = Result<Option<Xml>, ApiError>;

/// Answers one request of `service`, already verified and decoded.
pub async fn handle(
    control: &Control,
    scope: &Scope,
    service: SubnetGroupService,
    params: &Params,
    request_id: &str,
) -> Response {
    let ns = namespace(service);
    let Some(action) = params.get("Action") else {
        return error(
            ns,
            &ApiError::new(
                ErrorCode::MissingAction,
                "The request must contain the parameter Action",
            ),
            request_id,
        );
    };
    let started = std::time::Instant::now();
    let result = dispatch(control, scope, service, action, params).await;
    tracing::debug!(
        action,
        service = service.as_str(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ok = result.is_ok(),
        "request"
    );
    crate::iam::query_answer(ns, action, result, request_id)
}

/// The services' error document (as IAM's).
pub fn error(namespace: &str, e: &ApiError, request_id: &str) -> Response {
    crate::iam::query_error(namespace, e, request_id)
}

fn req(p: &Params, name: &str) -> Result<String, ApiError> {
    p.opt_str(name).ok_or_else(|| ApiError::missing(name))
}

/// `Tags.Tag.N.Key` / `.Value`, as all three services send them.
fn tags(p: &Params) -> Result<Tags, ApiError> {
    let mut out = Tags::new();
    for t in p.child("Tags").list("Tag")? {
        let key = t
            .opt_str("Key")
            .ok_or_else(|| ApiError::missing("Tags.Tag.N.Key"))?;
        out.insert(key, t.opt_str("Value").unwrap_or_default());
    }
    Ok(out)
}

fn subnet_ids(p: &Params) -> Result<Vec<String>, ApiError> {
    p.child("SubnetIds").strings("SubnetIdentifier")
}

/// The group an ARN names (`arn:aws:rds:REGION:ACCOUNT:subgrp:NAME`): the tag actions name
/// resources by ARN. Anything else is a resource Fort does not have.
fn group_of_arn(service: SubnetGroupService, scope: &Scope, arn: &str) -> Result<String, ApiError> {
    let prefix = service.arn(&scope.region, &scope.account, "");
    arn.strip_prefix(&prefix)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| match service {
            SubnetGroupService::Redshift => ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("Resource {arn} not found."),
            ),
            _ => service.not_found(arn.rsplit(':').next().unwrap_or(arn)),
        })
}

fn tag_list(w: &mut Xml, name: &str, tags: &Tags) {
    w.el(name, |w| {
        for (k, v) in tags {
            w.el("Tag", |w| {
                w.leaf("Key", k).leaf("Value", v);
            });
        }
    });
}

/// One group as the service shows it.
fn group_xml(
    w: &mut Xml,
    scope: &Scope,
    region: &fort_control::region::Region,
    g: &ServiceSubnetGroup,
) {
    let n = names(g.service);
    let subnets = groups::subnets(region, g);
    let dual = !subnets.is_empty() && subnets.iter().all(|s| !s.ipv6_cidr_blocks.is_empty());
    w.leaf(n.name, &g.name)
        .leaf(n.description, &g.description)
        .leaf("VpcId", &g.vpc_id);
    if g.service != SubnetGroupService::ElastiCache {
        w.leaf("SubnetGroupStatus", "Complete");
    }
    w.el("Subnets", |w| {
        for s in &subnets {
            w.el("Subnet", |w| {
                w.leaf("SubnetIdentifier", &s.id)
                    .el("SubnetAvailabilityZone", |w| {
                        w.leaf("Name", &s.availability_zone);
                    });
                match g.service {
                    SubnetGroupService::Rds => {
                        w.el("SubnetOutpost", |_| {}).leaf("SubnetStatus", "Active");
                    }
                    SubnetGroupService::Redshift => {
                        w.leaf("SubnetStatus", "Active");
                    }
                    SubnetGroupService::ElastiCache => {
                        w.el("SupportedNetworkTypes", |w| {
                            w.leaf("member", "ipv4");
                            if !s.ipv6_cidr_blocks.is_empty() {
                                w.leaf("member", "dual_stack");
                            }
                        });
                    }
                }
            });
        }
    });
    let arn = g.service.arn(&scope.region, &scope.account, &g.name);
    match g.service {
        SubnetGroupService::Rds => {
            w.leaf("DBSubnetGroupArn", arn)
                .el("SupportedNetworkTypes", |w| {
                    w.leaf("member", "IPV4");
                    if dual {
                        w.leaf("member", "DUAL");
                    }
                });
        }
        SubnetGroupService::ElastiCache => {
            w.leaf("ARN", arn).el("SupportedNetworkTypes", |w| {
                w.leaf("member", "ipv4");
                if dual {
                    w.leaf("member", "dual_stack");
                }
            });
        }
        SubnetGroupService::Redshift => {
            tag_list(w, "Tags", &g.group_tags);
            w.el("SupportedClusterIpAddressTypes", |w| {
                w.leaf("item", "ipv4");
                if dual {
                    w.leaf("item", "dualstack");
                }
            });
        }
    }
}

/// `<DBSubnetGroup>…</DBSubnetGroup>` of the group just changed.
async fn one(control: &Control, scope: &Scope, service: SubnetGroupService, name: &str) -> Answer {
    control
        .read(scope, |v| {
            let g = groups::find(v.region, service, name)?;
            let mut w = Xml::new();
            w.el(names(service).group, |w| group_xml(w, scope, v.region, g));
            Ok(Some(w))
        })
        .await?
}

async fn dispatch(
    control: &Control,
    scope: &Scope,
    service: SubnetGroupService,
    action: &str,
    p: &Params,
) -> Answer {
    use SubnetGroupService::*;
    let n = names(service);
    match (service, action) {
        (Rds, "CreateDBSubnetGroup")
        | (ElastiCache, "CreateCacheSubnetGroup")
        | (Redshift, "CreateClusterSubnetGroup") => {
            let name = req(p, n.name)?;
            let description = req(p, n.description)?;
            let subnets = subnet_ids(p)?;
            let tags = tags(p)?;
            let group = control
                .write(scope, |tx| {
                    tx.create_service_subnet_group(service, &name, &description, &subnets, tags)
                })
                .await?;
            one(control, scope, service, &group.name).await
        }
        (Rds, "DescribeDBSubnetGroups")
        | (ElastiCache, "DescribeCacheSubnetGroups")
        | (Redshift, "DescribeClusterSubnetGroups") => {
            let name = p.opt_str(n.name);
            let max = p.int("MaxRecords")?.unwrap_or(100);
            let max = usize::try_from(max)
                .ok()
                .filter(|m| (20..=100).contains(m))
                .ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Invalid value {max} for MaxRecords. Must be between 20 and 100"
                    ))
                })?;
            let marker = p.opt_str("Marker");
            control
                .read(scope, |v| {
                    let all: Vec<&ServiceSubnetGroup> = match &name {
                        Some(name) => vec![groups::find(v.region, service, name)?],
                        None => groups::all(v.region, service),
                    };
                    let start = match &marker {
                        Some(m) => all.iter().position(|g| &g.name > m).unwrap_or(all.len()),
                        None => 0,
                    };
                    let page: Vec<_> = all.iter().skip(start).take(max).collect();
                    let mut w = Xml::new();
                    if start + page.len() < all.len()
                        && let Some(last) = page.last()
                    {
                        w.leaf("Marker", &last.name);
                    }
                    w.el(&format!("{}s", n.group), |w| {
                        for g in page {
                            w.el(n.group, |w| group_xml(w, scope, v.region, g));
                        }
                    });
                    Ok(Some(w))
                })
                .await?
        }
        (Rds, "ModifyDBSubnetGroup")
        | (ElastiCache, "ModifyCacheSubnetGroup")
        | (Redshift, "ModifyClusterSubnetGroup") => {
            let name = req(p, n.name)?;
            let description = p.opt_str(n.description);
            let subnets = subnet_ids(p)?;
            if service != ElastiCache && subnets.is_empty() {
                return Err(ApiError::missing("SubnetIds"));
            }
            let group = control
                .write(scope, |tx| {
                    tx.modify_service_subnet_group(service, &name, description, &subnets)
                })
                .await?;
            one(control, scope, service, &group.name).await
        }
        (Rds, "DeleteDBSubnetGroup")
        | (ElastiCache, "DeleteCacheSubnetGroup")
        | (Redshift, "DeleteClusterSubnetGroup") => {
            let name = req(p, n.name)?;
            control
                .write(scope, |tx| tx.delete_service_subnet_group(service, &name))
                .await?;
            Ok(None)
        }
        // RDS and ElastiCache name the resource by ARN and list its tags apart.
        (Rds | ElastiCache, "ListTagsForResource") => {
            let group = group_of_arn(service, scope, &req(p, "ResourceName")?)?;
            control
                .read(scope, |v| {
                    let g = groups::find(v.region, service, &group)?;
                    let mut w = Xml::new();
                    tag_list(&mut w, "TagList", &g.group_tags);
                    Ok(Some(w))
                })
                .await?
        }
        (Rds | ElastiCache, "AddTagsToResource") | (Redshift, "CreateTags") => {
            let group = group_of_arn(service, scope, &req(p, "ResourceName")?)?;
            let add = tags(p)?;
            let after = control
                .write(scope, |tx| {
                    tx.tag_service_subnet_group(service, &group, add, &[])
                })
                .await?;
            Ok(tag_answer(service, &after))
        }
        (Rds | ElastiCache, "RemoveTagsFromResource") | (Redshift, "DeleteTags") => {
            let group = group_of_arn(service, scope, &req(p, "ResourceName")?)?;
            let keys = match service {
                Redshift => p.child("TagKeys").strings("TagKey")?,
                _ => p.child("TagKeys").strings("member")?,
            };
            let after = control
                .write(scope, |tx| {
                    tx.tag_service_subnet_group(service, &group, Tags::new(), &keys)
                })
                .await?;
            Ok(tag_answer(service, &after))
        }
        (Redshift, "DescribeTags") => {
            let arn = p.opt_str("ResourceName");
            control
                .read(scope, |v| {
                    let mut w = Xml::new();
                    let found: Vec<&ServiceSubnetGroup> = match &arn {
                        Some(arn) => {
                            let name = group_of_arn(service, scope, arn)?;
                            vec![groups::find(v.region, service, &name)?]
                        }
                        None => groups::all(v.region, service),
                    };
                    w.el("TaggedResources", |w| {
                        for g in found {
                            let arn = service.arn(&scope.region, &scope.account, &g.name);
                            for (k, val) in &g.group_tags {
                                w.el("TaggedResource", |w| {
                                    w.el("Tag", |w| {
                                        w.leaf("Key", k).leaf("Value", val);
                                    })
                                    .leaf("ResourceName", &arn)
                                    .leaf("ResourceType", "subnetgroup");
                                });
                            }
                        }
                    });
                    Ok(Some(w))
                })
                .await?
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!(
                "Fort serves only the subnet-group actions of {} (Create, Describe, Modify, Delete and tags): {action} is not one of them.",
                service.as_str()
            ),
        )),
    }
}

/// ElastiCache answers its tag actions with the tags after; RDS and Redshift with nothing.
fn tag_answer(service: SubnetGroupService, after: &Tags) -> Option<Xml> {
    (service == SubnetGroupService::ElastiCache).then(|| {
        let mut w = Xml::new();
        tag_list(&mut w, "TagList", after);
        w
    })
}
