//! EBS snapshots: a point-in-time copy of a volume, made by CreateSnapshot(s), CreateImage
//! or CopySnapshot/CopyImage, from which volumes and images are made.

use serde::{Deserialize, Serialize};

use crate::{Millis, SnapshotId, Tags};

/// A snapshot an account owns. EC2 answers a create with `pending`; the copy Fort keeps is
/// complete at once, so what is stored and described is `completed`, 100 %.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    /// The volume it was taken from (a copy keeps its source's, as EC2's arbitrary id).
    pub volume_id: String,
    /// GiB: the size of its volume.
    pub volume_size: u32,
    pub description: String,
    pub start_time: Millis,
    pub encrypted: bool,
    /// The KMS key of an encrypted snapshot, as an ARN.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Who may make volumes of it besides its owner, in the order they were added.
    #[serde(default)]
    pub create_volume_permissions: Vec<VolumePermission>,
    #[serde(default)]
    pub tier: SnapshotTier,
    pub tags: Tags,
}

impl Snapshot {
    /// Whether `Group: all` may make volumes of it.
    pub fn is_public(&self) -> bool {
        self.create_volume_permissions
            .iter()
            .any(|p| *p == VolumePermission::Group("all".into()))
    }

    /// Whether `account` (not its owner) may make volumes of it.
    pub fn restorable_by(&self, account: &str) -> bool {
        self.create_volume_permissions.iter().any(|p| match p {
            VolumePermission::Group(g) => g == "all",
            VolumePermission::UserId(u) => u == account,
        })
    }
}

/// One create-volume permission of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumePermission {
    UserId(String),
    /// Only `all`.
    Group(String),
}

/// Where a snapshot is stored (ModifySnapshotTier, RestoreSnapshotTier).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotTier {
    /// In the archive tier (else `standard`).
    pub archived: bool,
    /// The last tiering operation and when it started: `archival-completed`,
    /// `temporary-restore-completed`, `permanent-restore-completed`.
    pub last_operation: Option<(String, Millis)>,
    /// A temporary restore ends at this time.
    pub restore_expiry: Option<Millis>,
}
