"""pytest plugin for running LocalStack's AWS-validated tests against Fort (see README.md).

LocalStack's fixtures already take an external endpoint (TEST_AWS_ENDPOINT_URL) and skip
starting LocalStack (TEST_SKIP_LOCALSTACK_START); this only makes the one LocalStack-specific
expectation AWS's: service host names end in amazonaws.com (as they did when the snapshots
were recorded against AWS), not LocalStack's own host and port.
"""


def pytest_configure(config):
    from localstack import config as ls_config

    ls_config.LOCALSTACK_HOST = ls_config.HostAndPort(host="amazonaws.com", port=None)


def pytest_collection_modifyitems(config, items):
    """FORT_STRICT=1 drops the tests' skip_snapshot_verify markers: those paths are where
    LocalStack's own answers differ from AWS's, so Fort is held to the whole recording."""
    import os

    if os.environ.get("FORT_STRICT") != "1":
        return
    for item in items:
        item.own_markers = [m for m in item.own_markers if m.name != "skip_snapshot_verify"]
        for node in item.listchain():
            node.own_markers = [m for m in node.own_markers if m.name != "skip_snapshot_verify"]
