# VPC Block Public Access: the region's mode and exclusions for a VPC and a subnet; the
# update changes the mode and one exclusion's mode in place.

variable "revision" {
  type    = number
  default = 1
}

locals {
  tags = { Project = "tf-bpa" }
}

resource "aws_vpc" "this" {
  cidr_block = "10.62.0.0/16"
  tags       = local.tags
}

resource "aws_subnet" "this" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.62.1.0/24"
  tags       = local.tags
}

resource "aws_vpc_block_public_access_options" "this" {
  internet_gateway_block_mode = var.revision == 1 ? "block-bidirectional" : "block-ingress"
}

resource "aws_vpc_block_public_access_exclusion" "vpc" {
  vpc_id                          = aws_vpc.this.id
  internet_gateway_exclusion_mode = var.revision == 1 ? "allow-egress" : "allow-bidirectional"
  tags                            = local.tags
}

resource "aws_vpc_block_public_access_exclusion" "subnet" {
  subnet_id                       = aws_subnet.this.id
  internet_gateway_exclusion_mode = "allow-bidirectional"
}
