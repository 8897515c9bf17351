# The resources that adopt what EC2 makes by itself (a VPC's default security group, network
# ACL and route table; the default VPC's subnet and DHCP options), a secondary IPv4 block,
# DHCP options and their association, a main route table association, network interfaces
# attached to an instance and to groups as resources of their own, and a gateway and an
# interface endpoint associated with route tables, subnets and groups separately.

variable "revision" {
  description = "Changed by the test to update resources in place"
  type        = string
  default     = "1"
}

locals {
  name = "tf-defaults"
  tags = { Project = local.name, Revision = var.revision }
}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }
}

resource "aws_vpc" "this" {
  cidr_block           = "10.84.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_vpc_ipv4_cidr_block_association" "secondary" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.85.0.0/16"
}

resource "aws_vpc_dhcp_options" "corp" {
  domain_name          = "corp.example.com"
  domain_name_servers  = ["AmazonProvidedDNS"]
  ntp_servers          = ["169.254.169.123"]
  netbios_name_servers = ["10.84.0.10"]
  netbios_node_type    = 2

  ipv6_address_preferred_lease_time = 7200
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_vpc_dhcp_options_association" "this" {
  vpc_id          = aws_vpc.this.id
  dhcp_options_id = aws_vpc_dhcp_options.corp.id
}

# What CreateVpc made, adopted and set to this configuration's rules.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  ingress {
    protocol  = "-1"
    self      = true
    from_port = 0
    to_port   = 0
  }

  egress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${local.name}-default" })
}

resource "aws_default_network_acl" "this" {
  default_network_acl_id = aws_vpc.this.default_network_acl_id

  ingress {
    protocol   = "-1"
    rule_no    = 100
    action     = "allow"
    cidr_block = aws_vpc.this.cidr_block
    from_port  = 0
    to_port    = 0
  }

  egress {
    protocol   = "-1"
    rule_no    = 100
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 0
    to_port    = 0
  }

  # the subnets no other ACL claims stay with the default one
  lifecycle {
    ignore_changes = [subnet_ids]
  }

  tags = merge(local.tags, { Name = "${local.name}-default" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_default_route_table" "this" {
  default_route_table_id = aws_vpc.this.default_route_table_id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = merge(local.tags, { Name = "${local.name}-default" })
}

# Another VPC whose main table is one made here (and its own again at destroy): a VPC's
# default route table and its main route table association cannot both be managed.
resource "aws_vpc" "other" {
  cidr_block = "10.86.0.0/16"
  tags       = merge(local.tags, { Name = "${local.name}-other" })
}

resource "aws_route_table" "main" {
  vpc_id = aws_vpc.other.id
  tags   = merge(local.tags, { Name = "${local.name}-main" })
}

resource "aws_main_route_table_association" "this" {
  vpc_id         = aws_vpc.other.id
  route_table_id = aws_route_table.main.id
}

resource "aws_subnet" "a" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = "10.84.1.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = local.tags
}

resource "aws_subnet" "secondary" {
  vpc_id            = aws_vpc_ipv4_cidr_block_association.secondary.vpc_id
  cidr_block        = "10.85.1.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = local.tags
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "app"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_security_group" "extra" {
  name        = "${local.name}-extra"
  description = "attached to an interface by a resource of its own"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_instance" "app" {
  ami                    = data.aws_ami.al2023.id
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.app.id]
  tags                   = merge(local.tags, { Name = "${local.name}-app" })
}

resource "aws_network_interface" "secondary" {
  subnet_id         = aws_subnet.secondary.id
  private_ips       = ["10.85.1.10", "10.85.1.11"]
  security_groups   = [aws_security_group.app.id]
  source_dest_check = false
  description       = "second interface, revision ${var.revision}"
  tags              = local.tags
}

resource "aws_network_interface_attachment" "secondary" {
  instance_id          = aws_instance.app.id
  network_interface_id = aws_network_interface.secondary.id
  device_index         = 1
}

# An interface whose groups are left to EC2 (the VPC's default) and to the attachment below.
resource "aws_network_interface" "plain" {
  subnet_id = aws_subnet.a.id
  tags      = local.tags
}

resource "aws_network_interface_sg_attachment" "extra" {
  security_group_id    = aws_security_group.extra.id
  network_interface_id = aws_network_interface.plain.id
}

# Endpoints whose tables, subnets and groups come as resources of their own.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  tags              = local.tags
}

resource "aws_vpc_endpoint_route_table_association" "private" {
  vpc_endpoint_id = aws_vpc_endpoint.s3.id
  route_table_id  = aws_route_table.private.id
}

resource "aws_vpc_endpoint_route_table_association" "default" {
  vpc_endpoint_id = aws_vpc_endpoint.s3.id
  route_table_id  = aws_default_route_table.this.id
}

resource "aws_vpc_endpoint" "ssm" {
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.ssm"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = false
  tags                = local.tags
}

resource "aws_vpc_endpoint_subnet_association" "a" {
  vpc_endpoint_id = aws_vpc_endpoint.ssm.id
  subnet_id       = aws_subnet.a.id
}

resource "aws_vpc_endpoint_security_group_association" "app" {
  vpc_endpoint_id   = aws_vpc_endpoint.ssm.id
  security_group_id = aws_security_group.app.id
}

# A block of the subnet kept from EC2's own address choices.
resource "aws_ec2_subnet_cidr_reservation" "appliances" {
  subnet_id        = aws_subnet.a.id
  cidr_block       = "10.84.1.16/28"
  reservation_type = "explicit"
  description      = "appliances"
}

resource "aws_vpc_endpoint_policy" "s3" {
  vpc_endpoint_id = aws_vpc_endpoint.s3.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject", "s3:PutObject"]
      Resource  = "*"
    }]
  })
}

resource "aws_ec2_carrier_gateway" "other" {
  vpc_id = aws_vpc.other.id
  tags   = local.tags
}

# The default VPC's own subnet and DHCP options, adopted (destroy leaves them).
resource "aws_default_subnet" "a" {
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = { Name = "default-${data.aws_availability_zones.available.names[0]}" }
}

resource "aws_default_vpc_dhcp_options" "this" {}

output "checks" {
  value = {
    default_sg         = aws_default_security_group.this.id
    default_subnet_vpc = aws_default_subnet.a.vpc_id
    default_dhcp       = aws_default_vpc_dhcp_options.this.id
    main_original      = aws_main_route_table_association.this.original_route_table_id
    eni_attachment     = aws_network_interface_attachment.secondary.attachment_id
    s3_prefix_list     = aws_vpc_endpoint.s3.prefix_list_id
  }
}
