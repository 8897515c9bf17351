# A virtual private gateway attached to a VPC, a customer gateway, a Site-to-Site VPN
# connection between them (static routes, tunnel options chosen for tunnel 1), a route to
# the gateway and route propagation from it.

locals {
  tags = { Project = "tf-vpn-gateway" }
}

resource "aws_vpc" "this" {
  cidr_block = "10.64.0.0/16"
  tags       = local.tags
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.64.1.0/24"
  tags       = local.tags
}

resource "aws_vpn_gateway" "this" {
  vpc_id          = aws_vpc.this.id
  amazon_side_asn = 64620
  tags            = merge(local.tags, { Name = "vgw" })
}

resource "aws_customer_gateway" "office" {
  bgp_asn     = 65112
  ip_address  = "203.0.113.40"
  type        = "ipsec.1"
  device_name = "office-router"
  tags        = merge(local.tags, { Name = "office" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_route" "office" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "192.168.0.0/16"
  gateway_id             = aws_vpn_gateway.this.id
}

resource "aws_vpn_gateway_route_propagation" "private" {
  vpn_gateway_id = aws_vpn_gateway.this.id
  route_table_id = aws_route_table.private.id
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpn_connection" "office" {
  vpn_gateway_id      = aws_vpn_gateway.this.id
  customer_gateway_id = aws_customer_gateway.office.id
  type                = "ipsec.1"
  static_routes_only  = true

  tunnel1_inside_cidr                  = "169.254.44.0/30"
  tunnel1_preshared_key                = "fort_tunnel_one"
  tunnel1_ike_versions                 = ["ikev2"]
  tunnel1_phase1_encryption_algorithms = ["AES256"]
  tunnel1_phase1_integrity_algorithms  = ["SHA2-256"]
  tunnel1_phase1_dh_group_numbers      = [14]
  tunnel1_dpd_timeout_seconds          = 40

  tags = merge(local.tags, { Name = "office" })
}

resource "aws_vpn_connection_route" "office" {
  destination_cidr_block = "192.168.0.0/16"
  vpn_connection_id      = aws_vpn_connection.office.id
}

output "tunnel1_address" {
  value = aws_vpn_connection.office.tunnel1_address
}
