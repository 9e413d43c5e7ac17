# A file Terraform cannot parse.
resource "google_pubsub_topic" "t" {
  name = "t"
