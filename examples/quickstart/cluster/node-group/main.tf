# The cluster's managed node group, modelled with Terraform's built-in
# terraform_data resource: the same plan and apply as with a real cloud
# provider, with no account and no network needed.
resource "terraform_data" "node_group" {
  input = {
    cluster_name  = "demo"
    name          = "workers"
    instance_type = "t3.medium"
    desired_size  = 3
    min_size      = 1
    max_size      = 4
  }
}

output "desired_size" {
  value = terraform_data.node_group.output.desired_size
}
