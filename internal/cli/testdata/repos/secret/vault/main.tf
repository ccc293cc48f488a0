variable "db_password" {
  type      = string
  default   = "canary-7d3f-sensitive-password"
  sensitive = true
}

resource "terraform_data" "db" {
  input = {
    user     = "app"
    password = var.db_password
    size     = 1
  }
}

resource "terraform_data" "access_key" {
  # Not marked sensitive by Terraform; hidden by the masks in sluice.yaml.
  input = "AKIAABCDEFGHIJKLMNOP"
}

output "connection" {
  value     = "postgres://app:${var.db_password}@db"
  sensitive = true
}

# A provisioner that prints the password: nonsensitive() keeps the engine
# from suppressing the output, so only Sluice can hide it.
resource "terraform_data" "connect" {
  provisioner "local-exec" {
    command = "echo connecting with ${nonsensitive(var.db_password)}"
  }
}
