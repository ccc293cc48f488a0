terraform {
  backend "local" {
    path = "STATE_DIR/network.tfstate"
  }
}

resource "terraform_data" "vpc" {
  input = {
    cidr_block = "10.0.0.0/16"
  }
}
