# A secret made long ago: it is in the state, and a later plan that does
# not change it still must not let it be shown.
resource "terraform_data" "token" {
  input = sensitive("canary-9c1e-old-token")
}
