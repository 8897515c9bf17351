"""The kernel fast path: an established TCP stream between instances on two hosts is
carried by the kernel once the engine has decided it, the agents still count it per ENI,
and a rule change hands the flow back to the engine, which keeps it (tracked); with only
the receiving host's kernel carrying a flow, the stream still arrives intact. An IPv6
stream between dual-stack instances is carried the same way."""

import hashlib
import ipaddress
import json
import random
import select
import shutil
import subprocess
import sys
import time

import pytest

from .fort_e2e import ALL_FROM, eni_of, host_of, nsexec


def test_an_established_stream_is_carried_by_the_kernel(fort, ec2, world):
    vpc = world.vpc("10.80.0.0/16")
    subnet = world.subnet(vpc, "10.80.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.80.0.0/16")])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, _ = eni_of(ec2, a)
    assert host_of(fort, a_eni) != host_of(fort, eni_of(ec2, b)[0])
    sent_before = fort.metric("fort_eni_bytes_total", eni=a_eni, direction="from_instance")
    slow_before = fort.metric("fort_agent_engine_path_total", path="slow") + \
        fort.metric("fort_agent_engine_path_total", path="fast")
    server = subprocess.Popen(["ip", "netns", "exec", b, "iperf3", "-s", "-1", "-B", b_ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        client = subprocess.Popen(["ip", "netns", "exec", a, "iperf3", "-c", b_ip, "-t", "4", "-J"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        # both directions of the stream on both hosts
        assert fort.metric("fort_agent_fastpath_flows") >= 4, fort.log_text()[-3000:]
        # a rule change: the engine takes the flow back, and (tracked) lets it go on
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 9, "ToPort": 9, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}])
        out, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    result = json.loads(out)
    sent = result["end"]["sum_sent"]["bytes"]
    intervals = [i["sum"]["bytes"] for i in result["intervals"]]
    assert all(b > 0 for b in intervals), f"the stream never stalled: {intervals}"
    # what the engine handled packet by packet is a small part of what crossed
    engine_packets = fort.metric("fort_agent_engine_path_total", path="slow") + \
        fort.metric("fort_agent_engine_path_total", path="fast") - slow_before
    assert engine_packets < sent / 9000 / 4, (engine_packets, sent)
    # the kernel's traffic is counted to the ENI (reported every second)
    time.sleep(1.5)
    counted = fort.metric("fort_eni_bytes_total", eni=a_eni, direction="from_instance") - sent_before
    assert sent * 0.9 <= counted <= sent * 1.1, (counted, sent)


# Receives a length-prefixed stream; answers its length and SHA-256, then waits for the
# peer to close (no FIN before: the connection stays established meanwhile).
SINK = """
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7001)); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); c.settimeout(30)
f = c.makefile("rb")
left = int.from_bytes(f.read(8), "big")
h, n = hashlib.sha256(), 0
while left > 0:
    b = f.read1(min(left, 1 << 16))
    if not b:
        break
    h.update(b); n += len(b); left -= len(b)
c.sendall(f"{n} {h.hexdigest()}\\n".encode())
c.recv(1)
"""

# Sends `n` bytes seeded by `seed`, prints the sink's answer, then holds the connection
# (established: its fast-path entries stay) for a few seconds.
SOURCE = """
import random, socket, sys, time
data = random.Random(int(sys.argv[3])).randbytes(int(sys.argv[2]))
c = socket.create_connection((sys.argv[1], 7001), timeout=20)
c.sendall(len(data).to_bytes(8, "big") + data)
print(c.makefile().readline().strip(), flush=True)
time.sleep(3)
"""


def test_a_stream_from_a_sender_the_engine_keeps_arrives_intact(fort, ec2, world):
    """Only the receiving host carries the flow in its kernel: the sender's ENI has
    source/dest check off (a middlebox's flows stay with its engine), so its agent sends
    the instance's TSO super-frames with partial checksums over the underlay with the
    offload option; the receiving host's kernel must not deliver them as they are."""
    vpc = world.vpc("10.81.0.0/16")
    subnet = world.subnet(vpc, "10.81.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.81.0.0/16")])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, _ = eni_of(ec2, a)
    ha, hb = host_of(fort, a_eni), host_of(fort, eni_of(ec2, b)[0])
    assert ha != hb
    ec2.modify_network_interface_attribute(NetworkInterfaceId=a_eni, SourceDestCheck={"Value": False})
    time.sleep(1.5)  # the change reaches a's agent
    size, seed = 600_000, 81
    expected = hashlib.sha256(random.Random(seed).randbytes(size)).hexdigest()
    sink = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", SINK, b_ip],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    source = None
    try:
        assert sink.stdout.readline().strip() == "listening", sink.stderr.read()
        source = subprocess.Popen(["ip", "netns", "exec", a, sys.executable, "-c", SOURCE, b_ip,
                                   str(size), str(seed)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([source.stdout], [], [], 30)
        answer = source.stdout.readline().strip() if ready else None

        def offloaded():
            return (fort.metric("fort_agent_fastpath_flows", host=ha),
                    fort.metric("fort_agent_fastpath_flows", host=hb))
        assert answer == f"{size} {expected}", \
            f"the stream stalled or arrived damaged: {answer!r}, kernel flows {offloaded()}"
        # while the connection is still open: the receiver's host carries its side in
        # the kernel, the sender's host none (else this is not the asymmetric case);
        # agents report every 250 ms
        deadline = time.time() + 2
        while offloaded()[1] == 0 and time.time() < deadline:
            time.sleep(0.1)
        flows = offloaded()
        assert flows[0] == 0 and flows[1] >= 1, flows
    finally:
        for p in (source, sink):
            if p is not None:
                if p.poll() is None:
                    p.kill()
                p.wait()


def _ready6(iid, addr, within=30.0):
    """The IPv6 address (by DHCPv6) is usable: duplicate address detection passed."""
    deadline = time.time() + within
    while time.time() < deadline:
        a = nsexec(iid, "ip", "-6", "-o", "addr", "show", "dev", "eth0").stdout
        if addr in a and "tentative" not in a.split(addr)[1].split("\n")[0]:
            return True
        time.sleep(0.3)
    return False


def _iperf(fort, client_ns, server_ns, server_ip, family, seconds=4):
    """One iperf3 stream (`family`: "-4" or "-6") from `client_ns` to `server_ns`: the
    client's JSON result and the most kernel flows the agents reported during it."""
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", server_ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    most = 0
    try:
        time.sleep(0.5)
        client = subprocess.Popen(["ip", "netns", "exec", client_ns, "iperf3", family, "-c", server_ip,
                                   "-t", str(seconds), "-J"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + seconds
        while time.time() < deadline and client.poll() is None:
            most = max(most, fort.metric("fort_agent_fastpath_flows"))
            time.sleep(0.25)
        out, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    return json.loads(out), most


@pytest.mark.skipif(shutil.which("dhclient") is None, reason="dhclient is not installed")
def test_an_established_ipv6_stream_is_carried_by_the_kernel(fort, ec2, world):
    """`iperf3 -6` between dual-stack instances on two hosts: both directions of the
    stream on both hosts go into the kernel (inner IPv6 over the IPv4 underlay), the
    engine handles a small part of the packets, and the kernel's traffic is counted to
    the ENI. The same with `iperf3 -4` on the same pair, for comparison."""
    vpc = ec2.create_vpc(CidrBlock="10.82.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    world.cleanups.append(lambda: ec2.delete_vpc(VpcId=vpc))
    block = None
    deadline = time.time() + 10
    while block is None and time.time() < deadline:
        v = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
        assoc = [x for x in v.get("Ipv6CidrBlockAssociationSet", [])
                 if x["Ipv6CidrBlockState"]["State"] == "associated"]
        block = ipaddress.ip_network(assoc[0]["Ipv6CidrBlock"]) if assoc else None
        time.sleep(0.2)
    assert block is not None
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.82.1.0/24",
                               Ipv6CidrBlock=str(list(block.subnets(new_prefix=64))[1]),
                               AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    world.cleanups.append(lambda: ec2.delete_subnet(SubnetId=subnet))
    sg = world.group(vpc, "open6", [
        ALL_FROM("10.82.0.0/16"),
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": str(block)}]},
    ])

    def launch():
        inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1)["Instances"][0]
        iid = inst["InstanceId"]
        world.instances.append(iid)
        fort.instances.add(iid)
        world.wait_ready(iid, inst["PrivateIpAddress"])
        six = inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
        return iid, inst["PrivateIpAddress"], six

    a, _, a6 = launch()
    b, b_ip, b6 = launch()
    a_eni, _ = eni_of(ec2, a)
    assert host_of(fort, a_eni) != host_of(fort, eni_of(ec2, b)[0])
    for iid, six in ((a, a6), (b, b6)):
        assert _ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout

    sent_before = fort.metric("fort_eni_bytes_total", eni=a_eni, direction="from_instance")
    engine_before = fort.metric("fort_agent_engine_path_total", path="slow") + \
        fort.metric("fort_agent_engine_path_total", path="fast")
    result, most = _iperf(fort, a, b, b6, "-6")
    # both directions of the stream on both hosts
    assert most >= 4, (most, fort.log_text()[-3000:])
    sent = result["end"]["sum_sent"]["bytes"]
    intervals = [i["sum"]["bytes"] for i in result["intervals"]]
    assert all(x > 0 for x in intervals), f"the stream never stalled: {intervals}"
    engine_packets = fort.metric("fort_agent_engine_path_total", path="slow") + \
        fort.metric("fort_agent_engine_path_total", path="fast") - engine_before
    assert engine_packets < sent / 9000 / 4, (engine_packets, sent)
    time.sleep(1.5)
    counted = fort.metric("fort_eni_bytes_total", eni=a_eni, direction="from_instance") - sent_before
    assert sent * 0.9 <= counted <= sent * 1.1, (counted, sent)
    bps6 = result["end"]["sum_received"]["bits_per_second"]

    # the same pair over IPv4, for the figures (the kernel carries it too)
    time.sleep(1.5)  # the IPv6 stream's entries leave
    result4, most4 = _iperf(fort, a, b, b_ip, "-4")
    assert most4 >= 4, most4
    bps4 = result4["end"]["sum_received"]["bits_per_second"]
    print(f"\nfast path, one stream, 4 s: iperf3 -6 {bps6 / 1e9:.2f} Gbit/s, iperf3 -4 {bps4 / 1e9:.2f} Gbit/s")
