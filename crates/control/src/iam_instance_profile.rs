//! IAM instance profiles on instances: RunInstances' `IamInstanceProfile`, and
//! Associate/Replace/DisassociateIamInstanceProfile. An instance carries one association
//! at most; each association (and each replacement) has its own `iip-assoc-` id.

use fort_model::*;

use crate::Tx;

/// `IamInstanceProfile` of a request: the profile by ARN or by name (the ARN wins when
/// both are given).
#[derive(Clone, Debug, Default)]
pub struct ProfileSpec {
    pub arn: Option<String>,
    pub name: Option<String>,
}

impl ProfileSpec {
    pub fn is_empty(&self) -> bool {
        self.arn.is_none() && self.name.is_none()
    }
}

/// An association as the API shows it: the instance and EC2's state of the association.
#[derive(Clone, Debug)]
pub struct ProfileAssociation {
    pub instance_id: InstanceId,
    pub association: IamInstanceProfileAssociation,
}

impl Tx<'_> {
    /// A fresh association with the profile `spec` names in the caller's account, with
    /// EC2's `InvalidParameterValue` when there is none.
    pub(crate) fn profile_association(
        &self,
        spec: &ProfileSpec,
    ) -> Result<IamInstanceProfileAssociation, ApiError> {
        let account = self.region.account.as_str();
        let found = match (&spec.arn, &spec.name) {
            (Some(arn), _) => self
                .global
                .iam_instance_profiles
                .values()
                .find(|p| p.account == account && p.arn() == *arn)
                .ok_or_else(|| {
                    ApiError::bad_param(
                        "iamInstanceProfile.arn",
                        arn,
                        "Invalid IAM Instance Profile ARN",
                    )
                })?,
            (None, Some(name)) => crate::iam::instance_profile(self.global, account, name)
                .map_err(|_| {
                    ApiError::bad_param(
                        "iamInstanceProfile.name",
                        name,
                        "Invalid IAM Instance Profile name",
                    )
                })?,
            (None, None) => return Err(ApiError::missing("IamInstanceProfile")),
        };
        Ok(IamInstanceProfileAssociation {
            id: IamInstanceProfileAssociationId::new(),
            arn: found.arn(),
            profile_id: found.profile_id.clone(),
            timestamp: self.now,
        })
    }

    /// AssociateIamInstanceProfile: one profile per instance, running or stopped.
    pub fn associate_iam_instance_profile(
        &mut self,
        instance_id: &InstanceId,
        spec: &ProfileSpec,
    ) -> Result<ProfileAssociation, ApiError> {
        let inst = self.region.instances.lookup(instance_id)?;
        if !matches!(
            inst.state,
            InstanceState::Pending
                | InstanceState::Running
                | InstanceState::Stopping
                | InstanceState::Stopped
        ) {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!("The instance '{instance_id}' is not in a valid state for this operation."),
            ));
        }
        if inst.iam_instance_profile.is_some() {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!("There is an existing association for instance {instance_id}"),
            ));
        }
        let association = self.profile_association(spec)?;
        let inst = self.region.instances.lookup_mut(instance_id)?;
        inst.iam_instance_profile = Some(association.clone());
        Ok(ProfileAssociation {
            instance_id: instance_id.clone(),
            association,
        })
    }

    /// ReplaceIamInstanceProfileAssociation: the instance gets the new profile under a new
    /// association id.
    pub fn replace_iam_instance_profile_association(
        &mut self,
        association_id: &str,
        spec: &ProfileSpec,
    ) -> Result<ProfileAssociation, ApiError> {
        let instance_id = self.associated_instance(association_id)?;
        let association = self.profile_association(spec)?;
        let inst = self.region.instances.lookup_mut(&instance_id)?;
        inst.iam_instance_profile = Some(association.clone());
        Ok(ProfileAssociation {
            instance_id,
            association,
        })
    }

    /// DisassociateIamInstanceProfile: the instance keeps no profile; the answer shows the
    /// association that went.
    pub fn disassociate_iam_instance_profile(
        &mut self,
        association_id: &str,
    ) -> Result<ProfileAssociation, ApiError> {
        let instance_id = self.associated_instance(association_id)?;
        let inst = self.region.instances.lookup_mut(&instance_id)?;
        let association = inst
            .iam_instance_profile
            .take()
            .expect("found by its association");
        Ok(ProfileAssociation {
            instance_id,
            association,
        })
    }

    /// The instance whose live association has this id. EC2 gives one answer for an id of
    /// any form that names no association.
    fn associated_instance(&self, association_id: &str) -> Result<InstanceId, ApiError> {
        self.region
            .instances
            .values()
            .find(|i| {
                i.state != InstanceState::Terminated
                    && i.iam_instance_profile
                        .as_ref()
                        .is_some_and(|a| a.id.as_str() == association_id)
            })
            .map(|i| i.id.clone())
            .ok_or_else(|| Kind::IamInstanceProfileAssoc.not_found(association_id))
    }
}
