# A private hosted zone as Terraform's aws_route53_zone makes it, associated with a second VPC
# by aws_route53_zone_association, holding records of the common types and an alias.

# The test applies revision 1, then 2: the zone's tags and comment and one record's values
# change in place.
variable "revision" {
  type    = number
  default = 1
}

locals {
  name = "tf-route53"
  tags = { Project = local.name, Revision = tostring(var.revision) }
}

resource "aws_vpc" "primary" {
  cidr_block           = "10.72.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = "${local.name}-primary" })
}

resource "aws_vpc" "secondary" {
  cidr_block = "10.73.0.0/16"
  tags       = merge(local.tags, { Name = "${local.name}-secondary" })
}

resource "aws_route53_zone" "private" {
  name    = "corp.internal"
  comment = "revision ${var.revision}"

  vpc {
    vpc_id = aws_vpc.primary.id
  }

  # the second VPC is associated by aws_route53_zone_association below
  lifecycle {
    ignore_changes = [vpc]
  }

  tags = local.tags
}

resource "aws_route53_zone_association" "secondary" {
  zone_id = aws_route53_zone.private.zone_id
  vpc_id  = aws_vpc.secondary.id
}

resource "aws_route53_record" "app" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "app.corp.internal"
  type    = "A"
  ttl     = 300
  records = var.revision == 1 ? ["10.72.1.10"] : ["10.72.1.10", "10.72.1.11"]
}

resource "aws_route53_record" "www" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "www"
  type    = "CNAME"
  ttl     = 60
  records = ["app.corp.internal"]
}

resource "aws_route53_record" "txt" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "corp.internal"
  type    = "TXT"
  ttl     = 300
  records = ["owner=${local.name}"]
}

resource "aws_route53_record" "mx" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "corp.internal"
  type    = "MX"
  ttl     = 300
  records = ["10 mail.corp.internal."]
}

resource "aws_route53_record" "srv" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "_ldap._tcp.corp.internal"
  type    = "SRV"
  ttl     = 300
  records = ["0 5 389 ldap.corp.internal."]
}

resource "aws_route53_record" "api" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "api.corp.internal"
  type    = "A"

  alias {
    zone_id                = aws_route53_zone.private.zone_id
    name                   = aws_route53_record.app.fqdn
    evaluate_target_health = false
  }
}

output "zone_id" {
  value = aws_route53_zone.private.zone_id
}
