"""The Amazon Time Sync Service from real instances: NTP at 169.254.169.123 and, for a
dual-stack instance, at fd00:ec2::123, answered by the instance's own host from its clock.
A real NTP client (ntpdig, ntpsec's SNTP client, in query-only mode: it never sets a
clock) gets the time with an offset near zero; a raw client checks the answer's fields;
control and private queries get nothing (no amplifier); an instance flooding the service
is held to the 1,024 packets a second AWS allows each interface for its link-local
services."""

import json
import os
import shutil
import time

import pytest

from .fort_e2e import eni_of, nsexec
from .test_ipv6 import _dual_stack_vpc, launch6

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "ntp_probe.py")
TIME_SYNC = "169.254.169.123"
TIME_SYNC6 = "fd00:ec2::123"


def probe(ns, *args, timeout=20):
    r = nsexec(ns, "python3", PROBE, *args, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ntpdig(ns, addr):
    """ntpdig's JSON answer (query only: no -s or -S, so no clock is set)."""
    r = nsexec(ns, "ntpdig", "-j", "-t", "3", addr, timeout=15)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def eventually(fn, within=5.0):
    deadline = time.time() + within
    while True:
        try:
            return fn()
        except (AssertionError, ValueError):
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def check_answer(a, addr):
    assert a["length"] == 48 and a["mode"] == 4 and a["version"] == 4, a
    assert a["stratum"] == 3 and a["leap"] == 0, a
    assert a["poll"] == 6 and a["precision"] == -20, a
    assert a["origin_echoed"], a
    assert a["from"] == addr, a
    assert abs(a["offset"]) < 0.05 and 0 <= a["delay"] < 0.5, a


@pytest.mark.skipif(shutil.which("ntpdig") is None, reason="ntpdig is not installed (ntpsec-ntpdig; scripts/test installs it)")
def test_an_instance_gets_the_time_from_its_host(fort, ec2, world):
    vpc = world.vpc("10.91.0.0/16")
    subnet = world.subnet(vpc, "10.91.1.0/24")
    # a group that admits nothing: the service is never filtered, as on AWS
    sg = world.group(vpc, "closed")
    iid, _ = world.launch(subnet, groups=[sg])
    answered = fort.metric("fort_agent_time_sync_requests_total", result="answered")

    got = eventually(lambda: ntpdig(iid, TIME_SYNC))
    assert got["stratum"] == 3, got
    assert got["leap"] == "no-leap", got
    assert abs(float(got["offset"])) < 0.05, got
    assert not got.get("adjusted", False), got

    a = probe(iid, TIME_SYNC, "query")
    check_answer(a, TIME_SYNC)

    # control, private, symmetric, short and version-0 datagrams: none answered, each counted
    before = {r: fort.metric("fort_agent_time_sync_requests_total", result=r)
              for r in ("control", "not_client", "malformed")}
    assert probe(iid, TIME_SYNC, "refused") == {"sent": 5, "answered": 0}
    time.sleep(0.6)  # the counters are read live; the request crossed the data path
    after = {r: fort.metric("fort_agent_time_sync_requests_total", result=r)
             for r in ("control", "not_client", "malformed")}
    assert after["control"] - before["control"] == 1, (before, after)  # monlist (readvar is short)
    assert after["not_client"] - before["not_client"] == 1, (before, after)
    assert after["malformed"] - before["malformed"] == 3, (before, after)
    assert fort.metric("fort_agent_time_sync_requests_total", result="answered") - answered >= 2


@pytest.mark.skipif(shutil.which("dhclient") is None or shutil.which("ntpdig") is None,
                    reason="needs dhclient and ntpdig (scripts/test installs them)")
def test_a_dual_stack_instance_gets_the_time_at_both_addresses(fort, ec2, world):
    vpc, subnet, _ = _dual_stack_vpc(ec2, world, "10.92.0.0/16")
    sg = world.group(vpc, "closed6")
    iid, six = launch6(fort, ec2, world, subnet, [sg])

    for addr in (TIME_SYNC, TIME_SYNC6):
        got = eventually(lambda addr=addr: ntpdig(iid, addr))
        assert got["stratum"] == 3 and got["leap"] == "no-leap", (addr, got)
        assert abs(float(got["offset"])) < 0.05, (addr, got)
        check_answer(probe(iid, addr, "query"), addr)
    # nothing but client requests is answered over IPv6 either
    assert probe(iid, TIME_SYNC6, "refused") == {"sent": 5, "answered": 0}


def test_a_flood_is_held_to_the_link_local_budget(fort, ec2, world):
    """5,000 requests a second for two seconds: at most 1,024 a second are answered (the
    budget the resolver shares), the rest dropped and counted; the instance still gets
    the time once the flood stops."""
    vpc = world.vpc("10.90.0.0/16")
    subnet = world.subnet(vpc, "10.90.1.0/24")
    iid, _ = world.launch(subnet)
    eni, _ = eni_of(ec2, iid)
    before = fort.metric("fort_eni_drops_total", eni=eni, reason="time_sync_rate_limited")
    f = probe(iid, TIME_SYNC, "flood", "5000", "2", timeout=30)
    time.sleep(0.6)  # the agent publishes its counters every 250 ms
    dropped = fort.metric("fort_eni_drops_total", eni=eni, reason="time_sync_rate_limited") - before
    # one burst of 1,024 and then 1,024 a second
    assert f["answered"] <= 1024 * (f["elapsed"] + 1) + 16, f
    assert f["answered"] >= 1024, f
    assert dropped > 0 and f["answered"] + dropped <= f["sent"], (f, dropped)
    time.sleep(1.1)
    check_answer(probe(iid, TIME_SYNC, "query"), TIME_SYNC)
