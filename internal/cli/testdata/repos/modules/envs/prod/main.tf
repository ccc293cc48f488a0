terraform {
  backend "local" {
    path = "STATE_DIR/prod.tfstate"
  }
}

module "box" {
  source = "../../modules/box"
  size   = 3
}
