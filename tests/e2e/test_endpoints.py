"""VPC endpoints with real packets: an instance with no internet path reaches Fort's API
through an interface endpoint (the AWS CLI inside the instance, its requests signed as
usual, at the service's own name, which private DNS points at the endpoint inside the VPC
only), and the endpoint's security group can cut it."""

import os
import shutil
import subprocess
import time

import pytest

from .fort_e2e import ACCESS_KEY, REGION, SECRET_KEY, nsexec
from .test_resolver import dig

AWS = shutil.which("aws")
EC2_NAME = f"ec2.{REGION}.amazonaws.com"


def aws_in(ns, *args, timeout=20, env_extra=None):
    """Runs the AWS CLI inside namespace `ns` with the test's credentials: (rc, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        **(env_extra or {}),
    )
    cmd = ["ip", "netns", "exec", ns, AWS, "--cli-connect-timeout", "3", "--cli-read-timeout", "10", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    return r.returncode, r.stdout + r.stderr


def describe_vpcs(ns):
    return aws_in(ns, "--endpoint-url", f"http://{EC2_NAME}", "ec2", "describe-vpcs", "--output", "json")


def eventually(check, within=10.0, every=0.3):
    deadline = time.time() + within
    while True:
        if check():
            return True
        if time.time() > deadline:
            return False
        time.sleep(every)


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_interface_endpoint_reaches_the_ec2_api(fort, ec2, world):
    vpc = world.vpc("10.96.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = world.subnet(vpc, "10.96.1.0/24")
    http_in = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.96.0.0/16"}]}
    https_in = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.96.0.0/16"}]}
    sg = world.group(vpc, "vpce-http", ingress=[http_in, https_in])
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.ec2", VpcEndpointType="Interface",
        SubnetIds=[subnet], SecurityGroupIds=[sg], PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    vpce = ep["VpcEndpointId"]
    world.cleanups.append(lambda: ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce]))
    eni = ep["NetworkInterfaceIds"][0]
    fort.instances.add(eni)  # its namespace, removed at teardown if the agent left it
    eni_ip = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0][
        "PrivateIpAddress"]
    # no internet gateway, no NAT: the subnet's table has its local route alone
    iid, ip = world.launch(subnet)

    # the endpoint's interface: a namespace named by its id, holding its address
    assert eventually(lambda: os.path.exists(f"/run/netns/{eni}")), fort.log_text()[-3000:]
    assert eventually(lambda: f"inet {eni_ip}/" in nsexec(eni, "ip", "-4", "-o", "addr").stdout)

    # DNS: the service's own name and the endpoint's names answer its address in the VPC
    assert eventually(lambda: dig(iid, "10.96.0.2", EC2_NAME) == ("NOERROR", [eni_ip])), \
        dig(iid, "10.96.0.2", EC2_NAME)
    names = [d["DnsName"] for d in ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"][0][
        "DnsEntries"]]
    assert EC2_NAME in names and len(names) == 3, names
    for n in names:
        assert dig(iid, "10.96.0.2", n) == ("NOERROR", [eni_ip]), n

    # the AWS CLI inside the instance, through the endpoint
    rc, out = describe_vpcs(iid)
    assert rc == 0, out
    assert vpc in out
    # ... and over HTTPS at the SDK's own endpoint (no --endpoint-url), trusting the CA
    # `fort up` made; a client that does not trust it refuses the certificate
    ca = os.path.join(fort.data_dir, "tls", "ca.pem")
    rc, out = aws_in(iid, "ec2", "describe-vpcs", "--output", "json", env_extra={"AWS_CA_BUNDLE": ca})
    assert rc == 0 and vpc in out, out
    rc, out = aws_in(iid, "ec2", "describe-vpcs", "--output", "json")
    assert rc != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out

    # the endpoint's security group cuts it ...
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[http_in])
    assert eventually(lambda: describe_vpcs(iid)[0] != 0, within=15), "still reachable"
    rc, out = describe_vpcs(iid)
    assert rc != 0 and vpc not in out
    assert "timeout" in out.lower(), out  # dropped, not refused
    # ... and lets it through again
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[http_in])
    assert eventually(lambda: describe_vpcs(iid)[0] == 0, within=15)

    # another VPC keeps the normal answer (the internet's DNS does not know the name)
    other = world.vpc("10.97.0.0/16")
    other_subnet = world.subnet(other, "10.97.1.0/24")
    jid, _ = world.launch(other_subnet)
    status, answers = dig(jid, "10.97.0.2", EC2_NAME)
    assert eni_ip not in answers and status in ("NXDOMAIN", "NOERROR"), (status, answers)

    # deleted, its interface's namespace goes and the name no longer answers
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert eventually(lambda: not os.path.exists(f"/run/netns/{eni}")), "endpoint namespace left"
    assert eventually(lambda: eni_ip not in dig(iid, "10.96.0.2", EC2_NAME)[1])


def list_buckets(ns):
    return aws_in(ns, "--endpoint-url", f"http://s3.{REGION}.amazonaws.com", "s3api", "list-buckets",
                  "--output", "json")


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_gateway_endpoint_reaches_s3(fort, ec2, world):
    """A private subnet's route table gets S3's prefix list through a gateway endpoint:
    the AWS CLI in the instance lists Fort's buckets at S3's regional name (an address of
    the list), with no internet gateway; deleting the endpoint cuts it."""
    s3 = fort.service("s3")
    bucket = f"fort-e2e-vpce-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    world.cleanups.append(lambda: s3.delete_bucket(Bucket=bucket))
    vpc = world.vpc("10.98.0.0/16")
    subnet = world.subnet(vpc, "10.98.1.0/24")
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"][0]["RouteTableId"]
    iid, _ = world.launch(subnet)

    # the name answers an address of S3's list, but no route leads there yet
    s3_list = [l for l in ec2.describe_prefix_lists()["PrefixLists"]
               if l["PrefixListName"] == f"com.amazonaws.{REGION}.s3"][0]
    status, answers = dig(iid, "10.98.0.2", f"s3.{REGION}.amazonaws.com")
    assert status == "NOERROR" and len(answers) == 1, (status, answers)
    import ipaddress
    assert any(ipaddress.ip_address(answers[0]) in ipaddress.ip_network(c) for c in s3_list["Cidrs"])
    rc, out = list_buckets(iid)
    assert rc != 0, out

    ep = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[main],
    )["VpcEndpoint"]
    vpce = ep["VpcEndpointId"]
    world.cleanups.append(lambda: ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce]))
    assert eventually(lambda: list_buckets(iid)[0] == 0, within=15), list_buckets(iid)
    rc, out = list_buckets(iid)
    assert rc == 0 and bucket in out, out

    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert eventually(lambda: list_buckets(iid)[0] != 0, within=15), "still reachable"


def set_policy(ec2, vpce, *statements):
    import json
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_interface_endpoint_policy_is_enforced(fort, ec2, world):
    """The AWS CLI in an instance, through an interface endpoint: allowed by the default
    policy; a ModifyVpcEndpoint policy denying DescribeVpcs holds for its next call
    (UnauthorizedOperation, over HTTP and HTTPS) while other actions pass; the API's own
    callers are unaffected; reset, it works again."""
    vpc = world.vpc("10.94.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = world.subnet(vpc, "10.94.1.0/24")
    web = [{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.94.0.0/16"}]}
           for p in (80, 443)]
    sg = world.group(vpc, "vpce-web", ingress=web)
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.ec2", VpcEndpointType="Interface",
        SubnetIds=[subnet], SecurityGroupIds=[sg], PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    vpce = ep["VpcEndpointId"]
    world.cleanups.append(lambda: ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce]))
    fort.instances.add(ep["NetworkInterfaceIds"][0])
    iid, _ = world.launch(subnet)
    ca = os.path.join(fort.data_dir, "tls", "ca.pem")

    def https(*args):
        return aws_in(iid, "ec2", *args, "--output", "json", env_extra={"AWS_CA_BUNDLE": ca})

    assert eventually(lambda: describe_vpcs(iid)[0] == 0, within=30), describe_vpcs(iid)
    rc, out = https("describe-vpcs")
    assert rc == 0 and vpc in out, out

    set_policy(ec2, vpce,
               {"Effect": "Allow", "Principal": "*", "Action": "ec2:*", "Resource": "*"},
               {"Effect": "Deny", "Principal": "*", "Action": "ec2:DescribeVpcs", "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceVpce": vpce, "aws:SourceVpc": vpc}}})
    started = time.time()
    rc, out = describe_vpcs(iid)
    assert rc != 0 and "UnauthorizedOperation" in out, out
    assert "explicit deny in a VPC endpoint policy" in out, out
    assert time.time() - started < 10
    rc, out = https("describe-vpcs")
    assert rc != 0 and "UnauthorizedOperation" in out, out
    rc, out = https("describe-subnets")
    assert rc == 0 and subnet in out, out
    # not through the endpoint: the API's own callers are not its policy's
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]

    # HTTPS only: the forwarder tells the API which connections were TLS
    set_policy(ec2, vpce,
               {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
               {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    rc, out = describe_vpcs(iid)
    assert rc != 0 and "UnauthorizedOperation" in out, out
    rc, out = https("describe-vpcs")
    assert rc == 0 and vpc in out, out

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    rc, out = describe_vpcs(iid)
    assert rc == 0 and vpc in out, out


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_gateway_endpoint_https_and_policy(fort, ec2, world):
    """Two VPCs with the same block, each with a gateway endpoint for S3: the AWS CLI in
    each reads objects over HTTPS at S3's own names (`BUCKET.s3.amazonaws.com`, trusting
    Fort's CA; a client that does not trust it refuses). A policy on one endpoint
    (only `public/*`) denies the other key there (AccessDenied) but not through the twin
    VPC's endpoint, although the two clients have the same address; reset, it reads again."""
    s3 = fort.service("s3")
    bucket = f"fort-e2e-gwpol-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    for key, text in (("public/a", b"hello"), ("secret/b", b"hidden")):
        s3.put_object(Bucket=bucket, Key=key, Body=text)
    world.cleanups.append(lambda: s3.delete_bucket(Bucket=bucket))
    world.cleanups.append(lambda: [s3.delete_object(Bucket=bucket, Key=k) for k in ("public/a", "secret/b")])
    ca = os.path.join(fort.data_dir, "tls", "ca.pem")
    sides = []
    for _ in range(2):
        vpc = world.vpc("10.93.0.0/16")
        subnet = world.subnet(vpc, "10.93.1.0/24")
        main = ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]},
        ])["RouteTables"][0]["RouteTableId"]
        vpce = ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[main],
        )["VpcEndpoint"]["VpcEndpointId"]
        world.cleanups.append(lambda v=vpce: ec2.delete_vpc_endpoints(VpcEndpointIds=[v]))
        iid, ip = world.launch(subnet, ip="10.93.1.10")
        sides.append((iid, vpce))
    (a, vpce_a), (b, _) = sides

    def get(iid, key, trust=True):
        return aws_in(iid, "s3api", "get-object", "--bucket", bucket, "--key", key, "/dev/stdout",
                      env_extra={"AWS_CA_BUNDLE": ca} if trust else None)

    for iid in (a, b):
        assert eventually(lambda: get(iid, "public/a")[0] == 0, within=30), get(iid, "public/a")
        rc, out = get(iid, "secret/b")
        assert rc == 0 and "hidden" in out, out
    rc, out = get(a, "public/a", trust=False)
    assert rc != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out

    set_policy(ec2, vpce_a, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/public/*"})
    rc, out = get(a, "secret/b")
    assert rc != 0 and "AccessDenied" in out, out
    assert "because no VPC endpoint policy allows the s3:GetObject action" in out, out
    rc, out = get(a, "public/a")
    assert rc == 0 and "hello" in out, out
    # the twin VPC's endpoint keeps its own (default) policy
    rc, out = get(b, "secret/b")
    assert rc == 0 and "hidden" in out, out

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce_a, ResetPolicy=True)
    rc, out = get(a, "secret/b")
    assert rc == 0 and "hidden" in out, out
