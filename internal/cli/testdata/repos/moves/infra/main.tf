# Renamed and imported on a branch by TestMovesAndImportsAreApplied.
terraform {
  backend "local" {
    path = "STATE_DIR/infra.tfstate"
  }
}

resource "terraform_data" "a" {
  input = "x"
}
