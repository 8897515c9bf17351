//! VPC Block Public Access: the account's mode in a region and its exclusions. Fort keeps
//! and answers them as EC2 does; its data plane does not block anything for them yet.
//! Changes settle at once: the actions answer the transitional state, Describe the
//! settled one; a deleted exclusion is described (`delete-complete`) for an hour.

use fort_model::*;

use crate::Tx;
use crate::tags::check_tags;

/// The id of an account's one options row in a region.
const OPTIONS: &str = "default";
/// A deleted exclusion is still described for this long.
pub const VISIBLE_AFTER_DELETE_MS: Millis = 3600 * 1000;

/// The account's options in a region: EC2's defaults until first modified.
pub fn options(region: &crate::Region) -> VpcBlockPublicAccessOptions {
    region
        .vpc_block_public_access_options
        .get(OPTIONS)
        .cloned()
        .unwrap_or_else(|| VpcBlockPublicAccessOptions {
            id: OPTIONS.into(),
            mode: InternetGatewayBlockMode::Off,
            state: VpcBlockPublicAccessState::DefaultState,
            last_update: None,
        })
}

/// Whether an exclusion is still described at `now`.
pub fn visible(e: &VpcBlockPublicAccessExclusion, now: Millis) -> bool {
    e.deleted.is_none_or(|t| now < t + VISIBLE_AFTER_DELETE_MS)
}

fn parse_mode<T>(
    param: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| {
        ApiError::bad_param(param, text, &format!("Valid values: {}.", all.join(", ")))
    })
}

impl Tx<'_> {
    /// ModifyVpcBlockPublicAccessOptions: the new mode, settled.
    pub fn modify_vpc_block_public_access_options(
        &mut self,
        mode: &str,
    ) -> Result<VpcBlockPublicAccessOptions, ApiError> {
        let names: Vec<&str> = InternetGatewayBlockMode::ALL
            .iter()
            .map(|m| m.as_str())
            .collect();
        let mode = parse_mode(
            "InternetGatewayBlockMode",
            mode,
            InternetGatewayBlockMode::parse,
            &names,
        )?;
        let mut o = options(self.region);
        o.mode = mode;
        o.state = VpcBlockPublicAccessState::UpdateComplete;
        o.last_update = Some(self.now);
        self.region
            .vpc_block_public_access_options
            .insert(o.clone());
        Ok(o)
    }

    /// CreateVpcBlockPublicAccessExclusion: one VPC or one subnet of this account, at most
    /// one live exclusion each.
    pub fn create_vpc_block_public_access_exclusion(
        &mut self,
        vpc_id: Option<&str>,
        subnet_id: Option<&str>,
        mode: &str,
        tags: Tags,
    ) -> Result<VpcBlockPublicAccessExclusion, ApiError> {
        let resource = match (vpc_id, subnet_id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::combination(
                    "Specify either a VpcId or a SubnetId, not both.",
                ));
            }
            (None, None) => return Err(ApiError::missing("VpcId or SubnetId")),
            (Some(v), None) => {
                ExcludedResource::Vpc(self.region.vpcs.find(Kind::Vpc, v)?.id.clone())
            }
            (None, Some(s)) => {
                ExcludedResource::Subnet(self.region.subnets.find(Kind::Subnet, s)?.id.clone())
            }
        };
        let mode = exclusion_mode(mode)?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        if let Some(e) = self
            .region
            .vpc_block_public_access_exclusions
            .values()
            .find(|e| e.deleted.is_none() && e.resource == resource)
        {
            return Err(ApiError::invalid_value(format!(
                "The resource {} already has the exclusion {}.",
                resource.id(),
                e.id
            )));
        }
        let e = VpcBlockPublicAccessExclusion {
            id: VpcBlockPublicAccessExclusionId::new(),
            resource,
            mode,
            state: VpcBlockPublicAccessExclusionState::CreateComplete,
            created: self.now,
            last_update: self.now,
            deleted: None,
            tags,
        };
        self.region
            .vpc_block_public_access_exclusions
            .insert(e.clone());
        Ok(e)
    }

    fn live_exclusion(&self, id: &str) -> Result<VpcBlockPublicAccessExclusion, ApiError> {
        let e = self
            .region
            .vpc_block_public_access_exclusions
            .find(Kind::VpcBlockPublicAccessExclusion, id)?;
        if !visible(e, self.now) {
            return Err(Kind::VpcBlockPublicAccessExclusion.not_found(id));
        }
        if e.deleted.is_some() {
            return Err(ApiError::invalid_value(format!(
                "Exclusion {id} is in {} state and cannot be modified or deleted.",
                e.state.as_str()
            )));
        }
        Ok(e.clone())
    }

    /// ModifyVpcBlockPublicAccessExclusion: a new mode for a live exclusion.
    pub fn modify_vpc_block_public_access_exclusion(
        &mut self,
        id: &str,
        mode: &str,
    ) -> Result<VpcBlockPublicAccessExclusion, ApiError> {
        let mut e = self.live_exclusion(id)?;
        e.mode = exclusion_mode(mode)?;
        e.state = VpcBlockPublicAccessExclusionState::UpdateComplete;
        e.last_update = self.now;
        self.region
            .vpc_block_public_access_exclusions
            .insert(e.clone());
        Ok(e)
    }

    /// DeleteVpcBlockPublicAccessExclusion: `delete-complete`, still described for a while.
    pub fn delete_vpc_block_public_access_exclusion(
        &mut self,
        id: &str,
    ) -> Result<VpcBlockPublicAccessExclusion, ApiError> {
        let mut e = match self.live_exclusion(id) {
            Err(err) if err.code == ErrorCode::InvalidParameterValue => {
                // Terraform's delete treats this wording as already gone.
                return Err(ApiError::invalid_value(format!(
                    "Exclusion {id} is in delete-complete state and cannot be deleted."
                )));
            }
            r => r?,
        };
        e.state = VpcBlockPublicAccessExclusionState::DeleteComplete;
        e.deleted = Some(self.now);
        e.last_update = self.now;
        self.region
            .vpc_block_public_access_exclusions
            .insert(e.clone());
        Ok(e)
    }
}

fn exclusion_mode(text: &str) -> Result<InternetGatewayExclusionMode, ApiError> {
    let names: Vec<&str> = InternetGatewayExclusionMode::ALL
        .iter()
        .map(|m| m.as_str())
        .collect();
    parse_mode(
        "InternetGatewayExclusionMode",
        text,
        InternetGatewayExclusionMode::parse,
        &names,
    )
}
