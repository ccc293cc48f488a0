terraform {
  required_providers {
    sluicetest = {
      source  = "sluice.test/sluicehq/sluicetest"
      version = "0.1.0"
    }
  }
}

resource "sluicetest_node_group" "workers" {
  cluster       = "demo"
  name          = "workers"
  instance_type = "t3.medium"
  desired_size  = 3
  min_size      = 1
  max_size      = 4
}

output "desired_size" {
  value = sluicetest_node_group.workers.desired_size
}
