//! The public parameters of Systems Manager that name the latest images
//! (`/aws/service/...`), answered from the region's image catalog: each names the newest
//! catalog image of its series, as AWS's point at the publishers' latest release.
//! Fort keeps no parameters of its own; any other name is not found.

use fort_model::Image;

use crate::image::{AMAZON_OWNER_ID, CANONICAL_OWNER_ID, DEBIAN_OWNER_ID, WINDOWS_OWNER_ID};

/// The prefix of the image ids EC2 resolves from a parameter at launch.
pub const RESOLVE_PREFIX: &str = "resolve:ssm:";

/// One public parameter: its name and the image it names now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicParameter {
    pub name: String,
    /// The image id (the parameter's value).
    pub value: String,
    /// How many releases the series has had: the parameter's version.
    pub version: u64,
    /// When the image it names was published (ISO 8601): when the parameter last changed.
    pub last_modified: String,
}

/// Which catalog images a parameter chooses among.
struct Series {
    name: String,
    owner: &'static str,
    matches: Box<dyn Fn(&str) -> bool>,
}

fn series() -> Vec<Series> {
    let mut v = Vec::new();
    let al = "/aws/service/ami-amazon-linux-latest";
    for arch in ["x86_64", "arm64"] {
        // Amazon Linux 2023: `al2023-ami[-minimal]-VERSION-kernel-6.1-ARCH`; "default" is 6.1.
        for minimal in [false, true] {
            let kind = if minimal {
                "al2023-ami-minimal"
            } else {
                "al2023-ami"
            };
            for kernel in ["6.1", "default"] {
                let suffix = format!("-kernel-6.1-{arch}");
                let prefix = format!("{kind}-2023");
                v.push(Series {
                    name: format!("{al}/{kind}-kernel-{kernel}-{arch}"),
                    owner: AMAZON_OWNER_ID,
                    matches: Box::new(move |n| n.starts_with(&prefix) && n.ends_with(&suffix)),
                });
            }
        }
        // Amazon Linux 2: `amzn2-ami-hvm-VERSION-ARCH-gp2`, `amzn2-ami-kernel-5.10-hvm-...`.
        for kind in ["amzn2-ami-hvm", "amzn2-ami-kernel-5.10-hvm"] {
            let prefix = format!("{kind}-2.");
            let suffix = format!("-{arch}-gp2");
            v.push(Series {
                name: format!("{al}/{kind}-{arch}-gp2"),
                owner: AMAZON_OWNER_ID,
                matches: Box::new(move |n| n.starts_with(&prefix) && n.ends_with(&suffix)),
            });
        }
    }
    // Ubuntu, by release and by codename.
    for (release, codename, dir, volume) in [
        ("24.04", "noble", "hvm-ssd-gp3", "ebs-gp3"),
        ("22.04", "jammy", "hvm-ssd", "ebs-gp2"),
    ] {
        for arch in ["amd64", "arm64"] {
            for key in [release, codename] {
                let prefix =
                    format!("ubuntu/images/{dir}/ubuntu-{codename}-{release}-{arch}-server-");
                v.push(Series {
                    name: format!(
                        "/aws/service/canonical/ubuntu/server/{key}/stable/current/{arch}/hvm/{volume}/ami-id"
                    ),
                    owner: CANONICAL_OWNER_ID,
                    matches: Box::new(move |n| n.starts_with(&prefix)),
                });
            }
        }
    }
    // Debian 12, by number and by codename.
    for arch in ["amd64", "arm64"] {
        for key in ["12", "bookworm"] {
            let prefix = format!("debian-12-{arch}-");
            v.push(Series {
                name: format!("/aws/service/debian/release/{key}/latest/{arch}"),
                owner: DEBIAN_OWNER_ID,
                matches: Box::new(move |n| n.starts_with(&prefix)),
            });
        }
    }
    v.push(Series {
        name: "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base".into(),
        owner: WINDOWS_OWNER_ID,
        matches: Box::new(|n| n.starts_with("Windows_Server-2022-English-Full-Base-")),
    });
    v
}

/// Every public image parameter of `region`, by name.
pub fn public_parameters(region: &str) -> Vec<PublicParameter> {
    let catalog = crate::image::catalog(region);
    let mut out: Vec<PublicParameter> = series()
        .into_iter()
        .filter_map(|s| {
            let releases: Vec<&Image> = catalog
                .iter()
                .filter(|i| i.owner_id == s.owner && (s.matches)(&i.name))
                .collect();
            let latest = releases
                .iter()
                .max_by(|a, b| a.creation_date.cmp(&b.creation_date))?;
            Some(PublicParameter {
                name: s.name,
                value: latest.id.to_string(),
                version: releases.len() as u64,
                last_modified: latest.creation_date.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The public parameter `name` (exactly, with its leading `/`) of `region`, if any.
pub fn public_parameter(region: &str, name: &str) -> Option<PublicParameter> {
    public_parameters(region)
        .into_iter()
        .find(|p| p.name == name)
}

/// The image id an `ImageId` of RunInstances or a launch template names: itself, or the
/// value of the parameter `resolve:ssm:NAME` names. `None` when that parameter does not
/// exist.
pub fn resolve_image_id(region: &str, image_id: &str) -> Option<String> {
    match image_id.strip_prefix(RESOLVE_PREFIX) {
        // A version or label selector (`NAME:3`) names the current value too: the
        // catalog keeps only its latest release per parameter.
        Some(rest) => {
            let name = rest.split_once(':').map_or(rest, |(n, _)| n);
            public_parameter(region, name).map(|p| p.value)
        }
        None => Some(image_id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_amazon_linux_2023() {
        let p = public_parameter(
            "us-east-1",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64",
        )
        .expect("published");
        let catalog = crate::image::catalog("us-east-1");
        let image = catalog.iter().find(|i| i.id == p.value.as_str()).unwrap();
        assert_eq!(image.name, "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64");
        assert_eq!(p.version, 2);
        // minimal images are a series of their own
        let m = public_parameter(
            "us-east-1",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-minimal-kernel-default-arm64",
        )
        .unwrap();
        let mi = catalog.iter().find(|i| i.id == m.value.as_str()).unwrap();
        assert!(mi.name.starts_with("al2023-ami-minimal-2023.6.20241212.0"));
        assert!(mi.name.ends_with("arm64"));
    }

    #[test]
    fn every_series_names_an_image_and_regions_differ() {
        let east = public_parameters("us-east-1");
        assert_eq!(east.len(), series().len());
        let west = public_parameters("eu-west-1");
        assert_ne!(east[0].value, west[0].value);
        let ubuntu = public_parameter(
            "us-east-1",
            "/aws/service/canonical/ubuntu/server/jammy/stable/current/arm64/hvm/ebs-gp2/ami-id",
        )
        .unwrap();
        assert!(ubuntu.last_modified.starts_with("2024-12-06"));
    }

    #[test]
    fn resolving_image_ids() {
        assert_eq!(
            resolve_image_id("us-east-1", "ami-12345678").as_deref(),
            Some("ami-12345678")
        );
        let p =
            public_parameter("us-east-1", "/aws/service/debian/release/12/latest/amd64").unwrap();
        assert_eq!(
            resolve_image_id(
                "us-east-1",
                "resolve:ssm:/aws/service/debian/release/12/latest/amd64"
            ),
            Some(p.value.clone())
        );
        assert_eq!(
            resolve_image_id(
                "us-east-1",
                "resolve:ssm:/aws/service/debian/release/12/latest/amd64:2"
            ),
            Some(p.value)
        );
        assert_eq!(
            resolve_image_id("us-east-1", "resolve:ssm:/golden-ami"),
            None
        );
    }
}
