# The IAM side of a VPC flow log delivered to CloudWatch Logs, as AWS's documentation and
# most modules write it: a role that the flow-logs service may assume, an inline policy that
# lets it write logs, and a customer managed policy attached to it (plus an AWS managed one,
# which Fort lets any account attach). Fort stores these documents; it does not enforce them.

# The test applies revision 1, then 2: every document, description and tag changes in place.
variable "revision" {
  type    = number
  default = 1
}

locals {
  name = "tf-flow-logs"
  tags = { Project = local.name, Revision = tostring(var.revision) }
}

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = var.revision == 1 ? ["vpc-flow-logs.amazonaws.com"] : ["vpc-flow-logs.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name                 = "${local.name}-role"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  description          = "Delivers VPC flow logs to CloudWatch Logs (revision ${var.revision})"
  max_session_duration = 3600 * var.revision
  tags                 = local.tags
}

resource "aws_iam_role_policy" "write_logs" {
  name = "${local.name}-write"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
      ]
      Resource = var.revision == 1 ? "*" : "arn:aws:logs:*:*:log-group:/fort/*"
    }]
  })
}

resource "aws_iam_policy" "read_logs" {
  name        = "${local.name}-read"
  path        = "/flow-logs/"
  description = "Read the flow log records"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = slice(["logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery"], 0, 1 + var.revision)
      Resource = "*"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "read_logs" {
  role       = aws_iam_role.flow_logs.name
  policy_arn = aws_iam_policy.read_logs.arn
}

resource "aws_iam_role_policy_attachment" "aws_managed" {
  role       = aws_iam_role.flow_logs.name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess"
}

resource "aws_iam_instance_profile" "this" {
  name = "${local.name}-profile"
  role = aws_iam_role.flow_logs.name
  tags = local.tags
}

output "role_arn" {
  value = aws_iam_role.flow_logs.arn
}
