# The vpc module's options its examples leave out, as projects set them: a secondary block,
# address usage metrics, IPv6 on every tier, resource-name hostnames, DNS64 and AAAA records,
# per-zone public and intra route tables, database and elasticache route tables with their
# internet routes, the RDS and ElastiCache subnet groups, dedicated NACLs for every tier, DHCP
# options with NTP and NetBIOS, the default NACL, security group and route table managed,
# a virtual private gateway of a chosen ASN propagated to the tables, a customer gateway, and
# REJECT flow logs to CloudWatch Logs with a custom format.
provider "aws" {
  region = "eu-west-1"
}

data "aws_availability_zones" "available" {}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
}

module "vpc" {
  source = "../../../vpc"

  name                                 = "fort-options"
  cidr                                 = "10.20.0.0/16"
  secondary_cidr_blocks                = ["10.21.0.0/16"]
  instance_tenancy                     = "default"
  enable_network_address_usage_metrics = true
  enable_ipv6                          = true

  azs                 = local.azs
  public_subnets      = ["10.20.0.0/24", "10.20.1.0/24"]
  private_subnets     = ["10.20.10.0/24", "10.20.11.0/24"]
  database_subnets    = ["10.20.20.0/24", "10.20.21.0/24"]
  elasticache_subnets = ["10.20.30.0/24", "10.20.31.0/24"]
  intra_subnets       = ["10.21.0.0/24", "10.21.1.0/24"]

  public_subnet_ipv6_prefixes                    = [0, 1]
  private_subnet_ipv6_prefixes                   = [2, 3]
  database_subnet_ipv6_prefixes                  = [4, 5]
  elasticache_subnet_ipv6_prefixes               = [6, 7]
  intra_subnet_ipv6_prefixes                     = [8, 9]
  public_subnet_assign_ipv6_address_on_creation  = true
  private_subnet_assign_ipv6_address_on_creation = true
  private_subnet_enable_dns64                    = true
  private_subnet_enable_resource_name_dns_aaaa_record_on_launch = true
  private_subnet_enable_resource_name_dns_a_record_on_launch    = true
  private_subnet_private_dns_hostname_type_on_launch            = "resource-name"
  public_subnet_private_dns_hostname_type_on_launch             = "resource-name"
  map_public_ip_on_launch                                       = true

  create_multiple_public_route_tables    = true
  create_multiple_intra_route_tables     = true
  create_database_subnet_route_table     = true
  create_database_internet_gateway_route = true
  create_elasticache_subnet_route_table  = true
  create_egress_only_igw                 = true

  enable_nat_gateway = true
  single_nat_gateway = true

  public_dedicated_network_acl      = true
  private_dedicated_network_acl     = true
  database_dedicated_network_acl    = true
  elasticache_dedicated_network_acl = true
  intra_dedicated_network_acl       = true
  private_inbound_acl_rules = [
    { rule_number = 100, rule_action = "allow", from_port = 0, to_port = 0, protocol = "-1", cidr_block = "10.20.0.0/16" },
    { rule_number = 110, rule_action = "allow", from_port = 1024, to_port = 65535, protocol = "tcp", cidr_block = "0.0.0.0/0" },
    { rule_number = 120, rule_action = "allow", from_port = 0, to_port = 0, protocol = "-1", ipv6_cidr_block = "::/0" },
    { rule_number = 130, rule_action = "allow", icmp_code = -1, icmp_type = 8, protocol = "icmp", cidr_block = "10.0.0.0/8" },
  ]
  database_outbound_acl_rules = [
    { rule_number = 100, rule_action = "allow", from_port = 5432, to_port = 5432, protocol = "tcp", cidr_block = "10.20.10.0/23" },
    { rule_number = 200, rule_action = "deny", from_port = 0, to_port = 0, protocol = "-1", cidr_block = "0.0.0.0/0" },
  ]

  enable_dhcp_options                             = true
  dhcp_options_domain_name                        = "fort.internal"
  dhcp_options_domain_name_servers                = ["AmazonProvidedDNS"]
  dhcp_options_ntp_servers                        = ["169.254.169.123"]
  dhcp_options_netbios_name_servers               = ["10.20.0.10"]
  dhcp_options_netbios_node_type                  = 2
  dhcp_options_ipv6_address_preferred_lease_time  = 3600

  manage_default_network_acl = true
  default_network_acl_ingress = [
    { rule_no = 100, action = "allow", from_port = 22, to_port = 22, protocol = "tcp", cidr_block = "10.0.0.0/8" },
    { rule_no = 101, action = "allow", from_port = 0, to_port = 0, protocol = "-1", ipv6_cidr_block = "::/0" },
  ]
  manage_default_security_group = true
  default_security_group_ingress = [
    { self = true, from_port = 0, to_port = 0, protocol = "-1", description = "self" },
  ]
  default_security_group_egress = [
    { cidr_blocks = "0.0.0.0/0", from_port = 0, to_port = 0, protocol = "-1" },
  ]
  manage_default_route_table = true
  default_route_table_name   = "fort-options-main"

  enable_vpn_gateway                 = true
  amazon_side_asn                    = "64620"
  propagate_private_route_tables_vgw = true
  propagate_public_route_tables_vgw  = true
  propagate_intra_route_tables_vgw   = true
  customer_gateways = {
    office = { bgp_asn = 65000, ip_address = "198.51.100.7" }
  }

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_traffic_type                           = "REJECT"
  flow_log_max_aggregation_interval               = 60
  flow_log_log_format                             = "$${version} $${vpc-id} $${subnet-id} $${srcaddr} $${dstaddr} $${action}"
  flow_log_cloudwatch_log_group_retention_in_days = 7

  tags = { Project = "fort" }
}
