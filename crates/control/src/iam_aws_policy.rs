//! AWS managed IAM policies (`arn:aws:iam::aws:policy/…`): a catalog of commonly attached
//! ones, so GetPolicy, GetPolicyVersion, ListPolicyVersions and ListPolicies (`Scope`
//! `AWS` or `All`) find them by name, as tools that resolve a policy's name to its ARN
//! (Ansible's iam_role, Terraform's `data "aws_iam_policy"`) do. Each carries its
//! current document as its only version; the ids (`ANPA…`) and dates are Fort's, derived
//! from the name, not AWS's. Attaching is not limited to the catalog (any well-formed
//! AWS managed ARN attaches, as before).

use std::sync::OnceLock;

use fort_model::{Millis, Tags};

use crate::iam::{ManagedPolicy, PolicyVersion};

/// (path, name, description, document) of each catalogued policy.
const CATALOG: &[(&str, &str, &str, &str)] = &[
    (
        "/",
        "AdministratorAccess",
        "Provides full access to AWS services and resources.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ),
    (
        "/",
        "AWSDenyAll",
        "Denies all access.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":"*"}]}"#,
    ),
    (
        "/",
        "PowerUserAccess",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization","account:ListRegions","account:GetAccountInformation"],"Resource":"*"}]}"#,
    ),
    (
        "/",
        "AmazonEC2ReadOnlyAccess",
        "Provides read only access to Amazon EC2 via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},{"Effect":"Allow","Action":"elasticloadbalancing:Describe*","Resource":"*"},{"Effect":"Allow","Action":["cloudwatch:ListMetrics","cloudwatch:GetMetricStatistics","cloudwatch:Describe*"],"Resource":"*"},{"Effect":"Allow","Action":"autoscaling:Describe*","Resource":"*"}]}"#,
    ),
    (
        "/",
        "AmazonS3FullAccess",
        "Provides full access to all buckets via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
    ),
    (
        "/",
        "AmazonS3ReadOnlyAccess",
        "Provides read only access to all buckets via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    ),
    (
        "/",
        "AmazonSSMManagedInstanceCore",
        "The policy for Amazon EC2 Role to enable AWS Systems Manager service core functionality.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:DescribeAssociation","ssm:GetDeployablePatchSnapshotForInstance","ssm:GetDocument","ssm:DescribeDocument","ssm:GetManifest","ssm:GetParameter","ssm:GetParameters","ssm:ListAssociations","ssm:ListInstanceAssociations","ssm:PutInventory","ssm:PutComplianceItems","ssm:PutConfigurePackageResult","ssm:UpdateAssociationStatus","ssm:UpdateInstanceAssociationStatus","ssm:UpdateInstanceInformation"],"Resource":"*"},{"Effect":"Allow","Action":["ssmmessages:CreateControlChannel","ssmmessages:CreateDataChannel","ssmmessages:OpenControlChannel","ssmmessages:OpenDataChannel"],"Resource":"*"},{"Effect":"Allow","Action":["ec2messages:AcknowledgeMessage","ec2messages:DeleteMessage","ec2messages:FailMessage","ec2messages:GetEndpoint","ec2messages:GetMessages","ec2messages:SendReply"],"Resource":"*"}]}"#,
    ),
    (
        "/",
        "CloudWatchAgentServerPolicy",
        "Permissions required to use AmazonCloudWatchAgent on servers",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudwatch:PutMetricData","ec2:DescribeVolumes","ec2:DescribeTags","logs:PutLogEvents","logs:DescribeLogStreams","logs:DescribeLogGroups","logs:CreateLogStream","logs:CreateLogGroup"],"Resource":"*"},{"Effect":"Allow","Action":["ssm:GetParameter"],"Resource":"arn:aws:ssm:*:*:parameter/AmazonCloudWatch-*"}]}"#,
    ),
    (
        "/service-role/",
        "AmazonEC2ContainerServiceRole",
        "Default policy for Amazon ECS service role.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:AuthorizeSecurityGroupIngress","ec2:Describe*","elasticloadbalancing:DeregisterInstancesFromLoadBalancer","elasticloadbalancing:DeregisterTargets","elasticloadbalancing:Describe*","elasticloadbalancing:RegisterInstancesWithLoadBalancer","elasticloadbalancing:RegisterTargets"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/",
        "AmazonEC2ContainerServiceforEC2Role",
        "Default policy for the Amazon EC2 Role for Amazon EC2 Container Service.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeTags","ecs:CreateCluster","ecs:DeregisterContainerInstance","ecs:DiscoverPollEndpoint","ecs:Poll","ecs:RegisterContainerInstance","ecs:StartTelemetrySession","ecs:UpdateContainerInstancesState","ecs:Submit*","ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"},{"Effect":"Allow","Action":"ecs:TagResource","Resource":"*","Condition":{"StringEquals":{"ecs:CreateAction":["CreateCluster","RegisterContainerInstance"]}}}]}"#,
    ),
    (
        "/service-role/",
        "AmazonEC2RoleforSSM",
        "Default policy for Amazon EC2 Role for Simple Systems Manager service role.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:DescribeAssociation","ssm:GetDeployablePatchSnapshotForInstance","ssm:GetDocument","ssm:DescribeDocument","ssm:GetManifest","ssm:GetParameters","ssm:ListAssociations","ssm:ListInstanceAssociations","ssm:PutInventory","ssm:PutComplianceItems","ssm:PutConfigurePackageResult","ssm:UpdateAssociationStatus","ssm:UpdateInstanceAssociationStatus","ssm:UpdateInstanceInformation"],"Resource":"*"},{"Effect":"Allow","Action":["ec2messages:AcknowledgeMessage","ec2messages:DeleteMessage","ec2messages:FailMessage","ec2messages:GetEndpoint","ec2messages:GetMessages","ec2messages:SendReply"],"Resource":"*"},{"Effect":"Allow","Action":["cloudwatch:PutMetricData"],"Resource":"*"},{"Effect":"Allow","Action":["ec2:DescribeInstanceStatus"],"Resource":"*"},{"Effect":"Allow","Action":["ds:CreateComputer","ds:DescribeDirectories"],"Resource":"*"},{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:DescribeLogGroups","logs:DescribeLogStreams","logs:PutLogEvents"],"Resource":"*"},{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:PutObject","s3:GetObject","s3:GetEncryptionConfiguration","s3:AbortMultipartUpload","s3:ListMultipartUploadParts","s3:ListBucket","s3:ListBucketMultipartUploads"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/",
        "AmazonSSMAutomationRole",
        "Provides permissions for EC2 Automation service to execute activities defined within Automation documents",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":["arn:aws:lambda:*:*:function:Automation*"]},{"Effect":"Allow","Action":["ec2:CreateImage","ec2:CopyImage","ec2:DeregisterImage","ec2:DescribeImages","ec2:DeleteSnapshot","ec2:StartInstances","ec2:RunInstances","ec2:StopInstances","ec2:TerminateInstances","ec2:DescribeInstanceStatus","ec2:CreateTags","ec2:DeleteTags","ec2:DescribeTags","cloudformation:CreateStack","cloudformation:DescribeStackEvents","cloudformation:DescribeStacks","cloudformation:UpdateStack","cloudformation:DeleteStack"],"Resource":["*"]},{"Effect":"Allow","Action":["ssm:*"],"Resource":["*"]},{"Effect":"Allow","Action":["sns:Publish"],"Resource":["arn:aws:sns:*:*:Automation*"]}]}"#,
    ),
];

/// When the catalogued policies were made, as Fort shows it (2015-02-06).
const CREATED: Millis = 1_423_180_800_000;

/// `ANPA` and 17 characters derived from the name (FNV-1a): stable across restarts.
fn policy_id(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let mut id = String::from("ANPA");
    for i in 0..17 {
        id.push(char::from(ALPHABET[((h >> (i * 5)) & 31) as usize]));
    }
    id
}

/// Every catalogued AWS managed policy, in name order.
pub fn aws_managed_policies() -> &'static [ManagedPolicy] {
    static POLICIES: OnceLock<Vec<ManagedPolicy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let mut v: Vec<ManagedPolicy> = CATALOG
            .iter()
            .map(|(path, name, description, document)| ManagedPolicy {
                id: format!("aws/{}", name.to_ascii_lowercase()),
                account: "aws".into(),
                name: (*name).into(),
                policy_id: policy_id(name),
                path: (*path).into(),
                description: Some((*description).into()),
                create_date: CREATED,
                update_date: CREATED,
                default_version: 1,
                next_version: 2,
                versions: vec![PolicyVersion {
                    number: 1,
                    document: (*document).into(),
                    create_date: CREATED,
                }],
                tags: Tags::default(),
            })
            .collect();
        v.sort_by_key(|p| p.name.to_ascii_lowercase());
        v
    })
}

/// The catalogued AWS managed policy `arn` names.
pub fn aws_managed_policy(arn: &str) -> Option<&'static ManagedPolicy> {
    aws_managed_policies().iter().find(|p| p.arn() == arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{DocumentKind, check_document};

    #[test]
    fn the_catalog_is_well_formed() {
        let all = aws_managed_policies();
        assert!(all.len() >= 10);
        for p in all {
            assert!(
                p.arn().starts_with("arn:aws:iam::aws:policy/"),
                "{}",
                p.arn()
            );
            assert_eq!(aws_managed_policy(&p.arn()).map(|x| &x.name), Some(&p.name));
            assert_eq!(p.policy_id.len(), 21);
            check_document(p.document(), DocumentKind::Identity)
                .unwrap_or_else(|e| panic!("{}: {}", p.name, e.message));
        }
        assert_eq!(
            aws_managed_policy(
                "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceRole"
            )
            .map(|p| p.path.as_str()),
            Some("/service-role/")
        );
        assert!(aws_managed_policy("arn:aws:iam::aws:policy/NoSuchPolicy").is_none());
    }
}
