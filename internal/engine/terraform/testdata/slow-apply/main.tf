# Applying takes a few seconds: long enough to look at the state lock
# while the apply holds it.
resource "terraform_data" "slow" {
  input = "x"
  provisioner "local-exec" {
    command = "sleep 4"
  }
}
