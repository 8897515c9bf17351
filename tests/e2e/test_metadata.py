"""Instance metadata at 169.254.169.254, from inside real instances: IMDSv2 tokens and v1,
the instance's own values, user data and tags, options that take effect on the running
instance, the PUT response hop limit (one hop too far gets no token), an elastic IP seen
within a second, and botocore's own metadata fetchers."""

import time
import uuid

from .fort_e2e import REGION, eni_of, nsexec, sh

IMDS = "http://169.254.169.254"


def curl(ns, path, token=None, method="GET", headers=(), timeout=3):
    """(HTTP status, body) of a request from inside `ns`."""
    cmd = ["curl", "-s", "-m", str(timeout), "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if token:
        cmd += ["-H", f"X-aws-ec2-metadata-token: {token}"]
    for h in headers:
        cmd += ["-H", h]
    out = nsexec(ns, *cmd, f"{IMDS}{path}", timeout=timeout + 5).stdout
    body, _, status = out.rpartition("\n")
    return int(status or 0), body


def token(ns, ttl=60, timeout=3):
    status, body = curl(ns, "/latest/api/token", method="PUT",
                        headers=[f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}"], timeout=timeout)
    return body if status == 200 else None


def eventually(fn, within=2.0):
    deadline = time.time() + within
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.1)


def test_instance_metadata_as_ec2_serves_it(fort, ec2, world):
    vpc = world.vpc("10.93.0.0/16")
    subnet = world.subnet(vpc, "10.93.1.0/24")
    sg = world.group(vpc, "web")
    key = f"fort-e2e-{uuid.uuid4().hex[:8]}"
    ec2.create_key_pair(KeyName=key, KeyType="ed25519")
    world.cleanups.append(lambda: ec2.delete_key_pair(KeyName=key))
    user_data = "#!/bin/sh\necho hello from user data\n"
    inst = ec2.run_instances(
        ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet,
        SecurityGroupIds=[sg], KeyName=key, UserData=user_data,  # boto3 encodes it
        MetadataOptions={"HttpTokens": "optional", "InstanceMetadataTags": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "md-test"}]}],
    )["Instances"][0]
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    world.instances.append(iid)
    fort.instances.add(iid)
    world.wait_ready(iid, ip)
    eni, mac = eni_of(ec2, iid)

    t = eventually(lambda: token(iid))
    assert t, fort.log_text()[-3000:]
    get = lambda path: curl(iid, path, t)  # noqa: E731
    assert get("/latest/meta-data/instance-id") == (200, iid)
    assert get("/latest/meta-data/local-ipv4") == (200, ip)
    assert get("/latest/meta-data/instance-type") == (200, "t3.micro")
    assert get("/latest/meta-data/ami-id") == (200, "ami-12345678")
    assert get("/latest/meta-data/placement/availability-zone") == (200, f"{REGION}a")
    assert get("/latest/meta-data/placement/region") == (200, REGION)
    assert get("/latest/meta-data/security-groups") == (200, "web")
    assert get("/latest/meta-data/mac") == (200, mac)
    a, b, c, d = ip.split(".")
    assert get("/latest/meta-data/local-hostname") == (200, f"ip-{a}-{b}-{c}-{d}.ec2.internal")
    base = f"/latest/meta-data/network/interfaces/macs/{mac}"
    assert get(f"{base}/interface-id") == (200, eni)
    assert get(f"{base}/subnet-id") == (200, subnet)
    assert get(f"{base}/subnet-ipv4-cidr-block") == (200, "10.93.1.0/24")
    assert get(f"{base}/vpc-ipv4-cidr-blocks") == (200, "10.93.0.0/16")
    assert get(f"{base}/security-group-ids") == (200, sg)
    assert get("/latest/meta-data/public-keys/0/openssh-key")[0] == 404  # listed as 0=NAME
    status, openssh = get(f"/latest/meta-data/public-keys/0={key}/openssh-key")
    assert status == 200 and openssh.startswith("ssh-ed25519 "), openssh
    status, body = get("/latest/user-data")
    assert status == 200 and body == user_data, body
    assert get("/latest/meta-data/tags/instance/Name") == (200, "md-test")
    listing = get("/latest/meta-data/")[1].split("\n")
    assert "instance-id" in listing and "network/" in listing and "public-ipv4" not in listing
    assert get("/latest/meta-data/no-such-thing")[0] == 404
    doc = get("/latest/dynamic/instance-identity/document")[1]
    assert f'"instanceId": "{iid}"' in doc and f'"privateIp": "{ip}"' in doc

    # IMDSv1 while tokens are optional; a forged token is refused
    assert curl(iid, "/latest/meta-data/instance-id") == (200, iid)
    assert curl(iid, "/latest/meta-data/instance-id", "forged")[0] == 401
    # a token asked through a proxy, or without a TTL, is refused
    assert curl(iid, "/latest/api/token", method="PUT", headers=[
        "X-aws-ec2-metadata-token-ttl-seconds: 60", "X-Forwarded-For: 10.0.0.1"])[0] == 403
    assert curl(iid, "/latest/api/token", method="PUT")[0] == 400

    # tokens required, on the running instance, within a second
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="required")
    assert eventually(lambda: curl(iid, "/latest/meta-data/instance-id")[0] == 401)
    assert get("/latest/meta-data/instance-id") == (200, iid)

    # an elastic IP shows in public-ipv4 within a second (the VPC needs its gateway)
    public = world.elastic_ip(vpc, iid)
    assert eventually(lambda: get("/latest/meta-data/public-ipv4") == (200, public), within=1.5), \
        get("/latest/meta-data/")

    # botocore's fetchers, as the SDKs' credential and region chains use them
    code = ("from botocore.utils import InstanceMetadataRegionFetcher, IMDSFetcher\n"
            "f = IMDSFetcher(timeout=2, num_attempts=2)\n"
            "print(InstanceMetadataRegionFetcher(timeout=2, num_attempts=2).retrieve_region())\n"
            "print(f._get_request('/latest/meta-data/instance-id', None, f._fetch_metadata_token()).text)\n")
    out = nsexec(iid, "env", "-u", "AWS_EC2_METADATA_DISABLED", "python3", "-c", code, timeout=20)
    assert out.stdout.split() == [REGION, iid], out.stderr


def test_put_response_hop_limit(fort, ec2, world):
    """A container behind the instance (one more hop) gets no token with the default hop
    limit of 1, and gets one once the limit is 2."""
    vpc = world.vpc("10.94.0.0/16")
    subnet = world.subnet(vpc, "10.94.1.0/24")
    iid, ip = world.launch(subnet)
    ctr = f"fort-e2e-ctr-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ctr, check=True)
    world.cleanups.append(lambda: sh("ip", "netns", "del", ctr))
    sh("ip", "link", "add", "vc0", "netns", iid, "type", "veth", "peer", "name", "eth0", "netns", ctr,
       check=True)
    for cmd in (["ip", "addr", "add", "192.168.77.1/24", "dev", "vc0"], ["ip", "link", "set", "vc0", "up"],
                ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                ["nft", "add table ip ctr; add chain ip ctr post { type nat hook postrouting priority 100 ; }; "
                        "add rule ip ctr post oifname eth0 masquerade"]):
        r = nsexec(iid, *cmd)
        assert r.returncode == 0, (cmd, r.stderr)
    for cmd in (["ip", "addr", "add", "192.168.77.2/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "192.168.77.1"]):
        r = nsexec(ctr, *cmd)
        assert r.returncode == 0, (cmd, r.stderr)

    assert eventually(lambda: token(iid)), "the instance itself gets a token"
    # one hop too far: the answer's TTL of 1 expires at the instance
    assert token(ctr, timeout=2) is None
    # IMDSv1 GETs are not limited
    assert curl(ctr, "/latest/meta-data/instance-id")[1] == iid
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpPutResponseHopLimit=2)
    assert eventually(lambda: token(ctr, timeout=2), within=3.0)

    # the endpoint turned off: nothing is served
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpEndpoint="disabled")
    assert eventually(lambda: curl(iid, "/latest/meta-data/instance-id")[0] == 403)
