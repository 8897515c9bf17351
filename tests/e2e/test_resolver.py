"""The VPC resolver from inside real instances, asked with dig: the VPC's own names and
their reverse, names forwarded to the simulated internet's DNS (and NXDOMAIN for names
nobody serves), DNS over TCP, an instance's public name answering its private address
inside the VPC, silence once enableDnsSupport is off, and instances' resource names."""

import math
import subprocess
import time

from .fort_e2e import eni_of, host_of, nsexec


def dig(ns, server, *args, timeout=8):
    """(status, answers) of `dig @server ARGS` inside `ns`; status None when no answer."""
    out = nsexec(ns, "dig", f"@{server}", "+time=2", "+tries=1", *args, timeout=timeout).stdout
    status = None
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
    answers = []
    section = False
    for line in out.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            section = True
            continue
        if section:
            if not line.strip():
                break
            answers.append(line.split()[-1])
    return status, answers


def test_the_vpc_resolver(fort, ec2, world):
    vpc = world.vpc("10.95.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = world.subnet(vpc, "10.95.1.0/24")
    iid, ip = world.launch(subnet)
    a, b, c, d = ip.split(".")
    name = f"ip-{a}-{b}-{c}-{d}.ec2.internal"
    base2 = "10.95.0.2"

    deadline = time.time() + 5
    while dig(iid, base2, name)[0] != "NOERROR" and time.time() < deadline:
        time.sleep(0.2)
    assert dig(iid, base2, name) == ("NOERROR", [ip])
    assert dig(iid, "169.254.169.253", name) == ("NOERROR", [ip])
    assert dig(iid, base2, "-x", ip) == ("NOERROR", [name + "."])
    assert dig(iid, base2, "ip-10-95-1-250.ec2.internal", "+tcp") == ("NOERROR", ["10.95.1.250"])
    assert dig(iid, base2, "nobody.ec2.internal")[0] == "NXDOMAIN"
    # the internet's names, forwarded; names nobody serves are NXDOMAIN
    assert dig(iid, base2, "www.example.test") == ("NOERROR", ["203.0.113.1"])
    assert dig(iid, base2, "www.example.test", "+tcp") == ("NOERROR", ["203.0.113.1"])
    assert dig(iid, base2, "no-such-name.invalid")[0] == "NXDOMAIN"
    # the resolv.conf DHCP gave answers through the system's resolver too
    assert nsexec(iid, "getent", "hosts", "www.example.test").stdout.split()[0] == "203.0.113.1"

    # a public name answers the private address inside the VPC
    public = "ec2-" + world.elastic_ip(vpc, iid).replace(".", "-") + ".compute-1.amazonaws.com"
    deadline = time.time() + 3
    while dig(iid, base2, public)[1] != [ip] and time.time() < deadline:
        time.sleep(0.2)
    assert dig(iid, base2, public) == ("NOERROR", [ip])

    # enableDnsSupport off (hostnames first, as EC2 requires): no answer at all
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
    deadline = time.time() + 3
    while dig(iid, base2, name)[0] is not None and time.time() < deadline:
        time.sleep(0.2)
    assert dig(iid, base2, name) == (None, [])
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    deadline = time.time() + 3
    while dig(iid, base2, name)[0] is None and time.time() < deadline:
        time.sleep(0.2)
    assert dig(iid, base2, name) == ("NOERROR", [ip])


def test_private_hosted_zones(fort, ec2, world):
    """A zone made with boto3's route53 client answers inside its VPC and not in another,
    an UPSERT shows within a second, and a CNAME chain resolves."""
    r53 = fort.service("route53")
    vpc = world.vpc("10.96.0.0/16")
    other = world.vpc("10.97.0.0/16")
    inside, _ = world.launch(world.subnet(vpc, "10.96.1.0/24"))
    outside, _ = world.launch(world.subnet(other, "10.97.1.0/24"))
    zone = r53.create_hosted_zone(Name="corp.test", CallerReference=f"e2e-{time.time()}",
                                  VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
                                  HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"]

    def change(action, name, rtype, value):
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": action, "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": 60,
                                                    "ResourceRecords": [{"Value": value}]}}]})

    def cleanup():
        for rs in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
            if rs["Type"] not in ("SOA", "NS"):
                r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
                    {"Action": "DELETE", "ResourceRecordSet": rs}]})
        r53.delete_hosted_zone(Id=zone)
    world.cleanups.insert(0, cleanup)

    change("CREATE", "db.corp.test", "A", "10.96.1.77")
    change("CREATE", "web.corp.test", "CNAME", "db.corp.test")
    change("CREATE", "www.corp.test", "CNAME", "web.corp.test")

    def answers(ns, name):
        return dig(ns, "169.254.169.253", name)

    deadline = time.time() + 2
    while answers(inside, "db.corp.test")[1] != ["10.96.1.77"] and time.time() < deadline:
        time.sleep(0.1)
    assert answers(inside, "db.corp.test") == ("NOERROR", ["10.96.1.77"])
    assert answers(inside, "www.corp.test") == ("NOERROR", ["web.corp.test.", "db.corp.test.", "10.96.1.77"])
    assert answers(inside, "missing.corp.test")[0] == "NXDOMAIN"
    # another VPC does not see the zone (its resolver forwards: nobody serves it)
    assert answers(outside, "db.corp.test")[0] == "NXDOMAIN"
    # an UPSERT is visible within a second
    change("UPSERT", "db.corp.test", "A", "10.96.1.78")
    t0 = time.time()
    while answers(inside, "db.corp.test")[1] != ["10.96.1.78"] and time.time() < t0 + 3:
        time.sleep(0.05)
    assert answers(inside, "db.corp.test")[1] == ["10.96.1.78"]
    assert time.time() - t0 < 1.5, time.time() - t0


def test_a_query_flood_is_limited_per_interface(fort, ec2, world):
    """An instance sending 10,000 queries a second for two seconds is held to 1,024
    packets a second (the rest dropped and counted); another instance still resolves."""
    vpc = world.vpc("10.98.0.0/16")
    subnet = world.subnet(vpc, "10.98.1.0/24")
    flooder, _ = world.launch(subnet)
    other, other_ip = world.launch(subnet)
    a, b, c, d = other_ip.split(".")
    name = f"ip-{a}-{b}-{c}-{d}.ec2.internal"
    assert dig(other, "10.98.0.2", name) == ("NOERROR", [other_ip])
    def counts():
        return (fort.metric("fort_eni_packets_total", instance=flooder, direction="from_instance"),
                fort.metric("fort_eni_drops_total", instance=flooder, reason="dns_rate_limited"))

    before = counts()
    # 20,000 queries in about two seconds, bounded in count and time
    flood = ("import socket,time\n"
             "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setblocking(False)\n"
             "q=bytes.fromhex('abcd01000001000000000000') + b'\\x03www\\x07example\\x04test\\x00\\x00\\x01\\x00\\x01'\n"
             "t=time.time(); sent=0\n"
             "for i in range(20000):\n"
             "    try: s.sendto(q, ('10.98.0.2', 53)); sent+=1\n"
             "    except BlockingIOError: pass\n"
             "    if i % 100 == 99:\n"
             "        time.sleep(max(0, t + (i + 1) / 10000 - time.time()))\n"
             "print(time.time() - t, sent)\n")
    proc = subprocess.Popen(["ip", "netns", "exec", flooder, "python3", "-c", flood],
                            stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        # the other instance resolves while the flood goes on
        assert dig(other, "10.98.0.2", name) == ("NOERROR", [other_ip])
    finally:
        took, sent = proc.communicate(timeout=20)[0].split()
    took, sent = float(took), int(sent)
    time.sleep(0.6)  # the agent publishes its counters every 250 ms
    read, dropped = (n - b for n, b in zip(counts(), before))
    # at most 1,024 in each second the flood touched reached the resolver, of the frames
    # the agent read (a loaded machine's TAP queue may drop some of the `sent` first)
    passed = read - dropped
    assert dropped > 0, (read, sent)
    assert passed <= 1024 * (math.ceil(took) + 1), (passed, took)


def test_a_public_name_answers_its_public_address_outside(fort, ec2, world):
    """From the internet (its DNS at 203.0.113.53), an instance's public name is its
    public address; inside the VPC (test_the_vpc_resolver) it is the private one."""
    public = "ec2-198-51-100-77.compute-1.amazonaws.com"
    assert dig("fort-internet", "203.0.113.53", public) == ("NOERROR", ["198.51.100.77"])
    assert dig("fort-internet", "203.0.113.53", "ec2-192-0-2-77.compute-1.amazonaws.com")[0] == "NXDOMAIN"


def imds(ns, path):
    out = nsexec(ns, "curl", "-s", "-m", "3", f"http://169.254.169.254/latest/meta-data/{path}", timeout=8)
    return out.stdout if out.returncode == 0 else None


def test_resource_names(fort, ec2, world):
    """Instances launched into a subnet that names them by resource: an instance with the
    A record on is resolved by its `i-….ec2.internal` name from an instance on another
    host, one with it off is NXDOMAIN (until ModifyPrivateDnsNameOptions turns it on),
    IP names and reverse lookups still answer, and metadata's hostnames are the resource
    name."""
    vpc = world.vpc("10.92.0.0/16")
    subnet = world.subnet(vpc, "10.92.1.0/24")
    ec2.modify_subnet_attribute(SubnetId=subnet, PrivateDnsHostnameTypeOnLaunch="resource-name")
    ec2.modify_subnet_attribute(SubnetId=subnet, EnableResourceNameDnsARecordOnLaunch={"Value": True})
    asker, _ = world.launch(subnet)
    asker_host = host_of(fort, eni_of(ec2, asker)[0])
    # the named instance on the other host (placement spreads a zone's instances)
    for _ in range(3):
        named, named_ip = world.launch(subnet)
        if host_of(fort, eni_of(ec2, named)[0]) != asker_host:
            break
    assert host_of(fort, eni_of(ec2, named)[0]) != asker_host, "no instance landed on the other host"
    # launched without the A record: its resource name does not resolve
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet,
                             PrivateDnsNameOptions={"EnableResourceNameDnsARecord": False})["Instances"][0]
    quiet, quiet_ip = inst["InstanceId"], inst["PrivateIpAddress"]
    world.instances.append(quiet)
    fort.instances.add(quiet)
    world.wait_ready(quiet, quiet_ip)
    assert inst["PrivateDnsNameOptions"] == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": False,
                                             "EnableResourceNameDnsAAAARecord": False}
    base2 = "10.92.0.2"
    name = f"{named}.ec2.internal"
    deadline = time.time() + 5
    while dig(asker, base2, name)[0] != "NOERROR" and time.time() < deadline:
        time.sleep(0.2)
    assert dig(asker, base2, name) == ("NOERROR", [named_ip])
    assert dig(asker, "169.254.169.253", name, "+tcp") == ("NOERROR", [named_ip])
    assert dig(asker, base2, f"{quiet}.ec2.internal")[0] == "NXDOMAIN"
    assert dig(asker, base2, "i-0123456789abcdef0.ec2.internal")[0] == "NXDOMAIN"
    # the IP names and the reverse lookups stay what they were
    a, b, c, d = named_ip.split(".")
    assert dig(asker, base2, f"ip-{a}-{b}-{c}-{d}.ec2.internal") == ("NOERROR", [named_ip])
    assert dig(asker, base2, "-x", named_ip) == ("NOERROR", [f"ip-{a}-{b}-{c}-{d}.ec2.internal."])
    # the system's resolver finds it too
    assert nsexec(asker, "getent", "hosts", name).stdout.split()[:1] == [named_ip]

    # the records follow ModifyPrivateDnsNameOptions on running instances
    ec2.modify_private_dns_name_options(InstanceId=quiet, EnableResourceNameDnsARecord=True)
    ec2.modify_private_dns_name_options(InstanceId=named, EnableResourceNameDnsARecord=False)
    deadline = time.time() + 3
    while dig(asker, base2, f"{quiet}.ec2.internal")[1] != [quiet_ip] and time.time() < deadline:
        time.sleep(0.1)
    assert dig(asker, base2, f"{quiet}.ec2.internal") == ("NOERROR", [quiet_ip])
    assert dig(asker, base2, name)[0] == "NXDOMAIN"

    # the instance's own metadata names it by resource
    assert imds(named, "local-hostname") == name
    assert imds(named, "hostname") == name
    assert imds(quiet, "local-hostname") == f"{quiet}.ec2.internal"
    # a terminated instance's name goes with it
    world.terminate(quiet)
    deadline = time.time() + 3
    while dig(asker, base2, f"{quiet}.ec2.internal")[0] != "NXDOMAIN" and time.time() < deadline:
        time.sleep(0.1)
    assert dig(asker, base2, f"{quiet}.ec2.internal")[0] == "NXDOMAIN"
