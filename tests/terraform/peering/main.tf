# Two VPCs of one account peered, with routes to each other in both.

locals {
  tags = { Project = "tf-peering" }
}

resource "aws_vpc" "requester" {
  cidr_block = "10.40.0.0/16"
  tags       = merge(local.tags, { Name = "requester" })
}

resource "aws_vpc" "accepter" {
  cidr_block           = "10.41.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = "accepter" })
}

resource "aws_subnet" "requester" {
  vpc_id     = aws_vpc.requester.id
  cidr_block = "10.40.1.0/24"
  tags       = merge(local.tags, { Name = "requester" })
}

resource "aws_subnet" "accepter" {
  vpc_id     = aws_vpc.accepter.id
  cidr_block = "10.41.1.0/24"
  tags       = merge(local.tags, { Name = "accepter" })
}

resource "aws_vpc_peering_connection" "this" {
  vpc_id      = aws_vpc.requester.id
  peer_vpc_id = aws_vpc.accepter.id
  auto_accept = true

  requester {
    allow_remote_vpc_dns_resolution = true
  }

  accepter {
    allow_remote_vpc_dns_resolution = true
  }

  tags = merge(local.tags, { Name = "requester-to-accepter" })
}

resource "aws_route_table" "requester" {
  vpc_id = aws_vpc.requester.id
  tags   = merge(local.tags, { Name = "requester" })
}

resource "aws_route" "requester_to_accepter" {
  route_table_id            = aws_route_table.requester.id
  destination_cidr_block    = aws_vpc.accepter.cidr_block
  vpc_peering_connection_id = aws_vpc_peering_connection.this.id
}

resource "aws_route_table_association" "requester" {
  subnet_id      = aws_subnet.requester.id
  route_table_id = aws_route_table.requester.id
}

resource "aws_route_table" "accepter" {
  vpc_id = aws_vpc.accepter.id

  route {
    cidr_block                = aws_vpc.requester.cidr_block
    vpc_peering_connection_id = aws_vpc_peering_connection.this.id
  }

  tags = merge(local.tags, { Name = "accepter" })
}

resource "aws_route_table_association" "accepter" {
  subnet_id      = aws_subnet.accepter.id
  route_table_id = aws_route_table.accepter.id
}

output "peering_connection_id" {
  value = aws_vpc_peering_connection.this.id
}

output "peering_status" {
  value = aws_vpc_peering_connection.this.accept_status
}

# Security groups that name each other across the active peering (same region), inline
# and as a separate rule resource.
resource "aws_security_group" "accepter_db" {
  name        = "db"
  description = "databases of the accepter"
  vpc_id      = aws_vpc.accepter.id
  tags        = local.tags
}

resource "aws_security_group" "requester_app" {
  name        = "app"
  description = "applications of the requester"
  vpc_id      = aws_vpc.requester.id

  egress {
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.accepter_db.id]
  }

  tags       = local.tags
  depends_on = [aws_vpc_peering_connection.this]
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.accepter_db.id
  referenced_security_group_id = aws_security_group.requester_app.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  depends_on                   = [aws_vpc_peering_connection.this]
}
