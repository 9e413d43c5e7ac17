# A function whose trigger keeps the API's default of not retrying.
resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "asia-northeast1"

  service_config {
    ingress_settings = "ALLOW_INTERNAL_ONLY"
  }

  event_trigger {
    event_type   = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic = "projects/p/topics/t"
    retry_policy = "RETRY_POLICY_DO_NOT_RETRY"
  }
}
