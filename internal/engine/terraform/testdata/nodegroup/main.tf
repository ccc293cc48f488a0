# A node group modelled with the built-in terraform_data resource, so it
# needs no provider and no network. Variables let one fixture walk through
# create, update, replace and delete.
variable "enabled" {
  type    = bool
  default = true
}

variable "desired_size" {
  type    = number
  default = 3
}

variable "generation" {
  type    = number
  default = 1
}

variable "api_token" {
  type      = string
  default   = "canary-0b5e55ed-token"
  sensitive = true
}

resource "terraform_data" "node_group" {
  count = var.enabled ? 1 : 0
  input = {
    name         = "workers"
    desired_size = var.desired_size
    min_size     = 1
    max_size     = 4
  }
  triggers_replace = [var.generation]
}

resource "terraform_data" "credentials" {
  input = var.api_token
}

output "desired_size" {
  value = var.desired_size
}

output "api_token" {
  value     = var.api_token
  sensitive = true
}
