# A provisioner prints a sensitive variable: nonsensitive() tells the
# engine not to suppress the output, so only Sluice can hide it.
variable "api_token" {
  type      = string
  default   = "canary-0b5e55ed-token"
  sensitive = true
}

variable "fail" {
  type    = bool
  default = false
}

resource "terraform_data" "echo" {
  input = var.fail
  provisioner "local-exec" {
    command = "echo token=${nonsensitive(var.api_token)} && ${var.fail ? "echo failing with ${nonsensitive(var.api_token)} >&2; exit 3" : "true"}"
  }
}
