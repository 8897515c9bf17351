# Traffic Mirroring: a filter with rules in both directions (ports, protocol) and the DNS
# network service, an interface target, and a session from another interface; the update
# changes a rule and the session in place (ModifyTrafficMirrorFilterRule/Session).

variable "revision" {
  type    = number
  default = 1
}

locals {
  tags = { Project = "tf-traffic-mirror" }
}

resource "aws_vpc" "this" {
  cidr_block = "10.66.0.0/16"
  tags       = local.tags
}

resource "aws_subnet" "this" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.66.1.0/24"
  tags       = local.tags
}

resource "aws_network_interface" "source" {
  subnet_id = aws_subnet.this.id
  tags      = merge(local.tags, { Name = "source" })
}

resource "aws_network_interface" "appliance" {
  subnet_id = aws_subnet.this.id
  tags      = merge(local.tags, { Name = "appliance" })
}

resource "aws_ec2_traffic_mirror_filter" "web" {
  description      = "web traffic"
  network_services = ["amazon-dns"]
  tags             = local.tags
}

resource "aws_ec2_traffic_mirror_filter_rule" "in" {
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.web.id
  description              = "http in, revision ${var.revision}"
  destination_cidr_block   = "10.66.0.0/16"
  source_cidr_block        = "0.0.0.0/0"
  rule_number              = 10
  rule_action              = "accept"
  traffic_direction        = "ingress"
  protocol                 = 6
  destination_port_range {
    from_port = 80
    to_port   = var.revision == 1 ? 80 : 443
  }
}

resource "aws_ec2_traffic_mirror_filter_rule" "out" {
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.web.id
  destination_cidr_block   = "0.0.0.0/0"
  source_cidr_block        = "10.66.0.0/16"
  rule_number              = 20
  rule_action              = "reject"
  traffic_direction        = "egress"
}

resource "aws_ec2_traffic_mirror_target" "appliance" {
  description          = "ids appliance"
  network_interface_id = aws_network_interface.appliance.id
  tags                 = local.tags
}

resource "aws_ec2_traffic_mirror_session" "source" {
  description              = "mirror the web server, revision ${var.revision}"
  network_interface_id     = aws_network_interface.source.id
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.web.id
  traffic_mirror_target_id = aws_ec2_traffic_mirror_target.appliance.id
  session_number           = 1
  packet_length            = 200
  virtual_network_id       = 4242
  tags                     = local.tags
}

output "session_virtual_network_id" {
  value = aws_ec2_traffic_mirror_session.source.virtual_network_id
}
