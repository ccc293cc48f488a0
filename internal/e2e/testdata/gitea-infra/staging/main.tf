terraform {
  backend "local" {
    path = "STATE_DIR/staging.tfstate"
  }
}

# The staging cluster's node group.
resource "terraform_data" "node_group" {
  input = {
    name         = "staging-workers"
    desired_size = 3
    max_size     = 4
  }
}

output "desired_size" {
  value = terraform_data.node_group.output.desired_size
}
