//! EBS snapshots: taken of a volume (CreateSnapshot), of an instance's volumes
//! (CreateSnapshots) or by CreateImage; copied between regions; shared by create-volume
//! permission; moved to the archive tier and back.
//!
//! The public images of the catalog have public snapshots of their own, owned by their
//! publisher, built on the fly like the images.

use fort_model::*;

use crate::Tx;
use crate::image::catalog;
use crate::region::Region;
use crate::tags::check_tags;

/// A snapshot with who owns it, as Describe shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub owner_id: String,
    pub owner_alias: Option<String>,
    pub snapshot: Snapshot,
}

/// The root snapshots of the catalog's images in `region`: public, their publisher's.
pub fn catalog_snapshots(region: &str) -> Vec<Owned> {
    catalog(region)
        .iter()
        .flat_map(|i| {
            i.block_devices
                .iter()
                .filter_map(|d| d.ebs.as_ref())
                .filter_map(move |e| {
                    let id = SnapshotId::parse(e.snapshot_id.as_deref()?).ok()?;
                    Some(Owned {
                        owner_id: i.owner_id.clone(),
                        owner_alias: i.owner_alias.clone(),
                        snapshot: Snapshot {
                            id,
                            volume_id: "vol-ffffffff".into(),
                            volume_size: e.volume_size.unwrap_or(8),
                            description: format!("Auto-created snapshot for AMI {}", i.id),
                            start_time: 0,
                            encrypted: e.encrypted,
                            kms_key_id: e.kms_key_id.clone(),
                            create_volume_permissions: vec![VolumePermission::Group("all".into())],
                            tier: SnapshotTier::default(),
                            tags: Tags::new(),
                        },
                    })
                })
        })
        .collect()
}

/// Every snapshot `account` can see in `region`, by id: its own, other accounts' it may
/// restore (public or shared with it) and the catalog's.
pub fn visible<'a>(
    regions: impl Iterator<Item = &'a Region>,
    account: &str,
    region: &str,
) -> Vec<Owned> {
    let mut by_id: std::collections::BTreeMap<SnapshotId, Owned> = catalog_snapshots(region)
        .into_iter()
        .map(|o| (o.snapshot.id.clone(), o))
        .collect();
    for r in regions.filter(|r| r.name == region) {
        let own = r.account == account;
        for s in r.snapshots.values() {
            if own || s.restorable_by(account) {
                by_id.insert(
                    s.id.clone(),
                    Owned {
                        owner_id: r.account.clone(),
                        owner_alias: None,
                        snapshot: s.clone(),
                    },
                );
            }
        }
    }
    by_id.into_values().collect()
}

/// EC2's answer to a snapshot in use by an image.
fn in_use(id: &str, image: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidSnapshotInUse,
        format!("The snapshot {id} is currently in use by {image}"),
    )
}

/// Checks create-volume permissions: only the group `all`.
fn check_permissions(perms: &[VolumePermission]) -> Result<(), ApiError> {
    for p in perms {
        match p {
            VolumePermission::Group(g) if g != "all" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidAmiAttributeItemValue,
                    format!("Invalid attribute item value \"{g}\" for group item type."),
                ));
            }
            VolumePermission::UserId(u) if u.is_empty() => {
                return Err(ApiError::missing("UserId"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// CreateSnapshots' parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateSnapshots {
    pub instance_id: String,
    pub exclude_boot_volume: bool,
    pub exclude_data_volume_ids: Vec<String>,
    pub description: String,
    pub tags: Tags,
    pub copy_tags_from_source: bool,
}

impl Tx<'_> {
    /// Every snapshot the caller sees in this region.
    pub fn visible_snapshots(&self) -> Vec<Owned> {
        let regions = std::iter::once(&*self.region).chain(self.others.values());
        visible(regions, &self.region.account, &self.region.name)
    }

    /// A snapshot the caller sees, or EC2's not-found.
    pub fn find_snapshot(&self, id: &str) -> Result<Owned, ApiError> {
        Kind::Snapshot.check(id)?;
        self.visible_snapshots()
            .into_iter()
            .find(|o| o.snapshot.id == id)
            .ok_or_else(|| Kind::Snapshot.not_found(id))
    }

    /// When a snapshot taken now starts: EC2's snapshot times are whole seconds.
    fn snapshot_start(&self) -> Millis {
        self.now - self.now.rem_euclid(1_000)
    }

    /// A new snapshot of the caller's, of a volume's size and encryption.
    pub(crate) fn new_snapshot(
        &mut self,
        volume: &Volume,
        description: String,
        tags: Tags,
    ) -> Snapshot {
        let s = Snapshot {
            id: SnapshotId::new(),
            volume_id: volume.id.to_string(),
            volume_size: volume.size,
            description,
            start_time: self.snapshot_start(),
            encrypted: volume.encrypted,
            kms_key_id: volume.kms_key_id.clone(),
            create_volume_permissions: Vec::new(),
            tier: SnapshotTier::default(),
            tags,
        };
        self.region.snapshots.insert(s.clone());
        s
    }

    /// A snapshot for an image's block device that no volume backs (an image's own
    /// mapping): its size, and a volume id no one has.
    pub(crate) fn image_snapshot(
        &mut self,
        size: u32,
        ebs: &ImageEbs,
        description: String,
    ) -> SnapshotId {
        let s = Snapshot {
            id: SnapshotId::new(),
            volume_id: "vol-ffffffff".into(),
            volume_size: size,
            description,
            start_time: self.snapshot_start(),
            encrypted: ebs.encrypted,
            kms_key_id: ebs.kms_key_id.clone(),
            create_volume_permissions: Vec::new(),
            tier: SnapshotTier::default(),
            tags: Tags::new(),
        };
        let id = s.id.clone();
        self.region.snapshots.insert(s);
        id
    }

    /// CreateSnapshot: a snapshot of one volume.
    pub fn create_snapshot(
        &mut self,
        volume_id: &str,
        description: Option<String>,
        tags: Tags,
    ) -> Result<Snapshot, ApiError> {
        let volume = self.region.volumes.find(Kind::Volume, volume_id)?.clone();
        check_description(description.as_deref())?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        Ok(self.new_snapshot(&volume, description.unwrap_or_default(), tags))
    }

    /// CreateSnapshots: one snapshot of each EBS volume attached to an instance.
    pub fn create_snapshots(&mut self, req: CreateSnapshots) -> Result<Vec<Snapshot>, ApiError> {
        let inst = self
            .region
            .instances
            .find(Kind::Instance, &req.instance_id)?
            .clone();
        for v in &req.exclude_data_volume_ids {
            self.region.volumes.find(Kind::Volume, v)?;
        }
        check_description(Some(&req.description))?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let volumes: Vec<Volume> = self
            .region
            .volumes
            .values()
            .filter(|v| {
                v.attachment_to(inst.id.as_str()).is_some_and(|a| {
                    !(req.exclude_boot_volume
                        && inst.root_device_name.as_deref() == Some(a.device.as_str()))
                })
            })
            .filter(|v| !req.exclude_data_volume_ids.iter().any(|x| v.id == *x))
            .cloned()
            .collect();
        Ok(volumes
            .iter()
            .map(|v| {
                let mut tags = req.tags.clone();
                if req.copy_tags_from_source {
                    tags.extend(v.tags.clone());
                }
                self.new_snapshot(v, req.description.clone(), tags)
            })
            .collect())
    }

    /// The caller's own snapshot `id`, to change or delete.
    fn own_snapshot(&mut self, id: &str) -> Result<&mut Snapshot, ApiError> {
        Kind::Snapshot.check(id)?;
        self.region
            .snapshots
            .get_mut(id)
            .ok_or_else(|| Kind::Snapshot.not_found(id))
    }

    /// DeleteSnapshot: refused while one of the caller's images uses it.
    pub fn delete_snapshot(&mut self, id: &str) -> Result<(), ApiError> {
        self.own_snapshot(id)?;
        let user = self.region.images.values().find(|i| {
            i.state != ImageState::Deregistered
                && i.block_devices
                    .iter()
                    .any(|d| d.ebs.as_ref().and_then(|e| e.snapshot_id.as_deref()) == Some(id))
        });
        if let Some(image) = user {
            return Err(in_use(id, &image.id));
        }
        self.region.snapshots.remove(id);
        Ok(())
    }

    /// CopySnapshot: a copy, in this region, of a snapshot the caller sees in
    /// `source_region`; encrypted if asked or if the source is.
    pub fn copy_snapshot(
        &mut self,
        source_id: &str,
        source_region: &str,
        description: Option<String>,
        encrypted: bool,
        kms_key_id: Option<String>,
        tags: Tags,
    ) -> Result<Snapshot, ApiError> {
        check_description(description.as_deref())?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let regions = std::iter::once(&*self.region).chain(self.others.values());
        // EC2 answers an unknown source with an empty message.
        let source = visible(regions, &self.region.account, source_region)
            .into_iter()
            .find(|o| o.snapshot.id == source_id)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidSnapshotNotFound, ""))?;
        let src = source.snapshot;
        let encrypted = encrypted || src.encrypted || kms_key_id.is_some();
        let kms_key_id = match (kms_key_id, encrypted) {
            (Some(k), _) => Some(k),
            (None, true) => src
                .kms_key_id
                .clone()
                .or_else(|| Some(self.default_kms_key())),
            (None, false) => None,
        };
        let s = Snapshot {
            id: SnapshotId::new(),
            volume_id: src.volume_id.clone(),
            volume_size: src.volume_size,
            // EC2 gives a copy only the description asked for (the console pre-fills
            // "[Copied snap-… from REGION]"; the API does not): the provider's
            // aws_ebs_snapshot_copy tests, run against EC2, read back none.
            description: description.unwrap_or_default(),
            start_time: self.snapshot_start(),
            encrypted,
            kms_key_id,
            create_volume_permissions: Vec::new(),
            tier: SnapshotTier::default(),
            tags,
        };
        self.region.snapshots.insert(s.clone());
        Ok(s)
    }

    /// ModifySnapshotAttribute `createVolumePermission`: adds, then removes; idempotent.
    pub fn modify_snapshot_permissions(
        &mut self,
        id: &str,
        add: Vec<VolumePermission>,
        remove: Vec<VolumePermission>,
    ) -> Result<(), ApiError> {
        check_permissions(&add)?;
        check_permissions(&remove)?;
        let s = self.own_snapshot(id)?;
        for p in add {
            if !s.create_volume_permissions.contains(&p) {
                s.create_volume_permissions.push(p);
            }
        }
        s.create_volume_permissions.retain(|p| !remove.contains(p));
        Ok(())
    }

    /// ResetSnapshotAttribute: the snapshot is private again.
    pub fn reset_snapshot_attribute(&mut self, id: &str, attribute: &str) -> Result<(), ApiError> {
        if attribute != "createVolumePermission" {
            return Err(ApiError::bad_param(
                "attribute",
                attribute,
                "Valid values: createVolumePermission.",
            ));
        }
        self.own_snapshot(id)?.create_volume_permissions.clear();
        Ok(())
    }

    /// ModifySnapshotTier: to the archive tier (the only target EC2 takes).
    pub fn modify_snapshot_tier(&mut self, id: &str, tier: &str) -> Result<Millis, ApiError> {
        if tier != "archive" {
            return Err(ApiError::bad_param(
                "StorageTier",
                tier,
                "Valid values: archive.",
            ));
        }
        let now = self.now;
        let s = self.own_snapshot(id)?;
        if s.tier.archived {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!("Snapshot {id} is already in the archive tier."),
            ));
        }
        s.tier = SnapshotTier {
            archived: true,
            last_operation: Some(("archival-completed".into(), now)),
            restore_expiry: None,
        };
        Ok(now)
    }

    /// RestoreSnapshotTier: an archived snapshot back to the standard tier, for good or
    /// for `days`.
    pub fn restore_snapshot_tier(
        &mut self,
        id: &str,
        days: Option<i64>,
        permanent: bool,
    ) -> Result<Millis, ApiError> {
        if permanent == days.is_some() {
            return Err(ApiError::combination(
                "Specify either TemporaryRestoreDays or PermanentRestore, but not both.",
            ));
        }
        if let Some(d) = days
            && !(1..=180).contains(&d)
        {
            return Err(ApiError::bad_param(
                "TemporaryRestoreDays",
                &d.to_string(),
                "Valid values: 1 to 180.",
            ));
        }
        let now = self.now;
        let s = self.own_snapshot(id)?;
        if !s.tier.archived {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!("Snapshot {id} is not in the archive tier."),
            ));
        }
        s.tier = match days {
            Some(d) => SnapshotTier {
                archived: true,
                last_operation: Some(("temporary-restore-completed".into(), now)),
                restore_expiry: Some(now + d * 86_400_000),
            },
            None => SnapshotTier {
                archived: false,
                last_operation: Some(("permanent-restore-completed".into(), now)),
                restore_expiry: None,
            },
        };
        Ok(now)
    }
}

/// Snapshot descriptions: at most 255 characters.
fn check_description(d: Option<&str>) -> Result<(), ApiError> {
    match d {
        Some(d) if d.chars().count() > 255 => Err(ApiError::invalid_value(
            "The description may be at most 255 characters long.",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_images_have_public_snapshots_of_their_publishers() {
        let snaps = catalog_snapshots("us-east-1");
        let images = catalog("us-east-1");
        assert_eq!(snaps.len(), images.len());
        for s in &snaps {
            assert!(s.snapshot.is_public());
            let image = images
                .iter()
                .find(|i| {
                    i.block_devices[0]
                        .ebs
                        .as_ref()
                        .unwrap()
                        .snapshot_id
                        .as_deref()
                        == Some(s.snapshot.id.as_str())
                })
                .unwrap();
            assert_eq!(s.owner_id, image.owner_id);
        }
    }

    #[test]
    fn sharing_makes_a_snapshot_visible() {
        let mut theirs = Region::new("222222222222", "us-east-1");
        let mut s = catalog_snapshots("us-east-1").remove(0).snapshot;
        s.id = SnapshotId::parse("snap-0aaaaaaaaaaaaaaaa").unwrap();
        s.create_volume_permissions.clear();
        theirs.snapshots.insert(s.clone());
        let seen = |r: &Region| {
            visible(std::iter::once(r), "111111111111", "us-east-1")
                .iter()
                .any(|o| o.snapshot.id == s.id)
        };
        assert!(!seen(&theirs));
        s.create_volume_permissions = vec![VolumePermission::UserId("111111111111".into())];
        theirs.snapshots.insert(s.clone());
        assert!(seen(&theirs));
        assert_eq!(
            check_permissions(&[VolumePermission::Group("everyone".into())])
                .unwrap_err()
                .code,
            ErrorCode::InvalidAmiAttributeItemValue
        );
    }
}
