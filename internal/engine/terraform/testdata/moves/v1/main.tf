# Step 1 of the moves fixture: two resources at their first addresses.
resource "terraform_data" "a" {
  input = "x"
}

resource "terraform_data" "old_d" {
  input = "1"
}
