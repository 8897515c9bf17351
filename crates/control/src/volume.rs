//! EBS volumes: made with an instance (its root volume and any `BlockDeviceMapping.N`) or
//! by CreateVolume; attached to an instance of their zone, detached, modified, deleted.
//! EC2 answers a change with its transitional state (`creating`, `attaching`,
//! `detaching`, `modifying`); what is stored, and shown next, is the settled one.

use fort_model::*;

use crate::tags::check_tags;
use crate::{ClientToken, Tx};

/// The size, IOPS and throughput a volume may have, by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeLimits {
    pub min_size: u32,
    pub max_size: u32,
    /// (min, max, default) IOPS when the type takes provisioned IOPS.
    pub iops: Option<(u32, u32, Option<u32>)>,
    /// Most IOPS per GiB.
    pub iops_per_gib: u32,
    pub iops_required: bool,
    /// (min, max, default) MiB/s for gp3.
    pub throughput: Option<(u32, u32, u32)>,
}

/// The types EC2 offers, with their limits (CreateVolume's documentation).
pub fn limits(volume_type: &str) -> Option<VolumeLimits> {
    let l = |min_size, max_size| VolumeLimits {
        min_size,
        max_size,
        iops: None,
        iops_per_gib: 0,
        iops_required: false,
        throughput: None,
    };
    Some(match volume_type {
        "gp2" => l(1, 16_384),
        "gp3" => VolumeLimits {
            iops: Some((3_000, 80_000, Some(3_000))),
            iops_per_gib: 500,
            throughput: Some((125, 2_000, 125)),
            ..l(1, 65_536)
        },
        "io1" => VolumeLimits {
            iops: Some((100, 64_000, None)),
            iops_per_gib: 50,
            iops_required: true,
            ..l(4, 16_384)
        },
        "io2" => VolumeLimits {
            iops: Some((100, 256_000, None)),
            iops_per_gib: 1_000,
            iops_required: true,
            ..l(4, 65_536)
        },
        "st1" | "sc1" => l(125, 16_384),
        "standard" => l(1, 1_024),
        _ => return None,
    })
}

/// What a volume is asked to be (CreateVolume, ModifyVolume, a block device mapping).
#[derive(Clone, Debug, Default)]
pub struct VolumeSpec {
    pub volume_type: Option<String>,
    pub size: Option<i64>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
}

/// A volume's type, size, IOPS and throughput once checked against its type's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub volume_type: String,
    pub size: u32,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
}

/// Checks a volume's configuration as EC2 does; `size` is already resolved (given, or
/// the snapshot's).
pub fn check_volume(
    volume_type: &str,
    size: i64,
    iops: Option<i64>,
    throughput: Option<i64>,
) -> Result<Checked, ApiError> {
    let lim = limits(volume_type).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Value ({volume_type}) for parameter volumeType is invalid. Valid values: standard, io1, io2, gp2, sc1, st1, gp3."
        ))
    })?;
    if size < i64::from(lim.min_size) {
        return Err(ApiError::invalid_value(format!(
            "Volume of {size}GiB is too small; minimum is {}GiB.",
            lim.min_size
        )));
    }
    if size > i64::from(lim.max_size) {
        return Err(ApiError::invalid_value(format!(
            "Volume of {size}GiB is too large for volume type {volume_type}; maximum is {}GiB.",
            lim.max_size
        )));
    }
    let size = u32::try_from(size).expect("within the type's range");
    let iops = match (lim.iops, iops) {
        (None, Some(_)) => {
            return Err(ApiError::combination(format!(
                "The parameter iops is not supported for {volume_type} volumes."
            )));
        }
        (None, None) => None,
        (Some(_), None) if lim.iops_required => {
            return Err(ApiError::combination(format!(
                "The parameter iops must be specified for {volume_type} volumes."
            )));
        }
        (Some((_, _, default)), None) => default,
        (Some((min, max, _)), Some(n)) => {
            if n < i64::from(min) || n > i64::from(max) {
                return Err(ApiError::invalid_value(format!(
                    "Volume iops of {n} is {} for volume type {volume_type}; {} is {}.",
                    if n < i64::from(min) {
                        "too low"
                    } else {
                        "too high"
                    },
                    if n < i64::from(min) {
                        "minimum"
                    } else {
                        "maximum"
                    },
                    if n < i64::from(min) { min } else { max },
                )));
            }
            let ratio = n as f64 / f64::from(size);
            // gp3's floor of 3,000 IOPS is allowed whatever the size.
            if !(volume_type == "gp3" && n <= 3_000) && ratio > f64::from(lim.iops_per_gib) {
                return Err(ApiError::invalid_value(format!(
                    "Iops to volume size ratio of {ratio:.6} is too high; maximum is {:.6}.",
                    f64::from(lim.iops_per_gib)
                )));
            }
            u32::try_from(n).ok()
        }
    };
    let throughput = match (lim.throughput, throughput) {
        (None, Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterDependency,
                format!(
                    "The parameter Throughput is not supported for {volume_type} volumes; it is supported only for gp3 volumes."
                ),
            ));
        }
        (None, None) => None,
        (Some((_, _, default)), None) => Some(default),
        (Some((min, max, _)), Some(t)) => {
            if t < i64::from(min) || t > i64::from(max) {
                return Err(ApiError::invalid_value(format!(
                    "Throughput of {t} MiB/s is invalid for volume type {volume_type}; valid values are {min} to {max} MiB/s."
                )));
            }
            let per_iops = t as f64 / f64::from(iops.unwrap_or(3_000));
            if per_iops > 0.25 {
                return Err(ApiError::invalid_value(format!(
                    "Throughput to iops ratio of {per_iops:.6} is too high; maximum is 0.250000 MiB/s per iops."
                )));
            }
            u32::try_from(t).ok()
        }
    };
    Ok(Checked {
        volume_type: volume_type.to_owned(),
        size,
        iops,
        throughput,
    })
}

/// The IOPS a volume shows: provisioned, or gp2's baseline of 3 per GiB (100 to 16,000).
pub fn shown_iops(v: &Volume) -> Option<u32> {
    match v.volume_type.as_str() {
        "gp2" => Some((v.size * 3).clamp(100, 16_000)),
        _ => v.iops,
    }
}

/// A device name EC2 takes for an EBS volume: `/dev/sdf`, `/dev/sdf1`, `/dev/xvdf`,
/// `/dev/xvdba`, `xvdf` (Windows).
pub fn is_device_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("/dev/sd")
        .or_else(|| name.strip_prefix("/dev/xvd"))
        .or_else(|| name.strip_prefix("/dev/hd"))
        .or_else(|| name.strip_prefix("xvd"));
    let Some(rest) = rest else {
        return false;
    };
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = &rest[letters..];
    (1..=2).contains(&letters)
        && digits.len() <= 2
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.is_empty() || digits.parse::<u32>().is_ok_and(|n| (1..=15).contains(&n)))
}

/// EC2 gives volume attachment times in whole seconds (`...T12:34:56.000Z`).
pub fn whole_second(t: Millis) -> Millis {
    t - t.rem_euclid(1000)
}

fn bad_device(device: &str) -> ApiError {
    ApiError::invalid_value(format!(
        "Value ({device}) for parameter device is invalid. {device} is not a valid EBS device name."
    ))
}

/// The root volume an image gives its instances: (device name, size GiB, type, snapshot).
/// An image Fort does not know (or one without an EBS root) boots from 8 GiB of gp3.
pub fn image_root(image: Option<&Image>) -> (String, u32, String, Option<String>) {
    let root = image.map_or("/dev/xvda", |i| i.root_device_name.as_str());
    let ebs = image.and_then(|i| {
        i.block_devices
            .iter()
            .find(|d| d.device_name == root)
            .and_then(|d| d.ebs.as_ref())
    });
    (
        root.to_owned(),
        ebs.and_then(|e| e.volume_size).unwrap_or(8),
        ebs.map_or_else(|| "gp3".to_owned(), |e| e.volume_type.clone()),
        ebs.and_then(|e| e.snapshot_id.clone()),
    )
}

/// How GetEbsDefaultKmsKeyId names the AWS managed key of EBS.
pub const MANAGED_EBS_ALIAS: &str = "alias/aws/ebs";

/// The id of an account's one [`EbsSettings`] row in a region.
const EBS_SETTINGS: &str = "default";
/// How many instances a Multi-Attach volume attaches to at most.
const MAX_MULTI_ATTACH: usize = 16;

/// The ARN of the AWS managed EBS key (`alias/aws/ebs`) of an account in a region: a key
/// id derived from both, so it is stable.
pub fn managed_ebs_key(account: &str, region: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("aws/ebs\0{account}\0{region}"));
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "arn:aws:kms:{region}:{account}:key/{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A KMS key as ModifyEbsDefaultKmsKeyId takes it (id, `alias/...`, or an ARN of either),
/// as an ARN.
pub fn kms_arn(account: &str, region: &str, key: &str) -> Result<String, ApiError> {
    let is_uuid = key.len() == 36
        && key.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    let is_mrk = key.starts_with("mrk-") && key.len() > 4;
    if key.starts_with("arn:aws:kms:") && (key.contains(":key/") || key.contains(":alias/")) {
        Ok(key.to_owned())
    } else if let Some(alias) = key.strip_prefix("alias/")
        && !alias.is_empty()
    {
        Ok(format!("arn:aws:kms:{region}:{account}:{key}"))
    } else if is_uuid || is_mrk {
        Ok(format!("arn:aws:kms:{region}:{account}:key/{key}"))
    } else {
        Err(ApiError::invalid_value(format!(
            "Invalid id: \"{key}\" (expecting a KMS key id, alias or ARN)"
        )))
    }
}

/// An account's EBS encryption settings in a region (EC2's defaults until changed).
pub fn ebs_settings(region: &crate::Region) -> EbsSettings {
    region
        .ebs_settings
        .get(EBS_SETTINGS)
        .cloned()
        .unwrap_or_else(|| EbsSettings {
            id: EBS_SETTINGS.into(),
            encryption_by_default: false,
            default_kms_key_id: None,
        })
}

/// CreateVolume's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateVolume {
    pub availability_zone: Option<String>,
    pub spec: VolumeSpec,
    pub snapshot_id: Option<String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach: bool,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// One `BlockDeviceMapping.N` of RunInstances.
#[derive(Clone, Debug, Default)]
pub struct BlockDeviceSpec {
    pub device_name: String,
    pub no_device: bool,
    pub virtual_name: Option<String>,
    /// `None` when the mapping has no `Ebs` (then `NoDevice` or `VirtualName` must be set).
    pub ebs: Option<EbsSpec>,
}

#[derive(Clone, Debug, Default)]
pub struct EbsSpec {
    pub spec: VolumeSpec,
    pub snapshot_id: Option<String>,
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
}

/// Checks RunInstances's block device mappings before anything is made.
pub fn check_mappings(mappings: &[BlockDeviceSpec]) -> Result<(), ApiError> {
    let mut seen = Vec::new();
    for m in mappings {
        if m.device_name.is_empty() {
            return Err(ApiError::missing("deviceName"));
        }
        if seen.contains(&m.device_name.as_str()) {
            return Err(ApiError::new(
                ErrorCode::InvalidBlockDeviceMapping,
                format!(
                    "The device '{}' is used in more than one block-device mapping",
                    m.device_name
                ),
            ));
        }
        seen.push(&m.device_name);
        match &m.ebs {
            None if !m.no_device && m.virtual_name.is_none() => {
                return Err(ApiError::missing("ebs"));
            }
            // The root device may leave the size to the image.
            Some(e)
                if e.spec.size.is_none()
                    && e.snapshot_id.is_none()
                    && m.device_name != "/dev/xvda"
                    && m.device_name != "/dev/sda1" =>
            {
                return Err(ApiError::missing("size or snapshotId"));
            }
            _ => {}
        }
    }
    Ok(())
}

impl Tx<'_> {
    fn volume_zone_ok(&self, zone: &str) -> Result<(), ApiError> {
        if self
            .config
            .zones(&self.region.name)
            .iter()
            .any(|z| z == zone)
        {
            Ok(())
        } else {
            Err(ApiError::invalid_value(format!(
                "Invalid availability zone: [{zone}]"
            )))
        }
    }

    /// The size, encryption and key of a snapshot the caller may make volumes of.
    fn snapshot_source(&self, id: &str) -> Result<(u32, bool, Option<String>), ApiError> {
        let s = self.find_snapshot(id)?.snapshot;
        Ok((s.volume_size, s.encrypted, s.kms_key_id))
    }

    fn snapshot_size(&self, id: &str) -> Result<u32, ApiError> {
        self.snapshot_source(id).map(|(size, _, _)| size)
    }

    /// The account's EBS encryption settings in this region.
    pub fn ebs_settings(&self) -> EbsSettings {
        ebs_settings(self.region)
    }

    fn set_ebs_settings(&mut self, f: impl FnOnce(&mut EbsSettings)) -> EbsSettings {
        let mut s = self.ebs_settings();
        f(&mut s);
        self.region.ebs_settings.insert(s.clone());
        s
    }

    /// Enable/DisableEbsEncryptionByDefault.
    pub fn set_encryption_by_default(&mut self, on: bool) -> bool {
        self.set_ebs_settings(|s| s.encryption_by_default = on)
            .encryption_by_default
    }

    /// The key an encrypted volume gets when it names none: the account's default, or
    /// the AWS managed key of EBS (an ARN of a key id stable per account and region).
    pub fn default_kms_key(&self) -> String {
        self.ebs_settings()
            .default_kms_key_id
            .unwrap_or_else(|| managed_ebs_key(&self.region.account, &self.region.name))
    }

    /// ModifyEbsDefaultKmsKeyId: a key id, alias, or ARN; answered as an ARN. An empty
    /// id goes back to the AWS managed key.
    pub fn modify_default_kms_key(&mut self, key: &str) -> Result<String, ApiError> {
        if key.is_empty() {
            return Ok(self.reset_default_kms_key());
        }
        let arn = kms_arn(&self.region.account, &self.region.name, key)?;
        self.set_ebs_settings(|s| s.default_kms_key_id = Some(arn.clone()));
        Ok(arn)
    }

    /// ResetEbsDefaultKmsKeyId: back to the AWS managed key (answered by its alias).
    pub fn reset_default_kms_key(&mut self) -> String {
        self.set_ebs_settings(|s| s.default_kms_key_id = None);
        MANAGED_EBS_ALIAS.into()
    }

    pub fn create_volume(&mut self, req: CreateVolume) -> Result<Volume, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.volumes.get(id).cloned(),
            |tx| {
                let zone = req
                    .availability_zone
                    .clone()
                    .ok_or_else(|| ApiError::missing("AvailabilityZone"))?;
                // EC2 asks for a size or snapshot before it looks at the zone.
                if req.spec.size.is_none() && req.snapshot_id.is_none() {
                    return Err(ApiError::missing("size/snapshot"));
                }
                tx.volume_zone_ok(&zone)?;
                let snap = req
                    .snapshot_id
                    .as_deref()
                    .map(|s| tx.snapshot_source(s))
                    .transpose()?;
                let snap_size = snap.as_ref().map(|(size, _, _)| *size);
                let size = match (req.spec.size, snap_size) {
                    (None, None) => return Err(ApiError::missing("size/snapshot")),
                    (Some(s), Some(min)) if s < i64::from(min) => {
                        return Err(ApiError::invalid_value(format!(
                            "Volume of {s}GiB is smaller than snapshot '{}', expect size >= {min}GiB",
                            req.snapshot_id.as_deref().unwrap_or_default()
                        )));
                    }
                    (Some(s), _) => s,
                    (None, Some(min)) => i64::from(min),
                };
                let ty = req.spec.volume_type.as_deref().unwrap_or("gp2");
                // EC2 checks MultiAttachEnabled against the type before the type's own
                // limits (or whether it is a type at all).
                if req.multi_attach && !matches!(ty, "io1" | "io2") {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterDependency,
                        "The parameter MultiAttachEnabled is supported only for io1 and io2 volumes.",
                    ));
                }
                let c = check_volume(ty, size, req.spec.iops, req.spec.throughput)?;
                if req.kms_key_id.is_some() && !req.encrypted {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterDependency,
                        "The parameter KmsKeyId requires the parameter Encrypted to be set.",
                    ));
                }
                check_tags(&req.tags, tx.config.quotas.tags_per_resource)?;
                // A volume of an encrypted snapshot is encrypted, with its key unless
                // another is named; so is every new volume when encryption is the default.
                let (snap_encrypted, snap_key) = snap
                    .map(|(_, e, k)| (e, k))
                    .unwrap_or_default();
                let encrypted = req.encrypted
                    || req.kms_key_id.is_some()
                    || snap_encrypted
                    || tx.ebs_settings().encryption_by_default;
                let kms_key_id = encrypted.then(|| {
                    req.kms_key_id
                        .clone()
                        .or(snap_key)
                        .unwrap_or_else(|| tx.default_kms_key())
                });
                let v = Volume {
                    id: VolumeId::new(),
                    size: c.size,
                    snapshot_id: req.snapshot_id.clone(),
                    availability_zone: zone,
                    volume_type: c.volume_type,
                    iops: c.iops,
                    throughput: c.throughput,
                    encrypted,
                    kms_key_id,
                    multi_attach_enabled: req.multi_attach,
                    auto_enable_io: false,
                    create_time: tx.now,
                    attachment: None,
                    more_attachments: Vec::new(),
                    modification: None,
                    client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
                    tags: req.tags.clone(),
                };
                tx.region.volumes.insert(v.clone());
                Ok(v)
            },
            |v| v.id.to_string(),
        )
    }

    /// The volumes of a new instance: its image's root volume (changed by a mapping of
    /// the root device) and one per other EBS mapping. Gives the root device name.
    pub(crate) fn launch_volumes(
        &mut self,
        inst: &Instance,
        mappings: &[BlockDeviceSpec],
        tags: &Tags,
    ) -> Result<String, ApiError> {
        let image = self.find_image(&inst.image_id);
        let (root, image_size, image_type, image_snap) = image_root(image.as_ref());
        let mut list: Vec<BlockDeviceSpec> = Vec::with_capacity(mappings.len() + 1);
        if !mappings.iter().any(|m| m.device_name == root) {
            list.push(BlockDeviceSpec {
                device_name: root.clone(),
                ebs: Some(EbsSpec::default()),
                ..BlockDeviceSpec::default()
            });
        }
        list.extend(mappings.iter().cloned());
        for m in list {
            let Some(e) = m.ebs.filter(|_| !m.no_device && m.virtual_name.is_none()) else {
                continue;
            };
            let is_root = m.device_name == root;
            let snap = if is_root {
                e.snapshot_id.as_deref().or(image_snap.as_deref())
            } else {
                e.snapshot_id.as_deref()
            };
            let min = match snap {
                Some(s) if is_root && Some(s) == image_snap.as_deref() => image_size,
                Some(s) => self.snapshot_size(s)?,
                None if is_root => image_size,
                None => 1,
            };
            let size = e.spec.size.unwrap_or(i64::from(min));
            if size < i64::from(min) {
                return Err(ApiError::new(
                    ErrorCode::InvalidBlockDeviceMapping,
                    format!(
                        "Volume of size {size}GB is smaller than snapshot '{}', expect size >= {min}GB",
                        snap.unwrap_or_default()
                    ),
                ));
            }
            let ty = e.spec.volume_type.as_deref().unwrap_or(if is_root {
                image_type.as_str()
            } else {
                "gp2"
            });
            let c = check_volume(ty, size, e.spec.iops, e.spec.throughput)?;
            // Encrypted when asked, when its snapshot is, or when encryption is the default.
            let snap_encrypted = match snap {
                Some(s) => self
                    .find_snapshot(s)
                    .map(|o| (o.snapshot.encrypted, o.snapshot.kms_key_id))
                    .unwrap_or_default(),
                None => (false, None),
            };
            let encrypted = e.encrypted.unwrap_or(false)
                || e.kms_key_id.is_some()
                || snap_encrypted.0
                || self.ebs_settings().encryption_by_default;
            let kms_key_id = encrypted.then(|| {
                e.kms_key_id
                    .clone()
                    .or(snap_encrypted.1)
                    .unwrap_or_else(|| self.default_kms_key())
            });
            self.region.volumes.insert(Volume {
                id: VolumeId::new(),
                size: c.size,
                snapshot_id: snap.map(str::to_owned),
                availability_zone: inst.availability_zone.clone(),
                volume_type: c.volume_type,
                iops: c.iops,
                throughput: c.throughput,
                encrypted,
                kms_key_id,
                multi_attach_enabled: false,
                auto_enable_io: false,
                create_time: self.now,
                attachment: Some(VolumeAttachment {
                    instance_id: inst.id.clone(),
                    device: m.device_name.clone(),
                    attach_time: whole_second(self.now),
                    delete_on_termination: e.delete_on_termination.unwrap_or(true),
                }),
                more_attachments: Vec::new(),
                modification: None,
                client_token: None,
                tags: tags.clone(),
            });
        }
        Ok(root.to_owned())
    }

    /// An instance is terminated: its delete-on-termination volumes go, the rest are
    /// detached.
    pub(crate) fn terminate_volumes(&mut self, instance_id: &InstanceId) {
        let ids = self
            .region
            .volumes
            .ids_where(|v| v.attachment_to(instance_id).is_some());
        for id in ids {
            let Some(v) = self.region.volumes.get_mut(&id) else {
                continue;
            };
            let gone = v.detach_from(instance_id);
            // (a Multi-Attach volume still attached elsewhere stays)
            if gone.is_some_and(|a| a.delete_on_termination) && v.attachment.is_none() {
                self.region.volumes.remove(&id);
            }
        }
    }

    /// The `DeleteOnTermination` flag of the volume at `device` on an instance
    /// (ModifyInstanceAttribute `BlockDeviceMapping`).
    pub(crate) fn set_delete_on_termination(
        &mut self,
        instance_id: &InstanceId,
        device: &str,
        value: bool,
    ) -> Result<(), ApiError> {
        let id = self
            .region
            .volumes
            .values()
            .find(|v| {
                v.attachment_to(instance_id)
                    .is_some_and(|a| a.device == device)
            })
            .map(|v| v.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_value(format!("No device is currently mapped at {device}"))
            })?;
        if let Some(a) = self
            .region
            .volumes
            .get_mut(&id)
            .and_then(|v| v.attachment_to_mut(instance_id))
        {
            a.delete_on_termination = value;
        }
        Ok(())
    }

    /// AttachVolume: answers the attachment (EC2 says `attaching`; it is `attached` next).
    /// The instance id is text until the volume is found: an unknown volume is reported
    /// before a malformed instance id.
    pub fn attach_volume(
        &mut self,
        volume_id: &VolumeId,
        instance_id: &str,
        device: &str,
    ) -> Result<Volume, ApiError> {
        let v = self.region.volumes.lookup(volume_id)?.clone();
        let inst = self
            .region
            .instances
            .find(Kind::Instance, instance_id)?
            .clone();
        if !is_device_name(device) {
            return Err(bad_device(device));
        }
        if !matches!(inst.state, InstanceState::Running | InstanceState::Stopped) {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!("Instance '{instance_id}' is not 'running' or 'stopped'."),
            ));
        }
        // a Multi-Attach volume takes up to 16 instances, each once
        if v.attachment.is_some()
            && (!v.multi_attach_enabled || v.attachment_to(&inst.id).is_some())
        {
            return Err(ApiError::new(
                ErrorCode::VolumeInUse,
                format!("{volume_id} is already attached to an instance"),
            ));
        }
        if v.attachments().count() >= MAX_MULTI_ATTACH {
            return Err(ApiError::new(
                ErrorCode::AttachmentLimitExceeded,
                format!(
                    "Volume {volume_id} is attached to the maximum number of instances ({MAX_MULTI_ATTACH})."
                ),
            ));
        }
        if v.availability_zone != inst.availability_zone {
            return Err(ApiError::new(
                ErrorCode::InvalidVolumeZoneMismatch,
                format!(
                    "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'"
                ),
            ));
        }
        let taken = self.region.volumes.values().any(|x| {
            x.attachment_to(instance_id)
                .is_some_and(|a| a.device == device)
        });
        if taken {
            return Err(ApiError::invalid_value(format!(
                "Invalid value '{device}' for unixDevice. Attachment point {device} is already in use"
            )));
        }
        let row = self.region.volumes.get_mut(volume_id).expect("found above");
        let attachment = VolumeAttachment {
            instance_id: inst.id,
            device: device.to_owned(),
            attach_time: whole_second(self.now),
            delete_on_termination: false,
        };
        if row.attachment.is_some() {
            row.more_attachments.push(attachment);
        } else {
            row.attachment = Some(attachment);
        }
        Ok(row.clone())
    }

    /// DetachVolume: answers the attachment as it was (EC2 says `detaching`). The instance
    /// id is text until the volume is found, as in [`Tx::attach_volume`].
    pub fn detach_volume(
        &mut self,
        volume_id: &VolumeId,
        instance_id: Option<&str>,
        device: Option<&str>,
    ) -> Result<VolumeAttachment, ApiError> {
        let v = self.region.volumes.lookup(volume_id)?.clone();
        if let Some(i) = instance_id {
            self.region.instances.find(Kind::Instance, i)?;
        }
        let Some(first) = v.attachment.clone() else {
            if let Some(i) = instance_id {
                return Err(ApiError::new(
                    ErrorCode::InvalidAttachmentNotFound,
                    format!("Volume '{volume_id}' is not attached to instance '{i}'."),
                ));
            }
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!("Volume '{volume_id}' is in the 'available' state."),
            ));
        };
        // a Multi-Attach volume attached to several instances is detached from one named
        let a = match instance_id {
            Some(i) => v.attachment_to(i).cloned().ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidAttachmentNotFound,
                    format!("Volume '{volume_id}' is not attached to instance '{i}'."),
                )
            })?,
            None if !v.more_attachments.is_empty() => {
                return Err(ApiError::missing("InstanceId"));
            }
            None => first,
        };
        if let Some(d) = device
            && d != a.device
        {
            return Err(ApiError::new(
                ErrorCode::InvalidAttachmentNotFound,
                format!(
                    "The volume {volume_id} is not attached to instance {} as device {d}",
                    a.instance_id
                ),
            ));
        }
        if let Some(inst) = self.region.instances.get(&a.instance_id)
            && inst.root_device_name.as_deref() == Some(a.device.as_str())
            && inst.state != InstanceState::Stopped
        {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "Unable to detach root volume '{volume_id}' from instance '{}'",
                    a.instance_id
                ),
            ));
        }
        self.region
            .volumes
            .get_mut(volume_id)
            .expect("found above")
            .detach_from(&a.instance_id);
        Ok(a)
    }

    pub fn delete_volume(&mut self, volume_id: &VolumeId) -> Result<(), ApiError> {
        let v = self.region.volumes.lookup(volume_id)?;
        if let Some(a) = &v.attachment {
            return Err(ApiError::new(
                ErrorCode::VolumeInUse,
                format!(
                    "Volume {volume_id} is currently attached to {}",
                    a.instance_id
                ),
            ));
        }
        self.region.volumes.remove(volume_id);
        Ok(())
    }

    /// ModifyVolume: the new size, type, IOPS or throughput (a volume only grows).
    pub fn modify_volume(
        &mut self,
        volume_id: &VolumeId,
        spec: VolumeSpec,
        multi_attach: Option<bool>,
    ) -> Result<Volume, ApiError> {
        let v = self.region.volumes.lookup(volume_id)?.clone();
        let size = spec.size.unwrap_or(i64::from(v.size));
        if size < i64::from(v.size) {
            return Err(ApiError::invalid_value(format!(
                "New size cannot be smaller than existing size ({}GiB).",
                v.size
            )));
        }
        let ty = spec.volume_type.clone().unwrap_or(v.volume_type.clone());
        let same_type = ty == v.volume_type;
        // IOPS and throughput carry over within a type that takes them.
        let iops = spec.iops.or(if same_type {
            v.iops.map(i64::from)
        } else {
            None
        });
        let throughput = spec.throughput.or(if same_type {
            v.throughput.map(i64::from)
        } else {
            None
        });
        let c = check_volume(&ty, size, iops, throughput)?;
        let row = self.region.volumes.get_mut(volume_id).expect("found above");
        row.modification = Some(VolumeModification {
            start_time: self.now,
            original_size: v.size,
            original_type: v.volume_type.clone(),
            original_iops: shown_iops(&v),
            original_throughput: v.throughput,
            original_multi_attach: v.multi_attach_enabled,
        });
        row.size = c.size;
        row.volume_type = c.volume_type;
        row.iops = c.iops;
        row.throughput = c.throughput;
        if let Some(m) = multi_attach {
            row.multi_attach_enabled = m;
        }
        Ok(row.clone())
    }

    /// ModifyVolumeAttribute `AutoEnableIO`.
    pub fn modify_volume_attribute(
        &mut self,
        volume_id: &VolumeId,
        auto_enable_io: bool,
    ) -> Result<(), ApiError> {
        self.region.volumes.lookup_mut(volume_id)?.auto_enable_io = auto_enable_io;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_by_type() {
        assert!(check_volume("gp2", 1, None, None).is_ok());
        assert!(check_volume("gp2", 16_385, None, None).is_err());
        assert!(check_volume("gp3", 65_536, None, None).is_ok());
        assert!(check_volume("io1", 3, Some(100), None).is_err());
        assert!(check_volume("st1", 124, None, None).is_err());
        assert!(check_volume("sc1", 125, None, None).is_ok());
        assert!(check_volume("standard", 1_025, None, None).is_err());
        assert_eq!(
            check_volume("gp9", 10, None, None).unwrap_err().code,
            "InvalidParameterValue"
        );
    }

    #[test]
    fn iops_and_throughput_by_type() {
        let gp3 = check_volume("gp3", 10, None, None).unwrap();
        assert_eq!((gp3.iops, gp3.throughput), (Some(3_000), Some(125)));
        assert_eq!(
            check_volume("gp2", 10, Some(300), None).unwrap_err().code,
            "InvalidParameterCombination"
        );
        assert_eq!(
            check_volume("io1", 10, None, None).unwrap_err().code,
            "InvalidParameterCombination"
        );
        // io1: 50 IOPS per GiB at most.
        assert!(check_volume("io1", 10, Some(500), None).is_ok());
        assert!(check_volume("io1", 10, Some(501), None).is_err());
        assert!(check_volume("io1", 10, Some(1_000), None).is_err());
        assert!(check_volume("gp3", 1, Some(3_000), None).is_ok());
        assert!(check_volume("io2", 10, Some(10_000), None).is_ok());
        assert!(check_volume("gp3", 100, Some(80_001), None).is_err());
        assert!(check_volume("gp3", 100, Some(16_000), Some(1_000)).is_ok());
        assert!(check_volume("gp3", 100, Some(3_000), Some(1_000)).is_err());
        assert_eq!(
            check_volume("gp2", 10, None, Some(200)).unwrap_err().code,
            "InvalidParameterDependency"
        );
    }

    #[test]
    fn device_names() {
        for ok in [
            "/dev/sdf",
            "/dev/sdf1",
            "/dev/xvda",
            "/dev/xvdba",
            "xvdf",
            "/dev/sda1",
        ] {
            assert!(is_device_name(ok), "{ok}");
        }
        for bad in [
            "/dev/sd",
            "sdf",
            "/dev/nvme0n1",
            "/dev/sdf16",
            "/dev/xvdabc",
            "",
        ] {
            assert!(!is_device_name(bad), "{bad}");
        }
    }

    #[test]
    fn mappings_need_ebs_and_a_size() {
        let no_ebs = BlockDeviceSpec {
            device_name: "/dev/sda2".into(),
            ..BlockDeviceSpec::default()
        };
        assert_eq!(
            check_mappings(&[no_ebs]).unwrap_err().message,
            "The request must contain the parameter ebs"
        );
        let no_size = BlockDeviceSpec {
            device_name: "/dev/sda2".into(),
            ebs: Some(EbsSpec::default()),
            ..BlockDeviceSpec::default()
        };
        assert_eq!(
            check_mappings(&[no_size]).unwrap_err().message,
            "The request must contain the parameter size or snapshotId"
        );
    }
}
