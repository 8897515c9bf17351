//! AWS's regions and their availability zones: names, zone ids, zone groups, opt-in status.
//!
//! Every zone of a region is there for the API (subnets, volumes, default subnets);
//! `--zones N` only says in how many of them `fort up` runs host agents.

/// One region of the `aws` partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    pub name: &'static str,
    /// `US East (N. Virginia)`.
    pub long_name: &'static str,
    /// Regions launched after March 2019 must be enabled first (`not-opted-in` until then).
    pub opt_in: bool,
    /// The zone letters this account sees, in name order, and the zone id number of each:
    /// `us-east-1a` is `use1-az6` in the account AWS recorded (botocore/moto/LocalStack).
    pub zones: &'static [(char, u8)],
}

const ABC: &[(char, u8)] = &[('a', 1), ('b', 2), ('c', 3)];

const fn r(
    name: &'static str,
    long_name: &'static str,
    opt_in: bool,
    zones: &'static [(char, u8)],
) -> RegionInfo {
    RegionInfo {
        name,
        long_name,
        opt_in,
        zones,
    }
}

/// Every commercial region, by name.
pub const REGIONS: &[RegionInfo] = &[
    r("af-south-1", "Africa (Cape Town)", true, ABC),
    r("ap-east-1", "Asia Pacific (Hong Kong)", true, ABC),
    r("ap-east-2", "Asia Pacific (Taipei)", true, ABC),
    r(
        "ap-northeast-1",
        "Asia Pacific (Tokyo)",
        false,
        &[('a', 4), ('c', 1), ('d', 2)],
    ),
    r(
        "ap-northeast-2",
        "Asia Pacific (Seoul)",
        false,
        &[('a', 1), ('b', 2), ('c', 3), ('d', 4)],
    ),
    r("ap-northeast-3", "Asia Pacific (Osaka)", false, ABC),
    r(
        "ap-south-1",
        "Asia Pacific (Mumbai)",
        false,
        &[('a', 1), ('b', 3), ('c', 2)],
    ),
    r("ap-south-2", "Asia Pacific (Hyderabad)", true, ABC),
    r("ap-southeast-1", "Asia Pacific (Singapore)", false, ABC),
    r(
        "ap-southeast-2",
        "Asia Pacific (Sydney)",
        false,
        &[('a', 1), ('b', 3), ('c', 2)],
    ),
    r("ap-southeast-3", "Asia Pacific (Jakarta)", true, ABC),
    r("ap-southeast-4", "Asia Pacific (Melbourne)", true, ABC),
    r("ap-southeast-5", "Asia Pacific (Malaysia)", true, ABC),
    r("ap-southeast-6", "Asia Pacific (New Zealand)", true, ABC),
    r("ap-southeast-7", "Asia Pacific (Thailand)", true, ABC),
    r(
        "ca-central-1",
        "Canada (Central)",
        false,
        &[('a', 1), ('b', 2), ('d', 4)],
    ),
    r("ca-west-1", "Canada West (Calgary)", true, ABC),
    r("eu-central-1", "Europe (Frankfurt)", false, ABC),
    r("eu-central-2", "Europe (Zurich)", true, ABC),
    r("eu-north-1", "Europe (Stockholm)", false, ABC),
    r("eu-south-1", "Europe (Milan)", true, ABC),
    r("eu-south-2", "Europe (Spain)", true, ABC),
    r(
        "eu-west-1",
        "Europe (Ireland)",
        false,
        &[('a', 3), ('b', 1), ('c', 2)],
    ),
    r(
        "eu-west-2",
        "Europe (London)",
        false,
        &[('a', 2), ('b', 3), ('c', 1)],
    ),
    r("eu-west-3", "Europe (Paris)", false, ABC),
    r("il-central-1", "Israel (Tel Aviv)", true, ABC),
    r("me-central-1", "Middle East (UAE)", true, ABC),
    r("me-south-1", "Middle East (Bahrain)", true, ABC),
    r("mx-central-1", "Mexico (Central)", true, ABC),
    r("sa-east-1", "South America (Sao Paulo)", false, ABC),
    r(
        "us-east-1",
        "US East (N. Virginia)",
        false,
        &[('a', 6), ('b', 1), ('c', 2), ('d', 4), ('e', 3), ('f', 5)],
    ),
    r("us-east-2", "US East (Ohio)", false, ABC),
    r(
        "us-west-1",
        "US West (N. California)",
        false,
        &[('a', 3), ('b', 1)],
    ),
    r(
        "us-west-2",
        "US West (Oregon)",
        false,
        &[('a', 2), ('b', 1), ('c', 3), ('d', 4)],
    ),
];

/// The region named `name`, if AWS has it.
pub fn region_info(name: &str) -> Option<&'static RegionInfo> {
    REGIONS.iter().find(|r| r.name == name)
}

/// `not-opted-in` for the regions an account must enable, else `opt-in-not-required`.
pub fn opt_in_status(region: &str) -> &'static str {
    match region_info(region) {
        Some(r) if r.opt_in => "not-opted-in",
        _ => "opt-in-not-required",
    }
}

/// One availability zone as DescribeAvailabilityZones shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// `us-east-1a`.
    pub name: String,
    /// `use1-az6`.
    pub id: String,
    pub region: String,
    /// The zone group: `us-east-1-zg-1`.
    pub group_name: String,
    /// `US East (N. Virginia) 1`.
    pub group_long_name: String,
}

/// The short form zone ids start with: `use1` for us-east-1, `apne1`, `usgw1`, `cnnw1`.
pub fn zone_id_prefix(region: &str) -> String {
    let mut parts = region.split('-');
    let mut short = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let abbrev = match part {
            "northeast" => "ne",
            "southeast" => "se",
            "northwest" => "nw",
            "southwest" => "sw",
            p if p.chars().all(|c| c.is_ascii_digit()) => p,
            p => p.get(..1).unwrap_or_default(),
        };
        short.push_str(abbrev);
    }
    short
}

/// Every availability zone of `region`, in name order. A region AWS does not list (a
/// request may be signed for any) gets three zones, `a` to `c`, ids `az1` to `az3`.
pub fn zones_of(region: &str) -> Vec<Zone> {
    let info = region_info(region);
    let letters = info.map_or(ABC, |r| r.zones);
    let long = info.map_or(region, |r| r.long_name);
    let prefix = zone_id_prefix(region);
    letters
        .iter()
        .map(|(letter, n)| Zone {
            name: format!("{region}{letter}"),
            id: format!("{prefix}-az{n}"),
            region: region.to_owned(),
            group_name: format!("{region}-zg-1"),
            group_long_name: format!("{long} 1"),
        })
        .collect()
}

/// The zone names of `region`.
pub fn zone_names(region: &str) -> Vec<String> {
    zones_of(region).into_iter().map(|z| z.name).collect()
}

/// The zone of `region` named `name` or with zone id `name`.
pub fn find_zone(region: &str, name_or_id: &str) -> Option<Zone> {
    zones_of(region)
        .into_iter()
        .find(|z| z.name == name_or_id || z.id == name_or_id)
}

impl crate::Tx<'_> {
    /// The zone a request names by `AvailabilityZone` or `AvailabilityZoneId` (one of
    /// them, required), among this region's: what Capacity Reservations and Dedicated
    /// Hosts are made in.
    pub(crate) fn zone_named(
        &self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<String, fort_model::ApiError> {
        use fort_model::ApiError;
        let z = match (name, id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::combination(
                    "The parameters AvailabilityZone and AvailabilityZoneId cannot be used together.",
                ));
            }
            (None, None) => return Err(ApiError::missing("AvailabilityZone")),
            (Some(z), None) | (None, Some(z)) => z,
        };
        let known = self.config.zones(&self.region.name);
        match find_zone(&self.region.name, z) {
            Some(found) if known.contains(&found.name) => Ok(found.name),
            _ => Err(ApiError::invalid_value(format!(
                "Invalid availability zone: [{z}]"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_sorted_and_have_zones() {
        assert!(REGIONS.windows(2).all(|w| w[0].name < w[1].name));
        for r in REGIONS {
            assert!(r.zones.len() >= 2, "{}", r.name);
            assert!(r.zones.windows(2).all(|w| w[0].0 < w[1].0), "{}", r.name);
            let mut ids: Vec<u8> = r.zones.iter().map(|z| z.1).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), r.zones.len(), "{}: zone ids repeat", r.name);
        }
    }

    #[test]
    fn us_east_1_is_as_aws_recorded() {
        let z = zones_of("us-east-1");
        let names: Vec<&str> = z.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "us-east-1a",
                "us-east-1b",
                "us-east-1c",
                "us-east-1d",
                "us-east-1e",
                "us-east-1f"
            ]
        );
        assert_eq!(z[0].id, "use1-az6");
        assert_eq!(z[1].id, "use1-az1");
        let mut ids: Vec<&str> = z.iter().map(|z| z.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"
            ]
        );
        assert_eq!(z[0].group_name, "us-east-1-zg-1");
        assert_eq!(z[0].group_long_name, "US East (N. Virginia) 1");
        assert_eq!(zone_names("us-west-2").len(), 4);
        assert_eq!(
            zone_names("eu-west-1"),
            ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        );
        assert_eq!(
            find_zone("us-east-1", "use1-az6").unwrap().name,
            "us-east-1a"
        );
        assert_eq!(
            zone_names("ap-northeast-1"),
            ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
        );
    }

    #[test]
    fn zone_id_prefixes() {
        for (region, prefix) in [
            ("us-east-1", "use1"),
            ("eu-central-1", "euc1"),
            ("ap-northeast-1", "apne1"),
            ("ap-southeast-3", "apse3"),
            ("cn-northwest-1", "cnnw1"),
            ("us-gov-west-1", "usgw1"),
            ("sa-east-1", "sae1"),
        ] {
            assert_eq!(zone_id_prefix(region), prefix);
        }
        assert_eq!(zones_of("us-gov-east-1")[0].id, "usge1-az1");
        assert_eq!(opt_in_status("ap-east-1"), "not-opted-in");
        assert_eq!(opt_in_status("us-east-1"), "opt-in-not-required");
    }
}
