"""kill -9 the server in the middle of a stream of writes, restart it on the same data
directory: every acknowledged write is there, and nothing is half-written."""

import signal
import threading
import time

from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError

from conftest import Fort


def writer(client, acked, stop):
    """Creates VPCs and tags them; records each acknowledged result."""
    i = 0
    while not stop.is_set():
        i += 1
        try:
            vpc = client.create_vpc(CidrBlock=f"10.{i % 250}.0.0/16")["Vpc"]["VpcId"]
            acked.append(("vpc", vpc))
            client.create_tags(Resources=[vpc], Tags=[{"Key": "seq", "Value": str(i)}])
            acked.append(("tag", vpc, str(i)))
        except (ClientError, EndpointConnectionError, ConnectionClosedError, Exception):
            return


def test_kill_9_loses_no_acknowledged_write():
    fort = Fort()
    try:
        for round_ in range(3):
            clients = [fort.client() for _ in range(4)]
            acked = [[] for _ in clients]
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(c, a, stop)) for c, a in zip(clients, acked)]
            for t in threads:
                t.start()
            time.sleep(0.6 + 0.4 * round_)
            fort.proc.send_signal(signal.SIGKILL)
            fort.proc.wait()
            stop.set()
            for t in threads:
                t.join(timeout=10)
            writes = [w for a in acked for w in a]
            assert len(writes) > 5, "the writers made no progress before the kill"

            fort.log.close()
            fort.start()
            ec2 = fort.client()
            vpcs = {v["VpcId"]: v for v in ec2.describe_vpcs()["Vpcs"]}
            for w in writes:
                assert w[1] in vpcs, f"acknowledged {w} lost after kill -9"
                if w[0] == "tag":
                    tags = {t["Key"]: t["Value"] for t in vpcs[w[1]]["Tags"]}
                    assert tags.get("seq") == w[2], f"acknowledged tag {w} lost"
            # Nothing half-written: every VPC came with its main table, default ACL and group.
            tables = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}])["RouteTables"]
            acls = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]}])["NetworkAcls"]
            groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
            for vid in vpcs:
                assert sum(t["VpcId"] == vid for t in tables) == 1, f"{vid} has no main route table"
                assert sum(a["VpcId"] == vid for a in acls) == 1, f"{vid} has no default network ACL"
                assert sum(g["VpcId"] == vid for g in groups) == 1, f"{vid} has no default security group"
            for vid, v in vpcs.items():
                if not v["IsDefault"]:
                    ec2.delete_vpc(VpcId=vid)
    finally:
        fort.close()
