package deploycheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/protobuf/types/known/durationpb"
)

// CheckSchedulerJobs checks that every google_cloud_scheduler_job of the module is one of the jobs
// internal/schedule describes — the ones the local stack runs — with the same id (or id prefix,
// for a job per source), attempt deadline and retry_config, and, for the sweep, the same default
// schedule. want maps the Terraform resource name to the job.
func CheckSchedulerJobs(m *Module, want map[string]*schedulerpb.Job) error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range m.Resources("google_cloud_scheduler_job") {
		name := r.Labels[1]
		job, ok := want[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: scheduler job %s is not one of internal/schedule's jobs %v; describe it there so the local stack runs it too", r.Where(), name, sortedKeys(want)))
			continue
		}
		seen[name] = true
		id := job.GetName()[strings.LastIndex(job.GetName(), "/")+1:]
		if got := templatePrefix(r.Body, "name"); got == "" || !strings.HasPrefix(id, got) {
			errs = append(errs, fmt.Errorf("%s: job name starts %q, but internal/schedule names it %s", r.Where(), got, id))
		}
		if got, _ := attrLiteral(r.Body, "attempt_deadline"); got != durationText(job.GetAttemptDeadline()) {
			errs = append(errs, fmt.Errorf("%s: attempt_deadline %q, internal/schedule has %s", r.Where(), got, durationText(job.GetAttemptDeadline())))
		}
		errs = append(errs, checkRetryConfig(r, job.GetRetryConfig())...)
	}
	for name := range want {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("%s: no google_cloud_scheduler_job %q, which internal/schedule describes", m.Dir, name))
		}
	}
	return errors.Join(errs...)
}

// CheckSweepSchedule checks the default of the variable that sets the sweep's cron.
func CheckSweepSchedule(m *Module, variable, want string) error {
	for _, v := range m.Blocks("variable", variable) {
		if got, _ := attrLiteral(v.Body, "default"); got != want {
			return fmt.Errorf("%s: variable %s defaults to %q, internal/schedule to %q", v.Where(), variable, got, want)
		}
		return nil
	}
	return fmt.Errorf("%s: no variable %s", m.Dir, variable)
}

func checkRetryConfig(r Block, want *schedulerpb.RetryConfig) []error {
	blocks := nested(r.Body, "retry_config")
	if len(blocks) != 1 {
		return []error{fmt.Errorf("%s: want one retry_config block", r.Where())}
	}
	var errs []error
	for attr, w := range map[string]string{
		"retry_count":          strconv.Itoa(int(want.GetRetryCount())),
		"max_doublings":        strconv.Itoa(int(want.GetMaxDoublings())),
		"min_backoff_duration": durationText(want.GetMinBackoffDuration()),
		"max_backoff_duration": durationText(want.GetMaxBackoffDuration()),
	} {
		if got := attrText(blocks[0], attr); got != w {
			errs = append(errs, fmt.Errorf("%s: retry_config.%s = %q, internal/schedule has %q", r.Where(), attr, got, w))
		}
	}
	return errs
}

// attrText renders a literal string or number attribute; "" when it is neither.
func attrText(body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	switch {
	case diags.HasErrors() || !v.IsKnown() || v.IsNull():
		return ""
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	}
	return ""
}

// templatePrefix returns the literal text an attribute's string template starts with.
func templatePrefix(body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		return ""
	}
	t, ok := a.Expr.(*hclsyntax.TemplateExpr)
	if !ok || len(t.Parts) == 0 {
		return ""
	}
	s, _ := literal(t.Parts[0])
	return s
}

// durationText writes a duration as Terraform's google provider takes it, e.g. "60s".
func durationText(d *durationpb.Duration) string {
	return strconv.FormatInt(d.GetSeconds(), 10) + "s"
}
