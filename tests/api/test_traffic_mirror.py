"""Traffic Mirroring's API (filters, filter rules, targets, sessions), through boto3 against
the real binary. Shapes from the botocore model; the NotFound codes are those
terraform-provider-aws matches (`InvalidTrafficMirrorFilterId.NotFound`, ...: its acceptance
tests run against EC2), not the older spellings of EC2's error-code page. The data plane
mirrors nothing yet.
"""

from conftest import error_code

TAGS = [{"Key": "Name", "Value": "m"}]


def _eni(ec2, vpc, cidr):
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=cidr)["Subnet"]["SubnetId"]
    return ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]


def test_filter_and_rules(ec2):
    made = ec2.create_traffic_mirror_filter(
        Description="web", ClientToken="tmf-token-1",
        TagSpecifications=[{"ResourceType": "traffic-mirror-filter", "Tags": TAGS}])
    assert made["ClientToken"] == "tmf-token-1"
    f = made["TrafficMirrorFilter"]
    fid = f["TrafficMirrorFilterId"]
    assert fid.startswith("tmf-") and f["Description"] == "web" and f["Tags"] == TAGS
    assert f["IngressFilterRules"] == [] and f["EgressFilterRules"] == [] and f["NetworkServices"] == []
    # idempotent under its client token
    again = ec2.create_traffic_mirror_filter(Description="web", ClientToken="tmf-token-1",
        TagSpecifications=[{"ResourceType": "traffic-mirror-filter", "Tags": TAGS}])
    assert again["TrafficMirrorFilter"]["TrafficMirrorFilterId"] == fid

    rule = ec2.create_traffic_mirror_filter_rule(
        TrafficMirrorFilterId=fid, TrafficDirection="ingress", RuleNumber=10, RuleAction="accept",
        Protocol=6, DestinationPortRange={"FromPort": 80, "ToPort": 443},
        DestinationCidrBlock="10.0.0.0/16", SourceCidrBlock="0.0.0.0/0", Description="http")["TrafficMirrorFilterRule"]
    rid = rule["TrafficMirrorFilterRuleId"]
    assert rid.startswith("tmfr-")
    assert rule["DestinationPortRange"] == {"FromPort": 80, "ToPort": 443} and "SourcePortRange" not in rule
    assert (rule["TrafficDirection"], rule["RuleNumber"], rule["RuleAction"], rule["Protocol"]) == ("ingress", 10, "accept", 6)
    ec2.create_traffic_mirror_filter_rule(
        TrafficMirrorFilterId=fid, TrafficDirection="egress", RuleNumber=10, RuleAction="reject",
        DestinationCidrBlock="0.0.0.0/0", SourceCidrBlock="0.0.0.0/0")
    # one rule of a number per direction; numbers 1-32766; ports only for TCP/UDP; one family
    assert error_code(ec2.create_traffic_mirror_filter_rule, TrafficMirrorFilterId=fid, TrafficDirection="ingress",
                      RuleNumber=10, RuleAction="accept", DestinationCidrBlock="0.0.0.0/0",
                      SourceCidrBlock="0.0.0.0/0") == "InvalidParameterValue"
    assert error_code(ec2.create_traffic_mirror_filter_rule, TrafficMirrorFilterId=fid, TrafficDirection="ingress",
                      RuleNumber=32767, RuleAction="accept", DestinationCidrBlock="0.0.0.0/0",
                      SourceCidrBlock="0.0.0.0/0") == "InvalidParameterValue"
    assert error_code(ec2.create_traffic_mirror_filter_rule, TrafficMirrorFilterId=fid, TrafficDirection="ingress",
                      RuleNumber=20, RuleAction="accept", Protocol=1, DestinationPortRange={"FromPort": 1, "ToPort": 2},
                      DestinationCidrBlock="0.0.0.0/0", SourceCidrBlock="0.0.0.0/0") == "InvalidParameterCombination"
    assert error_code(ec2.create_traffic_mirror_filter_rule, TrafficMirrorFilterId=fid, TrafficDirection="ingress",
                      RuleNumber=20, RuleAction="accept", DestinationCidrBlock="::/0",
                      SourceCidrBlock="0.0.0.0/0") == "InvalidParameterCombination"
    assert error_code(ec2.create_traffic_mirror_filter_rule, TrafficMirrorFilterId="tmf-0123456789abcdef0",
                      TrafficDirection="ingress", RuleNumber=20, RuleAction="accept", DestinationCidrBlock="0.0.0.0/0",
                      SourceCidrBlock="0.0.0.0/0") == "InvalidTrafficMirrorFilterId.NotFound"

    modified = ec2.modify_traffic_mirror_filter_rule(
        TrafficMirrorFilterRuleId=rid, RuleNumber=11, RemoveFields=["destination-port-range", "description"])["TrafficMirrorFilterRule"]
    assert modified["RuleNumber"] == 11 and "DestinationPortRange" not in modified and "Description" not in modified
    services = ec2.modify_traffic_mirror_filter_network_services(
        TrafficMirrorFilterId=fid, AddNetworkServices=["amazon-dns"])["TrafficMirrorFilter"]
    assert services["NetworkServices"] == ["amazon-dns"]

    [got] = ec2.describe_traffic_mirror_filters(TrafficMirrorFilterIds=[fid])["TrafficMirrorFilters"]
    assert [r["RuleNumber"] for r in got["IngressFilterRules"]] == [11]
    assert [r["RuleAction"] for r in got["EgressFilterRules"]] == ["reject"]
    assert got["NetworkServices"] == ["amazon-dns"]
    for name, value in [("traffic-mirror-filter-id", fid), ("description", "web"), ("tag:Name", "m")]:
        found = ec2.describe_traffic_mirror_filters(Filters=[{"Name": name, "Values": [value]}])["TrafficMirrorFilters"]
        assert [x["TrafficMirrorFilterId"] for x in found] == [fid], name
    rules = ec2.describe_traffic_mirror_filter_rules(
        TrafficMirrorFilterId=fid, Filters=[{"Name": "traffic-direction", "Values": ["egress"]}])["TrafficMirrorFilterRules"]
    assert [r["RuleAction"] for r in rules] == ["reject"]
    assert {t["ResourceType"] for t in ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [fid]}])["Tags"]} == {"traffic-mirror-filter"}

    ec2.delete_traffic_mirror_filter_rule(TrafficMirrorFilterRuleId=rid)
    assert error_code(ec2.delete_traffic_mirror_filter_rule, TrafficMirrorFilterRuleId=rid) \
        == "InvalidTrafficMirrorFilterRuleId.NotFound"
    assert ec2.delete_traffic_mirror_filter(TrafficMirrorFilterId=fid)["TrafficMirrorFilterId"] == fid
    assert error_code(ec2.describe_traffic_mirror_filters, TrafficMirrorFilterIds=[fid]) == "InvalidTrafficMirrorFilterId.NotFound"
    # its rules went with it
    assert ec2.describe_traffic_mirror_filter_rules(
        Filters=[{"Name": "traffic-mirror-filter-id", "Values": [fid]}])["TrafficMirrorFilterRules"] == []


def test_targets_and_sessions(ec2, vpc):
    source = _eni(ec2, vpc, "10.0.40.0/24")
    appliance = _eni(ec2, vpc, "10.0.41.0/24")
    # exactly one kind of target
    assert error_code(ec2.create_traffic_mirror_target, NetworkInterfaceId=appliance,
                      GatewayLoadBalancerEndpointId="vpce-0123456789abcdef0") == "InvalidInput"
    assert error_code(ec2.create_traffic_mirror_target) == "InvalidInput"
    # Fort has no load balancers: an NLB's ARN names nothing
    assert error_code(ec2.create_traffic_mirror_target, NetworkLoadBalancerArn="nlb") \
        == "InvalidNetworkLoadBalancerArn.Malformed"
    assert error_code(ec2.create_traffic_mirror_target,
                      NetworkLoadBalancerArn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/0123456789abcdef") \
        == "InvalidNetworkLoadBalancerArn.NotFound"
    assert error_code(ec2.create_traffic_mirror_target, GatewayLoadBalancerEndpointId="vpce-0123456789abcdef0") \
        == "InvalidVpcEndpointId.NotFound"
    assert error_code(ec2.create_traffic_mirror_target, NetworkInterfaceId="eni-0123456789abcdef0") \
        == "InvalidNetworkInterfaceID.NotFound"
    made = ec2.create_traffic_mirror_target(
        NetworkInterfaceId=appliance, Description="ids", ClientToken="tmt-1",
        TagSpecifications=[{"ResourceType": "traffic-mirror-target", "Tags": TAGS}])
    assert made["ClientToken"] == "tmt-1"
    t = made["TrafficMirrorTarget"]
    tid = t["TrafficMirrorTargetId"]
    assert tid.startswith("tmt-") and t["Type"] == "network-interface" and t["NetworkInterfaceId"] == appliance
    assert t["OwnerId"] == "123456789012" and t["Tags"] == TAGS
    for name, value in [("network-interface-id", appliance), ("traffic-mirror-target-id", tid), ("owner-id", "123456789012")]:
        found = ec2.describe_traffic_mirror_targets(Filters=[{"Name": name, "Values": [value]}])["TrafficMirrorTargets"]
        assert [x["TrafficMirrorTargetId"] for x in found] == [tid], name
    fid = ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]["TrafficMirrorFilterId"]

    assert error_code(ec2.create_traffic_mirror_session, NetworkInterfaceId=source, TrafficMirrorTargetId=tid,
                      TrafficMirrorFilterId=fid, SessionNumber=0) == "InvalidParameterValue"
    assert error_code(ec2.create_traffic_mirror_session, NetworkInterfaceId=appliance, TrafficMirrorTargetId=tid,
                      TrafficMirrorFilterId=fid, SessionNumber=1) == "InvalidParameterValue"
    assert error_code(ec2.create_traffic_mirror_session, NetworkInterfaceId=source,
                      TrafficMirrorTargetId="tmt-0123456789abcdef0", TrafficMirrorFilterId=fid,
                      SessionNumber=1) == "InvalidTrafficMirrorTargetId.NotFound"
    s = ec2.create_traffic_mirror_session(
        NetworkInterfaceId=source, TrafficMirrorTargetId=tid, TrafficMirrorFilterId=fid, SessionNumber=1,
        PacketLength=100, Description="s",
        TagSpecifications=[{"ResourceType": "traffic-mirror-session", "Tags": TAGS}])["TrafficMirrorSession"]
    sid = s["TrafficMirrorSessionId"]
    assert sid.startswith("tms-") and s["SessionNumber"] == 1 and s["PacketLength"] == 100
    assert 0 < s["VirtualNetworkId"] < 2 ** 24 and s["NetworkInterfaceId"] == source and s["Tags"] == TAGS
    # a session number is used once per source interface
    assert error_code(ec2.create_traffic_mirror_session, NetworkInterfaceId=source, TrafficMirrorTargetId=tid,
                      TrafficMirrorFilterId=fid, SessionNumber=1) == "InvalidParameterValue"
    # in use: neither the filter nor the target can go
    assert error_code(ec2.delete_traffic_mirror_filter, TrafficMirrorFilterId=fid) == "DependencyViolation"
    assert error_code(ec2.delete_traffic_mirror_target, TrafficMirrorTargetId=tid) == "DependencyViolation"

    changed = ec2.modify_traffic_mirror_session(
        TrafficMirrorSessionId=sid, VirtualNetworkId=77, RemoveFields=["packet-length"])["TrafficMirrorSession"]
    assert changed["VirtualNetworkId"] == 77 and "PacketLength" not in changed
    for name, value in [("traffic-mirror-session-id", sid), ("session-number", "1"), ("virtual-network-id", "77"),
                        ("traffic-mirror-target-id", tid), ("network-interface-id", source)]:
        found = ec2.describe_traffic_mirror_sessions(Filters=[{"Name": name, "Values": [value]}])["TrafficMirrorSessions"]
        assert [x["TrafficMirrorSessionId"] for x in found] == [sid], name

    assert ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=sid)["TrafficMirrorSessionId"] == sid
    assert error_code(ec2.describe_traffic_mirror_sessions, TrafficMirrorSessionIds=[sid]) \
        == "InvalidTrafficMirrorSessionId.NotFound"
    ec2.delete_traffic_mirror_target(TrafficMirrorTargetId=tid)
    ec2.delete_traffic_mirror_filter(TrafficMirrorFilterId=fid)
    assert error_code(ec2.delete_traffic_mirror_target, TrafficMirrorTargetId=tid) == "InvalidTrafficMirrorTargetId.NotFound"
