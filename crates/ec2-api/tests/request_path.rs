//! Random request sequences through every action: no request may panic or answer
//! InternalError, and after each sequence the state in memory must equal what a fresh
//! server loads from the store (every change all-or-nothing, every write durable).

use std::sync::Arc;

use fort_control::{Config, Control, Scope};
use fort_ec2_api::actions::all_actions;
use fort_ec2_api::execute;
use fort_ec2_api::query::Params;
use fort_store::{EmbeddedStore, Store};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "VpcId",
    "SubnetId",
    "CidrBlock",
    "GroupId",
    "GroupName",
    "GroupDescription",
    "Description",
    "RouteTableId",
    "DestinationCidrBlock",
    "GatewayId",
    "NatGatewayId",
    "NetworkAclId",
    "RuleNumber",
    "Protocol",
    "RuleAction",
    "Egress",
    "InternetGatewayId",
    "EgressOnlyInternetGatewayId",
    "AllocationId",
    "InstanceId",
    "InstanceId.1",
    "NetworkInterfaceId",
    "ImageId",
    "MinCount",
    "MaxCount",
    "ResourceId.1",
    "Tag.1.Key",
    "Tag.1.Value",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "MaxResults",
    "NextToken",
    "IpPermissions.1.IpProtocol",
    "IpPermissions.1.FromPort",
    "IpPermissions.1.ToPort",
    "IpPermissions.1.IpRanges.1.CidrIp",
    "IpPermissions.1.Groups.1.GroupId",
    "AvailabilityZone",
    "PrivateIpAddress",
    "AssociationId",
    "Attribute",
    "DhcpConfiguration.1.Key",
    "DhcpConfiguration.1.Value.1",
    "DhcpOptionsId",
    "ClientToken",
    "PortRange.From",
    "PortRange.To",
    "Icmp.Type",
    "Icmp.Code",
    "CidrIp",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "SecurityGroupId.1",
    "SecurityGroupRuleId.1",
    "DeviceIndex",
    "AttachmentId",
    "SourceDestCheck.Value",
    "EnableDnsHostnames.Value",
    "MapPublicIpOnLaunch.Value",
    "SecondaryPrivateIpAddressCount",
    "PrivateIpAddress.1",
    "ConnectivityType",
    "VpcId.1",
    "SubnetId.1",
    "GroupId.1",
    "TagSpecification.1.ResourceType",
    "TagSpecification.1.Tag.1.Key",
    "AllowReassociation",
    "Force",
    "Domain",
    "InstanceType",
    "LocalTarget",
];

const VALUES: &[&str] = &[
    "10.0.0.0/16",
    "10.0.1.0/24",
    "10.0.2.0/28",
    "0.0.0.0/0",
    "172.31.0.0/20",
    "10.0.1.10",
    "10.0.0.0/8",
    "bad",
    "",
    "1",
    "2",
    "5",
    "100",
    "-1",
    "6",
    "17",
    "65535",
    "99999",
    "true",
    "false",
    "allow",
    "deny",
    "tcp",
    "icmp",
    "us-east-1a",
    "us-east-1z",
    "default",
    "domain-name-servers",
    "AmazonProvidedDNS",
    "vpc",
    "subnet",
    "Name",
    "ami-12345678",
    "t3.micro",
    "private",
    "public",
    "enableDnsSupport",
    "vpc-0123456789abcdef0",
    "*",
    "sg-0123456789abcdef0",
    "x\u{0}y",
    "\u{202e}",
    "10.0.0.0/33",
    "999999999999999999999",
];

/// A small deterministic generator: each proptest case is one seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        let i = self.next() % xs.len() as u64;
        &xs[usize::try_from(i).expect("below the slice length")]
    }
}

async fn open(store: Arc<dyn Store>) -> Arc<Control> {
    let config = Config {
        quotas: fort_control::Quotas::aws(),
        ..Config::default()
    };
    Control::open(store, config).await.expect("open")
}

async fn assert_persisted(control: &Control, store: Arc<dyn Store>, what: &str) {
    let in_memory = control.dump().await.unwrap();
    let reloaded = open(store).await.dump().await.unwrap();
    for (k, v) in &in_memory {
        assert_eq!(
            Some(String::from_utf8_lossy(v)),
            reloaded.get(k).map(|r| String::from_utf8_lossy(r)),
            "row {k} differs after reload ({what})"
        );
    }
    assert_eq!(
        in_memory.len(),
        reloaded.len(),
        "row count differs after reload ({what})"
    );
}

async fn run_sequence(seed: u64, steps: usize) {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().expect("store"));
    let control = open(store.clone()).await;
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let actions = all_actions();
    let id_re = regex_lite::Regex::new(
        r"\b(?:vpc|subnet|rtb|rtbassoc|igw|eigw|nat|acl|aclassoc|sg|sgr|dopt|eni|eni-attach|eipalloc|eipassoc|i)-[0-9a-f]{17}\b",
    )
    .unwrap();
    let mut ids: Vec<String> = Vec::new();
    let mut rng = Lcg(seed);
    let mut succeeded = 0;
    for _ in 0..steps {
        let action = *rng.pick(&actions);
        let mut pairs = vec![("Action".to_owned(), action.to_owned())];
        for _ in 0..rng.next() % 7 {
            let name = (*rng.pick(NAMES)).to_owned();
            if pairs.iter().any(|(k, _)| *k == name) {
                continue;
            }
            let value = if !ids.is_empty() && rng.next().is_multiple_of(2) {
                rng.pick(&ids).clone()
            } else {
                (*rng.pick(VALUES)).to_owned()
            };
            pairs.push((name, value));
        }
        let params = Params::from_pairs(pairs.clone()).expect("well-formed names");
        match execute(&control, &scope, &params).await {
            Ok(xml) => {
                succeeded += 1;
                for m in id_re.find_iter(xml.as_str()) {
                    if !ids.iter().any(|i| i == m.as_str()) {
                        ids.push(m.as_str().to_owned());
                    }
                }
            }
            Err(e) => assert_ne!(e.code, "InternalError", "{pairs:?} → {e}"),
        }
    }
    // The walk must get somewhere: a generator that only provokes errors proves little.
    assert!(
        succeeded * 10 >= steps,
        "only {succeeded} of {steps} requests succeeded"
    );
    assert_persisted(&control, store, &format!("seed {seed}")).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_fail_internally_and_persist_exactly(seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_sequence(seed, 300));
    }
}

/// A scripted walk through a VPC build: each step answers as EC2 would, and persists.
#[tokio::test]
async fn a_whole_vpc_persists() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = open(store.clone()).await;
    let scope = Scope {
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    };
    let call = |body: String| {
        let control = control.clone();
        let scope = scope.clone();
        async move {
            let p = Params::from_form(body.as_bytes()).unwrap();
            execute(&control, &scope, &p)
                .await
                .map(|x| x.as_str().to_owned())
        }
    };
    let vpc = call("Action=CreateVpc&CidrBlock=10.0.0.0/16".into())
        .await
        .unwrap();
    let vpc_id = regex_lite::Regex::new(r"vpc-[0-9a-f]{17}")
        .unwrap()
        .find(&vpc)
        .unwrap()
        .as_str()
        .to_owned();
    let subnet = call(format!(
        "Action=CreateSubnet&VpcId={vpc_id}&CidrBlock=10.0.1.0/24"
    ))
    .await
    .unwrap();
    assert!(subnet.contains("<availableIpAddressCount>251</availableIpAddressCount>"));
    call(format!(
        "Action=CreateTags&ResourceId.1={vpc_id}&Tag.1.Key=Name&Tag.1.Value=x"
    ))
    .await
    .unwrap();
    let err = call(format!(
        "Action=CreateSubnet&VpcId={vpc_id}&CidrBlock=10.0.1.0/25"
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code, "InvalidSubnet.Conflict");
    assert_persisted(&control, store, "scripted").await;
}

/// The fuzz seeds and every input that once crashed a fuzz target, replayed on stable.
#[tokio::test]
async fn fuzz_seeds_and_regressions_replay() {
    let control = open(Arc::new(EmbeddedStore::in_memory().unwrap())).await;
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in ["seeds/request_path", "seeds/form_decode", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            replayed += 1;
            let Ok(params) = Params::from_form(&data) else {
                continue;
            };
            let flat = params.flatten();
            assert_eq!(Params::from_pairs(flat.clone()).unwrap().flatten(), flat);
            if let Err(e) = execute(&control, &scope, &params).await {
                assert_ne!(e.code, "InternalError", "{e}");
            }
        }
    }
    assert!(replayed >= 6, "the seeds are missing");
}

/// A walk whose first write fails in a fresh region and whose later requests are all reads
/// or failures: the region's defaults must still be durable when the error is answered.
#[test]
fn a_failed_first_write_answers_once_the_region_defaults_are_durable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run_sequence(3999020181714418458, 300));
}
