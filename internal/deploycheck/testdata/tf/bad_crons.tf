# Cron literals Cloud Scheduler rejects: six fields, a descriptor, a bad hour.
variable "sweep_schedule" {
  description = "sweep"
  type        = string
  default     = "0 */30 * * * *"
}

resource "google_cloud_scheduler_job" "a" {
  name     = "a"
  schedule = "@every 30m"
}

resource "google_cloud_scheduler_job" "b" {
  name     = "b"
  schedule = "0 25 * * *"
}
