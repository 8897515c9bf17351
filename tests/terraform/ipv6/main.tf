# A dual-stack VPC (an Amazon-provided IPv6 block, and a second one associated separately):
# a public dual-stack subnet routed to the internet gateway for ::/0, a private dual-stack
# subnet routed to an egress-only internet gateway, an IPv6-only subnet, security group and
# network ACL rules for IPv6, and an instance with IPv6 addresses.

variable "revision" {
  description = "Changed by the test to update resources in place"
  type        = string
  default     = "1"
}

locals {
  name = "tf-ipv6"
  tags = { Project = local.name, Revision = var.revision }
}

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
  cidr_block                       = "10.82.0.0/16"
  assign_generated_ipv6_cidr_block = true
  enable_dns_support               = true
  enable_dns_hostnames             = true
  tags                             = merge(local.tags, { Name = local.name })
}

resource "aws_vpc_ipv6_cidr_block_association" "second" {
  vpc_id                           = aws_vpc.this.id
  assign_generated_ipv6_cidr_block = true
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_egress_only_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "public" {
  vpc_id                                         = aws_vpc.this.id
  cidr_block                                     = "10.82.1.0/24"
  ipv6_cidr_block                                = cidrsubnet(aws_vpc.this.ipv6_cidr_block, 8, 1)
  availability_zone                              = data.aws_availability_zones.available.names[0]
  map_public_ip_on_launch                        = true
  assign_ipv6_address_on_creation                = true
  enable_resource_name_dns_aaaa_record_on_launch = true
  tags                                           = merge(local.tags, { Name = "${local.name}-public" })
}

resource "aws_subnet" "private" {
  vpc_id                                      = aws_vpc.this.id
  cidr_block                                  = "10.82.2.0/24"
  ipv6_cidr_block                             = cidrsubnet(aws_vpc.this.ipv6_cidr_block, 8, 2)
  availability_zone                           = data.aws_availability_zones.available.names[1]
  assign_ipv6_address_on_creation             = true
  enable_dns64                                = true
  private_dns_hostname_type_on_launch         = "resource-name"
  enable_resource_name_dns_a_record_on_launch = true
  tags                                        = merge(local.tags, { Name = "${local.name}-private" })
}

# IPv6 only: a block from the second association, no IPv4.
resource "aws_subnet" "ipv6_only" {
  vpc_id                                         = aws_vpc.this.id
  ipv6_cidr_block                                = cidrsubnet(aws_vpc_ipv6_cidr_block_association.second.ipv6_cidr_block, 8, 3)
  ipv6_native                                    = true
  assign_ipv6_address_on_creation                = true
  enable_resource_name_dns_aaaa_record_on_launch = true
  availability_zone                              = data.aws_availability_zones.available.names[0]
  tags                                           = merge(local.tags, { Name = "${local.name}-ipv6-only" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  route {
    ipv6_cidr_block = "::/0"
    gateway_id      = aws_internet_gateway.this.id
  }

  tags = merge(local.tags, { Name = "${local.name}-public" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${local.name}-private" })
}

resource "aws_route" "private_ipv6" {
  route_table_id              = aws_route_table.private.id
  destination_ipv6_cidr_block = "::/0"
  egress_only_gateway_id      = aws_egress_only_internet_gateway.this.id
}

resource "aws_route" "private_docs" {
  route_table_id              = aws_route_table.private.id
  destination_ipv6_cidr_block = "2001:db8:1234::/48"
  gateway_id                  = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

resource "aws_route_table_association" "ipv6_only" {
  subnet_id      = aws_subnet.ipv6_only.id
  route_table_id = aws_route_table.private.id
}

resource "aws_security_group" "web" {
  name        = "${local.name}-web"
  description = "web over IPv4 and IPv6"
  vpc_id      = aws_vpc.this.id

  ingress {
    description      = "https"
    from_port        = 443
    to_port          = 443
    protocol         = "tcp"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  ingress {
    description      = "icmpv6"
    from_port        = -1
    to_port          = -1
    protocol         = "58"
    ipv6_cidr_blocks = [aws_vpc.this.ipv6_cidr_block]
  }

  egress {
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  tags = local.tags
}

# Rules as resources of their own belong to a group without inline rules.
resource "aws_security_group" "admin" {
  name        = "${local.name}-admin"
  description = "administration over IPv6"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "ssh_v6" {
  security_group_id = aws_security_group.admin.id
  cidr_ipv6         = "2001:db8::/32"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  tags              = local.tags
}

resource "aws_security_group_rule" "dns_v6" {
  type              = "ingress"
  security_group_id = aws_security_group.admin.id
  ipv6_cidr_blocks  = [aws_vpc.this.ipv6_cidr_block]
  protocol          = "udp"
  from_port         = 53
  to_port           = 53
}

resource "aws_network_acl" "private" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [aws_subnet.private.id]

  ingress {
    rule_no         = 100
    action          = "allow"
    protocol        = "tcp"
    from_port       = 1024
    to_port         = 65535
    ipv6_cidr_block = "::/0"
  }

  egress {
    rule_no         = 100
    action          = "allow"
    protocol        = "-1"
    from_port       = 0
    to_port         = 0
    ipv6_cidr_block = "::/0"
  }

  tags = local.tags
}

resource "aws_network_acl" "ipv6_only" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [aws_subnet.ipv6_only.id]
  tags       = local.tags
}

resource "aws_network_acl_rule" "https_v6" {
  network_acl_id  = aws_network_acl.ipv6_only.id
  rule_number     = 110
  egress          = false
  protocol        = "tcp"
  rule_action     = "allow"
  ipv6_cidr_block = "::/0"
  from_port       = 443
  to_port         = 443
}

resource "aws_network_acl_rule" "icmpv6" {
  network_acl_id  = aws_network_acl.ipv6_only.id
  rule_number     = 120
  egress          = false
  protocol        = "58"
  rule_action     = "allow"
  ipv6_cidr_block = "::/0"
  icmp_type       = -1
  icmp_code       = -1
}

resource "aws_network_acl_rule" "deny_docs_v4" {
  network_acl_id = aws_network_acl.ipv6_only.id
  rule_number    = 90
  egress         = true
  protocol       = "-1"
  rule_action    = "deny"
  cidr_block     = "192.0.2.0/24"
}

resource "aws_instance" "web" {
  ami                    = data.aws_ami.al2023.id
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.public.id
  vpc_security_group_ids = [aws_security_group.web.id]
  ipv6_address_count     = 2
  tags                   = merge(local.tags, { Name = "${local.name}-web" })
}

resource "aws_instance" "pinned" {
  ami                    = data.aws_ami.al2023.id
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.private.id
  vpc_security_group_ids = [aws_security_group.web.id, aws_security_group.admin.id]
  ipv6_addresses         = [cidrhost(aws_subnet.private.ipv6_cidr_block, 100)]
  tags                   = merge(local.tags, { Name = "${local.name}-pinned" })
}

resource "aws_network_interface" "v6" {
  subnet_id          = aws_subnet.private.id
  ipv6_address_count = 1
  security_groups    = [aws_security_group.web.id]
  tags               = local.tags
}

data "aws_vpc" "this" {
  id = aws_vpc.this.id
  depends_on = [aws_vpc_ipv6_cidr_block_association.second]
}

output "checks" {
  value = {
    vpc_ipv6           = aws_vpc.this.ipv6_cidr_block
    second_block       = aws_vpc_ipv6_cidr_block_association.second.ipv6_cidr_block
    instance_ipv6      = aws_instance.web.ipv6_addresses
    pinned_ipv6        = aws_instance.pinned.ipv6_addresses
    eni_ipv6           = aws_network_interface.v6.ipv6_addresses
    border_group       = aws_vpc.this.ipv6_cidr_block_network_border_group
    ipv6_association   = data.aws_vpc.this.ipv6_association_id
  }
}
