//! Launch templates: named, versioned sets of launch parameters. A version's data is kept
//! as sent (the Query parameters under `LaunchTemplateData`), so Describe gives back
//! exactly what was given and RunInstances reads it as it reads its own parameters.

use std::collections::BTreeMap;

use fort_model::*;

use crate::tags::check_tags;
use crate::{ClientToken, Region, Tx};

/// How a request names a template: by id or by name, never both. The id is as sent: both
/// given is reported before a malformed id, and a malformed id has its own message.
#[derive(Clone, Debug, Default)]
pub struct TemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// Versions a template keeps at most (EC2's quota).
pub const MAX_VERSIONS: u64 = 10_000;

/// The data of a version made from `source` with `new` given: every top-level parameter
/// `new` names replaces the source's whole (a list of interfaces replaces the list), and
/// the rest is inherited, as CreateLaunchTemplateVersion's `SourceVersion` does.
pub fn merge_data(
    source: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let top = |k: &str| k.split('.').next().unwrap_or(k).to_owned();
    let replaced: std::collections::HashSet<String> = new.keys().map(|k| top(k)).collect();
    let mut out: BTreeMap<String, String> = source
        .iter()
        .filter(|(k, _)| !replaced.contains(&top(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// A template name: 3 to 128 of letters, digits and `( ) . - / _`.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = (3..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"().-/_".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidLaunchTemplateNameMalformed,
            "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'",
        ))
    }
}

fn version_not_found(t: &LaunchTemplate, v: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidLaunchTemplateIdVersionNotFound,
        format!(
            "Could not find the specified version {v} for the launch template with ID {}.",
            t.id
        ),
    )
}

/// A template's versions by `$Latest`, `$Default` or number.
pub trait TemplateVersions {
    fn version(&self, v: &str) -> Result<&LaunchTemplateVersion, ApiError>;
}

impl TemplateVersions for LaunchTemplate {
    fn version(&self, v: &str) -> Result<&LaunchTemplateVersion, ApiError> {
        let n = match v {
            "$Latest" => self.latest_version,
            "$Default" => self.default_version,
            other => other
                .parse::<u64>()
                .map_err(|_| version_not_found(self, other))?,
        };
        self.versions
            .iter()
            .find(|x| x.number == n)
            .ok_or_else(|| version_not_found(self, v))
    }
}

impl Region {
    /// The template a request names, with EC2's errors for each way of naming it.
    pub fn launch_template(&self, r: &TemplateRef) -> Result<&LaunchTemplate, ApiError> {
        match (&r.id, &r.name) {
            (Some(_), Some(_)) => Err(ApiError::combination(
                "Either provide launch template ID or launch template name, not both.",
            )),
            (Some(id), None) => {
                if !Kind::LaunchTemplate.matches(id) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidLaunchTemplateIdMalformed,
                        format!("The specified launch template ID {id} is malformed."),
                    ));
                }
                self.launch_templates
                    .get(id)
                    .ok_or_else(|| Kind::LaunchTemplate.not_found(id))
            }
            (None, Some(name)) => self
                .launch_templates
                .values()
                .find(|t| &t.name == name)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidLaunchTemplateNameNotFound,
                        format!(
                            "The specified launch template, with template name {name}, does not exist."
                        ),
                    )
                }),
            (None, None) => Err(ApiError::missing(
                "launch template ID or launch template name",
            )),
        }
    }
}

/// CreateLaunchTemplate's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateLaunchTemplate {
    pub name: String,
    pub description: Option<String>,
    pub data: BTreeMap<String, String>,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// CreateLaunchTemplateVersion's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateVersion {
    pub template: TemplateRef,
    pub source_version: Option<String>,
    pub description: Option<String>,
    pub data: BTreeMap<String, String>,
    pub client_token: Option<ClientToken>,
}

/// One version DeleteLaunchTemplateVersions could not delete: (version, code, message).
pub type VersionError = (String, &'static str, String);

impl Tx<'_> {
    pub fn create_launch_template(
        &mut self,
        req: CreateLaunchTemplate,
    ) -> Result<LaunchTemplate, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.launch_templates.get(id).cloned(),
            |tx| {
                check_name(&req.name)?;
                check_tags(&req.tags, tx.config.quotas.tags_per_resource)?;
                if tx
                    .region
                    .launch_templates
                    .values()
                    .any(|t| t.name == req.name)
                {
                    return Err(ApiError::new(
                        ErrorCode::InvalidLaunchTemplateNameAlreadyExists,
                        "Launch template name already in use.",
                    ));
                }
                let t = LaunchTemplate {
                    id: LaunchTemplateId::new(),
                    name: req.name.clone(),
                    create_time: tx.now,
                    created_by: format!("arn:aws:iam::{}:root", tx.region.account),
                    default_version: 1,
                    latest_version: 1,
                    versions: vec![LaunchTemplateVersion {
                        number: 1,
                        description: req.description.clone(),
                        create_time: tx.now,
                        data: req.data.clone(),
                    }],
                    client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
                    tags: req.tags.clone(),
                };
                tx.region.launch_templates.insert(t.clone());
                Ok(t)
            },
            |t| t.id.to_string(),
        )
    }

    /// A new version (the next number); answers the template and the version's number.
    pub fn create_launch_template_version(
        &mut self,
        req: CreateVersion,
    ) -> Result<(LaunchTemplate, u64), ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, made| {
                let (id, n) = made.split_once('#')?;
                Some((r.launch_templates.get(id)?.clone(), n.parse().ok()?))
            },
            |tx| {
                let t = tx.region.launch_template(&req.template)?.clone();
                let data = match &req.source_version {
                    Some(v) => merge_data(&t.version(v)?.data, &req.data),
                    None => req.data.clone(),
                };
                if t.versions.len() as u64 >= MAX_VERSIONS {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        "You've reached the maximum number of versions for this launch template.",
                    ));
                }
                let number = t
                    .latest_version
                    .max(t.versions.iter().map(|v| v.number).max().unwrap_or(0))
                    + 1;
                let row = tx
                    .region
                    .launch_templates
                    .get_mut(&t.id)
                    .expect("found above");
                row.versions.push(LaunchTemplateVersion {
                    number,
                    description: req.description.clone(),
                    create_time: tx.now,
                    data,
                });
                row.latest_version = number;
                Ok((row.clone(), number))
            },
            |(t, n)| format!("{}#{n}", t.id),
        )
    }

    /// ModifyLaunchTemplate: sets the default version.
    pub fn modify_launch_template(
        &mut self,
        r: &TemplateRef,
        default_version: Option<&str>,
    ) -> Result<LaunchTemplate, ApiError> {
        if r.id.is_some() && r.name.is_some() {
            return Err(ApiError::combination(
                "Either provide launch template ID or launch template name to modify the template.",
            ));
        }
        let t = self.region.launch_template(r)?.clone();
        let Some(v) = default_version else {
            return Ok(t);
        };
        let n = v
            .parse::<u64>()
            .ok()
            .filter(|n| t.versions.iter().any(|x| x.number == *n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidLaunchTemplateIdVersionNotFound,
                    format!(
                        "The launch template version {v} is not found for the specified launch template."
                    ),
                )
            })?;
        let row = self
            .region
            .launch_templates
            .get_mut(&t.id)
            .expect("found above");
        row.default_version = n;
        Ok(row.clone())
    }

    pub fn delete_launch_template(&mut self, r: &TemplateRef) -> Result<LaunchTemplate, ApiError> {
        let t = self.region.launch_template(r)?.clone();
        self.region.launch_templates.remove(&t.id);
        Ok(t)
    }

    /// DeleteLaunchTemplateVersions: each version is deleted or answered with its error;
    /// the default version stays.
    pub fn delete_launch_template_versions(
        &mut self,
        r: &TemplateRef,
        versions: &[String],
    ) -> Result<(LaunchTemplate, Vec<u64>, Vec<VersionError>), ApiError> {
        if versions.is_empty() {
            return Err(ApiError::missing("LaunchTemplateVersion"));
        }
        let t = self.region.launch_template(r)?.clone();
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        let row = self
            .region
            .launch_templates
            .get_mut(&t.id)
            .expect("found above");
        for v in versions {
            let Some(n) = v.parse::<u64>().ok().filter(|n| *n > 0) else {
                failed.push((
                    v.clone(),
                    "launchTemplateVersionDoesNotExist",
                    format!("The specified launch template version {v} does not exist."),
                ));
                continue;
            };
            if n == row.default_version {
                failed.push((
                    v.clone(),
                    "unexpectedError",
                    "Cannot delete the default version of a launch template. To delete the default version, delete the launch template.".into(),
                ));
                continue;
            }
            match row.versions.iter().position(|x| x.number == n) {
                Some(pos) => {
                    row.versions.remove(pos);
                    deleted.push(n);
                }
                None => failed.push((
                    v.clone(),
                    "launchTemplateVersionDoesNotExist",
                    format!("The specified launch template version {v} does not exist."),
                )),
            }
        }
        row.latest_version = row
            .versions
            .iter()
            .map(|x| x.number)
            .max()
            .unwrap_or(row.default_version);
        Ok((row.clone(), deleted, failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_new_version_inherits_what_it_does_not_give() {
        let source = map(&[
            ("ImageId", "ami-1"),
            ("InstanceType", "t3.micro"),
            ("NetworkInterface.1.DeviceIndex", "0"),
            ("NetworkInterface.1.SubnetId", "subnet-1"),
            ("NetworkInterface.2.DeviceIndex", "1"),
            ("MetadataOptions.HttpTokens", "required"),
        ]);
        let new = map(&[
            ("ImageId", "ami-2"),
            ("NetworkInterface.1.DeviceIndex", "0"),
        ]);
        let merged = merge_data(&source, &new);
        assert_eq!(
            merged,
            map(&[
                ("ImageId", "ami-2"),
                ("InstanceType", "t3.micro"),
                ("MetadataOptions.HttpTokens", "required"),
                ("NetworkInterface.1.DeviceIndex", "0"),
            ]),
            "a list given replaces the whole list"
        );
        assert_eq!(merge_data(&source, &BTreeMap::new()), source);
    }

    #[test]
    fn names() {
        assert!(check_name("my-template_1(a).b/c").is_ok());
        assert!(check_name("ab").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn versions_by_alias_and_number() {
        let t = LaunchTemplate {
            id: LaunchTemplateId::parse("lt-0123456789abcdef0").unwrap(),
            name: "t".into(),
            create_time: 0,
            created_by: String::new(),
            default_version: 1,
            latest_version: 2,
            versions: [1, 2]
                .into_iter()
                .map(|number| LaunchTemplateVersion {
                    number,
                    description: None,
                    create_time: 0,
                    data: BTreeMap::new(),
                })
                .collect(),
            client_token: None,
            tags: Tags::new(),
        };
        assert_eq!(t.version("$Latest").unwrap().number, 2);
        assert_eq!(t.version("$Default").unwrap().number, 1);
        assert_eq!(t.version("2").unwrap().number, 2);
        assert_eq!(
            t.version("3").unwrap_err().code,
            "InvalidLaunchTemplateId.VersionNotFound"
        );
    }
}
