"""CloudWatch Logs at Fort's endpoint: boto3's logs client and the AWS CLI, unchanged."""

import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Fort, error_code

DAY_MS = 86_400_000


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def logs(fort):
    return fort.client("logs")


@pytest.fixture
def group(logs):
    name = f"/fort/test/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    yield name
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError:
        pass


def flow(eni, src, dst, sport, dport, proto, action, t):
    return f"2 123456789012 {eni} {src} {dst} {sport} {dport} {proto} 10 840 {t} {t + 60} {action} OK"


def test_groups_create_describe_delete(logs):
    base = f"/fort/groups-{uuid.uuid4().hex[:6]}"
    names = [f"{base}/{i}" for i in range(5)]
    for n in names:
        logs.create_log_group(logGroupName=n, tags={"team": "net"})
    assert error_code(logs.create_log_group, logGroupName=names[0]) == "ResourceAlreadyExistsException"
    assert error_code(logs.create_log_group, logGroupName="bad name") == "InvalidParameterException"
    assert error_code(logs.create_log_group, logGroupName="x" * 513) == "InvalidParameterException"

    groups = logs.describe_log_groups(logGroupNamePrefix=base)["logGroups"]
    assert [g["logGroupName"] for g in groups] == names
    g = groups[0]
    assert g["arn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{names[0]}:*"
    assert g["logGroupArn"] == g["arn"][:-2]
    assert g["logGroupClass"] == "STANDARD"
    assert g["storedBytes"] == 0 and g["creationTime"] > now_ms() - 60_000
    assert "retentionInDays" not in g

    # pages of 2 with nextToken, and the paginator
    page = logs.describe_log_groups(logGroupNamePrefix=base, limit=2)
    assert len(page["logGroups"]) == 2 and "nextToken" in page
    page2 = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, nextToken=page["nextToken"])
    assert page2["logGroups"][0]["logGroupName"] == names[2]
    seen = [g["logGroupName"] for p in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}) for g in p["logGroups"]]
    assert seen == names
    pattern = logs.describe_log_groups(logGroupNamePattern=base.split("-")[-1].upper())["logGroups"]
    assert len(pattern) == 5
    assert error_code(logs.describe_log_groups, limit=51) == "InvalidParameterException"
    assert error_code(logs.describe_log_groups, nextToken="nonsense") == "InvalidParameterException"

    # other accounts and regions see their own groups only
    assert fort_client(logs, region="eu-west-1").describe_log_groups(logGroupNamePrefix=base)["logGroups"] == []

    for n in names:
        logs.delete_log_group(logGroupName=n)
    assert error_code(logs.delete_log_group, logGroupName=names[0]) == "ResourceNotFoundException"
    assert logs.describe_log_groups(logGroupNamePrefix=base)["logGroups"] == []


def fort_client(logs, region):
    import boto3
    return boto3.client("logs", endpoint_url=logs.meta.endpoint_url, region_name=region,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def test_streams_and_put_get(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="eni-a-all")
    assert error_code(logs.create_log_stream, logGroupName=group, logStreamName="eni-a-all") \
        == "ResourceAlreadyExistsException"
    assert error_code(logs.create_log_stream, logGroupName=group, logStreamName="a:b") == "InvalidParameterException"
    assert error_code(logs.create_log_stream, logGroupName="/no/such", logStreamName="s") \
        == "ResourceNotFoundException"
    t0 = now_ms() - 60_000
    events = [{"timestamp": t0 + i, "message": f"event {i}"} for i in range(25)]
    out = logs.put_log_events(logGroupName=group, logStreamName="eni-a-all", logEvents=events)
    assert "nextSequenceToken" in out and "rejectedLogEventsInfo" not in out

    s = logs.describe_log_streams(logGroupName=group)["logStreams"][0]
    assert s["logStreamName"] == "eni-a-all"
    assert s["firstEventTimestamp"] == t0 and s["lastEventTimestamp"] == t0 + 24
    assert s["arn"].endswith(f"log-group:{group}:log-stream:eni-a-all")
    assert s["lastIngestionTime"] >= t0

    # from the tail by default
    tail = logs.get_log_events(logGroupName=group, logStreamName="eni-a-all", limit=5)
    assert [e["message"] for e in tail["events"]] == [f"event {i}" for i in range(20, 25)]
    back = logs.get_log_events(logGroupName=group, logStreamName="eni-a-all", limit=5,
                               nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == [f"event {i}" for i in range(15, 20)]

    # from the head, forward until the same token comes back (how clients stop)
    got, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName="eni-a-all", limit=10, **kw)
        got += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert got == [e["message"] for e in events]
    assert all("ingestionTime" in e for e in page["events"])

    # time window: start inclusive, end exclusive; logGroupIdentifier takes an ARN
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    window = logs.get_log_events(logGroupIdentifier=arn, logStreamName="eni-a-all",
                                 startTime=t0 + 3, endTime=t0 + 6, startFromHead=True)
    assert [e["timestamp"] for e in window["events"]] == [t0 + 3, t0 + 4, t0 + 5]
    assert error_code(logs.get_log_events, logGroupName=group, logStreamName="nope") == "ResourceNotFoundException"
    assert error_code(logs.get_log_events, logGroupName=group, logStreamName="eni-a-all",
                      nextToken="f/garbage") == "InvalidParameterException"

    logs.delete_log_stream(logGroupName=group, logStreamName="eni-a-all")
    assert error_code(logs.delete_log_stream, logGroupName=group, logStreamName="eni-a-all") \
        == "ResourceNotFoundException"
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []


def test_put_log_events_rules(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    put = lambda evs: logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=evs)
    assert error_code(put, [{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}]) \
        == "InvalidParameterException"
    assert error_code(put, [{"timestamp": now - DAY_MS - 10, "message": "a"}, {"timestamp": now, "message": "b"}]) \
        == "InvalidParameterException"
    assert error_code(put, [{"timestamp": now, "message": "x" * 200_000}] * 6) == "InvalidParameterException"
    assert error_code(logs.put_log_events, logGroupName=group, logStreamName="missing",
                      logEvents=[{"timestamp": now, "message": "a"}]) == "ResourceNotFoundException"
    # nothing of a refused batch was stored
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []
    old = now - 15 * DAY_MS
    out = put([{"timestamp": old, "message": "old"}, {"timestamp": old + 1, "message": "old"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    out = put([{"timestamp": now, "message": "ok"}, {"timestamp": now + 3 * 3600_000, "message": "future"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName="s")["events"]] == ["ok"]


def test_describe_log_streams_order_and_pages(logs, group):
    t = now_ms() - 10_000
    for i, name in enumerate(["c", "a", "b"]):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(logGroupName=group, logStreamName=name,
                            logEvents=[{"timestamp": t + i, "message": name}])
    by_name = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["a", "b", "c"]
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=1)
    assert latest["logStreams"][0]["logStreamName"] == "b" and "nextToken" in latest
    rest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=1,
                                     nextToken=latest["nextToken"])
    assert rest["logStreams"][0]["logStreamName"] == "a"
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=group, logStreamNamePrefix="b")["logStreams"]] == ["b"]
    assert error_code(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                      logStreamNamePrefix="a") == "InvalidParameterException"
    assert error_code(logs.describe_log_streams, logGroupName="/nope") == "ResourceNotFoundException"


def put_flows(logs, group):
    t = now_ms() - 120_000
    s = t // 1000
    records = {
        "eni-aaa-all": [
            flow("eni-aaa", "10.0.1.5", "10.0.2.7", 49152, 22, 6, "REJECT", s),
            flow("eni-aaa", "10.0.1.5", "10.0.2.7", 49153, 443, 6, "ACCEPT", s),
        ],
        "eni-bbb-all": [
            flow("eni-bbb", "10.0.2.7", "10.0.1.5", 40000, 22, 6, "ACCEPT", s),
            flow("eni-bbb", "10.0.2.7", "10.0.1.5", 53, 53, 17, "ACCEPT", s),
        ],
    }
    for stream, msgs in records.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(msgs)])
    return t


SSH = "[version, account, eni, source, destination, srcport, destport=\"22\", ...]"


def test_filter_log_events(logs, group):
    t = put_flows(logs, group)
    all_ = logs.filter_log_events(logGroupName=group)["events"]
    assert len(all_) == 4
    assert [e["timestamp"] for e in all_] == sorted(e["timestamp"] for e in all_)
    assert {e["logStreamName"] for e in all_} == {"eni-aaa-all", "eni-bbb-all"}
    assert len({e["eventId"] for e in all_}) == 4

    ssh = logs.filter_log_events(logGroupName=group, filterPattern=SSH)["events"]
    assert len(ssh) == 2 and all(" 22 6 " in e["message"] for e in ssh)
    assert len(logs.filter_log_events(logGroupName=group, filterPattern="REJECT")["events"]) == 1
    assert len(logs.filter_log_events(logGroupName=group, filterPattern="[..., action=REJECT, status]")["events"]) == 1
    assert len(logs.filter_log_events(logGroupName=group, filterPattern="?REJECT ?\"53 53\"")["events"]) == 2
    assert len(logs.filter_log_events(
        logGroupName=group, filterPattern="[v, a, e, s, d, sp, dp, proto=17 || dp=443, ...]")["events"]) == 2
    only_b = logs.filter_log_events(logGroupName=group, logStreamNames=["eni-bbb-all"])["events"]
    assert {e["logStreamName"] for e in only_b} == {"eni-bbb-all"}
    assert len(logs.filter_log_events(logGroupName=group, logStreamNamePrefix="eni-a")["events"]) == 2
    window = logs.filter_log_events(logGroupName=group, startTime=t + 1, endTime=t + 1)["events"]
    assert len(window) == 2  # both ends inclusive

    # pages of one event: every event once, then no nextToken
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 1}))
    ids = [e["eventId"] for p in pages for e in p["events"]]
    assert sorted(ids) == sorted(e["eventId"] for e in all_)
    assert "nextToken" not in pages[-1]

    assert error_code(logs.filter_log_events, logGroupName=group, filterPattern="[a, b") == "InvalidParameterException"
    assert error_code(logs.filter_log_events, logGroupName=group, logStreamNames=["a"],
                      logStreamNamePrefix="a") == "InvalidParameterException"
    assert error_code(logs.filter_log_events, logGroupName="/nope") == "ResourceNotFoundException"
    assert error_code(logs.filter_log_events, logGroupName=group, nextToken="x") == "InvalidParameterException"


def test_follow_polls_filter_log_events_like_aws_logs_tail(logs, group):
    """`aws logs tail --follow` (CLI v2) polls FilterLogEvents: interleaved, startTime set to
    the newest timestamp seen, eventIds to drop what it already printed. The same loop here."""
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms() - 5000
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": t, "message": "one"}, {"timestamp": t + 1, "message": "two"}])
    seen, newest, printed = {}, None, []
    kwargs = {"logGroupName": group, "interleaved": True, "startTime": t - 1000}
    for round_ in range(3):
        resp = logs.filter_log_events(**kwargs)
        for e in resp["events"]:
            if e["eventId"] not in seen.get(e["timestamp"], set()):
                seen.setdefault(e["timestamp"], set()).add(e["eventId"])
                printed.append(e["message"])
        assert "nextToken" not in resp
        kwargs["startTime"] = max(seen)
        if round_ == 0:
            logs.put_log_events(logGroupName=group, logStreamName="s",
                                logEvents=[{"timestamp": t + 1, "message": "three"}])
    assert printed == ["one", "two", "three"]


def test_retention_and_tags(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now - 3 * DAY_MS, "message": "old"}])
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now - 1000, "message": "new"}])
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 1 and g["storedBytes"] == 3 + 26
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["new"]
    assert error_code(logs.put_retention_policy, logGroupName=group, retentionInDays=2) == "InvalidParameterException"
    assert error_code(logs.put_retention_policy, logGroupName="/nope", retentionInDays=1) == "ResourceNotFoundException"
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]

    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    logs.tag_log_group(logGroupName=group, tags={"c": "3"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"b": "2", "c": "3"}
    logs.untag_log_group(logGroupName=group, tags=["b", "c"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {}
    assert error_code(logs.tag_resource, resourceArn=arn, tags={f"k{i}": "v" for i in range(51)}) \
        == "TooManyTagsException"
    assert error_code(logs.list_tags_for_resource, resourceArn=arn + "-missing") == "ResourceNotFoundException"
    assert error_code(logs.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket") == "InvalidParameterException"


def test_unknown_operation_and_bad_json(fort, logs):
    with pytest.raises(ClientError) as e:
        logs.describe_destinations()
    assert e.value.response["Error"]["Code"] == "UnknownOperationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_other_accounts_do_not_see_groups(fort, logs, group):
    from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY
    other = fort.client("logs", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert other.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    assert error_code(other.delete_log_group, logGroupName=group) == "ResourceNotFoundException"


def test_metrics_count_written_events(fort, logs, group):
    def written():
        text = urllib.request.urlopen(f"{fort.endpoint}/metrics").read().decode()
        return int(next(line.split()[1] for line in text.splitlines()
                        if line.startswith("fort_logs_events_written_total ")))
    before = written()
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": "m"}] * 3)
    assert written() == before + 3


def aws_cli(fort, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_aws_cli_filter_log_events_finds_the_ssh_attempts(fort, logs, group):
    put_flows(logs, group)
    out = json.loads(aws_cli(fort, "logs", "filter-log-events", "--log-group-name", group,
                             "--filter-pattern", SSH))
    assert len(out["events"]) == 2
    assert all(e["message"].split()[6] == "22" for e in out["events"])
    streams = json.loads(aws_cli(fort, "logs", "describe-log-streams", "--log-group-name", group))
    assert len(streams["logStreams"]) == 2
    got = json.loads(aws_cli(fort, "logs", "get-log-events", "--log-group-name", group,
                             "--log-stream-name", "eni-aaa-all", "--start-from-head"))
    assert len(got["events"]) == 2


def test_aws_cli_tail(fort, logs, group):
    """`aws logs tail` exists in CLI v2 only; with v1 this checks what it calls instead."""
    put_flows(logs, group)
    help_ = subprocess.run(["aws", "logs", "tail", "help"], capture_output=True, text=True)
    if help_.returncode != 0:
        # v1: the paginator the v2 command drives (FilterLogEvents, interleaved, startTime)
        out = json.loads(aws_cli(fort, "logs", "filter-log-events", "--log-group-name", group,
                                 "--interleaved", "--start-time", str(now_ms() - 600_000)))
        assert len(out["events"]) == 4
        return
    out = aws_cli(fort, "logs", "tail", group, "--since", "10m")
    assert out.count("eni-") >= 4


def test_events_survive_a_restart():
    fort = Fort()
    try:
        logs = fort.client("logs")
        logs.create_log_group(logGroupName="/persist")
        logs.put_retention_policy(logGroupName="/persist", retentionInDays=7)
        logs.create_log_stream(logGroupName="/persist", logStreamName="s")
        t = now_ms() - 1000
        logs.put_log_events(logGroupName="/persist", logStreamName="s",
                            logEvents=[{"timestamp": t + i, "message": f"m{i}"} for i in range(100)])
        fort.stop()
        fort.start()
        logs = fort.client("logs")
        g = logs.describe_log_groups(logGroupNamePrefix="/persist")["logGroups"][0]
        assert g["retentionInDays"] == 7
        got = logs.get_log_events(logGroupName="/persist", logStreamName="s", startFromHead=True)["events"]
        assert [e["message"] for e in got] == [f"m{i}" for i in range(100)]
        assert len(logs.filter_log_events(logGroupName="/persist", filterPattern="m9")["events"]) == 11
        assert os.path.exists(os.path.join(fort.data_dir, "logs", "logs.redb"))
    finally:
        fort.close()
