//! Subnet groups of the managed services that run in a VPC's subnets: RDS DB subnet groups,
//! ElastiCache cache subnet groups and Redshift cluster subnet groups. Each is a name, a
//! description and subnets of one VPC where the service may place its nodes; configurations
//! make them with their VPCs (terraform-aws-vpc makes one for each of its database,
//! elasticache and redshift subnet lists by default). Fort runs none of these services, so a
//! group places nothing: it is kept, shown and tagged as the service does, and deleted.

use fort_model::*;
use serde::{Deserialize, Serialize};

use crate::Tx;
use crate::region::Region;
use crate::table::Resource;
use crate::tags::check_tags;

/// The service a subnet group belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubnetGroupService {
    Rds,
    ElastiCache,
    Redshift,
}

impl SubnetGroupService {
    /// The SigV4 service name (and ARN service) of the service.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rds => "rds",
            Self::ElastiCache => "elasticache",
            Self::Redshift => "redshift",
        }
    }

    /// The service's words for a group no one has.
    pub fn not_found(self, name: &str) -> ApiError {
        match self {
            Self::Rds => ApiError::new(
                ErrorCode::DBSubnetGroupNotFoundFault,
                format!("DBSubnetGroupName '{name}' not found."),
            ),
            Self::ElastiCache => ApiError::new(
                ErrorCode::CacheSubnetGroupNotFoundFault,
                format!("Cache subnet group {name} not found."),
            ),
            Self::Redshift => ApiError::new(
                ErrorCode::ClusterSubnetGroupNotFoundFault,
                format!("ClusterSubnetGroup not found: {name}"),
            ),
        }
    }

    fn exists(self, name: &str) -> ApiError {
        match self {
            Self::Rds => ApiError::new(
                ErrorCode::DBSubnetGroupAlreadyExists,
                format!("The DB subnet group '{name}' already exists."),
            ),
            Self::ElastiCache => ApiError::new(
                ErrorCode::CacheSubnetGroupAlreadyExists,
                format!("Cache subnet group {name} already exists."),
            ),
            Self::Redshift => ApiError::new(
                ErrorCode::ClusterSubnetGroupAlreadyExists,
                format!("The Cluster subnet group '{name}' already exists."),
            ),
        }
    }

    /// The ARN of group `name` (RDS names its groups `subgrp`).
    pub fn arn(self, region: &str, account: &str, name: &str) -> String {
        let kind = match self {
            Self::Rds => "subgrp",
            Self::ElastiCache | Self::Redshift => "subnetgroup",
        };
        format!("arn:aws:{}:{region}:{account}:{kind}:{name}", self.as_str())
    }
}

/// One subnet group. Its tags are the service's, not EC2's: `Resource::tags` is `None` so
/// EC2's DescribeTags and tag actions never see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSubnetGroup {
    /// `SERVICE:NAME` (names are one namespace per service).
    pub id: String,
    pub service: SubnetGroupService,
    /// Lowercase, as the services store it.
    pub name: String,
    pub description: String,
    pub vpc_id: VpcId,
    pub subnet_ids: Vec<SubnetId>,
    #[serde(default)]
    pub group_tags: Tags,
}

impl Resource for ServiceSubnetGroup {
    type Id = String;
    fn id(&self) -> &String {
        &self.id
    }
    fn tags(&self) -> Option<&Tags> {
        None
    }
    fn tags_mut(&mut self) -> Option<&mut Tags> {
        None
    }
}

fn key(service: SubnetGroupService, name: &str) -> String {
    format!("{}:{}", service.as_str(), name.to_ascii_lowercase())
}

/// The group `name` of `service` in `region`: the service's not-found error otherwise.
pub fn find<'a>(
    region: &'a Region,
    service: SubnetGroupService,
    name: &str,
) -> Result<&'a ServiceSubnetGroup, ApiError> {
    region
        .service_subnet_groups
        .get(&key(service, name))
        .ok_or_else(|| service.not_found(name))
}

/// Every group of `service` in `region`, by name.
pub fn all(region: &Region, service: SubnetGroupService) -> Vec<&ServiceSubnetGroup> {
    region
        .service_subnet_groups
        .values()
        .filter(|g| g.service == service)
        .collect()
}

/// The group's subnets that still exist, with their zones (a subnet deleted under a group
/// drops out of it, as the services show it).
pub fn subnets<'a>(region: &'a Region, group: &ServiceSubnetGroup) -> Vec<&'a Subnet> {
    group
        .subnet_ids
        .iter()
        .filter_map(|id| region.subnets.get(id.as_ref()))
        .collect()
}

/// Checks a name the way the services do: 1 to 255 letters, digits, hyphens, underscores,
/// periods and spaces (RDS), never `default`.
fn check_name(service: SubnetGroupService, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
        && !name.eq_ignore_ascii_case("default");
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_value(format!(
            "The parameter {} is not a valid identifier: {name}",
            match service {
                SubnetGroupService::Rds => "DBSubnetGroupName",
                SubnetGroupService::ElastiCache => "CacheSubnetGroupName",
                SubnetGroupService::Redshift => "ClusterSubnetGroupName",
            }
        )))
    }
}

impl Tx<'_> {
    /// The subnets asked for, checked: each exists, all in one VPC; RDS also wants two zones.
    fn group_subnets(
        &self,
        service: SubnetGroupService,
        ids: &[String],
    ) -> Result<(VpcId, Vec<SubnetId>), ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("SubnetIds"));
        }
        let mut vpc: Option<VpcId> = None;
        let mut out: Vec<SubnetId> = Vec::new();
        let mut zones: Vec<&str> = Vec::new();
        for id in ids {
            let subnet = self.region.subnets.get(id).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidSubnet,
                    format!("Some input subnets in :[{id}] are invalid."),
                )
            })?;
            match &vpc {
                Some(v) if *v != subnet.vpc_id => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidSubnet,
                        "Subnets can only be in one VPC: the subnets given belong to different VPCs.",
                    ));
                }
                _ => vpc = Some(subnet.vpc_id.clone()),
            }
            if !out.contains(&subnet.id) {
                out.push(subnet.id.clone());
            }
            if !zones.contains(&subnet.availability_zone.as_str()) {
                zones.push(&subnet.availability_zone);
            }
        }
        if service == SubnetGroupService::Rds && zones.len() < 2 {
            return Err(ApiError::new(
                ErrorCode::DBSubnetGroupDoesNotCoverEnoughAZs,
                format!(
                    "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ coverage: {}. Add subnets to cover at least 2 AZs.",
                    zones.join(", ")
                ),
            ));
        }
        let vpc = vpc.ok_or_else(|| ApiError::missing("SubnetIds"))?;
        Ok((vpc, out))
    }

    /// CreateDBSubnetGroup, CreateCacheSubnetGroup, CreateClusterSubnetGroup.
    pub fn create_service_subnet_group(
        &mut self,
        service: SubnetGroupService,
        name: &str,
        description: &str,
        subnet_ids: &[String],
        tags: Tags,
    ) -> Result<ServiceSubnetGroup, ApiError> {
        check_name(service, name)?;
        let id = key(service, name);
        if self.region.service_subnet_groups.contains(&id) {
            return Err(service.exists(name));
        }
        let (vpc_id, subnet_ids) = self.group_subnets(service, subnet_ids)?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let group = ServiceSubnetGroup {
            id,
            service,
            name: name.to_ascii_lowercase(),
            description: description.to_owned(),
            vpc_id,
            subnet_ids,
            group_tags: tags,
        };
        self.region.service_subnet_groups.insert(group.clone());
        Ok(group)
    }

    /// ModifyDBSubnetGroup, ModifyCacheSubnetGroup, ModifyClusterSubnetGroup: a new
    /// description and, when given, a new set of subnets (of the group's VPC).
    pub fn modify_service_subnet_group(
        &mut self,
        service: SubnetGroupService,
        name: &str,
        description: Option<String>,
        subnet_ids: &[String],
    ) -> Result<ServiceSubnetGroup, ApiError> {
        let mut group = find(self.region, service, name)?.clone();
        if !subnet_ids.is_empty() {
            let (vpc_id, subnets) = self.group_subnets(service, subnet_ids)?;
            if vpc_id != group.vpc_id {
                return Err(ApiError::new(
                    ErrorCode::InvalidSubnet,
                    format!(
                        "The new subnets are not in the same VPC as the existing subnet group {}.",
                        group.name
                    ),
                ));
            }
            group.subnet_ids = subnets;
        }
        if let Some(d) = description {
            group.description = d;
        }
        self.region.service_subnet_groups.insert(group.clone());
        Ok(group)
    }

    /// DeleteDBSubnetGroup, DeleteCacheSubnetGroup, DeleteClusterSubnetGroup.
    pub fn delete_service_subnet_group(
        &mut self,
        service: SubnetGroupService,
        name: &str,
    ) -> Result<(), ApiError> {
        let id = find(self.region, service, name)?.id.clone();
        self.region.service_subnet_groups.remove(&id);
        Ok(())
    }

    /// The services' tag actions on a group: `add` set (replacing values), `remove` keys
    /// dropped. Answers the group's tags after.
    pub fn tag_service_subnet_group(
        &mut self,
        service: SubnetGroupService,
        name: &str,
        add: Tags,
        remove: &[String],
    ) -> Result<Tags, ApiError> {
        let mut group = find(self.region, service, name)?.clone();
        for (k, v) in add {
            group.group_tags.insert(k, v);
        }
        for k in remove {
            group.group_tags.remove(k);
        }
        check_tags(&group.group_tags, self.config.quotas.tags_per_resource)?;
        let tags = group.group_tags.clone();
        self.region.service_subnet_groups.insert(group);
        Ok(tags)
    }
}
