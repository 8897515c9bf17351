# NAT gateways one per zone on elastic IPs made outside the module (reuse_nat_ips), a
# NAT route to a chosen destination, a virtual private gateway in a chosen zone,
# IPv6-native subnets, and a second VPC managed through the module's default-VPC switch.
provider "aws" {
  region = "eu-west-1"
}

data "aws_availability_zones" "available" {}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 3)
}

resource "aws_eip" "nat" {
  count  = 3
  domain = "vpc"
  tags   = { Name = "fort-nat-${count.index}" }
}

module "vpc" {
  source = "../../../vpc"

  name = "fort-nat-per-az"
  cidr = "10.30.0.0/16"
  azs  = local.azs

  public_subnets  = ["10.30.0.0/24", "10.30.1.0/24", "10.30.2.0/24"]
  private_subnets = ["10.30.10.0/24", "10.30.11.0/24", "10.30.12.0/24"]
  intra_subnets   = ["10.30.20.0/24", "10.30.21.0/24", "10.30.22.0/24"]

  enable_ipv6                                  = true
  intra_subnet_ipv6_native                     = true
  intra_subnet_ipv6_prefixes                   = [10, 11, 12]
  intra_subnet_assign_ipv6_address_on_creation = true
  intra_subnet_enable_dns64                    = true
  intra_subnet_enable_resource_name_dns_aaaa_record_on_launch = true
  intra_subnet_enable_resource_name_dns_a_record_on_launch    = false
  public_subnet_ipv6_prefixes  = [0, 1, 2]
  private_subnet_ipv6_prefixes = [3, 4, 5]

  enable_nat_gateway                 = true
  single_nat_gateway                 = false
  one_nat_gateway_per_az             = true
  reuse_nat_ips                      = true
  external_nat_ip_ids                = aws_eip.nat[*].id
  nat_gateway_destination_cidr_block = "0.0.0.0/0"

  enable_vpn_gateway                 = true
  vpn_gateway_az                     = local.azs[1]
  propagate_private_route_tables_vgw = true

  manage_default_vpc               = true
  default_vpc_name                 = "fort-default"
  default_vpc_enable_dns_hostnames = true

  public_subnet_tags_per_az = { (local.azs[0]) = { First = "yes" } }
  tags                      = { Project = "fort" }
}
