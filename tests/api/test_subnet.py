"""Subnets: what Create and Describe answer."""


def test_create_answers_an_empty_tag_set_describe_leaves_it_out(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]
    try:
        assert s["Tags"] == []
        assert "Tags" not in ec2.describe_subnets(SubnetIds=[s["SubnetId"]])["Subnets"][0]
        tagged = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.10.0/24", TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "t"}]}])["Subnet"]
        assert tagged["Tags"] == [{"Key": "Name", "Value": "t"}]
        ec2.delete_subnet(SubnetId=tagged["SubnetId"])
    finally:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
