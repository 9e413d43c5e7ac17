// Package deploycheck checks gkedr's deployment files offline, so that the names shared between the
// Go code and the deployment cannot drift apart unnoticed. A Cloud deployment is the one place
// where a renamed entry point, topic or environment variable fails only after it has shipped.
//
// The checks read what the deployment is made of — the Terraform in infra/ (parsed with
// hashicorp/hcl, never applied), the root package's entry point registrations (gkedr.go), the
// policy examples, cloudbuild.yaml, and the gcloud command lines of scripts/ and README.md — and
// compare them with the names the code uses (internal/config's environment variables and topic
// defaults, its restore defaults). Each check is a function over parsed input, so that its tests
// feed it a drifted copy and prove it fails.
//
// What this package cannot check is the provider schema: `terraform validate` needs the google
// provider, which is downloaded by `terraform init`. Cloud Build runs it before every deployment
// (cloudbuild.yaml, step tf-validate); scripts/check-infra runs terraform fmt and tflint.
package deploycheck
