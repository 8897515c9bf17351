"""Fixtures of the end-to-end tests (helpers live in fort_e2e.py)."""

import os
import shutil

import pytest

from .fort_e2e import FORT_BIN, FortUp, World


def _missing_tools():
    return [t for t in ("ip", "ping", "curl", "tcpdump") if shutil.which(t) is None]


def pytest_collection_modifyitems(config, items):
    reason = None
    if os.geteuid() != 0:
        reason = "end-to-end tests create TAP devices and network namespaces: run them as root"
    elif _missing_tools():
        reason = f"end-to-end tests need {', '.join(_missing_tools())} (scripts/test installs them)"
    elif not os.path.exists(FORT_BIN):
        reason = f"no fort binary at {FORT_BIN}: cargo build -p fort"
    if reason:
        here = os.path.dirname(os.path.abspath(__file__))
        for item in items:
            if str(item.path).startswith(here + os.sep):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def fort():
    f = FortUp(hosts=2, zones=1)
    yield f
    leftovers = f.close()
    assert not leftovers, f"fort up left namespaces behind: {leftovers}"


@pytest.fixture(scope="session")
def ec2(fort):
    return fort.client()


@pytest.fixture
def world(fort, ec2):
    w = World(fort, ec2)
    yield w
    w.close()
