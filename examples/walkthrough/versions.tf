terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0.0, < 8.0.0"
    }
  }

  # State lives in a GCS bucket, because the deployment runs in Cloud Build, whose workspace is
  # discarded after each build. The bucket is given at init:
  #   terraform init -backend-config="bucket=PROJECT_ID-gkedr-tfstate" -backend-config="prefix=gkedr"
  # (scripts/deploy creates it if needed; `terraform init -backend=false` is enough to validate).
  backend "gcs" {}
}
