resource "terraform_data" "node_group" {
  input = {
    desired_size = 3
  # the closing brace of input is missing
}
