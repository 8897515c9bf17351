# Instances in a VPC: one on an ENI made beforehand with a second ENI attached and an elastic
# IP; one in a spread placement group, launched for hibernation (an encrypted root) with
# secondary addresses and EC2's choice of primary; a launch template; images found with
# data "aws_ami" (Amazon Linux 2023, Amazon Linux 1 as terraform-aws-ec2-instance's
# examples look it up, and Amazon Linux 2 minimal as the provider's acceptance tests do).
# (Instances launched from templates are in ../launch_template.)

variable "public_key" {
  description = "An OpenSSH public key (ssh-keygen's .pub file)"
  type        = string
}

locals {
  name = "tf-instances"
  tags = { Project = local.name }
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

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

# The lookup of the provider's own acceptance tests (acctest.ConfigLatestAmazonLinux2HVMEBSX8664AMI).
data "aws_ami" "amzn2_minimal" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["amzn2-ami-minimal-hvm-*"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

data "aws_ami" "amazon_linux_1" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["amzn-ami-hvm-*-x86_64-gp2"]
  }
}

resource "aws_vpc" "this" {
  cidr_block           = "10.50.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = "10.50.1.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = merge(local.tags, { Name = local.name })
}

resource "aws_route_table" "this" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_route_table_association" "this" {
  subnet_id      = aws_subnet.this.id
  route_table_id = aws_route_table.this.id
}

resource "aws_security_group" "ssh" {
  name        = "${local.name}-ssh"
  description = "SSH in, everything out"
  vpc_id      = aws_vpc.this.id

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_key_pair" "deployer" {
  key_name   = "${local.name}-deployer"
  public_key = var.public_key
  tags       = local.tags
}

resource "aws_network_interface" "primary" {
  subnet_id       = aws_subnet.this.id
  private_ips     = ["10.50.1.10"]
  security_groups = [aws_security_group.ssh.id]
  description     = "primary interface of the bastion"
  tags            = merge(local.tags, { Name = "${local.name}-primary" })
}

resource "aws_network_interface" "secondary" {
  subnet_id         = aws_subnet.this.id
  security_groups   = [aws_security_group.ssh.id]
  source_dest_check = false
  tags              = merge(local.tags, { Name = "${local.name}-secondary" })
}

resource "aws_instance" "bastion" {
  ami           = data.aws_ami.al2023.id
  instance_type = "t3.micro"
  key_name      = aws_key_pair.deployer.key_name

  network_interface {
    network_interface_id = aws_network_interface.primary.id
    device_index         = 0
  }

  tags = merge(local.tags, { Name = "${local.name}-bastion" })
}

resource "aws_network_interface_attachment" "secondary" {
  instance_id          = aws_instance.bastion.id
  network_interface_id = aws_network_interface.secondary.id
  device_index         = 1
}

resource "aws_eip" "bastion" {
  domain                    = "vpc"
  network_interface         = aws_network_interface.primary.id
  associate_with_private_ip = "10.50.1.10"
  tags                      = merge(local.tags, { Name = "${local.name}-bastion" })
  depends_on                = [aws_internet_gateway.this, aws_instance.bastion]
}

resource "aws_placement_group" "spread" {
  name     = "${local.name}-spread"
  strategy = "spread"
  tags     = local.tags
}

resource "aws_instance" "worker" {
  ami                    = data.aws_ami.al2023.id
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.this.id
  vpc_security_group_ids = [aws_security_group.ssh.id]
  placement_group        = aws_placement_group.spread.id
  hibernation            = true

  # no private_ip: EC2 picks the primary address, these two are secondary
  secondary_private_ips = ["10.50.1.40", "10.50.1.41"]

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 10
  }

  tags = merge(local.tags, { Name = "${local.name}-worker" })
}

resource "aws_launch_template" "app" {
  name_prefix   = "${local.name}-app-"
  image_id      = data.aws_ami.al2023.id
  instance_type = "t3.micro"
  key_name      = aws_key_pair.deployer.key_name

  network_interfaces {
    associate_public_ip_address = true
    security_groups             = [aws_security_group.ssh.id]
    delete_on_termination       = true
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.name}-app" })
  }

  user_data = base64encode("#!/bin/sh\necho hello > /tmp/hello\n")
}

output "ami_id" {
  value = data.aws_ami.al2023.id
}

output "amzn2_minimal" {
  value = data.aws_ami.amzn2_minimal.name
}

output "amazon_linux_1" {
  value = data.aws_ami.amazon_linux_1.name
}

output "worker" {
  value = {
    placement_group = aws_instance.worker.placement_group
    private_ip      = aws_instance.worker.private_ip
  }
}

output "bastion_public_ip" {
  value = aws_eip.bastion.public_ip
}

