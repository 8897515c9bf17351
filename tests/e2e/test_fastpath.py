"""The kernel fast path: an established TCP stream between instances on two hosts is
carried by the kernel once the engine has decided it, the agents still count it per ENI,
and a rule change hands the flow back to the engine, which keeps it (tracked)."""

import json
import subprocess
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
