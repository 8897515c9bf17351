//! EBS snapshot actions: create (of a volume or an instance's volumes), copy, describe,
//! share by create-volume permission, delete, and the archive tier.

use fort_control::snapshot::{CreateSnapshots, Owned, visible};
use fort_model::{ApiError, ErrorCode, Kind, Millis, Snapshot, VolumePermission, format_time};

use super::{Ctx, b, next_token, ok_return};
use crate::filter::{Filters, paginate};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateSnapshot,
    CreateSnapshots,
    CopySnapshot,
    DescribeSnapshots,
    DeleteSnapshot,
    DescribeSnapshotAttribute,
    ModifySnapshotAttribute,
    ResetSnapshotAttribute,
    ModifySnapshotTier,
    RestoreSnapshotTier,
    DescribeSnapshotTierStatus,
);

const FILTERS: &[&str] = &[
    "description",
    "encrypted",
    // Not in botocore's list, but EC2 (and tools written against it) filter by it.
    "kms-key-id",
    "owner-alias",
    "owner-id",
    "progress",
    "snapshot-id",
    "start-time",
    "status",
    "storage-tier",
    "transfer-type",
    "volume-id",
    "volume-size",
];

fn storage_tier(s: &Snapshot) -> &'static str {
    if s.tier.archived {
        "archive"
    } else {
        "standard"
    }
}

fn field(o: &Owned, name: &str) -> Vec<String> {
    let s = &o.snapshot;
    let one = |v: String| vec![v];
    match name {
        "description" => one(s.description.clone()),
        "encrypted" => one(b(s.encrypted).into()),
        "kms-key-id" => s.kms_key_id.iter().cloned().collect(),
        "owner-alias" => o.owner_alias.iter().cloned().collect(),
        "owner-id" => one(o.owner_id.clone()),
        "progress" => one("100%".into()),
        "snapshot-id" => one(s.id.to_string()),
        "start-time" => one(format_time(s.start_time)),
        "status" => one("completed".into()),
        "storage-tier" => one(storage_tier(s).into()),
        "transfer-type" => one("standard".into()),
        "volume-id" => one(s.volume_id.clone()),
        "volume-size" => one(s.volume_size.to_string()),
        _ => vec![],
    }
}

/// One snapshot (botocore's `Snapshot`); `state` overrides the settled `completed`, as a
/// create answers `pending`.
fn render(w: &mut Xml, o: &Owned, state: Option<&str>) {
    let s = &o.snapshot;
    w.leaf("snapshotId", &s.id)
        .leaf("volumeId", &s.volume_id)
        .leaf("status", state.unwrap_or("completed"))
        .leaf("startTime", format_time(s.start_time))
        .leaf("progress", if state.is_some() { "" } else { "100%" })
        .leaf("ownerId", &o.owner_id)
        .opt("ownerAlias", o.owner_alias.as_ref())
        .leaf("volumeSize", s.volume_size)
        .leaf("description", &s.description)
        .leaf("encrypted", b(s.encrypted))
        .opt("kmsKeyId", s.kms_key_id.as_ref())
        .leaf("storageTier", storage_tier(s));
    if let Some(t) = s.tier.restore_expiry {
        w.leaf("restoreExpiryTime", format_time(t));
    }
    tag_set(w, s);
}

/// A snapshot's tag set, written even when empty (SDKs then see `Tags: []`).
fn tag_set(w: &mut Xml, s: &Snapshot) {
    w.set("tagSet", &s.tags, |w, (k, v)| {
        w.leaf("key", k).leaf("value", v);
    });
}

/// One snapshot of CreateSnapshots (botocore's `SnapshotInfo`), with its tag set even
/// when empty.
fn render_info(w: &mut Xml, s: &Snapshot) {
    w.leaf("snapshotId", &s.id)
        .leaf("volumeId", &s.volume_id)
        .leaf("state", "pending")
        .leaf("startTime", format_time(s.start_time))
        .leaf("progress", "")
        .leaf("volumeSize", s.volume_size)
        .leaf("description", &s.description)
        .leaf("encrypted", b(s.encrypted));
    tag_set(w, s);
}

/// An account id, `self`, or (for owners) `amazon`, as EC2 checks them.
fn check_user(u: &str, words: &[&str]) -> Result<(), ApiError> {
    if words.contains(&u) || (u.len() == 12 && u.bytes().all(|c| c.is_ascii_digit())) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvalidUserIdMalformed,
        format!("Invalid user id: \"{u}\""),
    ))
}

/// The snapshots DescribeSnapshots answers with, before pagination.
fn describe(p: &Params, all: Vec<Owned>, account: &str) -> Result<Vec<Owned>, ApiError> {
    let owners = p.strings("Owner")?;
    for o in &owners {
        check_user(o, &["self", "amazon", "aws-marketplace"])?;
    }
    let restorable = p.strings("RestorableBy")?;
    for r in &restorable {
        check_user(r, &["self", "all"])?;
    }
    let ids = p.strings("SnapshotId")?;
    let filters = Filters::parse(p, FILTERS)?;
    for id in &ids {
        if !all.iter().any(|o| o.snapshot.id == *id) {
            Kind::Snapshot.check(id)?;
            return Err(Kind::Snapshot.not_found(id));
        }
    }
    let owned_by = |o: &Owned, who: &str| match who {
        "self" => o.owner_id == account,
        "amazon" | "aws-marketplace" => o.owner_alias.as_deref() == Some(who),
        id => o.owner_id == id,
    };
    let restorable_by = |o: &Owned, who: &str| match who {
        "all" => o.snapshot.is_public(),
        user => {
            let user = if user == "self" { account } else { user };
            o.owner_id == user
                || o.snapshot
                    .create_volume_permissions
                    .contains(&VolumePermission::UserId(user.to_owned()))
        }
    };
    Ok(all
        .into_iter()
        .filter(|o| ids.is_empty() || ids.iter().any(|id| o.snapshot.id == *id))
        .filter(|o| owners.is_empty() || owners.iter().any(|w| owned_by(o, w)))
        .filter(|o| restorable.is_empty() || restorable.iter().any(|w| restorable_by(o, w)))
        .filter(|o| filters.matches(&o.snapshot.tags, |n| field(o, n)))
        .collect())
}

/// `CreateVolumePermission.Add.N` / `.Remove.N`, or `UserId.N` / `UserGroup.N` with
/// `OperationType`: (add, remove).
fn permission_change(
    p: &Params,
) -> Result<(Vec<VolumePermission>, Vec<VolumePermission>), ApiError> {
    let items = |list: Vec<&Params>| {
        let mut out = Vec::new();
        for i in list {
            if let Some(u) = i.get("UserId") {
                out.push(VolumePermission::UserId(u.to_owned()));
            }
            if let Some(g) = i.get("Group") {
                out.push(VolumePermission::Group(g.to_owned()));
            }
        }
        out
    };
    let cvp = p.child("CreateVolumePermission");
    if cvp.is_present() {
        return Ok((items(cvp.list("Add")?), items(cvp.list("Remove")?)));
    }
    match p.get("Attribute") {
        None | Some("createVolumePermission") => {}
        Some(other) => {
            return Err(ApiError::bad_param(
                "attribute",
                other,
                "Valid values: createVolumePermission.",
            ));
        }
    }
    let mut perms: Vec<VolumePermission> = p
        .strings("UserId")?
        .into_iter()
        .map(VolumePermission::UserId)
        .collect();
    perms.extend(
        p.strings("UserGroup")?
            .into_iter()
            .map(VolumePermission::Group),
    );
    match p.get("OperationType") {
        Some("add") => Ok((perms, Vec::new())),
        Some("remove") => Ok((Vec::new(), perms)),
        Some(other) => Err(ApiError::bad_param(
            "operationType",
            other,
            "Valid values: add, remove.",
        )),
        None => Err(ApiError::missing("OperationType")),
    }
}

/// The caller's view of one snapshot by id, or EC2's not-found.
async fn find(ctx: &Ctx<'_>, id: &str) -> Result<Owned, ApiError> {
    Kind::Snapshot.check(id)?;
    let (account, region) = (ctx.account().to_owned(), ctx.scope.region.clone());
    ctx.control
        .read_world(|world| visible(world.regions.values(), &account, &region))
        .await
        .into_iter()
        .find(|o| o.snapshot.id == id)
        .ok_or_else(|| Kind::Snapshot.not_found(id))
}

fn owned(ctx: &Ctx<'_>, snapshot: Snapshot) -> Owned {
    Owned {
        owner_id: ctx.account().to_owned(),
        owner_alias: None,
        snapshot,
    }
}

fn tier_time(w: &mut Xml, name: &str, t: Millis) {
    w.leaf(name, format_time(t));
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateSnapshot => {
            let volume = p.req("VolumeId")?.to_owned();
            let description = p.opt_str("Description");
            let tags = ctx.tag_specs(&["snapshot"])?;
            let s = ctx
                .write(|tx| tx.create_snapshot(&volume, description, tags))
                .await?;
            let mut w = Xml::new();
            render(&mut w, &owned(ctx, s), Some("pending"));
            Ok(w)
        }
        Action::CreateSnapshots => {
            let spec = p.child("InstanceSpecification");
            let req = CreateSnapshots {
                instance_id: spec.req("InstanceId")?.to_owned(),
                exclude_boot_volume: spec.bool("ExcludeBootVolume")?.unwrap_or(false),
                exclude_data_volume_ids: spec.strings("ExcludeDataVolumeId")?,
                description: p.opt_str("Description").unwrap_or_default(),
                tags: ctx.tag_specs(&["snapshot"])?,
                copy_tags_from_source: match p.get("CopyTagsFromSource") {
                    None => false,
                    Some("volume") => true,
                    Some(other) => {
                        return Err(ApiError::bad_param(
                            "CopyTagsFromSource",
                            other,
                            "Valid values: volume.",
                        ));
                    }
                },
            };
            let made = ctx.write(|tx| tx.create_snapshots(req)).await?;
            let mut w = Xml::new();
            w.set("snapshotSet", &made, render_info);
            Ok(w)
        }
        Action::CopySnapshot => {
            let source = p.req("SourceSnapshotId")?.to_owned();
            let region = p.req("SourceRegion")?.to_owned();
            let description = p.opt_str("Description");
            let encrypted = p.bool("Encrypted")?.unwrap_or(false);
            let key = p.opt_str("KmsKeyId");
            let tags = ctx.tag_specs(&["snapshot"])?;
            let s = ctx
                .write(|tx| tx.copy_snapshot(&source, &region, description, encrypted, key, tags))
                .await?;
            let mut w = Xml::new();
            w.leaf("snapshotId", &s.id);
            w.tags(&s.tags);
            Ok(w)
        }
        Action::DescribeSnapshots => {
            let (account, region) = (ctx.account().to_owned(), ctx.scope.region.clone());
            let all = ctx
                .control
                .read_world(|world| visible(world.regions.values(), &account, &region))
                .await;
            let selected = describe(p, all, &account)?;
            let page = paginate(selected, |o| o.snapshot.id.to_string(), p, (5, 1000))?;
            let mut w = Xml::new();
            w.set("snapshotSet", page.items, |w, o| render(w, &o, None));
            next_token(&mut w, page.next_token);
            Ok(w)
        }
        Action::DeleteSnapshot => {
            let id = p.req("SnapshotId")?.to_owned();
            ctx.write(|tx| tx.delete_snapshot(&id)).await?;
            Ok(ok_return())
        }
        Action::DescribeSnapshotAttribute => {
            let id = p.req("SnapshotId")?.to_owned();
            let attribute = p.req("Attribute")?.to_owned();
            let o = find(ctx, &id).await?;
            let mut w = Xml::new();
            w.leaf("snapshotId", &id);
            match attribute.as_str() {
                "createVolumePermission" => {
                    if o.owner_id != ctx.account() {
                        return Err(ApiError::new(
                            ErrorCode::AuthFailure,
                            "Unauthorized attempt to access restricted resource",
                        ));
                    }
                    w.set(
                        "createVolumePermission",
                        &o.snapshot.create_volume_permissions,
                        |w, p| match p {
                            VolumePermission::UserId(u) => {
                                w.leaf("userId", u);
                            }
                            VolumePermission::Group(g) => {
                                w.leaf("group", g);
                            }
                        },
                    );
                }
                "productCodes" => {
                    w.set("productCodes", [(); 0], |_, ()| {});
                }
                other => {
                    return Err(ApiError::bad_param(
                        "attribute",
                        other,
                        "Valid values: productCodes, createVolumePermission.",
                    ));
                }
            }
            Ok(w)
        }
        Action::ModifySnapshotAttribute => {
            let id = p.req("SnapshotId")?.to_owned();
            let (add, remove) = permission_change(p)?;
            ctx.write(|tx| tx.modify_snapshot_permissions(&id, add, remove))
                .await?;
            Ok(ok_return())
        }
        Action::ResetSnapshotAttribute => {
            let id = p.req("SnapshotId")?.to_owned();
            let attribute = p.req("Attribute")?.to_owned();
            ctx.write(|tx| tx.reset_snapshot_attribute(&id, &attribute))
                .await?;
            Ok(ok_return())
        }
        Action::ModifySnapshotTier => {
            let id = p.req("SnapshotId")?.to_owned();
            let tier = p.opt_str("StorageTier").unwrap_or_else(|| "archive".into());
            let at = ctx.write(|tx| tx.modify_snapshot_tier(&id, &tier)).await?;
            let mut w = Xml::new();
            w.leaf("snapshotId", &id);
            tier_time(&mut w, "tieringStartTime", at);
            Ok(w)
        }
        Action::RestoreSnapshotTier => {
            let id = p.req("SnapshotId")?.to_owned();
            let days = p.int("TemporaryRestoreDays")?;
            let permanent = p.bool("PermanentRestore")?.unwrap_or(false);
            let at = ctx
                .write(|tx| tx.restore_snapshot_tier(&id, days, permanent))
                .await?;
            let mut w = Xml::new();
            w.leaf("snapshotId", &id);
            tier_time(&mut w, "restoreStartTime", at);
            w.opt("restoreDuration", days)
                .leaf("isPermanentRestore", b(permanent));
            Ok(w)
        }
        Action::DescribeSnapshotTierStatus => {
            let filters =
                Filters::parse(p, &["snapshot-id", "volume-id", "last-tiering-operation"])?;
            let snapshots: Vec<Snapshot> = ctx
                .read(|v| v.region.snapshots.values().cloned().collect())
                .await?;
            let selected: Vec<Snapshot> = snapshots
                .into_iter()
                .filter(|s| {
                    filters.matches(&s.tags, |n| match n {
                        "snapshot-id" => vec![s.id.to_string()],
                        "volume-id" => vec![s.volume_id.clone()],
                        "last-tiering-operation" => s
                            .tier
                            .last_operation
                            .iter()
                            .map(|(op, _)| op.clone())
                            .collect(),
                        _ => vec![],
                    })
                })
                .collect();
            let page = paginate(selected, |s| s.id.to_string(), p, (5, 1000))?;
            let mut w = Xml::new();
            w.set("snapshotTierStatusSet", page.items, |w, s| {
                w.leaf("snapshotId", &s.id)
                    .leaf("volumeId", &s.volume_id)
                    .leaf("status", "completed")
                    .leaf("ownerId", ctx.account())
                    .tags(&s.tags)
                    .leaf("storageTier", storage_tier(&s));
                if let Some((op, at)) = &s.tier.last_operation {
                    tier_time(w, "lastTieringStartTime", *at);
                    w.leaf("lastTieringProgress", 100)
                        .leaf("lastTieringOperationStatus", op);
                    if op == "archival-completed" {
                        tier_time(w, "archivalCompleteTime", *at);
                    }
                }
                if let Some(t) = s.tier.restore_expiry {
                    tier_time(w, "restoreExpiryTime", t);
                }
            });
            next_token(&mut w, page.next_token);
            Ok(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_model::SnapshotId;

    #[test]
    fn snapshot_ids_are_typed() {
        assert!(SnapshotId::parse("snap-0123456789abcdef0").is_ok());
        assert_eq!(
            SnapshotId::parse("snapshot-abcd1234").unwrap_err().code,
            ErrorCode::InvalidSnapshotIdMalformed
        );
    }
}
