# tflint configuration for infra/ and examples/ (scripts/check-infra). Only the terraform ruleset
# bundled in the tflint binary is used: no plugin is downloaded, so the check runs offline.
config {
  # The examples call ../../infra; lint it as part of them.
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

# Beyond the recommended preset: the conventions of STYLE.md rule 15.
rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_documented_variables" {
  enabled = true
}

# snake_case everywhere; intermediate locals carry a leading underscore (STYLE.md rule 15).
rule "terraform_naming_convention" {
  enabled = true

  locals {
    custom = "^_?[a-z][a-z0-9]*(_[a-z0-9]+)*$"
  }
}

rule "terraform_comment_syntax" {
  enabled = true
}

rule "terraform_unused_required_providers" {
  enabled = true
}
