# What a module that deploys into the default VPC reads first, and a security group it makes
# there with what it read.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

data "aws_subnet" "first" {
  id = sort(data.aws_subnets.default.ids)[0]
}

data "aws_security_group" "default" {
  vpc_id = data.aws_vpc.default.id
  name   = "default"
}

resource "aws_security_group" "app" {
  name        = "tf-default-vpc-app"
  description = "App in ${data.aws_region.current.name} for ${data.aws_caller_identity.current.account_id}"
  vpc_id      = data.aws_vpc.default.id

  ingress {
    description     = "From the default group"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    security_groups = [data.aws_security_group.default.id]
  }

  ingress {
    description = "From the default VPC"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.default.cidr_block]
  }
}

output "region" {
  value = data.aws_region.current.name
}

output "account_id" {
  value = data.aws_caller_identity.current.account_id
}

output "default_vpc" {
  value = {
    id         = data.aws_vpc.default.id
    cidr_block = data.aws_vpc.default.cidr_block
    subnets    = data.aws_subnets.default.ids
    first_az   = data.aws_subnet.first.availability_zone
    zones      = data.aws_availability_zones.available.names
    default_sg = data.aws_security_group.default.id
  }
}
