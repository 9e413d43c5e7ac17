package deploycheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/robfig/cron/v3"
	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"
)

// Values the deployment must use.
const (
	// RetryPolicyRetry is the only acceptable retry_policy of a function's event_trigger: the API's
	// default is not to retry, which turns every transient failure into a lost event.
	RetryPolicyRetry = "RETRY_POLICY_RETRY"
	// IngressInternalOnly keeps the functions unreachable from the internet: only Pub/Sub and
	// Eventarc of the same project deliver to them.
	IngressInternalOnly = "ALLOW_INTERNAL_ONLY"
)

// Kinds of resource the checks read.
const (
	resFunction       = "google_cloudfunctions2_function"
	resTopic          = "google_pubsub_topic"
	resSubscription   = "google_pubsub_subscription"
	resEventarc       = "google_eventarc_trigger"
	resSchedulerJob   = "google_cloud_scheduler_job"
	resCloudRunV2     = "google_cloud_run_v2_service"
	ingressRunV2Param = "INGRESS_TRAFFIC_INTERNAL_ONLY"
)

// CheckEntryPoints checks that the entry points deployed by Terraform (every `entry_point` literal,
// whether a resource argument or a field of the local map the functions iterate) and those
// registered in the root package are the same set.
func CheckEntryPoints(m *Module, registered []string) error {
	deployed := m.literalsByKey("entry_point")
	if len(deployed) == 0 {
		return fmt.Errorf("no entry_point literal in %s: keep the entry point names in the functions map as literals", m.Dir)
	}
	var errs []error
	for _, ep := range deployed {
		if !slices.Contains(registered, ep) {
			errs = append(errs, fmt.Errorf("entry point %q is deployed by %s but not registered in gkedr.go: register it with functions.CloudEvent or fix the name", ep, m.Dir))
		}
	}
	for _, ep := range registered {
		if !slices.Contains(deployed, ep) {
			errs = append(errs, fmt.Errorf("entry point %q is registered in gkedr.go but no function in %s deploys it: add it to the functions map or remove the registration", ep, m.Dir))
		}
	}
	return errors.Join(errs...)
}

// CheckTopics checks that every topic the code uses exists as a google_pubsub_topic with that
// literal name.
func CheckTopics(m *Module, topics []string) error {
	var have []string
	for _, b := range m.Resources(resTopic) {
		if n, ok := attrLiteral(b.Body, "name"); ok {
			have = append(have, n)
		}
	}
	var errs []error
	for _, t := range topics {
		if !slices.Contains(have, t) {
			errs = append(errs, fmt.Errorf("topic %q is used by the code but no %s in %s is named so (topics there: %v): create it or fix config's default", t, resTopic, m.Dir, have))
		}
	}
	return errors.Join(errs...)
}

// CheckEnv checks that every function sets each variable of required in its environment_variables,
// and that no variable of forbidden (the emulator endpoints) is set, or even written, anywhere.
func CheckEnv(m *Module, required, forbidden []string) error {
	fns := m.Resources(resFunction)
	if len(fns) == 0 {
		return fmt.Errorf("no %s in %s", resFunction, m.Dir)
	}
	var errs []error
	for _, fn := range fns {
		var keys []string
		for _, sc := range nested(fn.Body, "service_config") {
			a, ok := sc.Attributes["environment_variables"]
			if !ok {
				continue
			}
			k, err := m.objectKeys(a.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: read environment_variables: %w", fn.Where(), fn.Name(), err))
				continue
			}
			keys = append(keys, k...)
		}
		for _, name := range required {
			if !slices.Contains(keys, name) {
				errs = append(errs, fmt.Errorf("%s %s: environment variable %s, which internal/config reads, is not set: add it to the functions' environment", fn.Where(), fn.Name(), name))
			}
		}
		for _, name := range forbidden {
			if slices.Contains(keys, name) {
				errs = append(errs, fmt.Errorf("%s %s: %s is set, but it points gkedr at an emulator: remove it from the deployment", fn.Where(), fn.Name(), name))
			}
		}
	}
	m.visit(func(file string, n hclsyntax.Node) {
		for _, s := range textFragments(n) {
			for _, name := range forbidden {
				if strings.Contains(s, name) {
					errs = append(errs, fmt.Errorf("%s:%d: %q mentions %s, which is local-only: remove it from the deployment", file, n.Range().Start.Line, s, name))
				}
			}
		}
	})
	return errors.Join(errs...)
}

// nodeLiteral returns the value of a node that is a quoted string without interpolation. Only
// template nodes are considered: the literal parts inside them are visited too, and would
// otherwise be reported twice.
func nodeLiteral(n hclsyntax.Node) (string, bool) {
	if e, ok := n.(*hclsyntax.TemplateExpr); ok {
		return literal(e)
	}
	return "", false
}

// textFragments returns the literal text a node writes: the literal parts of a string template,
// or the name of a bare object key.
func textFragments(n hclsyntax.Node) []string {
	switch e := n.(type) {
	case *hclsyntax.TemplateExpr:
		var out []string
		for _, p := range e.Parts {
			if s, ok := literal(p); ok {
				out = append(out, s)
			}
		}
		return out
	case *hclsyntax.ObjectConsKeyExpr:
		if k := hcl.ExprAsKeyword(e.Wrapped); k != "" {
			return []string{k}
		}
	}
	return nil
}

// CheckRetries checks that every delivery path retries a failed event:
//   - every event_trigger of a function sets retry_policy = "RETRY_POLICY_RETRY" (the default is
//     not to retry);
//   - no Eventarc trigger sets retry_policy (its only accepted max_attempts, 1, disables retries);
//   - every push subscription has a retry_policy with both backoff bounds and a dead_letter_policy
//     with max_delivery_attempts, so that a poison message stops and is kept;
//   - every Cloud Scheduler job has a retry_config and an attempt_deadline.
func CheckRetries(m *Module) error {
	var errs []error
	for _, fn := range m.Resources(resFunction) {
		for _, et := range nested(fn.Body, "event_trigger") {
			if p, ok := attrLiteral(et, "retry_policy"); !ok || p != RetryPolicyRetry {
				errs = append(errs, fmt.Errorf("%s %s: event_trigger must set retry_policy = %q (got %q): the default drops events on a transient failure", fn.Where(), fn.Name(), RetryPolicyRetry, p))
			}
		}
	}
	for _, t := range m.Resources(resEventarc) {
		if _, ok := t.Body.Attributes["retry_policy"]; ok || len(nested(t.Body, "retry_policy")) > 0 {
			errs = append(errs, fmt.Errorf("%s %s: remove retry_policy: max_attempts can only be 1, which disables Eventarc's retries", t.Where(), t.Name()))
		}
	}
	for _, s := range m.Resources(resSubscription) {
		if len(nested(s.Body, "push_config")) == 0 {
			continue
		}
		rp := nested(s.Body, "retry_policy")
		if len(rp) == 0 || rp[0].Attributes["minimum_backoff"] == nil || rp[0].Attributes["maximum_backoff"] == nil {
			errs = append(errs, fmt.Errorf("%s %s: a push subscription needs retry_policy { minimum_backoff, maximum_backoff }: without it a failing function is hammered without backoff", s.Where(), s.Name()))
		}
		dl := nested(s.Body, "dead_letter_policy")
		if len(dl) == 0 || dl[0].Attributes["dead_letter_topic"] == nil || dl[0].Attributes["max_delivery_attempts"] == nil {
			errs = append(errs, fmt.Errorf("%s %s: a push subscription needs dead_letter_policy { dead_letter_topic, max_delivery_attempts }: without it a poison message is retried until it expires", s.Where(), s.Name()))
		}
	}
	for _, j := range m.Resources(resSchedulerJob) {
		if len(nested(j.Body, "retry_config")) == 0 {
			errs = append(errs, fmt.Errorf("%s %s: set retry_config explicitly: a failed publish is otherwise a missed backup", j.Where(), j.Name()))
		}
		if j.Body.Attributes["attempt_deadline"] == nil {
			errs = append(errs, fmt.Errorf("%s %s: set attempt_deadline explicitly", j.Where(), j.Name()))
		}
	}
	return errors.Join(errs...)
}

// broadGrants are IAM roles and members that gkedr's least-privilege deployment never grants.
var broadGrants = []struct{ value, why string }{
	{"roles/owner", "grant the narrow roles the function needs instead"},
	{"roles/editor", "grant the narrow roles the function needs instead"},
	{"allUsers", "the functions must not be invocable by anyone"},
	{"allAuthenticatedUsers", "the functions must not be invocable by any Google account"},
}

// CheckNoBroadGrants checks that no literal in the module grants roles/owner or roles/editor or
// names allUsers or allAuthenticatedUsers, wherever the literal is (a binding's role, a local list
// of roles iterated by for_each).
func CheckNoBroadGrants(m *Module) error {
	var errs []error
	m.visit(func(file string, n hclsyntax.Node) {
		s, ok := nodeLiteral(n)
		if !ok {
			return
		}
		for _, g := range broadGrants {
			if s == g.value {
				errs = append(errs, fmt.Errorf("%s:%d: %q is granted: %s", file, n.Range().Start.Line, s, g.why))
			}
		}
	})
	return errors.Join(errs...)
}

// CheckIngress checks that every function accepts internal traffic only.
func CheckIngress(m *Module) error {
	var errs []error
	for _, fn := range m.Resources(resFunction) {
		scs := nested(fn.Body, "service_config")
		got := ""
		if len(scs) > 0 {
			got, _ = attrLiteral(scs[0], "ingress_settings")
		}
		if got != IngressInternalOnly {
			errs = append(errs, fmt.Errorf("%s %s: service_config.ingress_settings must be %q (got %q): the functions take events from Pub/Sub and Eventarc only", fn.Where(), fn.Name(), IngressInternalOnly, got))
		}
	}
	for _, s := range m.Resources(resCloudRunV2) {
		if got, _ := attrLiteral(s.Body, "ingress"); got != ingressRunV2Param {
			errs = append(errs, fmt.Errorf("%s %s: ingress must be %q (got %q)", s.Where(), s.Name(), ingressRunV2Param, got))
		}
	}
	return errors.Join(errs...)
}

// cronParser parses Cloud Scheduler's unix-cron format: five fields, no seconds and no @every
// descriptors, which Cloud Scheduler does not accept.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Cron is one cron expression found in a deployment file, with where it was found.
type Cron struct {
	// Where is "file:line" or a policy path, for messages.
	Where string
	// Spec is the cron expression.
	Spec string
	// TimeZone is the IANA zone that goes with Spec, when the file gives one.
	TimeZone string
}

// TerraformCrons returns the cron literals of a module: every literal `schedule` attribute, and the
// default of every variable whose name ends in "schedule".
func TerraformCrons(m *Module) []Cron {
	var out []Cron
	m.visit(func(file string, n hclsyntax.Node) {
		if a, ok := n.(*hclsyntax.Attribute); ok && a.Name == "schedule" {
			if s, ok := literal(a.Expr); ok {
				out = append(out, Cron{Where: fmt.Sprintf("%s:%d", file, a.SrcRange.Start.Line), Spec: s})
			}
		}
	})
	for _, v := range m.Blocks("variable") {
		if len(v.Labels) != 1 || !strings.HasSuffix(v.Labels[0], "schedule") {
			continue
		}
		if s, ok := attrLiteral(v.Body, "default"); ok {
			out = append(out, Cron{Where: v.Where() + " variable " + v.Labels[0], Spec: s})
		}
	}
	return out
}

// PolicyCrons returns the schedules (and their time zones) of a policy YAML. It reads the file
// loosely, so that a schedule is checked even in a policy that config.Parse would reject for
// another reason.
func PolicyCrons(name string, data []byte) ([]Cron, error) {
	var p struct {
		Sources []struct {
			Name     string `json:"name"`
			Schedule string `json:"schedule"`
			TimeZone string `json:"timeZone"`
		} `json:"sources"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	var out []Cron
	for i, s := range p.Sources {
		if s.Schedule == "" {
			continue
		}
		out = append(out, Cron{Where: fmt.Sprintf("%s sources[%d] (%s)", name, i, s.Name), Spec: s.Schedule, TimeZone: s.TimeZone})
	}
	return out, nil
}

// CheckCrons checks that every cron parses as Cloud Scheduler's five-field cron and that every
// time zone is a known IANA zone.
func CheckCrons(crons []Cron) error {
	var errs []error
	for _, c := range crons {
		if _, err := cronParser.Parse(c.Spec); err != nil {
			errs = append(errs, fmt.Errorf("%s: schedule %q is not a five-field cron: %w", c.Where, c.Spec, err))
		}
		if c.TimeZone != "" {
			if _, err := time.LoadLocation(c.TimeZone); err != nil {
				errs = append(errs, fmt.Errorf("%s: timeZone %q is not an IANA time zone: %w", c.Where, c.TimeZone, err))
			}
		}
	}
	return errors.Join(errs...)
}

// RestoreDefaults are the restore defaults of DESIGN §4 that Terraform's RestorePlans and
// internal/config must agree on.
type RestoreDefaults struct {
	StandbyMode                   string
	OtherMode                     string
	ClusterResourceConflictPolicy string
	VolumeDataRestorePolicy       string
	ClusterResourceScope          []string
}

// CheckRestoreDefaults checks the module's local _restore_defaults (gkebackup.tf) against want.
func CheckRestoreDefaults(m *Module, want RestoreDefaults) error {
	def, ok := m.locals["_restore_defaults"]
	if !ok {
		return fmt.Errorf("local _restore_defaults is not defined in %s: keep the RestorePlan defaults there", m.Dir)
	}
	v, diags := def.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().IsObjectType() {
		return fmt.Errorf("local _restore_defaults at %s must be an object of literals: %w", def.SrcRange, diags)
	}
	str := func(name string) string {
		if !v.Type().HasAttribute(name) {
			return ""
		}
		a := v.GetAttr(name)
		if a.IsNull() || !a.Type().Equals(cty.String) {
			return ""
		}
		return a.AsString()
	}
	var scope []string
	if v.Type().HasAttribute("cluster_resource_scope") {
		s := v.GetAttr("cluster_resource_scope")
		if s.CanIterateElements() {
			for it := s.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.Type().Equals(cty.String) {
					scope = append(scope, e.AsString())
				}
			}
		}
	}
	var errs []error
	for _, c := range []struct{ name, got, want string }{
		{"standby_mode", str("standby_mode"), want.StandbyMode},
		{"other_mode", str("other_mode"), want.OtherMode},
		{"cluster_resource_conflict_policy", str("cluster_resource_conflict_policy"), want.ClusterResourceConflictPolicy},
		{"volume_data_restore_policy", str("volume_data_restore_policy"), want.VolumeDataRestorePolicy},
	} {
		if c.got != c.want {
			errs = append(errs, fmt.Errorf("%s: _restore_defaults.%s is %q, internal/config says %q: make them equal", def.SrcRange, c.name, c.got, c.want))
		}
	}
	if !slices.Equal(scope, want.ClusterResourceScope) {
		errs = append(errs, fmt.Errorf("%s: _restore_defaults.cluster_resource_scope is %q, internal/config says %q: make them equal", def.SrcRange, scope, want.ClusterResourceScope))
	}
	return errors.Join(errs...)
}
