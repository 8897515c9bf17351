# Security groups written the three ways Terraform allows (inline rules, aws_security_group_rule,
# and the aws_vpc_security_group_*_rule resources), a network ACL with inline and separate rules,
# and a DHCP option set associated with the VPC.

locals {
  name = "tf-security"
  tags = { Project = local.name }
}

resource "aws_vpc" "this" {
  cidr_block = "10.30.0.0/16"
  tags       = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "app" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.30.1.0/24"
  tags       = merge(local.tags, { Name = "${local.name}-app" })
}

# Inline rules.
resource "aws_security_group" "web" {
  name        = "${local.name}-web"
  description = "Web servers"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "HTTP"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    description = "SSH from the office"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["198.51.100.0/24", "203.0.113.0/24"]
  }

  ingress {
    description = "Ping"
    from_port   = 8
    to_port     = 0
    protocol    = "icmp"
    cidr_blocks = ["10.30.0.0/16"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${local.name}-web" })
}

# aws_security_group_rule.
resource "aws_security_group" "app" {
  name_prefix = "${local.name}-app-"
  description = "Application servers"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${local.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group_rule" "app_from_web" {
  type                     = "ingress"
  description              = "App port from the web tier"
  from_port                = 8080
  to_port                  = 8080
  protocol                 = "tcp"
  security_group_id        = aws_security_group.app.id
  source_security_group_id = aws_security_group.web.id
}

resource "aws_security_group_rule" "app_self" {
  type              = "ingress"
  from_port         = 0
  to_port           = 65535
  protocol          = "tcp"
  security_group_id = aws_security_group.app.id
  self              = true
}

resource "aws_security_group_rule" "app_egress" {
  type              = "egress"
  from_port         = 0
  to_port           = 0
  protocol          = "-1"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.app.id
}

# aws_vpc_security_group_ingress_rule / egress_rule.
resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "Databases"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${local.name}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the app tier"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  tags                         = { Name = "postgres-from-app" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_vpc" {
  security_group_id = aws_security_group.db.id
  cidr_ipv4         = aws_vpc.this.cidr_block
  ip_protocol       = "tcp"
  from_port         = 3306
  to_port           = 3306
}

resource "aws_vpc_security_group_egress_rule" "db_all" {
  security_group_id = aws_security_group.db.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

# Network ACL: inline rules, a separate rule and the subnet association.
resource "aws_network_acl" "app" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = [aws_subnet.app.id]

  ingress {
    protocol   = "tcp"
    rule_no    = 100
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 443
    to_port    = 443
  }

  ingress {
    protocol   = "tcp"
    rule_no    = 110
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 1024
    to_port    = 65535
  }

  egress {
    protocol   = "-1"
    rule_no    = 100
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 0
    to_port    = 0
  }

  tags = merge(local.tags, { Name = "${local.name}-app" })
}

resource "aws_network_acl" "extra" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${local.name}-extra" })
}

resource "aws_network_acl_rule" "extra_deny_ssh" {
  network_acl_id = aws_network_acl.extra.id
  rule_number    = 50
  egress         = false
  protocol       = "tcp"
  rule_action    = "deny"
  cidr_block     = "0.0.0.0/0"
  from_port      = 22
  to_port        = 22
}

resource "aws_network_acl_rule" "extra_icmp" {
  network_acl_id = aws_network_acl.extra.id
  rule_number    = 60
  egress         = true
  protocol       = "icmp"
  rule_action    = "allow"
  cidr_block     = "10.0.0.0/8"
  icmp_type      = -1
  icmp_code      = -1
}

# DHCP options.
resource "aws_vpc_dhcp_options" "this" {
  domain_name         = "corp.example.internal"
  domain_name_servers = ["AmazonProvidedDNS"]
  ntp_servers         = ["10.30.0.123"]
  tags                = merge(local.tags, { Name = local.name })
}

resource "aws_vpc_dhcp_options_association" "this" {
  vpc_id          = aws_vpc.this.id
  dhcp_options_id = aws_vpc_dhcp_options.this.id
}

output "security_group_ids" {
  value = [aws_security_group.web.id, aws_security_group.app.id, aws_security_group.db.id]
}
