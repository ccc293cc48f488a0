# Plan code that tries to read what is not its own: its environment, the
# environment of the process that started it, a file outside its
# checkout, and the same file through a symbolic link beside it. Each
# output is the content, or "denied".

variable "parent_pid" {
  type = string
}

variable "secret_file" {
  type = string
}

resource "terraform_data" "x" {
  input = 1
}

output "environ" {
  value = try(file("/proc/self/environ"), "denied")
}

output "parent_environ" {
  value = try(file("/proc/${var.parent_pid}/environ"), "denied")
}

output "secret_file" {
  value = try(file(var.secret_file), "denied")
}

output "through_link" {
  value = try(file("${path.module}/link.txt"), "denied")
}
