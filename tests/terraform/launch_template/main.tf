# An instance launched from a launch template that gives its image, type, network
# interface, metadata options, tags and user data.

locals {
  name = "tf-lt"
  tags = { Project = local.name }
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
  cidr_block = "10.60.0.0/16"
  tags       = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.60.1.0/24"
  tags       = merge(local.tags, { Name = local.name })
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "app"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_launch_template" "app" {
  name_prefix   = "${local.name}-app-"
  image_id      = data.aws_ami.al2023.id
  instance_type = "t3.micro"

  network_interfaces {
    security_groups       = [aws_security_group.app.id]
    delete_on_termination = true
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

resource "aws_instance" "app" {
  subnet_id = aws_subnet.this.id

  launch_template {
    id      = aws_launch_template.app.id
    version = "$Latest"
  }

  # the template tags the instance at launch; the resource manages the same tags
  tags = merge(local.tags, { Name = "${local.name}-app" })

  # The provider's own bug, against AWS as here (hashicorp/terraform-provider-aws#30825):
  # an instance whose user data comes from its template re-hashes the stored hash on every
  # plan. EC2 (and Fort) answer the instance's user data correctly; the usual workaround.
  lifecycle {
    ignore_changes = [user_data]
  }
}
