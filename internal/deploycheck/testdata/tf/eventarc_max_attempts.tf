# An Eventarc trigger with max_attempts = 1, the only accepted value, which disables retries.
resource "google_eventarc_trigger" "t" {
  name     = "t"
  location = "asia-northeast1"

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.gkebackup.backup.v1.updated"
  }

  retry_policy {
    max_attempts = 1
  }

  destination {
    cloud_run_service {
      service = "s"
      region  = "asia-northeast1"
    }
  }
}
