"""Flow logs on real traffic: a VPC's flow log to CloudWatch Logs and an interface's to S3
with a custom format; what security groups and NACLs accept and reject shows on the right
interface, and a stream the kernel fast path carries is counted."""

import gzip
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from .fort_e2e import ACCESS_KEY, REGION, SECRET_KEY, TcpServer, eni_of, nsexec, ping, tcp_get

TCP = lambda port, cidr: {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}  # noqa: E731
CUSTOM = ("${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
          "${packets} ${bytes} ${action} ${log-status} ${tcp-flags} ${flow-direction} ${vpc-id} ${subnet-id} "
          "${instance-id} ${az-id}")


def udp_send(src, ip, port, payload=b"hello"):
    code = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto({payload!r}, ({ip!r}, {port}))")
    nsexec(src, "python3", "-c", code)


def tcp_try(src, ip, port):
    """A connection attempt that the far side's rules drop (a SYN or two, no answer)."""
    family = "socket.AF_INET6" if ":" in ip else "socket.AF_INET"
    code = (f"import socket; s=socket.socket({family}); s.settimeout(0.5)\n"
            f"try: s.connect(({ip!r}, {port}))\nexcept Exception: pass")
    nsexec(src, "python3", "-c", code)


def records(logs, group, **kw):
    out = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, **kw):
        for e in page["events"]:
            # AWS names an interface's stream ENI-all
            assert e["logStreamName"].endswith("-all"), e["logStreamName"]
            out.append((e["logStreamName"].removesuffix("-all"), e["message"].split()))
    return out


def wait_records(logs, group, cond, within=20.0):
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            r = records(logs, group)
        except logs.exceptions.ResourceNotFoundException:
            r = []
        if cond(r):
            return r
        time.sleep(0.5)
    return records(logs, group) if group else []


def test_flow_logs_record_what_the_engine_decided(fort, ec2, world):
    logs, s3 = fort.service("logs"), fort.service("s3")
    bucket = f"fort-e2e-flows-{uuid.uuid4().hex[:8]}"
    group = f"/fort/e2e/{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    world.cleanups.append(lambda: [s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]}]})
                                   for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])])
    world.cleanups.insert(0, lambda: s3.delete_bucket(Bucket=bucket))
    world.cleanups.append(lambda: logs.delete_log_group(logGroupName=group))

    vpc = world.vpc("10.91.0.0/16")
    after_vpc = len(world.cleanups)
    sa = world.subnet(vpc, "10.91.1.0/24")
    sb = world.subnet(vpc, "10.91.2.0/24")
    client_sg = world.group(vpc, "client")
    server_sg = world.group(vpc, "server", [TCP(8080, "10.91.0.0/16"), TCP(9999, "10.91.0.0/16"),
                                            TCP(5201, "10.91.0.0/16"),
                                            {"IpProtocol": "udp", "FromPort": 5353, "ToPort": 5353,
                                             "IpRanges": [{"CidrIp": "10.91.0.0/16"}]},
                                            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                                             "IpRanges": [{"CidrIp": "10.91.0.0/16"}]}])
    # b's subnet refuses port 9999 at its NACL (the group would allow it)
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    # deleted once the subnets are gone, before the VPC
    world.cleanups.insert(after_vpc, lambda: ec2.delete_network_acl(NetworkAclId=acl))
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny",
                                 Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 9999, "To": 9999})
    assoc = next(a["NetworkAclAssociationId"] for n in ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [sb]}])["NetworkAcls"] for a in n["Associations"]
        if a["SubnetId"] == sb)
    ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)

    a, a_ip = world.launch(sa, [client_sg])
    b, b_ip = world.launch(sb, [server_sg])
    a_eni, _ = eni_of(ec2, a)
    b_eni, _ = eni_of(ec2, b)

    role = "arn:aws:iam::123456789012:role/flow-logs"
    vpc_log = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vpc], TrafficType="ALL",
                                   LogGroupName=group, DeliverLogsPermissionArn=role,
                                   MaxAggregationInterval=1)
    assert not vpc_log["Unsuccessful"], vpc_log
    eni_log = ec2.create_flow_logs(ResourceType="NetworkInterface", ResourceIds=[b_eni], TrafficType="ALL",
                                   LogDestinationType="s3", LogDestination=f"arn:aws:s3:::{bucket}/team",
                                   LogFormat=CUSTOM, MaxAggregationInterval=1)
    assert not eni_log["Unsuccessful"], eni_log
    world.cleanups.append(lambda: ec2.delete_flow_logs(
        FlowLogIds=vpc_log["FlowLogIds"] + eni_log["FlowLogIds"]))
    # the hosts have the flow logs once NODATA windows of both interfaces arrive
    got = wait_records(logs, group, lambda r: {a_eni, b_eni} <= {s for s, _ in r})
    assert {a_eni, b_eni} <= {s for s, _ in got}, got

    with TcpServer(b, b_ip) as _:
        assert ping(a, b_ip)
        assert tcp_get(a, b_ip) == f"hello from {b}\n"
        udp_send(a, b_ip, 5353)
        tcp_try(a, b_ip, 22)      # b's group has no rule for SSH
        tcp_try(a, b_ip, 9999)    # b's subnet's NACL denies it

    def has(r, stream, action, proto, dport=None, src=a_ip, dst=b_ip):
        return any(s == stream and f[3] == src and f[4] == dst and f[7] == str(proto)
                   and (dport is None or f[6] == str(dport)) and f[12] == action and f[13] == "OK"
                   for s, f in r)

    def complete(r):
        return (has(r, a_eni, "ACCEPT", 1) and has(r, b_eni, "ACCEPT", 1)
                and has(r, a_eni, "ACCEPT", 6, 8080) and has(r, b_eni, "ACCEPT", 6, 8080)
                and has(r, b_eni, "ACCEPT", 17, 5353)
                and has(r, b_eni, "REJECT", 6, 22) and has(r, b_eni, "REJECT", 6, 9999))

    got = wait_records(logs, group, complete)
    assert complete(got), "\n".join(" ".join(f) for _, f in got[-60:])
    # default format, version 2, account 123456789012; the reply to a's request crosses
    # b's interface outbound and a's inbound
    line = next(f for s, f in got if s == b_eni and f[6] == "8080" and f[12] == "ACCEPT")
    assert line[0] == "2" and line[1] == "123456789012" and line[2] == b_eni and len(line) == 14
    assert int(line[8]) >= 3 and int(line[9]) > 100, line  # packets and bytes of a short HTTP request
    assert has(got, b_eni, "ACCEPT", 6, src=b_ip, dst=a_ip)
    # rejected traffic is logged on the interface where it was dropped, not on a's
    assert not has(got, a_eni, "REJECT", 6, 22)

    # the filter pattern of the issue, through the AWS CLI: exactly the SSH attempts
    pattern = '[version, account, eni, source, destination, srcport, destport="22", ...]'
    ssh = [f for _, f in got if f[6] == "22" and f[13] == "OK"]
    if shutil.which("aws"):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION=REGION)
        out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "logs", "filter-log-events",
                              "--log-group-name", group, "--filter-pattern", pattern, "--output", "json"],
                             capture_output=True, text=True, env=env, timeout=30, check=True).stdout
        found = [e["message"].split() for e in json.loads(out)["events"]]
    else:
        found = [f for _, f in records(logs, group, filterPattern=pattern)]
    assert found and all(f[6] == "22" for f in found), found
    assert len(found) >= len(ssh)

    # the interface's flow log, in S3: AWS's key layout, gzip, a header, the custom fields
    deadline = time.time() + 15
    text = ""
    while time.time() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="team/AWSLogs/").get("Contents", [])]
        text = "".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).decode() for k in keys)
        if " 9999 6 " in text and " 22 6 " in text:
            break
        time.sleep(0.5)
    assert keys and all(k.startswith(f"team/AWSLogs/123456789012/vpcflowlogs/{REGION}/") and k.endswith(".log.gz")
                        for k in keys), keys
    assert text.startswith(CUSTOM.replace("${", "").replace("}", "") + "\n"), text[:300]
    rows = [line.split() for line in text.splitlines() if not line.startswith("version")]
    assert all(r[1] == b_eni for r in rows), "only b's interface"
    rejected = [r for r in rows if r[9] == "REJECT" and r[5] == "22"]
    assert rejected and all(r[12] == "ingress" and r[0] == "5" for r in rejected), rows
    assert rejected[0][13] == vpc and rejected[0][14] == sb and rejected[0][15] == b
    syn = [r for r in rows if r[9] == "REJECT" and r[5] == "9999"]
    assert syn and all(int(r[11]) & 2 for r in syn), "a rejected SYN shows its flag"


def test_flow_logs_count_what_the_kernel_fast_path_carries(fort, ec2, world):
    if not shutil.which("iperf3"):
        pytest.skip("iperf3 is not installed")
    logs = fort.service("logs")
    group = f"/fort/e2e/{uuid.uuid4().hex[:8]}"
    world.cleanups.append(lambda: logs.delete_log_group(logGroupName=group))
    vpc = world.vpc("10.92.0.0/16")
    subnet = world.subnet(vpc, "10.92.1.0/24")
    sg = world.group(vpc, "open", [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.92.0.0/16"}]}])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    b_eni, _ = eni_of(ec2, b)
    fl = ec2.create_flow_logs(ResourceType="NetworkInterface", ResourceIds=[b_eni], TrafficType="ACCEPT",
                              LogGroupName=group, MaxAggregationInterval=1,
                              DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs")
    world.cleanups.append(lambda: ec2.delete_flow_logs(FlowLogIds=fl["FlowLogIds"]))
    wait_records(logs, group, lambda r: any(s == b_eni for s, _ in r))
    server = subprocess.Popen(["ip", "netns", "exec", b, "iperf3", "-s", "-1", "-B", b_ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        client = subprocess.run(["ip", "netns", "exec", a, "iperf3", "-c", b_ip, "-t", "3", "-J"],
                                capture_output=True, text=True, timeout=30)
        assert client.returncode == 0, client.stderr
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    received = json.loads(client.stdout)["end"]["sum_received"]["bytes"]

    def counted(r):
        # the data connection to 5201 (iperf3 also opens a control connection to 5201:
        # both are b's inbound traffic to its port; payload dominates)
        return sum(int(f[9]) for s, f in r if s == b_eni and f[6] == "5201" and f[4] == b_ip and f[13] == "OK")

    got = wait_records(logs, group, lambda r: counted(r) >= received * 0.9, within=15)
    assert received * 0.9 <= counted(got) <= received * 1.1, (counted(got), received)


def test_flow_logs_record_ipv6_flows(fort, ec2, world):
    """IPv6 flows show in flow logs as IPv4's do: their IPv6 addresses in srcaddr and
    dstaddr (as AWS writes them), ACCEPT at both interfaces for a ping, REJECT at the
    receiver for what its group does not allow."""
    if shutil.which("dhclient") is None:
        pytest.skip("dhclient is not installed")
    import ipaddress

    from .test_ipv6 import ping6_eventually, ready6

    logs = fort.service("logs")
    group = f"/fort/e2e/{uuid.uuid4().hex[:8]}"
    world.cleanups.append(lambda: logs.delete_log_group(logGroupName=group))
    vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    world.cleanups.append(lambda: ec2.delete_vpc(VpcId=vpc))
    block = None
    deadline = time.time() + 10
    while block is None and time.time() < deadline:
        v = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
        assoc = [a for a in v.get("Ipv6CidrBlockAssociationSet", [])
                 if a["Ipv6CidrBlockState"]["State"] == "associated"]
        block = ipaddress.ip_network(assoc[0]["Ipv6CidrBlock"]) if assoc else None
        time.sleep(0.2)
    assert block is not None
    net6 = list(block.subnets(new_prefix=64))[1]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.93.1.0/24", Ipv6CidrBlock=str(net6),
                               AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    world.cleanups.append(lambda: ec2.delete_subnet(SubnetId=subnet))
    sg = world.group(vpc, "v6", [
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(block)}]},
    ])

    def launch():
        inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1)["Instances"][0]
        iid = inst["InstanceId"]
        world.instances.append(iid)
        fort.instances.add(iid)
        world.wait_ready(iid, inst["PrivateIpAddress"])
        return iid, inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]

    a, a6 = launch()
    b, b6 = launch()
    a_eni, _ = eni_of(ec2, a)
    b_eni, _ = eni_of(ec2, b)
    fl = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vpc], TrafficType="ALL", LogGroupName=group,
                              DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
                              MaxAggregationInterval=1)
    assert not fl["Unsuccessful"], fl
    world.cleanups.append(lambda: ec2.delete_flow_logs(FlowLogIds=fl["FlowLogIds"]))
    got = wait_records(logs, group, lambda r: {a_eni, b_eni} <= {s for s, _ in r})
    assert {a_eni, b_eni} <= {s for s, _ in got}, got
    for iid, six in ((a, a6), (b, b6)):
        assert ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout
    assert ping6_eventually(a, b6)
    tcp_try(a, b6, 22)  # b's group has no TCP rule

    def same(x, y):
        try:
            return ipaddress.ip_address(x) == ipaddress.ip_address(y)
        except ValueError:
            return False

    def has(r, stream, action, proto, dport=None, src=a6, dst=b6):
        return any(s == stream and same(f[3], src) and same(f[4], dst) and f[7] == str(proto)
                   and (dport is None or f[6] == str(dport)) and f[12] == action and f[13] == "OK"
                   for s, f in r)

    def complete(r):
        return (has(r, a_eni, "ACCEPT", 58) and has(r, b_eni, "ACCEPT", 58)
                and has(r, b_eni, "ACCEPT", 58, src=b6, dst=a6)
                and has(r, b_eni, "REJECT", 6, 22))

    got = wait_records(logs, group, complete)
    assert complete(got), "\n".join(" ".join(f) for _, f in got[-60:])
    # written as AWS writes them: the address's text form, as the API gives it
    line = next(f for s, f in got if s == b_eni and f[12] == "REJECT" and f[6] == "22")
    assert line[3] == str(ipaddress.ip_address(a6)) and line[4] == str(ipaddress.ip_address(b6)), line
    assert not has(got, a_eni, "REJECT", 6, 22)
