# A scheduler job that leaves retries and the attempt deadline to the defaults.
resource "google_cloud_scheduler_job" "j" {
  name     = "j"
  schedule = "0 */6 * * *"

  pubsub_target {
    topic_name = "projects/p/topics/t"
    data       = base64encode("{}")
  }
}
