# The network the cluster runs in, modelled with Terraform's built-in
# terraform_data resource so the quickstart needs no cloud account and no
# network access.
resource "terraform_data" "vpc" {
  input = {
    name       = "demo"
    cidr_block = "10.0.0.0/16"
  }
}

output "vpc_name" {
  value = terraform_data.vpc.output.name
}
