//! VPC Block Public Access actions: the account's options and its exclusions.

use fort_control::vpc_block_public_access::{options, visible};
use fort_model::{
    ApiError, Kind, VpcBlockPublicAccessExclusion, VpcBlockPublicAccessExclusionState,
    VpcBlockPublicAccessOptions, VpcBlockPublicAccessState, format_time,
};

use super::{Ctx, Describe, next_token};
use crate::xml::Xml;

crate::actions!(
    DescribeVpcBlockPublicAccessOptions,
    ModifyVpcBlockPublicAccessOptions,
    CreateVpcBlockPublicAccessExclusion,
    DescribeVpcBlockPublicAccessExclusions,
    ModifyVpcBlockPublicAccessExclusion,
    DeleteVpcBlockPublicAccessExclusion,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let region = ctx.scope.region.clone();
    let account = ctx.account().to_owned();
    match action {
        Action::DescribeVpcBlockPublicAccessOptions => {
            let o = ctx.read(|v| options(v.region)).await?;
            Ok(options_answer(&o, &account, &region, o.state))
        }
        Action::ModifyVpcBlockPublicAccessOptions => {
            let mode = p.req("InternetGatewayBlockMode")?.to_owned();
            let o = ctx
                .write(|tx| tx.modify_vpc_block_public_access_options(&mode))
                .await?;
            Ok(options_answer(
                &o,
                &account,
                &region,
                VpcBlockPublicAccessState::UpdateInProgress,
            ))
        }
        Action::CreateVpcBlockPublicAccessExclusion => {
            let vpc = p.opt_str("VpcId");
            let subnet = p.opt_str("SubnetId");
            let mode = p.req("InternetGatewayExclusionMode")?.to_owned();
            let tags = ctx.tag_specs(&["vpc-block-public-access-exclusion"])?;
            let e = ctx
                .write(|tx| {
                    tx.create_vpc_block_public_access_exclusion(
                        vpc.as_deref(),
                        subnet.as_deref(),
                        &mode,
                        tags,
                    )
                })
                .await?;
            Ok(exclusion_answer(
                &e,
                &account,
                &region,
                VpcBlockPublicAccessExclusionState::CreateInProgress,
            ))
        }
        Action::ModifyVpcBlockPublicAccessExclusion => {
            let id = p.req("ExclusionId")?.to_owned();
            let mode = p.req("InternetGatewayExclusionMode")?.to_owned();
            let e = ctx
                .write(|tx| tx.modify_vpc_block_public_access_exclusion(&id, &mode))
                .await?;
            Ok(exclusion_answer(
                &e,
                &account,
                &region,
                VpcBlockPublicAccessExclusionState::UpdateInProgress,
            ))
        }
        Action::DeleteVpcBlockPublicAccessExclusion => {
            let id = p.req("ExclusionId")?.to_owned();
            let e = ctx
                .write(|tx| tx.delete_vpc_block_public_access_exclusion(&id))
                .await?;
            Ok(exclusion_answer(
                &e,
                &account,
                &region,
                VpcBlockPublicAccessExclusionState::DeleteInProgress,
            ))
        }
        Action::DescribeVpcBlockPublicAccessExclusions => {
            let d = Describe {
                ids_param: "ExclusionId",
                kind: Kind::VpcBlockPublicAccessExclusion,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            let now = fort_control::now_millis();
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region
                        .vpc_block_public_access_exclusions
                        .values()
                        .filter(|e| visible(e, now)),
                    |e| e.id.as_str(),
                    |e| &e.tags,
                    |e, name| field(e, name, &account, &region),
                )?;
                let mut w = Xml::new();
                w.set("vpcBlockPublicAccessExclusionSet", page.items, |w, e| {
                    render(w, e, &account, &region, e.state)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

const FILTERS: &[&str] = &["resource-arn", "internet-gateway-exclusion-mode", "state"];

fn field(
    e: &VpcBlockPublicAccessExclusion,
    name: &str,
    account: &str,
    region: &str,
) -> Vec<String> {
    match name {
        "resource-arn" => vec![e.resource.arn(region, account)],
        "internet-gateway-exclusion-mode" => vec![e.mode.as_str().to_owned()],
        "state" => vec![e.state.as_str().to_owned()],
        _ => vec![],
    }
}

fn options_answer(
    o: &VpcBlockPublicAccessOptions,
    account: &str,
    region: &str,
    state: VpcBlockPublicAccessState,
) -> Xml {
    let mut w = Xml::new();
    w.el("vpcBlockPublicAccessOptions", |w| {
        w.leaf("awsAccountId", account)
            .leaf("awsRegion", region)
            .leaf("state", state)
            .leaf("internetGatewayBlockMode", o.mode)
            .opt("lastUpdateTimestamp", o.last_update.map(format_time))
            .leaf("managedBy", "account")
            .leaf("exclusionsAllowed", "allowed");
    });
    w
}

fn exclusion_answer(
    e: &VpcBlockPublicAccessExclusion,
    account: &str,
    region: &str,
    state: VpcBlockPublicAccessExclusionState,
) -> Xml {
    let mut w = Xml::new();
    w.el("vpcBlockPublicAccessExclusion", |w| {
        render(w, e, account, region, state)
    });
    w
}

fn render(
    w: &mut Xml,
    e: &VpcBlockPublicAccessExclusion,
    account: &str,
    region: &str,
    state: VpcBlockPublicAccessExclusionState,
) {
    w.leaf("exclusionId", &e.id)
        .leaf("internetGatewayExclusionMode", e.mode)
        .leaf("resourceArn", e.resource.arn(region, account))
        .leaf("state", state)
        .leaf("creationTimestamp", format_time(e.created))
        .leaf("lastUpdateTimestamp", format_time(e.last_update))
        .opt("deletionTimestamp", e.deleted.map(format_time))
        .tags(&e.tags);
}
