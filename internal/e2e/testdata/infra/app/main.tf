terraform {
  backend "local" {
    path = "STATE_DIR/app.tfstate"
  }
}

resource "terraform_data" "node_group" {
  input = {
    desired_size = 3
  }
}
