# A private subnet that reaches S3 through a gateway endpoint, a customer-managed prefix
# list used by a route and a security group rule, and an interface endpoint for EC2.

locals {
  name = "tf-endpoints"
  tags = { Project = local.name }
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  cidr_block           = "10.70.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.70.1.0/24"
  tags       = merge(local.tags, { Name = "${local.name}-private" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = local.tags
}

resource "aws_security_group" "endpoint" {
  name        = "${local.name}-endpoint"
  description = "interface endpoint"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

# Services looked up by short name and type before an endpoint is made, as
# terraform-aws-vpc's vpc-endpoints module does (its examples name codedeploy-commands-secure).
data "aws_vpc_endpoint_service" "interface" {
  for_each = toset(["ec2", "codedeploy-commands-secure"])
  service  = each.key
  filter {
    name   = "service-type"
    values = ["Interface"]
  }
}

resource "aws_vpc_endpoint" "ec2" {
  vpc_id              = aws_vpc.this.id
  service_name        = data.aws_vpc_endpoint_service.interface["ec2"].service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.private.id]
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = true
  tags                = local.tags
}

resource "aws_ec2_managed_prefix_list" "office" {
  name           = "${local.name}-office"
  address_family = "IPv4"
  max_entries    = 5

  entry {
    cidr        = "192.0.2.0/24"
    description = "office"
  }
  entry {
    cidr        = "198.51.100.0/24"
    description = "branch"
  }

  tags = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "office_https" {
  security_group_id = aws_security_group.endpoint.id
  prefix_list_id    = aws_ec2_managed_prefix_list.office.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

data "aws_prefix_list" "s3" {
  prefix_list_id = aws_vpc_endpoint.s3.prefix_list_id
}
