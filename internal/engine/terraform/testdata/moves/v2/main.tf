# Step 2: a is moved to b unchanged, old_d is moved to d and updated, and
# an object that exists outside the state is imported as c. Only moves and
# imports: nothing is added or destroyed.
resource "terraform_data" "b" {
  input = "x"
}

moved {
  from = terraform_data.a
  to   = terraform_data.b
}

resource "terraform_data" "d" {
  input = "2"
}

moved {
  from = terraform_data.old_d
  to   = terraform_data.d
}

resource "terraform_data" "c" {
}

import {
  to = terraform_data.c
  id = "imported-id-1"
}
