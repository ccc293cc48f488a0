resource "terraform_data" "ok" {
  input = "fine"
}

# Valid syntax; fails while planning because the file does not exist.
resource "terraform_data" "bad" {
  input = file("${path.module}/does-not-exist.txt")
}
