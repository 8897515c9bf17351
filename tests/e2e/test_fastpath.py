"""The kernel fast path: an established TCP stream between instances on two hosts is
carried by the kernel once the engine has decided it, the agents still count it per ENI,
and a rule change hands the flow back to the engine, which keeps it (tracked); with only
the receiving host's kernel carrying a flow, the stream still arrives intact."""

import hashlib
import json
import random
import select
import subprocess
import sys
import time

from .fort_e2e import ALL_FROM, eni_of, host_of


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
