"""ISC dhclient inside an instance: its lease from the agent, a DHCP options set's name
servers and domain at the next renewal, and the host name EC2 gives a resource-named
instance. dhclient runs with a script of ours (scripts/dhclient-script) and its lease,
pid and config files in a temporary directory, so it writes only the instance's own
resolv.conf (/etc/netns/INSTANCE/), never the machine's."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from .fort_e2e import sh

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "dhclient-script")
CONF = """request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers,
        host-name, ntp-servers, netbios-name-servers, netbios-node-type, interface-mtu;
"""


class Dhclient:
    """dhclient runs in `iid` until its script has written what a lease brought."""

    def __init__(self, iid):
        self.iid = iid
        self.dir = tempfile.mkdtemp(prefix="fort-e2e-dhclient-")
        self.conf = os.path.join(self.dir, "dhclient.conf")
        with open(self.conf, "w") as f:
            f.write(CONF)
        self.dump = os.path.join(self.dir, "lease.env")

    def lease(self, timeout=15):
        """Asks for a lease (renewing the one in its lease file): the options the script saw."""
        if os.path.exists(self.dump):
            os.unlink(self.dump)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.iid, "dhclient", "-d", "-1", "-v",
             "-sf", SCRIPT, "-cf", self.conf,
             "-lf", os.path.join(self.dir, "leases"), "-pf", os.path.join(self.dir, "pid"),
             "-e", f"FORT_INSTANCE={self.iid}", "-e", f"FORT_LEASE_DUMP={self.dump}", "eth0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + timeout
            while not os.path.exists(self.dump) and time.time() < deadline and proc.poll() is None:
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        assert os.path.exists(self.dump), f"dhclient got no lease:\n{err}"
        with open(self.dump) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def dhclient_tool():
    if shutil.which("dhclient") is None:
        pytest.skip("ISC dhclient is not installed (apt-get install isc-dhcp-client)")


def test_dhclient_renewal_brings_a_new_options_set(fort, ec2, world, dhclient_tool):
    vpc = world.vpc("10.91.0.0/16")
    subnet = world.subnet(vpc, "10.91.1.0/24")
    ec2.modify_subnet_attribute(SubnetId=subnet, PrivateDnsHostnameTypeOnLaunch="resource-name")
    iid, ip = world.launch(subnet)
    with open("/etc/resolv.conf") as f:
        machines = f.read()
    client = Dhclient(iid)
    try:
        first = client.lease()
        assert first["new_ip_address"] == ip
        assert first["new_routers"] == "10.91.1.1"
        assert first["new_domain_name_servers"].split() == ["10.91.0.2"]
        assert first["new_domain_name"] == "ec2.internal"
        # a resource-named instance's host name is its id
        assert first["new_host_name"] == iid

        opts = ec2.create_dhcp_options(DhcpConfigurations=[
            {"Key": "domain-name", "Values": ["corp.test"]},
            {"Key": "domain-name-servers", "Values": ["192.0.2.53", "192.0.2.54"]},
        ])["DhcpOptions"]["DhcpOptionsId"]
        world.cleanups.append(lambda: ec2.delete_dhcp_options(DhcpOptionsId=opts))
        ec2.associate_dhcp_options(DhcpOptionsId=opts, VpcId=vpc)
        world.cleanups.append(lambda: ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc))

        # the renewal (dhclient asks for the lease in its lease file again) brings them
        deadline = time.time() + 5
        renewed = client.lease()
        while renewed.get("new_domain_name") != "corp.test" and time.time() < deadline:
            time.sleep(0.2)
            renewed = client.lease()
        assert renewed["new_domain_name"] == "corp.test", renewed
        assert renewed["new_domain_name_servers"].split() == ["192.0.2.53", "192.0.2.54"]
        assert renewed["new_ip_address"] == ip
        assert renewed["reason"] in ("REBOOT", "RENEW", "BOUND")
        with open(f"/etc/netns/{iid}/resolv.conf") as f:
            resolv = f.read()
        assert resolv.split("\n")[:3] == ["search corp.test", "nameserver 192.0.2.53", "nameserver 192.0.2.54"]
        # inside the instance that is /etc/resolv.conf; the machine's own is untouched
        assert "nameserver 192.0.2.53" in sh("ip", "netns", "exec", iid, "cat", "/etc/resolv.conf").stdout
        with open("/etc/resolv.conf") as f:
            assert f.read() == machines
    finally:
        client.close()
