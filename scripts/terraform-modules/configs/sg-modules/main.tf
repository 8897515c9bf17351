# The security-group module's preset submodules as projects use them (ssh, postgresql,
# https, redis, kafka with many ports), with IPv6 ranges, self rules, named rules of other
# groups, computed sources, prefix lists, description updates and fixed names.
provider "aws" {
  region = "eu-west-1"
}

data "aws_vpc" "default" {
  default = true
}

resource "aws_ec2_managed_prefix_list" "office" {
  name           = "fort-office"
  address_family = "IPv4"
  max_entries    = 3
  entry {
    cidr        = "198.51.100.0/24"
    description = "office"
  }
}

module "bastion" {
  source = "../../../sg/modules/ssh"

  name                     = "fort-bastion"
  description              = "SSH from the office"
  vpc_id                   = data.aws_vpc.default.id
  use_name_prefix          = false
  ingress_cidr_blocks      = ["203.0.113.0/24"]
  ingress_ipv6_cidr_blocks = ["2001:db8::/32"]
  ingress_prefix_list_ids  = [aws_ec2_managed_prefix_list.office.id]
  revoke_rules_on_delete   = true
  tags                     = { Role = "bastion" }
}

module "db" {
  source = "../../../sg/modules/postgresql"

  name   = "fort-db"
  vpc_id = data.aws_vpc.default.id

  ingress_cidr_blocks = ["10.10.0.0/16"]
  computed_ingress_with_source_security_group_id = [
    { rule = "postgresql-tcp", source_security_group_id = module.bastion.security_group_id },
  ]
  number_of_computed_ingress_with_source_security_group_id = 1
  egress_with_cidr_blocks = [
    { from_port = 443, to_port = 443, protocol = "tcp", cidr_blocks = "0.0.0.0/0", description = "HTTPS out" },
  ]
}

module "web" {
  source = "../../../sg/modules/https-443"

  name                = "fort-web"
  vpc_id              = data.aws_vpc.default.id
  ingress_cidr_blocks = ["0.0.0.0/0"]
  ingress_ipv6_cidr_blocks = ["::/0"]
  ingress_with_source_security_group_id = [
    { rule = "ssh-tcp", source_security_group_id = module.bastion.security_group_id },
  ]
  egress_rules            = ["https-443-tcp"]
  egress_cidr_blocks      = ["10.0.0.0/8"]
  egress_ipv6_cidr_blocks = []
}

module "cache" {
  source = "../../../sg/modules/redis"

  name                = "fort-cache"
  vpc_id              = data.aws_vpc.default.id
  ingress_cidr_blocks = ["10.0.0.0/8", "172.16.0.0/12"]
  ingress_rules       = ["redis-tcp", "all-icmp"]
}

module "kafka" {
  source = "../../../sg/modules/kafka"

  name                = "fort-kafka"
  vpc_id              = data.aws_vpc.default.id
  ingress_cidr_blocks = [data.aws_vpc.default.cidr_block]
  egress_rules        = ["all-all"]
}

module "custom" {
  source = "../../../sg"

  name        = "fort-custom"
  description = "ranges, ICMP types and all protocols"
  vpc_id      = data.aws_vpc.default.id

  ingress_with_cidr_blocks = [
    { from_port = 8000, to_port = 8100, protocol = "tcp", cidr_blocks = "10.1.0.0/16,10.2.0.0/16" },
    { from_port = 3, to_port = 4, protocol = "icmp", cidr_blocks = "0.0.0.0/0", description = "frag needed" },
    { from_port = -1, to_port = -1, protocol = "50", cidr_blocks = "192.0.2.0/24", description = "ESP" },
    { rule = "all-ipv6-icmp", cidr_blocks = "0.0.0.0/0" },
  ]
  ingress_with_ipv6_cidr_blocks = [
    { rule = "all-ipv6-icmp", ipv6_cidr_blocks = "::/0" },
  ]
  egress_with_prefix_list_ids = [
    { from_port = 443, to_port = 443, protocol = "tcp", prefix_list_ids = aws_ec2_managed_prefix_list.office.id },
  ]
}
