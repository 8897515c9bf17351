# VPC flow logs as Terraform's aws_flow_log makes them: one on a VPC with a custom format and
# a one-minute window, one on a subnet for rejected traffic only, both to CloudWatch Logs
# groups named by ARN (AWS creates a group on the first delivery, so none is declared here).

# The test applies revision 1, then 2: the flow logs' tags change in place.
variable "revision" {
  type    = number
  default = 1
}

locals {
  name = "tf-flow-log-api"
  tags = { Project = local.name, Revision = tostring(var.revision) }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_vpc" "this" {
  cidr_block = "10.71.0.0/16"
  tags       = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.71.1.0/24"
  tags       = local.tags
}

locals {
  group_arn = "arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group"
  role_arn  = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/${local.name}"
}

resource "aws_flow_log" "vpc" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = "${local.group_arn}:/fort/${local.name}/vpc"
  iam_role_arn             = local.role_arn
  max_aggregation_interval = 60
  log_format               = "$${version} $${vpc-id} $${subnet-id} $${interface-id} $${srcaddr} $${dstaddr} $${srcport} $${dstport} $${protocol} $${packets} $${bytes} $${action} $${tcp-flags} $${flow-direction}"
  tags                     = merge(local.tags, { Name = "${local.name}-vpc" })
}

resource "aws_flow_log" "subnet" {
  subnet_id       = aws_subnet.this.id
  traffic_type    = "REJECT"
  log_destination = "${local.group_arn}:/fort/${local.name}/subnet"
  iam_role_arn    = local.role_arn
  tags            = local.tags
}

output "flow_log_ids" {
  value = [aws_flow_log.vpc.id, aws_flow_log.subnet.id]
}
