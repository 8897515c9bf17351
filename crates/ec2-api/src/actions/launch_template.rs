//! Launch template actions, and RunInstances's reading of a template.
//!
//! A version's data is stored as its Query parameters; it is rendered back through the
//! table generated from botocore's model (`launch_template_fields.rs`), so every field
//! EC2 documents comes back under the element EC2 answers it with.

use std::collections::BTreeMap;

use fort_control::Region;
use fort_control::launch_template::{
    CreateLaunchTemplate, CreateVersion, TemplateRef, TemplateVersions,
};
use fort_model::{
    ApiError, ErrorCode, Instance, Kind, LaunchTemplate, LaunchTemplateId, LaunchTemplateVersion,
    format_time,
};

use super::launch_template_fields::FIELDS;
use super::{Ctx, b, next_token};
use crate::filter::{Filters, paginate};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateLaunchTemplate,
    CreateLaunchTemplateVersion,
    DescribeLaunchTemplates,
    DescribeLaunchTemplateVersions,
    ModifyLaunchTemplate,
    DeleteLaunchTemplate,
    DeleteLaunchTemplateVersions,
    GetLaunchTemplateData,
);

/// How a field of launch template data is written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Struct,
    /// A list of structures; each item in an element of this name.
    List(&'static str),
    /// A list of plain values; each in an element of this name.
    Values(&'static str),
}

fn field(path: &str) -> Option<(&'static str, Shape)> {
    FIELDS
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .map(|i| (FIELDS[i].1, FIELDS[i].2))
}

/// The `LaunchTemplateData` of a request, as (parameter → value) under it.
fn data_of(p: &Params) -> BTreeMap<String, String> {
    p.child("LaunchTemplateData")
        .flatten()
        .into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("LaunchTemplateData.")
                .map(|k| (k.to_owned(), v))
        })
        .collect()
}

/// Writes stored data as `ResponseLaunchTemplateData`'s members.
pub fn render_data(w: &mut Xml, data: &BTreeMap<String, String>) {
    let Ok(tree) = Params::from_pairs(data.iter().map(|(k, v)| (k.clone(), v.clone()))) else {
        return;
    };
    render_node(w, &tree, "");
}

fn render_node(w: &mut Xml, node: &Params, prefix: &str) {
    for name in node.names() {
        let path = format!("{prefix}{name}");
        let Some((xml, shape)) = field(&path) else {
            continue;
        };
        let child = node.child(name);
        match shape {
            Shape::Scalar => {
                if let Some(v) = child.value() {
                    w.leaf(xml, v);
                }
            }
            Shape::Struct => {
                w.el(xml, |w| render_node(w, child, &format!("{path}.")));
            }
            Shape::List(item) => {
                let items = node.list(name).unwrap_or_default();
                w.el(xml, |w| {
                    for it in items {
                        w.el(item, |w| render_node(w, it, &format!("{path}.")));
                    }
                });
            }
            Shape::Values(item) => {
                let values = node.strings(name).unwrap_or_default();
                w.el(xml, |w| {
                    for v in values {
                        w.leaf(item, v);
                    }
                });
            }
        }
    }
}

fn template_ref(p: &Params) -> TemplateRef {
    TemplateRef {
        id: p.opt_str("LaunchTemplateId"),
        name: p.opt_str("LaunchTemplateName"),
    }
}

fn render_template(w: &mut Xml, t: &LaunchTemplate) {
    w.leaf("launchTemplateId", &t.id)
        .leaf("launchTemplateName", &t.name)
        .leaf("createTime", format_time(t.create_time))
        .leaf("createdBy", &t.created_by)
        .leaf("defaultVersionNumber", t.default_version)
        .leaf("latestVersionNumber", t.latest_version)
        .tags(&t.tags);
}

fn render_version(w: &mut Xml, t: &LaunchTemplate, v: &LaunchTemplateVersion) {
    w.leaf("launchTemplateId", &t.id)
        .leaf("launchTemplateName", &t.name)
        .leaf("versionNumber", v.number)
        .opt("versionDescription", v.description.as_deref())
        .leaf("createTime", format_time(v.create_time))
        .leaf("createdBy", &t.created_by)
        .leaf("defaultVersion", b(v.number == t.default_version))
        .el("launchTemplateData", |w| render_data(w, &v.data));
}

const ALL_TEMPLATES_HELP: &str = "To describe the launch template data for all your launch templates, for ‘--versions’ specify ‘$Latest’, ‘$Default’, or both, and omit ‘--launch-template-id’, ‘--launch-template-name’, and version numbers. To describe the launch template data for a specific launch template, specify ‘--launch-template-id’ or ‘--launch-template-name’, and for ‘--versions’ specify one or more of the following values: ‘$Latest’, ‘$Default’, or one or more version numbers.";

const TEMPLATE_FILTERS: &[&str] = &["create-time", "launch-template-name"];

const VERSION_FILTERS: &[&str] = &[
    "create-time",
    "ebs-optimized",
    "iam-instance-profile",
    "image-id",
    "instance-type",
    "is-default-version",
    "kernel-id",
    "ram-disk-id",
    "http-endpoint",
    "http-tokens",
    "http-put-response-hop-limit",
    "metadata-options.http-endpoint",
    "metadata-options.http-tokens",
    "metadata-options.http-put-response-hop-limit",
    "metadata-options.instance-metadata-tags",
];

fn version_field(t: &LaunchTemplate, v: &LaunchTemplateVersion, name: &str) -> Vec<String> {
    let get = |k: &str| v.data.get(k).cloned().into_iter().collect::<Vec<_>>();
    match name {
        "create-time" => vec![format_time(v.create_time)],
        "ebs-optimized" => get("EbsOptimized"),
        "iam-instance-profile" => {
            let mut out = get("IamInstanceProfile.Arn");
            out.extend(get("IamInstanceProfile.Name"));
            out
        }
        "image-id" => get("ImageId"),
        "instance-type" => get("InstanceType"),
        "is-default-version" => vec![b(v.number == t.default_version).into()],
        "kernel-id" => get("KernelId"),
        "ram-disk-id" => get("RamDiskId"),
        "http-endpoint" | "metadata-options.http-endpoint" => get("MetadataOptions.HttpEndpoint"),
        "http-tokens" | "metadata-options.http-tokens" => get("MetadataOptions.HttpTokens"),
        "http-put-response-hop-limit" | "metadata-options.http-put-response-hop-limit" => {
            get("MetadataOptions.HttpPutResponseHopLimit")
        }
        "metadata-options.instance-metadata-tags" => get("MetadataOptions.InstanceMetadataTags"),
        _ => vec![],
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateLaunchTemplate => {
            let name = p.req("LaunchTemplateName")?.to_owned();
            let data = data_of(p);
            if data.is_empty() {
                return Err(ApiError::missing("LaunchTemplateData"));
            }
            // Only the template itself is tagged here (the instances' tags go in the
            // data); EC2 says so in words of its own.
            for spec in p.list("TagSpecification")? {
                if spec
                    .get("ResourceType")
                    .is_some_and(|t| !t.is_empty() && t != "launch-template")
                {
                    return Err(ApiError::invalid_value(
                        "The value for the ResourceType member of the TagSpecification request parameter must be 'launch-template'. Verify the ResourceType and try again.",
                    ));
                }
            }
            let req = CreateLaunchTemplate {
                name,
                description: p.opt_str("VersionDescription"),
                data,
                tags: ctx.tag_specs(&["launch-template"])?,
                client_token: ctx.client_token()?,
            };
            let t = ctx.write(|tx| tx.create_launch_template(req)).await?;
            let mut w = Xml::new();
            w.el("launchTemplate", |w| render_template(w, &t));
            Ok(w)
        }
        Action::CreateLaunchTemplateVersion => {
            let req = CreateVersion {
                template: template_ref(p),
                source_version: p.opt_str("SourceVersion"),
                description: p.opt_str("VersionDescription"),
                data: data_of(p),
                client_token: ctx.client_token()?,
            };
            // SDKs send an empty LaunchTemplateData as nothing at all; with a source
            // version EC2 takes that as the source's data (amazon.aws's
            // ec2_launch_template makes description-only versions so)
            if !p.child("LaunchTemplateData").is_present() && req.source_version.is_none() {
                return Err(ApiError::missing("LaunchTemplateData"));
            }
            let (t, n) = ctx
                .write(|tx| tx.create_launch_template_version(req))
                .await?;
            let v = t
                .versions
                .iter()
                .find(|v| v.number == n)
                .ok_or_else(|| ApiError::internal("new version missing"))?;
            let mut w = Xml::new();
            w.el("launchTemplateVersion", |w| render_version(w, &t, v));
            Ok(w)
        }
        Action::DescribeLaunchTemplates => {
            let ids = p.strings("LaunchTemplateId")?;
            let names = p.strings("LaunchTemplateName")?;
            let filters = Filters::parse(p, TEMPLATE_FILTERS)?;
            ctx.read(|v| {
                let r = v.region;
                let mut rows: Vec<&LaunchTemplate> = Vec::new();
                for id in &ids {
                    if !Kind::LaunchTemplate.matches(id) {
                        return Err(ApiError::new(
                            ErrorCode::InvalidLaunchTemplateIdMalformed,
                            format!("The specified launch template ID {id} is malformed."),
                        ));
                    }
                    match r.launch_templates.get(id) {
                        Some(t) => rows.push(t),
                        None => {
                            return Err(ApiError::new(
                                ErrorCode::InvalidLaunchTemplateIdNotFound,
                                "At least one of the launch templates specified in the request does not exist.",
                            ));
                        }
                    }
                }
                for name in &names {
                    match r.launch_templates.values().find(|t| &t.name == name) {
                        Some(t) => rows.push(t),
                        None => {
                            return Err(ApiError::new(
                                ErrorCode::InvalidLaunchTemplateNameNotFound,
                                "At least one of the launch templates specified in the request does not exist.",
                            ));
                        }
                    }
                }
                if ids.is_empty() && names.is_empty() {
                    // All of them: oldest first, as EC2 lists them.
                    rows = r.launch_templates.values().collect();
                    rows.sort_by_key(|t| t.create_time);
                }
                let rows: Vec<&LaunchTemplate> = rows
                    .into_iter()
                    .filter(|t| {
                        filters.matches(&t.tags, |n| match n {
                            "create-time" => vec![format_time(t.create_time)],
                            "launch-template-name" => vec![t.name.clone()],
                            _ => vec![],
                        })
                    })
                    .collect();
                // Named requests keep the order asked; pages are cut by position.
                let keyed: Vec<(String, &LaunchTemplate)> = rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (format!("{i:08}"), t))
                    .collect();
                let page = paginate(keyed, |(k, _)| k.clone(), p, (1, 200))?;
                let mut w = Xml::new();
                w.set("launchTemplates", page.items, |w, (_, t)| {
                    render_template(w, t)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeLaunchTemplateVersions => {
            let r = template_ref(p);
            let versions = p.strings("LaunchTemplateVersion")?;
            let min = p.int("MinVersion")?;
            let max = p.int("MaxVersion")?;
            let filters = Filters::parse(p, VERSION_FILTERS)?;
            ctx.read(|v| {
                let region = v.region;
                let mut rows: Vec<(&LaunchTemplate, &LaunchTemplateVersion)> = Vec::new();
                if r.id.is_none() && r.name.is_none() {
                    if versions.is_empty() {
                        return Err(ApiError::new(
                            ErrorCode::MissingParameter,
                            ALL_TEMPLATES_HELP,
                        ));
                    }
                    if versions.iter().any(|v| v != "$Latest" && v != "$Default") {
                        return Err(ApiError::invalid_value(ALL_TEMPLATES_HELP));
                    }
                    for t in region.launch_templates.values() {
                        let mut picked: Vec<&LaunchTemplateVersion> = Vec::new();
                        for name in &versions {
                            if let Ok(v) = t.version(name)
                                && !picked.iter().any(|x| x.number == v.number)
                            {
                                picked.push(v);
                            }
                        }
                        picked.sort_by_key(|v| v.number);
                        rows.extend(picked.into_iter().map(|v| (t, v)));
                    }
                } else {
                    let t = region.launch_template(&r)?;
                    if versions.is_empty() {
                        rows.extend(t.versions.iter().map(|v| (t, v)));
                    } else {
                        let mut picked: Vec<&LaunchTemplateVersion> = Vec::new();
                        for name in &versions {
                            let v = t.version(name)?;
                            if !picked.iter().any(|x| x.number == v.number) {
                                picked.push(v);
                            }
                        }
                        picked.sort_by_key(|v| v.number);
                        rows.extend(picked.into_iter().map(|v| (t, v)));
                    }
                }
                let rows: Vec<(&LaunchTemplate, &LaunchTemplateVersion)> = rows
                    .into_iter()
                    .filter(|(_, v)| min.is_none_or(|m| v.number as i64 >= m))
                    .filter(|(_, v)| max.is_none_or(|m| v.number as i64 <= m))
                    .filter(|(t, v)| filters.matches(&BTreeMap::new(), |n| version_field(t, v, n)))
                    .collect();
                let page = paginate(
                    rows,
                    |(t, v)| format!("{}#{:020}", t.id, v.number),
                    p,
                    (1, 200),
                )?;
                let mut w = Xml::new();
                w.set("launchTemplateVersionSet", page.items, |w, (t, v)| {
                    render_version(w, t, v)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyLaunchTemplate => {
            let r = template_ref(p);
            let default = p.opt_str("SetDefaultVersion");
            let t = ctx
                .write(|tx| tx.modify_launch_template(&r, default.as_deref()))
                .await?;
            let mut w = Xml::new();
            w.el("launchTemplate", |w| render_template(w, &t));
            Ok(w)
        }
        Action::DeleteLaunchTemplate => {
            let r = template_ref(p);
            let t = ctx.write(|tx| tx.delete_launch_template(&r)).await?;
            let mut w = Xml::new();
            w.el("launchTemplate", |w| render_template(w, &t));
            Ok(w)
        }
        Action::DeleteLaunchTemplateVersions => {
            let r = template_ref(p);
            let versions = p.strings("LaunchTemplateVersion")?;
            let (t, deleted, failed) = ctx
                .write(|tx| tx.delete_launch_template_versions(&r, &versions))
                .await?;
            let mut w = Xml::new();
            w.set(
                "successfullyDeletedLaunchTemplateVersionSet",
                deleted,
                |w, n| {
                    w.leaf("launchTemplateId", &t.id)
                        .leaf("launchTemplateName", &t.name)
                        .leaf("versionNumber", n);
                },
            )
            .set(
                "unsuccessfullyDeletedLaunchTemplateVersionSet",
                failed,
                |w, (v, code, message)| {
                    w.leaf("launchTemplateId", &t.id)
                        .leaf("launchTemplateName", &t.name);
                    if let Ok(n) = v.parse::<u64>() {
                        w.leaf("versionNumber", n);
                    }
                    w.el("responseError", |w| {
                        w.leaf("code", code).leaf("message", message);
                    });
                },
            );
            Ok(w)
        }
        Action::GetLaunchTemplateData => {
            let id = p.req("InstanceId")?;
            ctx.read(|v| {
                let i = v.region.instances.find(Kind::Instance, id)?;
                let data = instance_data(v.region, i);
                let mut w = Xml::new();
                w.el("launchTemplateData", |w| render_data(w, &data));
                Ok(w)
            })
            .await?
        }
    }
}

/// Launch template data that would launch an instance like `i` (GetLaunchTemplateData).
fn instance_data(region: &Region, i: &Instance) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    let mut put = |k: String, v: String| {
        d.insert(k, v);
    };
    put("ImageId".into(), i.image_id.clone());
    put("InstanceType".into(), i.instance_type.clone());
    if let Some(k) = &i.key_name {
        put("KeyName".into(), k.clone());
    }
    if let Some(u) = &i.user_data {
        put("UserData".into(), u.clone());
    }
    put("EbsOptimized".into(), b(i.ebs_optimized).into());
    put(
        "DisableApiTermination".into(),
        b(i.disable_api_termination).into(),
    );
    put("DisableApiStop".into(), b(i.disable_api_stop).into());
    put(
        "InstanceInitiatedShutdownBehavior".into(),
        i.shutdown_behavior.clone().unwrap_or_else(|| "stop".into()),
    );
    put("Monitoring.Enabled".into(), b(i.monitoring).into());
    put(
        "Placement.AvailabilityZone".into(),
        i.availability_zone.clone(),
    );
    put("Placement.GroupName".into(), String::new());
    put("Placement.Tenancy".into(), "default".into());
    let m = &i.metadata_options;
    put("MetadataOptions.HttpTokens".into(), m.http_tokens.clone());
    put(
        "MetadataOptions.HttpPutResponseHopLimit".into(),
        m.http_put_response_hop_limit.to_string(),
    );
    put(
        "MetadataOptions.HttpEndpoint".into(),
        m.http_endpoint.clone(),
    );
    put(
        "MetadataOptions.HttpProtocolIpv6".into(),
        m.http_protocol_ipv6.clone(),
    );
    put(
        "MetadataOptions.InstanceMetadataTags".into(),
        m.instance_metadata_tags.clone(),
    );
    if let Some(c) = &i.cpu_credits {
        put("CreditSpecification.CpuCredits".into(), c.clone());
    }
    // options launched away from EC2's defaults, so a template made from the instance
    // launches it the same way
    if i.auto_recovery_disabled {
        put("MaintenanceOptions.AutoRecovery".into(), "disabled".into());
    }
    if i.capacity_reservation_none {
        put(
            "CapacityReservationSpecification.CapacityReservationPreference".into(),
            "none".into(),
        );
    }
    if let Some(target) = &i.capacity_reservation_target {
        put(
            "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId"
                .into(),
            target.to_string(),
        );
    }
    if i.enclave_enabled {
        put("EnclaveOptions.Enabled".into(), "true".into());
    }
    if i.dedicated {
        put("Placement.Tenancy".into(), "dedicated".into());
    }
    if let Some(h) = &i.dedicated_host {
        put("Placement.Tenancy".into(), "host".into());
        put("Placement.HostId".into(), h.host_id.to_string());
        put("Placement.Affinity".into(), h.affinity.as_str().into());
    }
    let names = &i.private_dns_name_options;
    put(
        "PrivateDnsNameOptions.HostnameType".into(),
        names.hostname_type.to_string(),
    );
    put(
        "PrivateDnsNameOptions.EnableResourceNameDnsARecord".into(),
        b(names.enable_resource_name_dns_a_record).into(),
    );
    put(
        "PrivateDnsNameOptions.EnableResourceNameDnsAAAARecord".into(),
        b(names.enable_resource_name_dns_aaaa_record).into(),
    );
    let mut enis: Vec<_> = region
        .network_interfaces
        .values()
        .filter_map(|e| {
            e.attachment
                .as_ref()
                .filter(|a| a.instance_id == i.id)
                .map(|a| (a, e))
        })
        .collect();
    enis.sort_by_key(|(a, _)| a.device_index);
    for (n, (a, e)) in enis.iter().enumerate() {
        let pre = format!("NetworkInterface.{}", n + 1);
        put(format!("{pre}.DeviceIndex"), a.device_index.to_string());
        put(
            format!("{pre}.DeleteOnTermination"),
            b(a.delete_on_termination).into(),
        );
        put(format!("{pre}.SubnetId"), e.subnet_id.to_string());
        put(format!("{pre}.Description"), e.description.clone());
        put(format!("{pre}.NetworkInterfaceId"), e.id.to_string());
        if let Some(ip) = e.private_ip {
            put(format!("{pre}.PrivateIpAddress"), ip.to_string());
        }
        for (g, sg) in e.security_groups.iter().enumerate() {
            put(format!("{pre}.SecurityGroupId.{}", g + 1), sg.to_string());
        }
        for (k, ip) in e.private_ips().enumerate() {
            put(
                format!("{pre}.PrivateIpAddresses.{}.PrivateIpAddress", k + 1),
                ip.to_string(),
            );
            put(
                format!("{pre}.PrivateIpAddresses.{}.Primary", k + 1),
                b(k == 0).into(),
            );
        }
    }
    let mut vols: Vec<_> = region
        .volumes
        .values()
        .filter_map(|v| v.attachment_to(&i.id).map(|a| (a, v)))
        .collect();
    vols.sort_by(|x, y| x.0.device.cmp(&y.0.device));
    for (n, (a, v)) in vols.iter().enumerate() {
        let pre = format!("BlockDeviceMapping.{}", n + 1);
        put(format!("{pre}.DeviceName"), a.device.clone());
        put(
            format!("{pre}.Ebs.DeleteOnTermination"),
            b(a.delete_on_termination).into(),
        );
        put(format!("{pre}.Ebs.Encrypted"), b(v.encrypted).into());
        put(format!("{pre}.Ebs.VolumeSize"), v.size.to_string());
        put(format!("{pre}.Ebs.VolumeType"), v.volume_type.clone());
        if let Some(s) = &v.snapshot_id {
            put(format!("{pre}.Ebs.SnapshotId"), s.clone());
        }
        if let Some(x) = v.iops.filter(|_| v.volume_type != "gp2") {
            put(format!("{pre}.Ebs.Iops"), x.to_string());
        }
        if let Some(x) = v.throughput {
            put(format!("{pre}.Ebs.Throughput"), x.to_string());
        }
    }
    let user_tags: Vec<(&String, &String)> = i
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect();
    if !user_tags.is_empty() {
        put("TagSpecification.1.ResourceType".into(), "instance".into());
        for (n, (k, v)) in user_tags.into_iter().enumerate() {
            put(format!("TagSpecification.1.Tag.{}.Key", n + 1), k.clone());
            put(format!("TagSpecification.1.Tag.{}.Value", n + 1), v.clone());
        }
    }
    d
}

/// RunInstances's parameters with the template's data under them: each top-level
/// parameter the request gives overrides the template's; the template's tags are merged
/// with the request's (the request wins on a key); an instance-level subnet or groups go
/// into the template's first interface. Answers the parameters and (template id, version).
pub fn with_template(
    region: &Region,
    p: &Params,
) -> Result<(Params, Option<(LaunchTemplateId, u64)>), ApiError> {
    let spec = p.child("LaunchTemplate");
    if !spec.is_present() {
        return Ok((p.clone(), None));
    }
    let r = TemplateRef {
        id: spec.opt_str("LaunchTemplateId"),
        name: spec.opt_str("LaunchTemplateName"),
    };
    if r.id.is_none() && r.name.is_none() {
        return Err(ApiError::missing("launchTemplateId or launchTemplateName"));
    }
    let t = region.launch_template(&r)?;
    let version = t.version(spec.get("Version").unwrap_or("$Default"))?;
    let top = |k: &str| k.split('.').next().unwrap_or(k).to_owned();
    let request: Vec<(String, String)> = p
        .flatten()
        .into_iter()
        .filter(|(k, _)| top(k) != "LaunchTemplate")
        .collect();
    let given: std::collections::HashSet<String> = request.iter().map(|(k, _)| top(k)).collect();
    let template_has_interfaces = version.data.keys().any(|k| top(k) == "NetworkInterface");
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    // Template tags first, with the request's appended as further specifications: the
    // request's values win where a key repeats (they are read last).
    let mut tag_specs = 0usize;
    for (k, v) in &version.data {
        let t = top(k);
        if t == "TagSpecification" {
            let n: usize = k
                .split('.')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            tag_specs = tag_specs.max(n);
            out.insert(k.clone(), v.clone());
            continue;
        }
        if given.contains(&t) {
            continue;
        }
        // Interfaces of the template and a subnet or groups of the request: the request's
        // go into the first interface.
        if t == "NetworkInterface"
            && (given.contains("SubnetId") || given.contains("SecurityGroupId"))
        {
            let rest = &k["NetworkInterface.".len()..];
            let field = rest.split_once('.').map_or("", |(_, f)| f);
            if (given.contains("SubnetId") && field == "SubnetId")
                || (given.contains("SecurityGroupId") && field.starts_with("SecurityGroupId"))
            {
                continue;
            }
        }
        out.insert(k.clone(), v.clone());
    }
    for (k, v) in request {
        let t = top(&k);
        if t == "TagSpecification" {
            let rest = &k["TagSpecification.".len()..];
            let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
            let n: usize = n.parse().unwrap_or(0);
            out.insert(format!("TagSpecification.{}.{field}", tag_specs + n), v);
            continue;
        }
        if template_has_interfaces && (t == "SubnetId" || t == "SecurityGroupId") {
            // into the template's first interface
            let first = out
                .keys()
                .filter_map(|k| k.strip_prefix("NetworkInterface."))
                .filter_map(|r| r.split('.').next()?.parse::<usize>().ok())
                .min()
                .unwrap_or(1);
            out.insert(format!("NetworkInterface.{first}.{k}"), v);
            continue;
        }
        out.insert(k, v);
    }
    Ok((
        Params::from_pairs(out)?,
        Some((t.id.clone(), version.number)),
    ))
}
