# A hub transit gateway with two spoke VPCs on a route table of its own (associations,
# propagations, a static route and a blackhole), a second transit gateway peered to it and the
# peering accepted, a Site-to-Site VPN attached to the hub, a customer-managed prefix list
# (entries as separate resources) used by a VPC route to the hub and by security group rules,
# AWS's S3 prefix list looked up by name, and the transit gateway data sources.

variable "revision" {
  description = "Changed by the test to update resources in place"
  type        = string
  default     = "1"
}

locals {
  name = "tf-transit"
  tags = { Project = local.name, Revision = var.revision }
}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "a" {
  cidr_block = "10.80.0.0/16"
  tags       = merge(local.tags, { Name = "${local.name}-a" })
}

resource "aws_vpc" "b" {
  cidr_block = "10.81.0.0/16"
  tags       = merge(local.tags, { Name = "${local.name}-b" })
}

resource "aws_subnet" "a" {
  vpc_id            = aws_vpc.a.id
  cidr_block        = "10.80.1.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = local.tags
}

resource "aws_subnet" "a2" {
  vpc_id            = aws_vpc.a.id
  cidr_block        = "10.80.2.0/24"
  availability_zone = data.aws_availability_zones.available.names[1]
  tags              = local.tags
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.b.id
  cidr_block        = "10.81.1.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = local.tags
}

resource "aws_ec2_transit_gateway" "hub" {
  description                     = "${local.name} hub (revision ${var.revision})"
  amazon_side_asn                 = 64600
  default_route_table_association = "disable"
  default_route_table_propagation = "disable"
  dns_support                     = "enable"
  vpn_ecmp_support                = "enable"
  auto_accept_shared_attachments  = "disable"
  tags                            = merge(local.tags, { Name = "${local.name}-hub" })
}

resource "aws_ec2_transit_gateway" "peer" {
  description     = "${local.name} peer"
  amazon_side_asn = 64601
  tags            = merge(local.tags, { Name = "${local.name}-peer" })
}

resource "aws_ec2_transit_gateway_vpc_attachment" "a" {
  transit_gateway_id                              = aws_ec2_transit_gateway.hub.id
  vpc_id                                          = aws_vpc.a.id
  subnet_ids                                      = [aws_subnet.a.id, aws_subnet.a2.id]
  transit_gateway_default_route_table_association = false
  transit_gateway_default_route_table_propagation = false
  dns_support                                     = "enable"
  tags                                            = merge(local.tags, { Name = "${local.name}-a" })
}

resource "aws_ec2_transit_gateway_vpc_attachment" "b" {
  transit_gateway_id                              = aws_ec2_transit_gateway.hub.id
  vpc_id                                          = aws_vpc.b.id
  subnet_ids                                      = [aws_subnet.b.id]
  appliance_mode_support                          = "enable"
  transit_gateway_default_route_table_association = false
  transit_gateway_default_route_table_propagation = false
  tags                                            = merge(local.tags, { Name = "${local.name}-b" })
}

resource "aws_ec2_transit_gateway_route_table" "spokes" {
  transit_gateway_id = aws_ec2_transit_gateway.hub.id
  tags               = merge(local.tags, { Name = "${local.name}-spokes" })
}

resource "aws_ec2_transit_gateway_route_table_association" "a" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.a.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

resource "aws_ec2_transit_gateway_route_table_association" "b" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.b.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

resource "aws_ec2_transit_gateway_route_table_propagation" "a" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.a.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

resource "aws_ec2_transit_gateway_route_table_propagation" "b" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.b.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

resource "aws_ec2_transit_gateway_route" "default" {
  destination_cidr_block         = "0.0.0.0/0"
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.b.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

resource "aws_ec2_transit_gateway_route" "blackhole" {
  destination_cidr_block         = "10.99.0.0/16"
  blackhole                      = true
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

# A second transit gateway in the same region, peered with the hub.
resource "aws_ec2_transit_gateway_peering_attachment" "hub_peer" {
  transit_gateway_id      = aws_ec2_transit_gateway.hub.id
  peer_transit_gateway_id = aws_ec2_transit_gateway.peer.id
  peer_region             = data.aws_region.current.name
  tags                    = merge(local.tags, { Name = "${local.name}-hub-peer" })
}

resource "aws_ec2_transit_gateway_peering_attachment_accepter" "peer" {
  transit_gateway_attachment_id = aws_ec2_transit_gateway_peering_attachment.hub_peer.id
  # one account: both sides are the one attachment, with one set of tags
  tags = aws_ec2_transit_gateway_peering_attachment.hub_peer.tags
}

resource "aws_ec2_transit_gateway_route_table_association" "peering" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment.hub_peer.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
  depends_on                     = [aws_ec2_transit_gateway_peering_attachment_accepter.peer]
}

resource "aws_ec2_transit_gateway_route" "to_peer" {
  destination_cidr_block         = "10.90.0.0/16"
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment.hub_peer.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
  depends_on                     = [aws_ec2_transit_gateway_peering_attachment_accepter.peer]
}

# The peer gateway's default association and propagation table, chosen by resources of
# their own.
resource "aws_ec2_transit_gateway_route_table" "peer_main" {
  transit_gateway_id = aws_ec2_transit_gateway.peer.id
  tags               = merge(local.tags, { Name = "${local.name}-peer-main" })
}

resource "aws_ec2_transit_gateway_default_route_table_association" "peer" {
  transit_gateway_id             = aws_ec2_transit_gateway.peer.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.peer_main.id
}

resource "aws_ec2_transit_gateway_default_route_table_propagation" "peer" {
  transit_gateway_id             = aws_ec2_transit_gateway.peer.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.peer_main.id
}

# Site-to-Site VPN to the hub: its attachment is routed from the spokes' table.
resource "aws_customer_gateway" "office" {
  bgp_asn    = 65120
  ip_address = "203.0.113.50"
  type       = "ipsec.1"
  tags       = merge(local.tags, { Name = "${local.name}-office" })
}

resource "aws_vpn_connection" "office" {
  transit_gateway_id  = aws_ec2_transit_gateway.hub.id
  customer_gateway_id = aws_customer_gateway.office.id
  type                = "ipsec.1"
  static_routes_only  = true
  tags                = merge(local.tags, { Name = "${local.name}-office" })
}

# The VPN's attachment is EC2's own: a tag on it as a resource of its own.
resource "aws_ec2_tag" "office_attachment" {
  resource_id = aws_vpn_connection.office.transit_gateway_attachment_id
  key         = "Name"
  value       = "${local.name}-office-vpn"
}

resource "aws_ec2_transit_gateway_route" "office" {
  destination_cidr_block         = "192.168.0.0/16"
  transit_gateway_attachment_id  = aws_vpn_connection.office.transit_gateway_attachment_id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
}

# A customer-managed prefix list whose entries are resources of their own.
resource "aws_ec2_managed_prefix_list" "onprem" {
  name           = "${local.name}-onprem"
  address_family = "IPv4"
  max_entries    = 4
  tags           = local.tags
}

resource "aws_ec2_managed_prefix_list_entry" "office" {
  prefix_list_id = aws_ec2_managed_prefix_list.onprem.id
  cidr           = "192.168.0.0/16"
  description    = "office"
}

resource "aws_ec2_managed_prefix_list_entry" "lab" {
  prefix_list_id = aws_ec2_managed_prefix_list.onprem.id
  cidr           = "172.20.0.0/16"
  description    = "lab"
}

resource "aws_route_table" "a" {
  vpc_id = aws_vpc.a.id
  tags   = local.tags
}

resource "aws_route" "a_to_b" {
  route_table_id         = aws_route_table.a.id
  destination_cidr_block = aws_vpc.b.cidr_block
  transit_gateway_id     = aws_ec2_transit_gateway.hub.id
  depends_on             = [aws_ec2_transit_gateway_vpc_attachment.a]
}

resource "aws_route" "a_to_onprem" {
  route_table_id             = aws_route_table.a.id
  destination_prefix_list_id = aws_ec2_managed_prefix_list.onprem.id
  transit_gateway_id         = aws_ec2_transit_gateway.hub.id
  depends_on                 = [aws_ec2_transit_gateway_vpc_attachment.a]
}

resource "aws_route_table_association" "a" {
  subnet_id      = aws_subnet.a.id
  route_table_id = aws_route_table.a.id
}

data "aws_ec2_managed_prefix_list" "s3" {
  name = "com.amazonaws.${data.aws_region.current.name}.s3"
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "reached from on premises through the hub"
  vpc_id      = aws_vpc.a.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "onprem_ssh" {
  security_group_id = aws_security_group.app.id
  prefix_list_id    = aws_ec2_managed_prefix_list.onprem.id
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "s3_https" {
  security_group_id = aws_security_group.app.id
  prefix_list_id    = data.aws_ec2_managed_prefix_list.s3.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group_rule" "onprem_icmp" {
  type              = "ingress"
  security_group_id = aws_security_group.app.id
  prefix_list_ids   = [aws_ec2_managed_prefix_list.onprem.id]
  protocol          = "icmp"
  from_port         = -1
  to_port           = -1
}

# The data sources, read after everything above exists.
data "aws_ec2_transit_gateway" "hub" {
  id = aws_ec2_transit_gateway.hub.id
}

data "aws_ec2_transit_gateway" "by_tag" {
  filter {
    name   = "tag:Name"
    values = ["${local.name}-peer"]
  }
  depends_on = [aws_ec2_transit_gateway.peer]
}

data "aws_ec2_transit_gateway_vpc_attachment" "a" {
  id = aws_ec2_transit_gateway_vpc_attachment.a.id
}

data "aws_ec2_transit_gateway_vpc_attachments" "hub" {
  filter {
    name   = "transit-gateway-id"
    values = [aws_ec2_transit_gateway.hub.id]
  }
  depends_on = [aws_ec2_transit_gateway_vpc_attachment.a, aws_ec2_transit_gateway_vpc_attachment.b]
}

data "aws_ec2_transit_gateway_attachment" "b" {
  transit_gateway_attachment_id = aws_ec2_transit_gateway_vpc_attachment.b.id
}

data "aws_ec2_transit_gateway_attachments" "hub" {
  filter {
    name   = "transit-gateway-id"
    values = [aws_ec2_transit_gateway.hub.id]
  }
  depends_on = [
    aws_ec2_transit_gateway_vpc_attachment.a,
    aws_ec2_transit_gateway_vpc_attachment.b,
    aws_ec2_transit_gateway_peering_attachment_accepter.peer,
    aws_vpn_connection.office,
  ]
}

data "aws_ec2_transit_gateway_route_table" "spokes" {
  id = aws_ec2_transit_gateway_route_table.spokes.id
}

data "aws_ec2_transit_gateway_route_tables" "hub" {
  filter {
    name   = "transit-gateway-id"
    values = [aws_ec2_transit_gateway.hub.id]
  }
  depends_on = [aws_ec2_transit_gateway_route_table.spokes]
}

data "aws_ec2_transit_gateway_route_table_associations" "spokes" {
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
  depends_on = [
    aws_ec2_transit_gateway_route_table_association.a,
    aws_ec2_transit_gateway_route_table_association.b,
    aws_ec2_transit_gateway_route_table_association.peering,
  ]
}

data "aws_ec2_transit_gateway_route_table_propagations" "spokes" {
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
  depends_on = [
    aws_ec2_transit_gateway_route_table_propagation.a,
    aws_ec2_transit_gateway_route_table_propagation.b,
  ]
}

data "aws_ec2_transit_gateway_route_table_routes" "blackholes" {
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.spokes.id
  filter {
    name   = "state"
    values = ["blackhole"]
  }
  depends_on = [aws_ec2_transit_gateway_route.blackhole]
}

data "aws_ec2_transit_gateway_peering_attachment" "hub_peer" {
  id         = aws_ec2_transit_gateway_peering_attachment.hub_peer.id
  depends_on = [aws_ec2_transit_gateway_peering_attachment_accepter.peer]
}

data "aws_ec2_transit_gateway_vpn_attachment" "office" {
  transit_gateway_id = aws_ec2_transit_gateway.hub.id
  vpn_connection_id  = aws_vpn_connection.office.id
  depends_on         = [aws_ec2_tag.office_attachment]
}

output "checks" {
  value = {
    hub_asn              = data.aws_ec2_transit_gateway.hub.amazon_side_asn
    peer_by_tag          = data.aws_ec2_transit_gateway.by_tag.id == aws_ec2_transit_gateway.peer.id
    vpc_attachments      = length(data.aws_ec2_transit_gateway_vpc_attachments.hub.ids)
    attachments          = length(data.aws_ec2_transit_gateway_attachments.hub.ids)
    attachment_b_type    = data.aws_ec2_transit_gateway_attachment.b.resource_type
    route_tables         = length(data.aws_ec2_transit_gateway_route_tables.hub.ids)
    associations         = length(data.aws_ec2_transit_gateway_route_table_associations.spokes.ids)
    propagations         = length(data.aws_ec2_transit_gateway_route_table_propagations.spokes.ids)
    blackholes           = [for r in data.aws_ec2_transit_gateway_route_table_routes.blackholes.routes : r.destination_cidr_block]
    peering_peer_tgw     = data.aws_ec2_transit_gateway_peering_attachment.hub_peer.peer_transit_gateway_id
    vpn_attachment       = data.aws_ec2_transit_gateway_vpn_attachment.office.id
    s3_prefix_list_name  = data.aws_ec2_managed_prefix_list.s3.name
    route_table_a_assoc  = data.aws_ec2_transit_gateway_vpc_attachment.a.subnet_ids
    spokes_default_assoc = data.aws_ec2_transit_gateway_route_table.spokes.default_association_route_table
    vpn_attachment_name  = data.aws_ec2_transit_gateway_vpn_attachment.office.tags["Name"]
    peer_default_tables = [
      aws_ec2_transit_gateway_default_route_table_association.peer.original_default_route_table_id != aws_ec2_transit_gateway_route_table.peer_main.id,
      aws_ec2_transit_gateway_default_route_table_propagation.peer.original_default_route_table_id != aws_ec2_transit_gateway_route_table.peer_main.id,
    ]
  }
}
