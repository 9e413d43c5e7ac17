# A function whose trigger does not say how it retries (so it does not).
resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "asia-northeast1"

  service_config {
    ingress_settings = "ALLOW_INTERNAL_ONLY"
  }

  dynamic "event_trigger" {
    for_each = ["projects/p/topics/t"]
    content {
      event_type   = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic = event_trigger.value
    }
  }
}
