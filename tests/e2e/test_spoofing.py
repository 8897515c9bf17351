"""Spoofing from an instance and forged packets on the underlay are dropped and counted."""

import re
import socket
import struct
import subprocess
import time

from .fort_e2e import ALL_FROM, eni_of, host_of, nsexec, ping


def test_spoofed_source_address_or_mac_is_dropped(fort, ec2, world):
    vpc = world.vpc("10.11.0.0/16")
    subnet = world.subnet(vpc, "10.11.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.11.0.0/16")])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, a_mac = eni_of(ec2, a)
    assert ping(a, b_ip)

    nsexec(a, "ip", "addr", "add", "10.11.1.99/24", "dev", "eth0")
    before = fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_check")
    assert nsexec(a, "ping", "-c", "1", "-W", "1", "-I", "10.11.1.99", b_ip).returncode != 0
    time.sleep(0.4)
    assert fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_check") > before

    nsexec(a, "ip", "addr", "del", "10.11.1.99/24", "dev", "eth0")
    nsexec(a, "ip", "link", "set", "eth0", "address", "02:00:00:00:99:99")
    before = fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_mac_mismatch")
    assert not ping(a, b_ip)
    time.sleep(0.4)
    assert fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_mac_mismatch") > before
    nsexec(a, "ip", "link", "set", "eth0", "address", a_mac)
    nsexec(a, "ip", "neigh", "flush", "all")
    assert ping(a, b_ip)


def sniff_vni(fort, src_host_underlay, trigger):
    """The VNI of Geneve packets sent by an agent, read off loopback with tcpdump."""
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-nn", "-c", "1", "-x", "-l",
                          f"udp dst port 6081 and src host {src_host_underlay}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 15
        while p.poll() is None and time.time() < deadline:
            trigger()  # until tcpdump, once listening, has seen one
        out, _ = p.communicate(timeout=5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    hexbytes = "".join(re.findall(r"0x[0-9a-f]+:\s+((?:[0-9a-f]{4}\s?)+)", out)).replace(" ", "")
    data = bytes.fromhex(hexbytes)
    ihl = (data[0] & 0x0F) * 4
    geneve = data[ihl + 8:]
    return int.from_bytes(geneve[4:7], "big")


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def test_forged_geneve_from_the_wrong_host_is_dropped_and_counted(fort, ec2, world):
    vpc = world.vpc("10.12.0.0/16")
    subnet = world.subnet(vpc, "10.12.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.12.0.0/16")])
    a, a_ip = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, a_mac = eni_of(ec2, a)
    b_eni, b_mac = eni_of(ec2, b)
    ha, hb = host_of(fort, a_eni), host_of(fort, b_eni)
    assert ha != hb
    vni = sniff_vni(fort, fort.underlays[ha], lambda: ping(a, b_ip))

    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"forged"
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0x4000, 64, 1, 0,
                     socket.inet_aton(a_ip), socket.inet_aton(b_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex(b_mac.replace(":", "")) + bytes.fromhex(a_mac.replace(":", "")) + b"\x08\x00"
    geneve = bytes([0, 0, 0x65, 0x58]) + vni.to_bytes(3, "big") + b"\0"
    packet = geneve + eth + ip + icmp

    base = fort.underlays[ha].rsplit(".", 1)[0]
    before = fort.metric("fort_agent_drops_total", host=hb, reason="authentication_failed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((f"{base}.250", 0))  # not the host where a's address lives
        for _ in range(3):
            s.sendto(packet, (fort.underlays[hb], 6081))
    time.sleep(0.5)
    assert fort.metric("fort_agent_drops_total", host=hb, reason="authentication_failed") >= before + 3


def test_with_source_dest_check_off_other_sources_are_routed(fort, ec2, world):
    vpc = world.vpc("10.13.0.0/16")
    subnet = world.subnet(vpc, "10.13.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("0.0.0.0/0")])
    a, _ = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, _ = eni_of(ec2, a)
    ec2.modify_network_interface_attribute(NetworkInterfaceId=a_eni, SourceDestCheck={"Value": False})
    nsexec(a, "ip", "addr", "add", "10.13.1.99/24", "dev", "eth0")
    seen = subprocess.Popen(["ip", "netns", "exec", b, "tcpdump", "-i", "eth0", "-n", "-c", "1", "-l",
                             "icmp and src host 10.13.1.99"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 15
        while seen.poll() is None and time.time() < deadline:
            nsexec(a, "ping", "-c", "1", "-W", "0.3", "-I", "10.13.1.99", b_ip)
        out, _ = seen.communicate(timeout=5)
    finally:
        if seen.poll() is None:
            seen.kill()
            seen.wait()
    assert "10.13.1.99 >" in out, "the middlebox's packet from another source reached b"
