"""Transit gateways through boto3 (and the AWS CLI): gateways, VPC and peering attachments,
route tables, associations, propagations, static routes and SearchTransitGatewayRoutes,
with EC2's states and errors."""

import json
import os
import subprocess

import pytest

from conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, error_code


class Net:
    """Resources a test makes, torn down in an order EC2 allows."""

    def __init__(self, ec2):
        self.ec2 = ec2
        self.vpcs, self.subnets, self.gateways, self.attachments = [], [], [], []

    def vpc(self, cidr):
        v = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        self.vpcs.append(v)
        return v

    def subnet(self, vpc, cidr, zone="us-east-1a"):
        s = self.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        self.subnets.append(s)
        return s

    def spoke(self, cidr16):
        """A VPC `10.N.0.0/16` with a subnet in each of two zones."""
        base = cidr16.rsplit(".", 2)[0]
        v = self.vpc(cidr16)
        return v, [self.subnet(v, f"{base}.1.0/24", "us-east-1a"), self.subnet(v, f"{base}.2.0/24", "us-east-1b")]

    def gateway(self, **kwargs):
        g = self.ec2.create_transit_gateway(**kwargs)["TransitGateway"]
        self.gateways.append(g["TransitGatewayId"])
        return g

    def attach(self, tgw, vpc, subnets, **kwargs):
        a = self.ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc, SubnetIds=subnets, **kwargs)["TransitGatewayVpcAttachment"]
        self.attachments.append(a["TransitGatewayAttachmentId"])
        return a

    def close(self):
        for a in self.attachments:
            try:
                self.ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=a)
            except Exception:
                pass
        for g in self.gateways:
            try:
                self.ec2.delete_transit_gateway(TransitGatewayId=g)
            except Exception:
                pass
        for s in self.subnets:
            try:
                self.ec2.delete_subnet(SubnetId=s)
            except Exception:
                pass
        for v in self.vpcs:
            try:
                self.ec2.delete_vpc(VpcId=v)
            except Exception:
                pass


@pytest.fixture
def net(ec2):
    n = Net(ec2)
    yield n
    n.close()


def tag_spec(kind, name):
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def describe_gateway(ec2, tgw):
    return ec2.describe_transit_gateways(TransitGatewayIds=[tgw])["TransitGateways"][0]


def search(ec2, table, *filters, **kwargs):
    fs = [{"Name": n, "Values": v if isinstance(v, list) else [v]} for n, v in filters]
    return ec2.search_transit_gateway_routes(TransitGatewayRouteTableId=table, Filters=fs, **kwargs)


def routes(ec2, table):
    out = search(ec2, table, ("state", ["active", "blackhole"]))["Routes"]
    return {r["DestinationCidrBlock"]: r for r in out}


def test_create_and_describe_gateway(ec2, net):
    g = net.gateway(Description="hub", TagSpecifications=tag_spec("transit-gateway", "hub"))
    tgw = g["TransitGatewayId"]
    assert tgw.startswith("tgw-") and not tgw.startswith("tgw-attach-")
    assert g["State"] == "pending"
    assert g["OwnerId"] == "123456789012"
    assert g["TransitGatewayArn"] == f"arn:aws:ec2:us-east-1:123456789012:transit-gateway/{tgw}"
    o = g["Options"]
    assert o["AmazonSideAsn"] == 64512
    assert o["DefaultRouteTableAssociation"] == "enable"
    assert o["DefaultRouteTablePropagation"] == "enable"
    assert o["DnsSupport"] == "enable" and o["VpnEcmpSupport"] == "enable"
    assert o["AutoAcceptSharedAttachments"] == "disable"
    assert o["MulticastSupport"] == "disable"
    default = o["AssociationDefaultRouteTableId"]
    assert default.startswith("tgw-rtb-") and o["PropagationDefaultRouteTableId"] == default
    assert {"Key": "Name", "Value": "hub"} in g["Tags"]

    d = describe_gateway(ec2, tgw)
    assert d["State"] == "available"
    assert d["Description"] == "hub"
    table = ec2.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[default])["TransitGatewayRouteTables"][0]
    assert table["TransitGatewayId"] == tgw and table["State"] == "available"
    assert table["DefaultAssociationRouteTable"] and table["DefaultPropagationRouteTable"]

    def ids(*filters):
        fs = [{"Name": n, "Values": [v]} for n, v in filters]
        return {x["TransitGatewayId"] for x in ec2.describe_transit_gateways(Filters=fs)["TransitGateways"]}

    assert tgw in ids(("options.amazon-side-asn", "64512"), ("state", "available"))
    assert tgw in ids(("tag:Name", "hub"))
    assert tgw in ids(("options.association-default-route-table-id", default))
    assert tgw not in ids(("options.dns-support", "disable"))
    # not in the API reference's list, but EC2 takes it (Ansible's ec2_transit_gateway on AWS)
    assert tgw in ids(("options.multicast-support", "disable"))
    assert tgw not in ids(("options.multicast-support", "enable"))
    assert tgw not in ids(("state", "pending"))
    assert error_code(ec2.describe_transit_gateways, TransitGatewayIds=["tgw-0123456789abcdef0"]) == "InvalidTransitGatewayID.NotFound"
    assert error_code(ec2.describe_transit_gateways, TransitGatewayIds=["nat-123"]) == "InvalidTransitGatewayID.Malformed"
    assert error_code(ec2.describe_transit_gateways, Filters=[{"Name": "colour", "Values": ["x"]}]) == "InvalidParameterValue"


def test_untagged_resources_tag_sets(ec2, net):
    """EC2 leaves an empty tag set out of an action's own answer (moto's AWS-verified
    test_create_and_describe_transit_gateway_vpc_attachment: no `Tags` in
    CreateTransitGatewayVpcAttachment's answer) and lists it in Describe (`Tags: []`, the
    CLI's describe-transit-gateway-vpc-attachments example)."""
    g = net.gateway()
    tgw = g["TransitGatewayId"]
    assert "Tags" not in g
    vpc, (sa, _) = net.spoke("10.63.0.0/16")
    a = net.attach(tgw, vpc, [sa])
    att = a["TransitGatewayAttachmentId"]
    assert "Tags" not in a
    t = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]
    assert "Tags" not in t
    assert describe_gateway(ec2, tgw)["Tags"] == []
    d = ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayVpcAttachments"][0]
    assert d["Tags"] == []
    dt = ec2.describe_transit_gateway_route_tables(
        TransitGatewayRouteTableIds=[t["TransitGatewayRouteTableId"]])["TransitGatewayRouteTables"][0]
    assert dt["Tags"] == []
    m = ec2.modify_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att,
                                                  Options={"DnsSupport": "disable"})["TransitGatewayVpcAttachment"]
    assert "Tags" not in m and m["State"] == "modifying"
    deleted = ec2.delete_transit_gateway_route_table(
        TransitGatewayRouteTableId=t["TransitGatewayRouteTableId"])["TransitGatewayRouteTable"]
    assert "Tags" not in deleted and deleted["State"] == "deleting"


def test_gateway_options_and_modify(ec2, net):
    assert error_code(ec2.create_transit_gateway, Options={"AmazonSideAsn": 100}) == "InvalidParameterValue"
    assert error_code(ec2.create_transit_gateway, Options={"TransitGatewayCidrBlocks": ["10.99.0.0/25"]}) == "InvalidParameterValue"
    assert error_code(ec2.create_transit_gateway, Options={"TransitGatewayCidrBlocks": ["169.254.0.0/24"]}) == "InvalidParameterValue"
    assert error_code(ec2.create_transit_gateway,
                      TagSpecifications=tag_spec("vpc", "x")) == "InvalidParameterValue"

    bare = net.gateway(Options={"AmazonSideAsn": 4200000001, "DefaultRouteTableAssociation": "disable",
                                "DefaultRouteTablePropagation": "disable", "DnsSupport": "disable",
                                "TransitGatewayCidrBlocks": ["10.99.0.0/24"]})
    tgw = bare["TransitGatewayId"]
    o = bare["Options"]
    assert o["AmazonSideAsn"] == 4200000001
    assert "AssociationDefaultRouteTableId" not in o and "PropagationDefaultRouteTableId" not in o
    assert o["TransitGatewayCidrBlocks"] == ["10.99.0.0/24"]
    tables = ec2.describe_transit_gateway_route_tables(
        Filters=[{"Name": "transit-gateway-id", "Values": [tgw]}])["TransitGatewayRouteTables"]
    assert tables == []
    # a default cannot be switched on without a table to be it
    assert error_code(ec2.modify_transit_gateway, TransitGatewayId=tgw,
                      Options={"DefaultRouteTableAssociation": "enable"}) == "InvalidParameterValue"

    table = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    m = ec2.modify_transit_gateway(TransitGatewayId=tgw, Description="changed", Options={
        "DnsSupport": "enable", "AddTransitGatewayCidrBlocks": ["10.98.0.0/24"],
        "RemoveTransitGatewayCidrBlocks": ["10.99.0.0/24"],
        "AssociationDefaultRouteTableId": table, "DefaultRouteTableAssociation": "enable"})["TransitGateway"]
    assert m["State"] == "modifying"
    d = describe_gateway(ec2, tgw)
    assert d["State"] == "available" and d["Description"] == "changed"
    assert d["Options"]["DnsSupport"] == "enable"
    assert d["Options"]["TransitGatewayCidrBlocks"] == ["10.98.0.0/24"]
    assert d["Options"]["AssociationDefaultRouteTableId"] == table
    assert d["Options"]["DefaultRouteTableAssociation"] == "enable"
    t = ec2.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[table])["TransitGatewayRouteTables"][0]
    assert t["DefaultAssociationRouteTable"] and not t["DefaultPropagationRouteTable"]
    by_flag = ec2.describe_transit_gateway_route_tables(Filters=[
        {"Name": "default-association-route-table", "Values": ["true"]},
        {"Name": "transit-gateway-id", "Values": [tgw]}])["TransitGatewayRouteTables"]
    assert [x["TransitGatewayRouteTableId"] for x in by_flag] == [table]
    assert error_code(ec2.modify_transit_gateway, TransitGatewayId=tgw,
                      Options={"DnsSupport": "maybe"}) == "InvalidParameterValue"
    assert error_code(ec2.modify_transit_gateway, TransitGatewayId=tgw,
                      Options={"AssociationDefaultRouteTableId": "tgw-rtb-0123456789abcdef0"}) == "InvalidRouteTableID.NotFound"


def test_vpc_attachment_lifecycle(ec2, net):
    tgw = net.gateway()["TransitGatewayId"]
    default = describe_gateway(ec2, tgw)["Options"]["AssociationDefaultRouteTableId"]
    vpc, (sa, sb) = net.spoke("10.61.0.0/16")
    a = net.attach(tgw, vpc, [sa], Options={"ApplianceModeSupport": "enable"},
                   TagSpecifications=tag_spec("transit-gateway-attachment", "spoke"))
    att = a["TransitGatewayAttachmentId"]
    assert att.startswith("tgw-attach-")
    assert a["State"] == "pending" and a["VpcOwnerId"] == "123456789012"
    assert a["SubnetIds"] == [sa]
    assert a["Options"] == {"DnsSupport": "enable", "SecurityGroupReferencingSupport": "disable",
                            "Ipv6Support": "disable", "ApplianceModeSupport": "enable"}
    d = ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayVpcAttachments"][0]
    assert d["State"] == "available" and d["Tags"] == [{"Key": "Name", "Value": "spoke"}]

    # the gateway's interface in the subnet: requester-managed, from the subnet's addresses
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sa]}])["NetworkInterfaces"]
    assert len(enis) == 1
    assert enis[0]["InterfaceType"] == "transit_gateway" and enis[0]["RequesterManaged"]
    assert att in enis[0]["Description"]
    assert error_code(ec2.delete_subnet, SubnetId=sa) == "DependencyViolation"

    # associated with and propagating to the default table, as the gateway says
    generic = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]
    assert generic["ResourceType"] == "vpc" and generic["ResourceId"] == vpc
    assert generic["TransitGatewayOwnerId"] == "123456789012" and generic["ResourceOwnerId"] == "123456789012"
    assert generic["Association"] == {"TransitGatewayRouteTableId": default, "State": "associated"}
    assoc = ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=default)["Associations"]
    assert assoc == [{"TransitGatewayAttachmentId": att, "ResourceId": vpc, "ResourceType": "vpc", "State": "associated"}]
    props = ec2.get_transit_gateway_route_table_propagations(
        TransitGatewayRouteTableId=default)["TransitGatewayRouteTablePropagations"]
    assert [(p["TransitGatewayAttachmentId"], p["State"]) for p in props] == [(att, "enabled")]
    by_filter = ec2.describe_transit_gateway_attachments(Filters=[
        {"Name": "association.transit-gateway-route-table-id", "Values": [default]},
        {"Name": "resource-type", "Values": ["vpc"]}])["TransitGatewayAttachments"]
    assert [x["TransitGatewayAttachmentId"] for x in by_filter] == [att]
    assert routes(ec2, default)["10.61.0.0/16"]["Type"] == "propagated"

    m = ec2.modify_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att, AddSubnetIds=[sb],
                                                  RemoveSubnetIds=[sa],
                                                  Options={"DnsSupport": "disable"})["TransitGatewayVpcAttachment"]
    assert m["State"] == "modifying" and m["SubnetIds"] == [sb]
    d = ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayVpcAttachments"][0]
    assert d["State"] == "available" and d["Options"]["DnsSupport"] == "disable"
    assert ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sa]}])["NetworkInterfaces"] == []
    assert len(ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sb]}])["NetworkInterfaces"]) == 1

    gone = ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att)["TransitGatewayVpcAttachment"]
    assert gone["State"] == "deleting"
    d = ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayVpcAttachments"][0]
    assert d["State"] == "deleted"
    assert ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sb]}])["NetworkInterfaces"] == []
    assert ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=default)["Associations"] == []
    assert "10.61.0.0/16" not in routes(ec2, default)
    assert error_code(ec2.delete_transit_gateway_vpc_attachment,
                      TransitGatewayAttachmentId=att) == "InvalidTransitGatewayAttachmentID.NotFound"


def test_vpc_attachment_errors(ec2, net):
    tgw = net.gateway()["TransitGatewayId"]
    vpc, (sa, sb) = net.spoke("10.62.0.0/16")
    same_zone = net.subnet(vpc, "10.62.3.0/24", "us-east-1a")
    other_vpc, (oa, _) = net.spoke("10.63.0.0/16")
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc,
                      SubnetIds=[sa, same_zone]) == "DuplicateSubnetsInSameZone"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc,
                      SubnetIds=[oa]) == "InvalidParameterValue"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId="tgw-0123456789abcdef0",
                      VpcId=vpc, SubnetIds=[sa]) == "InvalidTransitGatewayID.NotFound"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw,
                      VpcId="vpc-0123456789abcdef0", SubnetIds=[sa]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc,
                      SubnetIds=["subnet-0123456789abcdef0"]) == "InvalidSubnetID.NotFound"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[sa],
                      Options={"Ipv6Support": "enable"}) == "InvalidParameterValue"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[sa],
                      TagSpecifications=tag_spec("transit-gateway", "x")) == "InvalidParameterValue"
    # nothing was left behind by the refusals
    assert ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"] == []

    att = net.attach(tgw, vpc, [sa, sb])["TransitGatewayAttachmentId"]
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc,
                      SubnetIds=[sa]) == "DuplicateTransitGatewayAttachment"
    assert error_code(ec2.modify_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att,
                      AddSubnetIds=[same_zone]) == "DuplicateSubnetsInSameZone"
    assert error_code(ec2.modify_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att,
                      RemoveSubnetIds=[sa, sb]) == "InvalidParameterValue"
    assert error_code(ec2.modify_transit_gateway_vpc_attachment, TransitGatewayAttachmentId="tgw-attach-0123456789abcdef0",
                      AddSubnetIds=[sa]) == "InvalidTransitGatewayAttachmentID.NotFound"
    assert error_code(ec2.delete_transit_gateway_vpc_attachment,
                      TransitGatewayAttachmentId="rtb-123") == "InvalidTransitGatewayAttachmentID.Malformed"
    assert error_code(ec2.accept_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att) == "IncorrectState"
    assert error_code(ec2.reject_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att) == "IncorrectState"
    # a VPC attached cannot go; nor can its gateway
    assert error_code(ec2.delete_transit_gateway, TransitGatewayId=tgw) == "IncorrectState"
    assert describe_gateway(ec2, tgw)["State"] == "available"


def test_delete_gateway(ec2, net):
    g = net.gateway()
    tgw, default = g["TransitGatewayId"], g["Options"]["AssociationDefaultRouteTableId"]
    vpc, (sa, _) = net.spoke("10.64.0.0/16")
    att = net.attach(tgw, vpc, [sa])["TransitGatewayAttachmentId"]
    assert error_code(ec2.delete_transit_gateway, TransitGatewayId=tgw) == "IncorrectState"
    ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att)
    assert ec2.delete_transit_gateway(TransitGatewayId=tgw)["TransitGateway"]["State"] == "deleting"
    assert describe_gateway(ec2, tgw)["State"] == "deleted"
    t = ec2.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[default])["TransitGatewayRouteTables"][0]
    assert t["State"] == "deleted"
    assert error_code(ec2.delete_transit_gateway, TransitGatewayId=tgw) == "InvalidTransitGatewayID.NotFound"
    assert error_code(ec2.create_transit_gateway_route_table, TransitGatewayId=tgw) == "InvalidTransitGatewayID.NotFound"
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=vpc,
                      SubnetIds=[sa]) == "InvalidTransitGatewayID.NotFound"
    # the subnet is free again
    ec2.delete_subnet(SubnetId=sa)
    net.subnets.remove(sa)


def test_route_tables_associations_and_propagations(ec2, net):
    tgw = net.gateway(Options={"DefaultRouteTableAssociation": "disable",
                               "DefaultRouteTablePropagation": "disable"})["TransitGatewayId"]
    vpc, (sa, _) = net.spoke("10.65.0.0/16")
    att = net.attach(tgw, vpc, [sa])["TransitGatewayAttachmentId"]
    generic = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]
    assert "Association" not in generic

    t1 = ec2.create_transit_gateway_route_table(
        TransitGatewayId=tgw, TagSpecifications=tag_spec("transit-gateway-route-table", "one"))["TransitGatewayRouteTable"]
    assert t1["State"] == "pending" and not t1["DefaultAssociationRouteTable"]
    assert t1["Tags"] == [{"Key": "Name", "Value": "one"}]
    t1 = t1["TransitGatewayRouteTableId"]
    t2 = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    listed = ec2.describe_transit_gateway_route_tables(Filters=[{"Name": "tag:Name", "Values": ["one"]}])["TransitGatewayRouteTables"]
    assert [x["TransitGatewayRouteTableId"] for x in listed] == [t1] and listed[0]["State"] == "available"

    a = ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=t1, TransitGatewayAttachmentId=att)["Association"]
    assert a == {"TransitGatewayRouteTableId": t1, "TransitGatewayAttachmentId": att,
                 "ResourceId": vpc, "ResourceType": "vpc", "State": "associating"}
    assert error_code(ec2.associate_transit_gateway_route_table, TransitGatewayRouteTableId=t2,
                      TransitGatewayAttachmentId=att) == "Resource.AlreadyAssociated"
    assert error_code(ec2.associate_transit_gateway_route_table, TransitGatewayRouteTableId=t1,
                      TransitGatewayAttachmentId=att) == "Resource.AlreadyAssociated"
    assert ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])[
        "TransitGatewayAttachments"][0]["Association"] == {"TransitGatewayRouteTableId": t1, "State": "associated"}
    assert error_code(ec2.delete_transit_gateway_route_table, TransitGatewayRouteTableId=t1) == "IncorrectState"
    assert error_code(ec2.disassociate_transit_gateway_route_table, TransitGatewayRouteTableId=t2,
                      TransitGatewayAttachmentId=att) == "InvalidAssociation.NotFound"
    d = ec2.disassociate_transit_gateway_route_table(TransitGatewayRouteTableId=t1, TransitGatewayAttachmentId=att)["Association"]
    assert d["State"] == "disassociating"
    assert ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=t1)["Associations"] == []
    ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=t2, TransitGatewayAttachmentId=att)

    p = ec2.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=t1,
                                                           TransitGatewayAttachmentId=att)["Propagation"]
    assert p["State"] == "enabling" and p["ResourceId"] == vpc
    ec2.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=t2, TransitGatewayAttachmentId=att)
    assert error_code(ec2.enable_transit_gateway_route_table_propagation, TransitGatewayRouteTableId=t1,
                      TransitGatewayAttachmentId=att) == "TransitGatewayRouteTablePropagation.Duplicate"
    tables = ec2.get_transit_gateway_attachment_propagations(
        TransitGatewayAttachmentId=att)["TransitGatewayAttachmentPropagations"]
    assert sorted(x["TransitGatewayRouteTableId"] for x in tables) == sorted([t1, t2])
    assert all(x["State"] == "enabled" for x in tables)
    filtered = ec2.get_transit_gateway_route_table_propagations(
        TransitGatewayRouteTableId=t1, Filters=[{"Name": "resource-id", "Values": [vpc]}])
    assert [x["TransitGatewayAttachmentId"] for x in filtered["TransitGatewayRouteTablePropagations"]] == [att]
    assert "10.65.0.0/16" in routes(ec2, t1)
    dis = ec2.disable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=t1,
                                                              TransitGatewayAttachmentId=att)["Propagation"]
    assert dis["State"] == "disabling"
    assert "10.65.0.0/16" not in routes(ec2, t1)
    assert error_code(ec2.disable_transit_gateway_route_table_propagation, TransitGatewayRouteTableId=t1,
                      TransitGatewayAttachmentId=att) == "TransitGatewayRouteTablePropagation.NotFound"

    # a table with propagations but no association goes
    gone = ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t1)["TransitGatewayRouteTable"]
    assert gone["State"] == "deleting"
    assert ec2.describe_transit_gateway_route_tables(TransitGatewayRouteTableIds=[t1])[
        "TransitGatewayRouteTables"][0]["State"] == "deleted"
    assert error_code(ec2.associate_transit_gateway_route_table, TransitGatewayRouteTableId=t1,
                      TransitGatewayAttachmentId=att) == "InvalidRouteTableID.NotFound"
    assert error_code(ec2.get_transit_gateway_route_table_associations,
                      TransitGatewayRouteTableId="tgw-rtb-0123456789abcdef0") == "InvalidRouteTableID.NotFound"
    assert error_code(ec2.associate_transit_gateway_route_table, TransitGatewayRouteTableId=t2,
                      TransitGatewayAttachmentId="tgw-attach-0123456789abcdef0") == "InvalidTransitGatewayAttachmentID.NotFound"
    # an attachment of another gateway is not this table's to take
    other = net.gateway()["TransitGatewayId"]
    other_table = ec2.create_transit_gateway_route_table(TransitGatewayId=other)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    assert error_code(ec2.enable_transit_gateway_route_table_propagation, TransitGatewayRouteTableId=other_table,
                      TransitGatewayAttachmentId=att) == "InvalidParameterValue"


def test_shared_services_routes_and_search(ec2, net):
    """Spokes see the shared VPC and not each other; static and blackhole routes; search."""
    tgw = net.gateway(Options={"DefaultRouteTableAssociation": "disable",
                               "DefaultRouteTablePropagation": "disable"})["TransitGatewayId"]
    shared_vpc, (ss, _) = net.spoke("10.70.0.0/16")
    a_vpc, (sa, _) = net.spoke("10.71.0.0/16")
    b_vpc, (sb, _) = net.spoke("10.72.0.0/16")
    shared = net.attach(tgw, shared_vpc, [ss])["TransitGatewayAttachmentId"]
    a = net.attach(tgw, a_vpc, [sa])["TransitGatewayAttachmentId"]
    b = net.attach(tgw, b_vpc, [sb])["TransitGatewayAttachmentId"]
    spokes = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    services = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    for att in (a, b):
        ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=spokes, TransitGatewayAttachmentId=att)
        ec2.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=services, TransitGatewayAttachmentId=att)
    ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=services, TransitGatewayAttachmentId=shared)
    ec2.enable_transit_gateway_route_table_propagation(TransitGatewayRouteTableId=spokes, TransitGatewayAttachmentId=shared)

    r = routes(ec2, spokes)
    assert set(r) == {"10.70.0.0/16"}
    assert r["10.70.0.0/16"]["Type"] == "propagated" and r["10.70.0.0/16"]["State"] == "active"
    assert r["10.70.0.0/16"]["TransitGatewayAttachments"] == [
        {"ResourceId": shared_vpc, "TransitGatewayAttachmentId": shared, "ResourceType": "vpc"}]
    assert set(routes(ec2, services)) == {"10.71.0.0/16", "10.72.0.0/16"}

    # a blackhole for the rest of 10/8, and a static route that wins over a propagated one
    hole = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=spokes, DestinationCidrBlock="10.0.0.0/8",
                                            Blackhole=True)["Route"]
    assert hole == {"DestinationCidrBlock": "10.0.0.0/8", "Type": "static", "State": "blackhole"}
    static = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=services, DestinationCidrBlock="10.71.0.0/16",
                                              TransitGatewayAttachmentId=b)["Route"]
    assert static["Type"] == "static" and static["State"] == "active"
    assert static["TransitGatewayAttachments"][0]["TransitGatewayAttachmentId"] == b
    r = routes(ec2, services)
    assert r["10.71.0.0/16"]["Type"] == "static"
    assert r["10.71.0.0/16"]["TransitGatewayAttachments"][0]["ResourceId"] == b_vpc
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=services,
                      DestinationCidrBlock="10.71.0.0/16", TransitGatewayAttachmentId=a) == "RouteAlreadyExists"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=services,
                      DestinationCidrBlock="10.80.0.0/16", TransitGatewayAttachmentId=a,
                      Blackhole=True) == "InvalidParameterCombination"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=services,
                      DestinationCidrBlock="10.80.0.0/16") == "MissingParameter"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=services,
                      DestinationCidrBlock="10.80.0.0/33", Blackhole=True) == "InvalidParameterValue"
    replaced = ec2.replace_transit_gateway_route(TransitGatewayRouteTableId=services, DestinationCidrBlock="10.71.0.0/16",
                                                 TransitGatewayAttachmentId=a)["Route"]
    assert replaced["TransitGatewayAttachments"][0]["TransitGatewayAttachmentId"] == a
    assert error_code(ec2.replace_transit_gateway_route, TransitGatewayRouteTableId=services,
                      DestinationCidrBlock="10.99.0.0/16", Blackhole=True) == "InvalidRoute.NotFound"

    # search filters
    def dests(table, *filters):
        return sorted(x["DestinationCidrBlock"] for x in search(ec2, table, *filters)["Routes"])

    assert dests(spokes, ("type", "static")) == ["10.0.0.0/8"]
    assert dests(spokes, ("state", "blackhole")) == ["10.0.0.0/8"]
    assert dests(spokes, ("route-search.exact-match", "10.70.0.0/16")) == ["10.70.0.0/16"]
    assert dests(spokes, ("route-search.longest-prefix-match", "10.70.3.4")) == ["10.70.0.0/16"]
    assert dests(spokes, ("route-search.longest-prefix-match", "10.71.3.4/32")) == ["10.0.0.0/8"]
    assert dests(spokes, ("route-search.subnet-of-match", "10.0.0.0/8")) == ["10.0.0.0/8", "10.70.0.0/16"]
    assert dests(spokes, ("route-search.supernet-of-match", "10.70.1.0/24")) == ["10.0.0.0/8", "10.70.0.0/16"]
    assert dests(spokes, ("attachment.resource-id", shared_vpc)) == ["10.70.0.0/16"]
    assert dests(services, ("attachment.transit-gateway-attachment-id", b)) == ["10.72.0.0/16"]
    assert dests(services, ("attachment.resource-type", "vpc"), ("type", "propagated")) == ["10.72.0.0/16"]
    page = search(ec2, services, ("state", "active"), MaxResults=5)
    assert page["AdditionalRoutesAvailable"] is False
    assert error_code(ec2.search_transit_gateway_routes, TransitGatewayRouteTableId=spokes,
                      Filters=[{"Name": "route-search.exact-match", "Values": ["nope"]}]) == "InvalidParameterValue"
    assert error_code(ec2.search_transit_gateway_routes, TransitGatewayRouteTableId=spokes,
                      Filters=[{"Name": "colour", "Values": ["x"]}]) == "InvalidParameterValue"

    # a VPC's new block propagates; a deleted attachment's static routes turn blackhole
    ec2.associate_vpc_cidr_block(VpcId=shared_vpc, CidrBlock="10.73.0.0/16")
    assert "10.73.0.0/16" in routes(ec2, spokes)
    gone = ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=spokes, DestinationCidrBlock="10.0.0.0/8")["Route"]
    assert gone["State"] == "deleted" and gone["Type"] == "static"
    assert error_code(ec2.delete_transit_gateway_route, TransitGatewayRouteTableId=spokes,
                      DestinationCidrBlock="10.70.0.0/16") == "InvalidRoute.NotFound"
    ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=a)
    r = routes(ec2, services)
    assert r["10.71.0.0/16"]["State"] == "blackhole" and r["10.71.0.0/16"]["Type"] == "static"
    ec2.disassociate_vpc_cidr_block(AssociationId=next(
        c["AssociationId"] for c in ec2.describe_vpcs(VpcIds=[shared_vpc])["Vpcs"][0]["CidrBlockAssociationSet"]
        if c["CidrBlock"] == "10.73.0.0/16"))


def test_vpc_routes_to_a_gateway(ec2, net):
    tgw = net.gateway()["TransitGatewayId"]
    vpc, (sa, _) = net.spoke("10.74.0.0/16")
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    # EC2 answers a gateway the VPC is not attached to as unknown
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/8",
                      TransitGatewayId=tgw) == "InvalidTransitGatewayID.NotFound"
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/8",
                      TransitGatewayId="tgw-0123456789abcdef0") == "InvalidTransitGatewayID.NotFound"
    att = net.attach(tgw, vpc, [sa])["TransitGatewayAttachmentId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/8", TransitGatewayId=tgw)

    def route():
        t = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        return next(r for r in t["Routes"] if r.get("DestinationCidrBlock") == "10.0.0.0/8")

    assert route()["TransitGatewayId"] == tgw and route()["State"] == "active"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.transit-gateway-id", "Values": [tgw]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att)
    assert route()["State"] == "blackhole"
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/8")


def test_peering_attachments_across_regions(fort, ec2, net):
    west = fort.client(region="us-west-2")
    here = net.gateway()
    tgw = here["TransitGatewayId"]
    there = west.create_transit_gateway(Description="west")["TransitGateway"]
    peer = there["TransitGatewayId"]
    try:
        assert error_code(ec2.create_transit_gateway_peering_attachment, TransitGatewayId=tgw,
                          PeerTransitGatewayId="tgw-0123456789abcdef0", PeerAccountId="123456789012",
                          PeerRegion="us-west-2") == "InvalidTransitGatewayID.NotFound"
        assert error_code(ec2.create_transit_gateway_peering_attachment, TransitGatewayId=tgw,
                          PeerTransitGatewayId=tgw, PeerAccountId="123456789012",
                          PeerRegion="us-east-1") == "InvalidParameterValue"
        p = ec2.create_transit_gateway_peering_attachment(
            TransitGatewayId=tgw, PeerTransitGatewayId=peer, PeerAccountId="123456789012", PeerRegion="us-west-2",
            TagSpecifications=tag_spec("transit-gateway-attachment", "east-west"))["TransitGatewayPeeringAttachment"]
        att = p["TransitGatewayAttachmentId"]
        assert p["State"] == "initiatingRequest"
        assert p["RequesterTgwInfo"] == {"TransitGatewayId": tgw, "OwnerId": "123456789012", "Region": "us-east-1"}
        assert p["AccepterTgwInfo"] == {"TransitGatewayId": peer, "OwnerId": "123456789012", "Region": "us-west-2"}
        assert p["Tags"] == [{"Key": "Name", "Value": "east-west"}]
        assert error_code(ec2.create_transit_gateway_peering_attachment, TransitGatewayId=tgw,
                          PeerTransitGatewayId=peer, PeerAccountId="123456789012",
                          PeerRegion="us-west-2") == "DuplicateTransitGatewayAttachment"

        theirs = west.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[att])[
            "TransitGatewayPeeringAttachments"][0]
        assert theirs["State"] == "pendingAcceptance"
        assert theirs["Status"]["Code"] == "pendingAcceptance"
        # only the accepter accepts
        assert error_code(ec2.accept_transit_gateway_peering_attachment,
                          TransitGatewayAttachmentId=att) == "InvalidParameterValue"
        accepted = west.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)["TransitGatewayPeeringAttachment"]
        assert accepted["State"] == "pending"
        mine = ec2.describe_transit_gateway_peering_attachments(
            Filters=[{"Name": "transit-gateway-id", "Values": [tgw]}])["TransitGatewayPeeringAttachments"]
        assert [(x["TransitGatewayAttachmentId"], x["State"]) for x in mine] == [(att, "available")]
        assert error_code(west.accept_transit_gateway_peering_attachment, TransitGatewayAttachmentId=att) == "IncorrectState"

        # each side sees it as an attachment of its own gateway, to the other
        e = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]
        assert (e["TransitGatewayId"], e["ResourceType"], e["ResourceId"]) == (tgw, "peering", peer)
        w = west.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]
        assert (w["TransitGatewayId"], w["ResourceId"]) == (peer, tgw)

        # routes over a peering are static
        table = here["Options"]["AssociationDefaultRouteTableId"]
        ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=att)
        r = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="172.20.0.0/16",
                                             TransitGatewayAttachmentId=att)["Route"]
        assert r["State"] == "active"
        assert r["TransitGatewayAttachments"][0] == {"ResourceId": peer, "TransitGatewayAttachmentId": att,
                                                     "ResourceType": "peering"}
        assert error_code(ec2.enable_transit_gateway_route_table_propagation, TransitGatewayRouteTableId=table,
                          TransitGatewayAttachmentId=att) == "InvalidParameterValue"
        assert error_code(west.delete_transit_gateway, TransitGatewayId=peer) == "IncorrectState"

        # tags of a peering belong to the attachment both sides see
        west.create_tags(Resources=[att], Tags=[{"Key": "side", "Value": "west"}])
        tags = ec2.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[att])[
            "TransitGatewayPeeringAttachments"][0]["Tags"]
        assert {"Key": "side", "Value": "west"} in tags

        gone = west.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)["TransitGatewayPeeringAttachment"]
        assert gone["State"] == "deleting"
        assert ec2.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[att])[
            "TransitGatewayPeeringAttachments"][0]["State"] == "deleted"
        assert routes(ec2, table)["172.20.0.0/16"]["State"] == "blackhole"
        assert ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table)["Associations"] == []

        # a request rejected
        p2 = ec2.create_transit_gateway_peering_attachment(
            TransitGatewayId=tgw, PeerTransitGatewayId=peer, PeerAccountId="123456789012",
            PeerRegion="us-west-2")["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
        assert error_code(ec2.reject_transit_gateway_peering_attachment, TransitGatewayAttachmentId=p2) == "InvalidParameterValue"
        assert west.reject_transit_gateway_peering_attachment(
            TransitGatewayAttachmentId=p2)["TransitGatewayPeeringAttachment"]["State"] == "rejecting"
        assert ec2.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[p2])[
            "TransitGatewayPeeringAttachments"][0]["State"] == "rejected"
        assert error_code(ec2.delete_transit_gateway_peering_attachment, TransitGatewayAttachmentId=p2) == "IncorrectState"
        assert error_code(ec2.describe_transit_gateway_peering_attachments,
                          TransitGatewayAttachmentIds=["tgw-attach-0123456789abcdef0"]) == "InvalidTransitGatewayAttachmentID.NotFound"
    finally:
        west.delete_transit_gateway(TransitGatewayId=peer)


def test_peering_across_accounts(fort, ec2, net):
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    tgw = net.gateway()["TransitGatewayId"]
    peer = other.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    try:
        att = ec2.create_transit_gateway_peering_attachment(
            TransitGatewayId=tgw, PeerTransitGatewayId=peer, PeerAccountId="210987654321",
            PeerRegion="us-east-1")["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
        seen = other.describe_transit_gateway_peering_attachments(
            Filters=[{"Name": "remote-owner-id", "Values": ["123456789012"]}])["TransitGatewayPeeringAttachments"]
        assert [x["TransitGatewayAttachmentId"] for x in seen] == [att]
        other.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)
        a = other.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]
        assert a["ResourceOwnerId"] == "123456789012" and a["TransitGatewayOwnerId"] == "210987654321"
        assert a["State"] == "available"
        ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)
    finally:
        other.delete_transit_gateway(TransitGatewayId=peer)


def test_tags(ec2, net):
    g = net.gateway()
    tgw, table = g["TransitGatewayId"], g["Options"]["AssociationDefaultRouteTableId"]
    vpc, (sa, _) = net.spoke("10.75.0.0/16")
    att = net.attach(tgw, vpc, [sa])["TransitGatewayAttachmentId"]
    ec2.create_tags(Resources=[tgw, table, att], Tags=[{"Key": "env", "Value": "test"}])
    found = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]},
                                       {"Name": "resource-id", "Values": [tgw, table, att]}])["Tags"]
    assert sorted((t["ResourceId"], t["ResourceType"]) for t in found) == sorted(
        [(tgw, "transit-gateway"), (table, "transit-gateway-route-table"), (att, "transit-gateway-attachment")])
    assert describe_gateway(ec2, tgw)["Tags"] == [{"Key": "env", "Value": "test"}]
    ec2.delete_tags(Resources=[att], Tags=[{"Key": "env"}])
    assert ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])[
        "TransitGatewayVpcAttachments"][0]["Tags"] == []
    assert error_code(ec2.create_tags, Resources=["tgw-attach-0123456789abcdef0"],
                      Tags=[{"Key": "a", "Value": "b"}]) == "InvalidTransitGatewayAttachmentID.NotFound"


def test_describe_tags_lists_peering_attachments(ec2, net):
    """A peering attachment lives outside the region's tables (it spans regions); DescribeTags
    lists its tags as it does every other attachment's."""
    hub = net.gateway()["TransitGatewayId"]
    peer = net.gateway()["TransitGatewayId"]
    att = ec2.create_transit_gateway_peering_attachment(
        TransitGatewayId=hub, PeerTransitGatewayId=peer, PeerAccountId="123456789012", PeerRegion="us-east-1",
        TagSpecifications=tag_spec("transit-gateway-attachment", "hub-peer"))[
        "TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
    ec2.create_tags(Resources=[att], Tags=[{"Key": "env", "Value": "test"}])
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [att]}])["Tags"]
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in found) == [
        ("Name", "hub-peer", "transit-gateway-attachment"), ("env", "test", "transit-gateway-attachment")]
    by_type = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["transit-gateway-attachment"]},
                                         {"Name": "key", "Values": ["env"]}])["Tags"]
    assert att in [t["ResourceId"] for t in by_type]
    ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)


def aws_cli(fort, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "--output", "json", "ec2", *args],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_aws_cli_flow(fort, ec2, net):
    g = aws_cli(fort, "create-transit-gateway", "--description", "cli",
                "--options", "AmazonSideAsn=64600,DnsSupport=enable")["TransitGateway"]
    tgw = g["TransitGatewayId"]
    net.gateways.append(tgw)
    assert g["Options"]["AmazonSideAsn"] == 64600
    vpc, (sa, sb) = net.spoke("10.76.0.0/16")
    a = aws_cli(fort, "create-transit-gateway-vpc-attachment", "--transit-gateway-id", tgw,
                "--vpc-id", vpc, "--subnet-ids", sa, sb,
                "--tag-specifications", "ResourceType=transit-gateway-attachment,Tags=[{Key=Name,Value=cli}]")
    att = a["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    net.attachments.append(att)
    assert sorted(a["TransitGatewayVpcAttachment"]["SubnetIds"]) == sorted([sa, sb])
    table = g["Options"]["AssociationDefaultRouteTableId"]
    found = aws_cli(fort, "search-transit-gateway-routes", "--transit-gateway-route-table-id", table,
                    "--filters", "Name=type,Values=propagated")
    assert [r["DestinationCidrBlock"] for r in found["Routes"]] == ["10.76.0.0/16"]
    listed = aws_cli(fort, "describe-transit-gateway-attachments", "--filters", f"Name=transit-gateway-id,Values={tgw}")
    assert [x["TransitGatewayAttachmentId"] for x in listed["TransitGatewayAttachments"]] == [att]


def test_peering_in_one_region_as_terraform_drives_it(ec2, net):
    """Terraform's requester and accepter resources on two gateways of one account and region:
    options are described only when asked for, and the second side's delete of an attachment
    the first side deleted finds nothing (InvalidTransitGatewayAttachmentID.NotFound, which the
    provider takes as done), not IncorrectState."""
    hub = net.gateway()["TransitGatewayId"]
    peer = net.gateway()["TransitGatewayId"]
    plain = ec2.create_transit_gateway_peering_attachment(
        TransitGatewayId=hub, PeerTransitGatewayId=peer, PeerAccountId="123456789012",
        PeerRegion="us-east-1")["TransitGatewayPeeringAttachment"]
    att = plain["TransitGatewayAttachmentId"]
    assert "Options" not in plain
    described = ec2.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[att])[
        "TransitGatewayPeeringAttachments"][0]
    assert "Options" not in described
    ec2.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)
    gone = ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=att)[
        "TransitGatewayPeeringAttachment"]
    assert gone["TransitGatewayAttachmentId"] == att
    assert ec2.describe_transit_gateway_peering_attachments(TransitGatewayAttachmentIds=[att])[
        "TransitGatewayPeeringAttachments"][0]["State"] == "deleted"
    assert error_code(ec2.delete_transit_gateway_peering_attachment,
                      TransitGatewayAttachmentId=att) == "InvalidTransitGatewayAttachmentID.NotFound"

    asked = ec2.create_transit_gateway_peering_attachment(
        TransitGatewayId=hub, PeerTransitGatewayId=peer, PeerAccountId="123456789012",
        PeerRegion="us-east-1", Options={"DynamicRouting": "disable"})["TransitGatewayPeeringAttachment"]
    assert asked["Options"] == {"DynamicRouting": "disable"}
    assert ec2.describe_transit_gateway_peering_attachments(
        TransitGatewayAttachmentIds=[asked["TransitGatewayAttachmentId"]])[
        "TransitGatewayPeeringAttachments"][0]["Options"] == {"DynamicRouting": "disable"}
    ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=asked["TransitGatewayAttachmentId"])


def test_a_blackhole_route_with_an_empty_attachment_id(ec2, net):
    """SDKs serialize an unset string as `TransitGatewayAttachmentId=`: EC2 reads an empty
    optional id as none, so a blackhole route is made; an attachment and a blackhole together
    are still refused."""
    g = net.gateway()
    table = g["Options"]["AssociationDefaultRouteTableId"]
    vpc, subnets = net.spoke("10.77.0.0/16")
    att = net.attach(g["TransitGatewayId"], vpc, subnets)["TransitGatewayAttachmentId"]
    r = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="10.99.0.0/16",
                                         Blackhole=True, TransitGatewayAttachmentId="")["Route"]
    assert r["State"] == "blackhole" and "TransitGatewayAttachments" not in r
    r = ec2.replace_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="10.99.0.0/16",
                                          Blackhole=True, TransitGatewayAttachmentId="")["Route"]
    assert r["State"] == "blackhole"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock="10.98.0.0/16", Blackhole=True,
                      TransitGatewayAttachmentId=att) == "InvalidParameterCombination"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock="10.98.0.0/16", TransitGatewayAttachmentId="") == "MissingParameter"
    ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="10.99.0.0/16")


def dual_stack_spoke(ec2, net, cidr16):
    """`Net.spoke` with an Amazon-provided /56, each subnet a /64 of it."""
    import ipaddress
    base = cidr16.rsplit(".", 2)[0]
    v = ec2.create_vpc(CidrBlock=cidr16, AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    net.vpcs.append(v["VpcId"])
    block = ipaddress.ip_network(v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    sixes = list(block.subnets(new_prefix=64))
    subnets = []
    for i, zone in ((1, "us-east-1a"), (2, "us-east-1b")):
        s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock=f"{base}.{i}.0/24", AvailabilityZone=zone,
                              Ipv6CidrBlock=str(sixes[i]))["Subnet"]["SubnetId"]
        net.subnets.append(s)
        subnets.append(s)
    return v["VpcId"], block, subnets, sixes


def gateway_enis(ec2, subnet):
    return ec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [subnet]},
        {"Name": "interface-type", "Values": ["transit_gateway"]}])["NetworkInterfaces"]


def test_ipv6_support_of_a_vpc_attachment(ec2, net):
    """Ipv6Support (disable by default): with it the gateway's interfaces get an IPv6
    address and the VPC's IPv6 blocks propagate; without, neither."""
    import ipaddress
    tgw = net.gateway()["TransitGatewayId"]
    table = describe_gateway(ec2, tgw)["Options"]["AssociationDefaultRouteTableId"]
    vpc, block, (sa, sb), sixes = dual_stack_spoke(ec2, net, "10.91.0.0/16")
    a = net.attach(tgw, vpc, [sa])
    att = a["TransitGatewayAttachmentId"]
    assert a["Options"]["Ipv6Support"] == "disable"
    [eni] = gateway_enis(ec2, sa)
    assert eni["Ipv6Addresses"] == []
    assert set(routes(ec2, table)) == {"10.91.0.0/16"}

    m = ec2.modify_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att,
                                                  Options={"Ipv6Support": "enable"})["TransitGatewayVpcAttachment"]
    assert m["State"] == "modifying" and m["Options"]["Ipv6Support"] == "enable"
    d = ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayVpcAttachments"][0]
    assert d["Options"]["Ipv6Support"] == "enable"
    [eni] = gateway_enis(ec2, sa)
    [six] = [x["Ipv6Address"] for x in eni["Ipv6Addresses"]]
    assert ipaddress.ip_address(six) in sixes[1]
    got = routes(ec2, table)
    assert set(got) == {"10.91.0.0/16", str(block)}
    assert got[str(block)]["Type"] == "propagated" and got[str(block)]["State"] == "active"
    assert got[str(block)]["TransitGatewayAttachments"][0]["TransitGatewayAttachmentId"] == att

    # a subnet added later gets an address too; one without an IPv6 block is refused
    ec2.modify_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att, AddSubnetIds=[sb])
    [eni_b] = gateway_enis(ec2, sb)
    assert ipaddress.ip_address(eni_b["Ipv6Addresses"][0]["Ipv6Address"]) in sixes[2]
    plain = net.subnet(vpc, "10.91.3.0/24", "us-east-1c")
    assert error_code(ec2.modify_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att,
                      AddSubnetIds=[plain]) == "InvalidParameterValue"
    assert gateway_enis(ec2, plain) == []

    # off again: the block leaves the table and the interfaces their addresses
    ec2.modify_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att, Options={"Ipv6Support": "disable"})
    assert set(routes(ec2, table)) == {"10.91.0.0/16"}
    assert [e["Ipv6Addresses"] for e in gateway_enis(ec2, sa) + gateway_enis(ec2, sb)] == [[], []]
    # a VPC without an IPv6 block cannot have it
    v4, (s4, _) = net.spoke("10.92.0.0/16")
    assert error_code(ec2.create_transit_gateway_vpc_attachment, TransitGatewayId=tgw, VpcId=v4,
                      SubnetIds=[s4], Options={"Ipv6Support": "enable"}) == "InvalidParameterValue"
    assert error_code(ec2.modify_transit_gateway_vpc_attachment, TransitGatewayAttachmentId=att,
                      Options={"Ipv6Support": "maybe"}) == "InvalidParameterValue"


def test_ipv6_routes_of_a_gateway_table(ec2, net):
    """Static and blackhole IPv6 routes, propagated IPv6 blocks, SearchTransitGatewayRoutes'
    block filters over both families, and a VPC route to the gateway by an IPv6 block."""
    tgw = net.gateway()["TransitGatewayId"]
    table = describe_gateway(ec2, tgw)["Options"]["AssociationDefaultRouteTableId"]
    va, ba, (sa, _), _ = dual_stack_spoke(ec2, net, "10.93.0.0/16")
    vb, bb, (sb, _), _ = dual_stack_spoke(ec2, net, "10.94.0.0/16")
    aa = net.attach(tgw, va, [sa], Options={"Ipv6Support": "enable"})["TransitGatewayAttachmentId"]
    ab = net.attach(tgw, vb, [sb], Options={"Ipv6Support": "enable"})["TransitGatewayAttachmentId"]
    assert set(routes(ec2, table)) == {"10.93.0.0/16", "10.94.0.0/16", str(ba), str(bb)}

    r = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="2001:db8:ff::/48",
                                         TransitGatewayAttachmentId=ab)["Route"]
    assert r == {"DestinationCidrBlock": "2001:db8:ff::/48", "Type": "static", "State": "active",
                 "TransitGatewayAttachments": [{"ResourceId": vb, "TransitGatewayAttachmentId": ab,
                                                "ResourceType": "vpc"}]}
    r = ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="2001:db8:ff:9::/64",
                                         Blackhole=True)["Route"]
    assert r["State"] == "blackhole" and r["Type"] == "static"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock="2001:db8:ff::/48", TransitGatewayAttachmentId=aa) == "RouteAlreadyExists"
    assert error_code(ec2.create_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock="2001:db8::/129", TransitGatewayAttachmentId=aa) == "InvalidParameterValue"
    # a static route over a propagated IPv6 block wins
    ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=str(bb),
                                     TransitGatewayAttachmentId=aa)
    got = routes(ec2, table)[str(bb)]
    assert got["Type"] == "static" and got["TransitGatewayAttachments"][0]["TransitGatewayAttachmentId"] == aa
    ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=str(bb))
    assert routes(ec2, table)[str(bb)]["Type"] == "propagated"
    ec2.replace_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="2001:db8:ff::/48",
                                      Blackhole=True)
    assert routes(ec2, table)["2001:db8:ff::/48"]["State"] == "blackhole"

    def found(*filters):
        return sorted(x["DestinationCidrBlock"] for x in search(ec2, table, *filters)["Routes"])

    inside_b = str(bb.network_address + 0x1_0000_0000_0005)
    assert found(("route-search.exact-match", str(ba))) == [str(ba)]
    assert found(("route-search.longest-prefix-match", inside_b)) == [str(bb)]
    assert found(("route-search.longest-prefix-match", "2001:db8:ff:9::1")) == ["2001:db8:ff:9::/64"]
    both = sorted(["2001:db8:ff::/48", "2001:db8:ff:9::/64"])
    assert found(("route-search.subnet-of-match", "2001:db8:ff::/48")) == both
    assert found(("route-search.supernet-of-match", "2001:db8:ff:9::/64")) == both
    assert found(("route-search.subnet-of-match", "::/0"), ("type", "propagated")) == sorted([str(ba), str(bb)])
    assert found(("route-search.subnet-of-match", "0.0.0.0/0")) == ["10.93.0.0/16", "10.94.0.0/16"]
    assert found(("state", "blackhole")) == both
    assert error_code(search, ec2, table, ("route-search.exact-match", "2001:db8::zz")) == "InvalidParameterValue"

    ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock="2001:db8:ff:9::/64")
    assert error_code(ec2.delete_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock="2001:db8:ff:9::/64") == "InvalidRoute.NotFound"
    assert error_code(ec2.delete_transit_gateway_route, TransitGatewayRouteTableId=table,
                      DestinationCidrBlock=str(ba)) == "InvalidRoute.NotFound"

    # the VPC route to the gateway by B's IPv6 block
    [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [va]},
                                                {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationIpv6CidrBlock=str(bb), TransitGatewayId=tgw)
    [main] = ec2.describe_route_tables(RouteTableIds=[main["RouteTableId"]])["RouteTables"]
    [r] = [x for x in main["Routes"] if x.get("DestinationIpv6CidrBlock") == str(bb)]
    assert r["TransitGatewayId"] == tgw and r["State"] == "active" and r["Origin"] == "CreateRoute"
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationIpv6CidrBlock=str(bb))
