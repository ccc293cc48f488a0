terraform {
  required_providers {
    sluicetest = {
      source  = "sluice.test/sluicehq/sluicetest"
      version = "0.1.0"
    }
  }
}

resource "sluicetest_cluster" "demo" {
  name = "demo"
}

output "cluster_name" {
  value = sluicetest_cluster.demo.name
}
