# Step 3: the moved and import blocks are gone. Once step 2 is applied the
# state holds b, c and d, so this plans no changes; had step 2 not been
# applied, it would destroy a and old_d and create b, c and d.
resource "terraform_data" "b" {
  input = "x"
}

resource "terraform_data" "d" {
  input = "2"
}

resource "terraform_data" "c" {
}
