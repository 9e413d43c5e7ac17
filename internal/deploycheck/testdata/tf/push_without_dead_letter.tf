# A push subscription that retries without backoff bounds and never dead-letters.
resource "google_pubsub_subscription" "s" {
  name  = "s"
  topic = "projects/p/topics/t"

  push_config {
    push_endpoint = "https://example.invalid/"
  }
}
