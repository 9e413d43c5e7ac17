# Log-based metrics and an alert on the verification reports.
#
# Contract with internal/verify (VerifyRestore): for every report, including refusals, the function
# writes one log line at severity NOTICE whose message is "restore verified" and whose JSON payload
# has the fields verdict (PASS, WARN, PENDING, FAIL, REFUSED), source and standby (policy names),
# rpo_seconds and rto_seconds (numbers; absent when unknown, e.g. for a refusal). Changing any of
# these names breaks the metrics below without an error anywhere: change both sides together.
locals {
  _verified_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.this["verify-restore"].name}\"",
    "severity=NOTICE",
    "jsonPayload.message=\"restore verified\"",
  ])

  _target_labels = {
    source  = "EXTRACT(jsonPayload.source)"
    standby = "EXTRACT(jsonPayload.standby)"
  }
}

resource "google_logging_metric" "restore_verdicts" {
  project     = local.project_id
  name        = "gkedr/restore_verdicts"
  description = "Verification reports of gkedr restores, by source, standby and verdict."
  filter      = local._verified_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "gkedr restore verdicts"

    labels {
      key         = "source"
      value_type  = "STRING"
      description = "The policy name of the source cluster."
    }
    labels {
      key         = "standby"
      value_type  = "STRING"
      description = "The policy name of the standby cluster."
    }
    labels {
      key         = "verdict"
      value_type  = "STRING"
      description = "PASS, WARN, PENDING, FAIL or REFUSED."
    }
  }

  label_extractors = merge(local._target_labels, {
    verdict = "EXTRACT(jsonPayload.verdict)"
  })
}

# RPO and RTO share the bucket layout: powers of two seconds, from 1 s to about 97 days.
resource "google_logging_metric" "objective" {
  for_each = {
    rpo = "RPO: restore start minus backup completion"
    rto = "RTO: standby ready minus restore creation"
  }

  project         = local.project_id
  name            = "gkedr/${each.key}_seconds"
  description     = "${each.value}, in seconds, per verified gkedr restore."
  filter          = local._verified_filter
  value_extractor = "EXTRACT(jsonPayload.${each.key}_seconds)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "gkedr ${upper(each.key)}"

    labels {
      key         = "source"
      value_type  = "STRING"
      description = "The policy name of the source cluster."
    }
    labels {
      key         = "standby"
      value_type  = "STRING"
      description = "The policy name of the standby cluster."
    }
  }

  label_extractors = local._target_labels

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 1
    }
  }
}

# An example alert: any FAIL or REFUSED verdict within the last hour opens an incident.
resource "google_monitoring_alert_policy" "restore_failed" {
  project               = local.project_id
  display_name          = "gkedr: restore FAIL or REFUSED"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "a FAIL or REFUSED restore verdict in the last hour"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.restore_verdicts.name}\"",
        "metric.label.verdict = one_of(\"FAIL\", \"REFUSED\")",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.source", "metric.label.standby"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A gkedr restore was refused by a safety guard or failed verification. The report was posted to chat and published on gkedr-reports; `gkedr status` shows it. Fix the cause named in the report; the next backup or the sweep restores again."
  }
}
