//! IAM instance profile associations: which profile an instance carries.

use fort_control::iam_instance_profile::{ProfileAssociation, ProfileSpec};
use fort_model::{
    ApiError, IamInstanceProfileAssociation, InstanceId, InstanceState, Kind, Tags, format_time,
};

use super::{Ctx, Describe, next_token};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    AssociateIamInstanceProfile,
    DescribeIamInstanceProfileAssociations,
    ReplaceIamInstanceProfileAssociation,
    DisassociateIamInstanceProfile,
);

static NO_TAGS: Tags = Tags::new();

/// `IamInstanceProfile.Arn` / `.Name` of a request.
pub fn profile_spec(p: &Params) -> ProfileSpec {
    let p = p.child("IamInstanceProfile");
    ProfileSpec {
        arn: p.opt_str("Arn"),
        name: p.opt_str("Name"),
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let answer = |a: ProfileAssociation, state: &str| {
        let mut w = Xml::new();
        w.el("iamInstanceProfileAssociation", |w| {
            render(w, &a.instance_id, &a.association, state)
        });
        w
    };
    match action {
        Action::AssociateIamInstanceProfile => {
            let spec = profile_spec(p);
            if spec.is_empty() {
                return Err(ApiError::missing("IamInstanceProfile"));
            }
            let id = InstanceId::parse(p.req("InstanceId")?)?;
            let a = ctx
                .write(|tx| tx.associate_iam_instance_profile(&id, &spec))
                .await?;
            Ok(answer(a, "associating"))
        }
        Action::ReplaceIamInstanceProfileAssociation => {
            let spec = profile_spec(p);
            if spec.is_empty() {
                return Err(ApiError::missing("IamInstanceProfile"));
            }
            let id = p.req("AssociationId")?;
            let a = ctx
                .write(|tx| tx.replace_iam_instance_profile_association(id, &spec))
                .await?;
            Ok(answer(a, "associating"))
        }
        Action::DisassociateIamInstanceProfile => {
            let id = p.req("AssociationId")?;
            let a = ctx
                .write(|tx| tx.disassociate_iam_instance_profile(id))
                .await?;
            Ok(answer(a, "disassociating"))
        }
        Action::DescribeIamInstanceProfileAssociations => {
            let d = Describe {
                ids_param: "AssociationId",
                kind: Kind::IamInstanceProfileAssoc,
                filters: &["instance-id", "state"],
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let mut rows: Vec<(&InstanceId, &IamInstanceProfileAssociation)> = v
                    .region
                    .instances
                    .values()
                    .filter(|i| i.state != InstanceState::Terminated)
                    .filter_map(|i| i.iam_instance_profile.as_ref().map(|a| (&i.id, a)))
                    .collect();
                rows.sort_by(|x, y| x.1.id.cmp(&y.1.id));
                let page = d.run(
                    p,
                    rows.iter(),
                    |r| r.1.id.as_str(),
                    |_| &NO_TAGS,
                    |r, name| match name {
                        "instance-id" => vec![r.0.to_string()],
                        "state" => vec!["associated".to_owned()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("iamInstanceProfileAssociationSet", page.items, |w, r| {
                    render(w, r.0, r.1, "associated")
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

fn render(w: &mut Xml, instance_id: &InstanceId, a: &IamInstanceProfileAssociation, state: &str) {
    w.leaf("associationId", &a.id)
        .leaf("instanceId", instance_id)
        .el("iamInstanceProfile", |w| profile(w, a))
        .leaf("state", state)
        .leaf("timestamp", format_time(a.timestamp));
}

/// `iamInstanceProfile` as instances and associations show it: the ARN and the `AIPA…` id.
pub fn profile(w: &mut Xml, a: &IamInstanceProfileAssociation) {
    w.leaf("arn", &a.arn).leaf("id", &a.profile_id);
}
