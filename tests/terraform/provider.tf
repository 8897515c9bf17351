# Fort serves the EC2 Query API (and STS GetCallerIdentity) on one endpoint: the provider
# needs only its endpoints and the credentials Fort knows.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "endpoint" {
  description = "Fort's EC2 API endpoint, e.g. http://127.0.0.1:8773"
  type        = string
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "region" {
  type    = string
  default = "us-east-1"
}

provider "aws" {
  region     = var.region
  access_key = var.access_key
  secret_key = var.secret_key

  # There is no instance metadata service to ask for credentials.
  skip_metadata_api_check = true

  endpoints {
    ec2         = var.endpoint
    sts         = var.endpoint
    iam         = var.endpoint
    route53     = var.endpoint
    rds         = var.endpoint
    elasticache = var.endpoint
    redshift    = var.endpoint
  }
}
