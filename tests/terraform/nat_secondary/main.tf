# NAT gateways with secondary addresses: a public one with a secondary elastic IP (a second
# one added by the update), a private one with secondary private addresses (one more added
# by the update), each changed in place.

variable "revision" {
  type    = number
  default = 1
}

locals {
  name = "tf-nat-secondary"
  tags = { Project = local.name }
}

resource "aws_vpc" "this" {
  cidr_block = "10.60.0.0/16"
  tags       = merge(local.tags, { Name = local.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_subnet" "public" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.60.1.0/24"
  tags       = merge(local.tags, { Name = "${local.name}-public" })
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.60.2.0/24"
  tags       = merge(local.tags, { Name = "${local.name}-private" })
}

resource "aws_eip" "primary" {
  domain     = "vpc"
  tags       = local.tags
  depends_on = [aws_internet_gateway.this]
}

resource "aws_eip" "secondary" {
  count      = 2
  domain     = "vpc"
  tags       = local.tags
  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "public" {
  allocation_id            = aws_eip.primary.id
  subnet_id                = aws_subnet.public.id
  secondary_allocation_ids = slice(aws_eip.secondary[*].id, 0, var.revision)
  tags                     = merge(local.tags, { Name = "${local.name}-public" })
  depends_on               = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "private" {
  connectivity_type              = "private"
  subnet_id                      = aws_subnet.private.id
  private_ip                     = "10.60.2.10"
  secondary_private_ip_addresses = slice(["10.60.2.11", "10.60.2.12"], 0, var.revision)
  tags                           = merge(local.tags, { Name = "${local.name}-private" })
}

output "public_nat_secondary_ips" {
  value = aws_nat_gateway.public.secondary_private_ip_addresses
}
