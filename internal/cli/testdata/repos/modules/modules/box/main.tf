variable "size" {
  type = number
}

resource "terraform_data" "box" {
  input = {
    size  = var.size
    color = "blue"
  }
}
