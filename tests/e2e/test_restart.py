"""An agent restart (`fort up --keep`, stopped and started again) keeps the instances:
their namespaces, TAPs, addresses and established TCP connections."""

import json
import re
import subprocess
import time

from .fort_e2e import ALL_FROM, FortUp, World, netns_list, ping


def test_restart_keeps_instances_and_a_running_iperf3_stream():
    fort = FortUp(hosts=2, zones=1, extra=["--keep"])
    world = None
    client = server = None
    try:
        ec2 = fort.client()
        world = World(fort, ec2)
        vpc = world.vpc("10.20.0.0/16")
        subnet = world.subnet(vpc, "10.20.1.0/24")
        sg = world.group(vpc, "open", [ALL_FROM("10.20.0.0/16")])
        a, _ = world.launch(subnet, [sg])
        b, b_ip = world.launch(subnet, [sg])
        assert ping(a, b_ip)
        server = subprocess.Popen(["ip", "netns", "exec", b, "iperf3", "-s", "-1", "-B", b_ip],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        client = subprocess.Popen(["ip", "netns", "exec", a, "iperf3", "-c", b_ip, "-t", "10", "-J",
                                   "-b", "200M"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        fort.restart()
        assert {a, b} <= netns_list()
        deadline = time.time() + 10
        while time.time() < deadline:
            log = re.sub(r"\x1b\[[0-9;]*m", "", fort.log_text())
            if log.count("reattached=true") == 2:
                break
            time.sleep(0.1)
        assert log.count("reattached=true") == 2, "the new agents took over the TAPs in place"
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        result = json.loads(out)
        assert "error" not in result, result.get("error")
        intervals = [i["sum"]["bytes"] for i in result["intervals"]]
        assert sum(intervals[-3:]) > 0, f"the stream carried on after the restart: {intervals}"
        assert ping(a, b_ip)
    finally:
        for p in (client, server):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if world:
            world.close()
        leftovers = fort.close()
    assert not leftovers, f"terminated instances left behind: {leftovers}"
