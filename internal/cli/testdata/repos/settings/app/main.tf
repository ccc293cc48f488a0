# Plain settings kept as sensitive values (as in a parameter store): the
# plan must still show the changes of what uses them.
resource "terraform_data" "env" {
  input = sensitive("prod")
}

resource "terraform_data" "region" {
  input = sensitive("production-east")
}

resource "terraform_data" "svc" {
  input = {
    name = "api-production-east"
    db   = "prod-db"
  }
}
