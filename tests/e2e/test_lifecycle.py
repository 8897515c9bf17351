"""Isolation between VPCs, DHCP, terminate, metrics, `fort exec`."""

import os
import time

from .fort_e2e import FORT_BIN, ALL_FROM, TcpServer, eni_of, links, netns_list, nsexec, ping, sh, tcp_get


def test_two_vpcs_with_the_same_cidr_are_isolated(fort, ec2, world):
    sides = []
    for name in ("left", "right"):
        vpc = world.vpc("10.9.0.0/16")
        subnet = world.subnet(vpc, "10.9.1.0/24")
        sg = world.group(vpc, "open", [ALL_FROM("0.0.0.0/0")])
        client, _ = world.launch(subnet, [sg], ip="10.9.1.10")
        server, _ = world.launch(subnet, [sg], ip="10.9.1.11")
        sides.append((client, server))
    (lc, ls), (rc, rs) = sides
    with TcpServer(ls, "10.9.1.11") as _, TcpServer(rs, "10.9.1.11", port=8080) as _:
        assert tcp_get(lc, "10.9.1.11") == f"hello from {ls}\n"
        assert tcp_get(rc, "10.9.1.11") == f"hello from {rs}\n"


def test_dhcp_gives_the_enis_address_mask_router_and_dns(fort, ec2, world):
    vpc = world.vpc("10.5.0.0/16")
    subnet = world.subnet(vpc, "10.5.3.0/24")
    iid, ip = world.launch(subnet)
    addr = nsexec(iid, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"inet {ip}/24" in addr
    assert "default via 10.5.3.1" in nsexec(iid, "ip", "route").stdout
    assert "mtu 9001" in nsexec(iid, "ip", "link", "show", "eth0").stdout
    # the instance's own resolv.conf, seen as /etc/resolv.conf inside it only
    with open(f"/etc/netns/{iid}/resolv.conf") as f:
        assert "nameserver 10.5.0.2" in f.read()
    assert "nameserver 10.5.0.2" in nsexec(iid, "cat", "/etc/resolv.conf").stdout
    with open("/etc/resolv.conf") as f:
        assert "10.5.0.2" not in f.read()
    # an independent client asking again is offered the same lease
    if sh("sh", "-c", "command -v busybox").returncode == 0:
        r = nsexec(iid, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1",
                   "-s", "/bin/true", timeout=20)
        assert r.returncode == 0, r.stderr
        assert ip in (r.stdout + r.stderr)


def test_fort_exec_runs_inside_the_instance(fort, ec2, world):
    vpc = world.vpc("10.6.0.0/16")
    subnet = world.subnet(vpc, "10.6.1.0/24")
    iid, ip = world.launch(subnet)
    r = sh(FORT_BIN, "exec", iid, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert r.returncode == 0 and f"inet {ip}/" in r.stdout
    assert sh(FORT_BIN, "exec", "i-00000000000000000", "--", "true").returncode != 0


def alive(pid):
    """Is the process running (not gone, not a zombie waiting to be reaped)?"""
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
        except OSError:
            return False
        time.sleep(0.05)
    return True


def test_terminate_leaves_nothing_behind(fort, ec2, world):
    vpc = world.vpc("10.7.0.0/16")
    subnet = world.subnet(vpc, "10.7.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.7.0.0/16")])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    eni, _ = eni_of(ec2, b)
    tap = "ft" + eni.removeprefix("eni-")[-13:]
    assert ping(a, b_ip)
    # something running inside is killed with it
    sleeper = nsexec(b, "sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!").stdout.strip()
    ec2.terminate_instances(InstanceIds=[b])
    deadline = time.time() + 10
    while time.time() < deadline and b in netns_list():
        time.sleep(0.05)
    assert b not in netns_list()
    assert not os.path.exists(f"/etc/netns/{b}")
    assert tap not in links()
    assert not alive(sleeper)
    assert not ping(a, b_ip)
    state = ec2.describe_instances(InstanceIds=[b])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")


def test_metrics_count_packets_bytes_and_drops(fort, ec2, world):
    vpc = world.vpc("10.8.0.0/16")
    subnet = world.subnet(vpc, "10.8.1.0/24")
    closed = world.group(vpc, "closed")
    a, _ = world.launch(subnet, [closed])
    b, b_ip = world.launch(subnet, [closed])
    eni, _ = eni_of(ec2, a)
    before = fort.metric("fort_eni_packets_total", eni=eni, direction="from_instance")
    ping(a, b_ip)  # dropped at b's security group ingress
    time.sleep(0.4)
    assert fort.metric("fort_eni_packets_total", eni=eni, direction="from_instance") > before
    assert fort.metric("fort_eni_bytes_total", eni=eni, direction="from_instance") > 0
    assert fort.metric("fort_agent_drops_total", reason="security_group_ingress") >= 1


def test_dhcp_options_reach_the_instance_at_its_next_renewal(fort, ec2, world):
    """A new DHCP options set (custom name servers, domain, NTP, NetBIOS) reaches an
    instance when its client renews: the lease's options, and its own resolv.conf."""
    if sh("sh", "-c", "command -v busybox").returncode != 0:
        import pytest
        pytest.skip("busybox (udhcpc) is not installed")
    vpc = world.vpc("10.8.0.0/16")
    subnet = world.subnet(vpc, "10.8.1.0/24")
    iid, ip = world.launch(subnet)
    opts = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["corp.test"]},
        {"Key": "domain-name-servers", "Values": ["192.0.2.53", "AmazonProvidedDNS"]},
        {"Key": "ntp-servers", "Values": ["169.254.169.123"]},
        {"Key": "netbios-name-servers", "Values": ["10.8.1.200"]},
        {"Key": "netbios-node-type", "Values": ["2"]},
    ])["DhcpOptions"]["DhcpOptionsId"]
    world.cleanups.append(lambda: ec2.delete_dhcp_options(DhcpOptionsId=opts))
    ec2.associate_dhcp_options(DhcpOptionsId=opts, VpcId=vpc)
    # the VPC goes back to the default set before the set is deleted
    world.cleanups.append(lambda: ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc))

    dump = os.path.join(fort.data_dir, f"lease-{iid}")
    script = os.path.join(fort.data_dir, "dump-lease.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n[ \"$1\" = bound ] && env > {dump}\nexit 0\n")
    os.chmod(script, 0o755)

    def renewed():
        nsexec(iid, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1",
               "-O", "ntpsrv", "-O", "wins", "-s", script, timeout=20)
        with open(dump) as f:
            env = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        return env if env.get("domain") == "corp.test" else None

    deadline = time.time() + 5
    env = renewed()
    while env is None and time.time() < deadline:
        time.sleep(0.2)
        env = renewed()
    assert env, "the new options never reached the lease"
    assert env["ip"] == ip
    assert env["dns"].split() == ["192.0.2.53", "10.8.0.2"]
    assert env["ntpsrv"].split() == ["169.254.169.123"]
    assert env["wins"].split() == ["10.8.1.200"]
    # the agent's own script, at a renewal, writes the instance's resolv.conf only
    agent_script = os.path.join(fort.data_dir, "agents", "h1", "dhcp-script")
    r = sh("ip", "netns", "exec", iid, "env", f"FORT_INSTANCE={iid}", "busybox", "udhcpc", "-i", "eth0",
           "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", agent_script, timeout=20)
    assert r.returncode == 0, r.stderr
    with open(f"/etc/netns/{iid}/resolv.conf") as f:
        resolv = f.read()
    assert "search corp.test" in resolv and "nameserver 192.0.2.53" in resolv, resolv
    with open("/etc/resolv.conf") as f:
        assert "192.0.2.53" not in f.read()
