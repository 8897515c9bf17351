"""DescribeSecurityGroupReferences: the peered VPCs whose groups name a group in their rules."""

from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY, error_code


def test_references_across_peerings(fort, ec2):
    a = ec2.create_vpc(CidrBlock="10.81.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.82.0.0/16")["Vpc"]["VpcId"]
    ga = ec2.create_security_group(GroupName="app", Description="app", VpcId=a)["GroupId"]
    gb = ec2.create_security_group(GroupName="db", Description="db", VpcId=b)["GroupId"]
    assert ec2.describe_security_group_references(GroupId=[ga])["SecurityGroupReferenceSet"] == []
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": ga}]},
        {"IpProtocol": "tcp", "FromPort": 6432, "ToPort": 6432, "UserIdGroupPairs": [{"GroupId": ga}]}])
    # a reference inside the group's own VPC is not one across a peering
    ec2.authorize_security_group_ingress(GroupId=ga, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": ga}]}])
    refs = ec2.describe_security_group_references(GroupId=[ga, gb])["SecurityGroupReferenceSet"]
    assert refs == [{"GroupId": ga, "ReferencingVpcId": b, "VpcPeeringConnectionId": pcx}]

    # another account's group, over a peering between the accounts
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    c = other.create_vpc(CidrBlock="10.83.0.0/16")["Vpc"]["VpcId"]
    gc = other.create_security_group(GroupName="far", Description="far", VpcId=c)["GroupId"]
    pcx2 = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c, PeerOwnerId="210987654321")[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    other.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx2)
    other.authorize_security_group_ingress(GroupId=gc, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": ga, "UserId": "123456789012", "VpcPeeringConnectionId": pcx2}]}])
    refs = ec2.describe_security_group_references(GroupId=[ga])["SecurityGroupReferenceSet"]
    assert sorted(refs, key=lambda r: r["ReferencingVpcId"] == c) == [
        {"GroupId": ga, "ReferencingVpcId": b, "VpcPeeringConnectionId": pcx},
        {"GroupId": ga, "ReferencingVpcId": c, "VpcPeeringConnectionId": pcx2}]

    # once a peering is gone, its references are stale, not references
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    refs = ec2.describe_security_group_references(GroupId=[ga])["SecurityGroupReferenceSet"]
    assert refs == [{"GroupId": ga, "ReferencingVpcId": c, "VpcPeeringConnectionId": pcx2}]

    assert error_code(ec2.describe_security_group_references, GroupId=["sg-0123456789abcdef0"]) == "InvalidGroup.NotFound"
    assert error_code(ec2.describe_security_group_references, GroupId=["bogus"]) == "InvalidGroupId.Malformed"

    other.revoke_security_group_ingress(GroupId=gc, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": ga, "UserId": "123456789012", "VpcPeeringConnectionId": pcx2}]}])
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx2)
    other.delete_security_group(GroupId=gc)
    other.delete_vpc(VpcId=c)
    ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": ga}]},
        {"IpProtocol": "tcp", "FromPort": 6432, "ToPort": 6432, "UserIdGroupPairs": [{"GroupId": ga}]}])
    ec2.revoke_security_group_ingress(GroupId=ga, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": ga}]}])
    for g in (ga, gb):
        ec2.delete_security_group(GroupId=g)
    ec2.delete_vpc(VpcId=a)
    ec2.delete_vpc(VpcId=b)
