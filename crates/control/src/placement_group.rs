//! Placement groups: CreatePlacementGroup, DeletePlacementGroup, and the group (and
//! partition) RunInstances puts an instance in. Fort does not move instances for them:
//! a group records the strategy asked for, as EC2 describes it.

use fort_model::*;

use crate::Tx;
use crate::tags::check_tags;

/// The most partitions a partition group has (EC2's limit).
pub const MAX_PARTITIONS: u32 = 7;

/// What CreatePlacementGroup asks for.
#[derive(Clone, Debug, Default)]
pub struct PlacementGroupRequest {
    pub name: Option<String>,
    pub strategy: Option<String>,
    pub partition_count: Option<i64>,
    pub spread_level: Option<String>,
    pub tags: Tags,
}

/// EC2's words for a group no one has.
pub fn unknown(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidPlacementGroupUnknown,
        format!("The Placement Group '{name}' is unknown."),
    )
}

/// Placement group names: 1 to 255 ASCII characters.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing("GroupName"));
    }
    if name.len() > 255 || !name.is_ascii() {
        return Err(ApiError::invalid_value(format!(
            "Value ({name}) for parameter groupName is invalid. Placement group names may be up to 255 ASCII characters."
        )));
    }
    Ok(())
}

impl Tx<'_> {
    pub fn create_placement_group(
        &mut self,
        req: PlacementGroupRequest,
    ) -> Result<PlacementGroup, ApiError> {
        let name = req.name.unwrap_or_default();
        check_name(&name)?;
        let strategy_text = req.strategy.ok_or_else(|| ApiError::missing("Strategy"))?;
        let strategy = PlacementStrategy::parse(&strategy_text).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Value ({strategy_text}) for parameter strategy is invalid. Valid values: cluster, spread, partition."
            ))
        })?;
        let partition_count = match (strategy, req.partition_count) {
            (PlacementStrategy::Partition, None) => Some(2),
            (PlacementStrategy::Partition, Some(n)) => match u32::try_from(n) {
                Ok(n) if (1..=MAX_PARTITIONS).contains(&n) => Some(n),
                _ => {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({n}) for parameter partitionCount is invalid. Valid values are 1 to {MAX_PARTITIONS}."
                    )));
                }
            },
            (_, None) => None,
            (_, Some(_)) => {
                return Err(ApiError::combination(
                    "The parameter partitionCount is only valid with the partition strategy.",
                ));
            }
        };
        let spread_level = match (strategy, req.spread_level) {
            (PlacementStrategy::Spread, None) => Some("rack".to_owned()),
            (PlacementStrategy::Spread, Some(l)) if matches!(l.as_str(), "host" | "rack") => {
                Some(l)
            }
            (PlacementStrategy::Spread, Some(l)) => {
                return Err(ApiError::invalid_value(format!(
                    "Value ({l}) for parameter spreadLevel is invalid. Valid values: host, rack."
                )));
            }
            (_, None) => None,
            (_, Some(_)) => {
                return Err(ApiError::combination(
                    "The parameter spreadLevel is only valid with the spread strategy.",
                ));
            }
        };
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        if self
            .region
            .placement_groups
            .values()
            .any(|g| g.name == name)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidPlacementGroupDuplicate,
                format!("The Placement Group '{name}' already exists."),
            ));
        }
        let group = PlacementGroup {
            id: PlacementGroupId::new(),
            name,
            strategy,
            partition_count,
            spread_level,
            tags: req.tags,
        };
        self.region.placement_groups.insert(group.clone());
        Ok(group)
    }

    /// DeletePlacementGroup by name: refused while an instance that is not terminated is in it.
    pub fn delete_placement_group(&mut self, name: &str) -> Result<(), ApiError> {
        let group = self.placement_group_named(name)?.id.clone();
        let in_use = self.region.instances.values().any(|i| {
            i.state != InstanceState::Terminated
                && i.placement_group.as_ref().is_some_and(|p| p.id == group)
        });
        if in_use {
            return Err(ApiError::new(
                ErrorCode::InvalidPlacementGroupInUse,
                format!("The placement group '{name}' is in use and may not be deleted."),
            ));
        }
        self.region.placement_groups.remove(&group);
        Ok(())
    }

    fn placement_group_named(&self, name: &str) -> Result<&PlacementGroup, ApiError> {
        self.region
            .placement_groups
            .values()
            .find(|g| g.name == name)
            .ok_or_else(|| unknown(name))
    }

    /// The group (by `Placement.GroupName` or `Placement.GroupId`) and partition an
    /// instance is launched into; in a partition group without a partition asked for, the
    /// one with the fewest instances.
    pub(crate) fn placement_for_launch(
        &self,
        name: Option<&str>,
        id: Option<&str>,
        partition: Option<i64>,
    ) -> Result<Option<InstancePlacementGroup>, ApiError> {
        let group = match (name.filter(|n| !n.is_empty()), id.filter(|i| !i.is_empty())) {
            (None, None) => {
                if partition.is_some() {
                    return Err(ApiError::combination(
                        "The parameter partitionNumber requires a placement group of the partition strategy.",
                    ));
                }
                return Ok(None);
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::combination(
                    "The parameters groupName and groupId cannot be used together.",
                ));
            }
            (Some(n), None) => self.placement_group_named(n)?,
            (None, Some(i)) => {
                let id = PlacementGroupId::parse(i)?;
                self.region
                    .placement_groups
                    .get(&id)
                    .ok_or_else(|| unknown(i))?
            }
        };
        let partition_number = match (group.partition_count, partition) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ApiError::combination(format!(
                    "The placement group '{}' does not use the partition strategy: no partitionNumber can be given.",
                    group.name
                )));
            }
            (Some(count), Some(n)) => match u32::try_from(n) {
                Ok(n) if (1..=count).contains(&n) => Some(n),
                _ => {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({n}) for parameter partitionNumber is invalid. The placement group '{}' has partitions 1 to {count}.",
                        group.name
                    )));
                }
            },
            (Some(count), None) => {
                let in_partition = |n: u32| {
                    self.region
                        .instances
                        .values()
                        .filter(|i| i.state != InstanceState::Terminated)
                        .filter_map(|i| i.placement_group.as_ref())
                        .filter(|p| p.id == group.id && p.partition_number == Some(n))
                        .count()
                };
                (1..=count).min_by_key(|&n| in_partition(n))
            }
        };
        Ok(Some(InstancePlacementGroup {
            id: group.id.clone(),
            name: group.name.clone(),
            partition_number,
        }))
    }
}
