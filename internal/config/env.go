package config

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Env is the configuration of a gkedr deployable (the functions, the CLI, the local stack), read
// once from the environment. The names and defaults are the contract of docs/ARCHITECTURE.md and
// are cross-checked against Terraform through EnvVarNames.
type Env struct {
	// PolicyFile is the path of the policy YAML, deployed with the function source. Note that the Go
	// buildpack moves the source under serverless_function_source_code/, which infra/ sets here; the
	// relative default suits the CLI run from a checkout.
	PolicyFile string `env:"GKEDR_POLICY_FILE, default=gkedr-policy.yaml"`
	// RequestsTopic is the Pub/Sub topic id of backup requests (scheduler ticks, migrations, sweeps).
	RequestsTopic string `env:"GKEDR_REQUESTS_TOPIC, default=gkedr-backup-requests"`
	// ReportsTopic is the Pub/Sub topic id that receives every report and refusal, for audit.
	ReportsTopic string `env:"GKEDR_REPORTS_TOPIC, default=gkedr-reports"`
	// MaxEventAge drops events older than this. An hour covers redelivery after a transient outage;
	// anything older is stale and the sweep re-derives what to do from the API's current state.
	MaxEventAge time.Duration `env:"GKEDR_MAX_EVENT_AGE, default=1h"`
	// SweepWindow is how far back the sweep looks for backups without restores and restores without
	// reports. A day spans four runs of a 6-hourly schedule; older backups are superseded anyway.
	SweepWindow time.Duration `env:"GKEDR_SWEEP_WINDOW, default=24h"`
	// RestoreConcurrency bounds the standbys handled in parallel for one backup. Eight keeps the
	// fan-out of a large policy inside one invocation's memory and time while serial calls would not.
	RestoreConcurrency int `env:"GKEDR_RESTORE_CONCURRENCY, default=8"`
	// RestoreQPS limits one instance's Backup for GKE calls per second (backups and restores
	// each). The API's documented rate
	// quota is 1,200 requests a minute (20/s) per project, shared with operators, Terraform and
	// other instances, so the default takes a quarter of it: a DR tool that exhausts the quota
	// during an incident blocks the humans too.
	RestoreQPS float64 `env:"GKEDR_RESTORE_QPS, default=5"`
	// NotifyTimeout bounds one chat/webhook post. A sink that takes longer than 30 s is down; the
	// report is also on the reports topic, so giving up loses nothing.
	NotifyTimeout time.Duration `env:"GKEDR_NOTIFY_TIMEOUT, default=30s"`
	// GKEBackupEmulatorHost (host:port) makes the gkebackup, longrunning and container clients dial
	// the local emulator insecurely without auth, like PUBSUB_EMULATOR_HOST; empty means production.
	GKEBackupEmulatorHost string `env:"GKEBACKUP_EMULATOR_HOST"`
	// PubSubEmulatorHost (host:port) points the Pub/Sub client at the emulator. The client library
	// reads the variable by itself too; reading it here lets the local stack configure its functions
	// without changing the process environment.
	PubSubEmulatorHost string `env:"PUBSUB_EMULATOR_HOST"`
}

// LocalOnlyEnvVars are the variables that point gkedr at emulators; a deployment never sets them.
var LocalOnlyEnvVars = []string{"GKEBACKUP_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"}

// maxFunctionTimeout is the limit of an event-driven function invocation.
const maxFunctionTimeout = 540 * time.Second

// topicIDRE is the Pub/Sub topic id rule.
var topicIDRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$`)

// LoadEnv reads Env through l (envconfig.OsLookuper() in production, envconfig.MapLookuper in tests;
// nil means the process environment) and validates it. Every malformed and every invalid value is
// reported at once, each as a *FieldError naming the env var.
func LoadEnv(ctx context.Context, l envconfig.Lookuper) (*Env, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	var env Env
	ev := reflect.ValueOf(&env).Elem()
	var errs []error
	for i, f := range fields[Env]() {
		// Note that each field is decoded on its own, through a one-field struct carrying the same
		// tag: envconfig stops at the first bad value, and an operator fixing a deployment should see
		// them all. The tags stay the single source of names and defaults.
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: f.Name, Type: f.Type, Tag: f.Tag}}))
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: one.Interface(), Lookuper: l}); err != nil {
			name := envName(f)
			raw, _ := l.Lookup(name)
			want, fix := envTypeHint(f.Type)
			errs = append(errs, &FieldError{Path: name, Problem: fmt.Sprintf("%q is not %s", raw, want), Fix: fix})
			continue
		}
		ev.Field(i).Set(one.Elem().Field(0))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("read environment: %w", errors.Join(errs...))
	}
	if err := env.Validate(); err != nil {
		return nil, fmt.Errorf("invalid environment: %w", err)
	}
	return &env, nil
}

// envTypeHint says what a value of type t looks like, for the error of a malformed value.
func envTypeHint(t reflect.Type) (want, fix string) {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration", "use a Go duration such as 30s, 15m or 1h"
	case t.Kind() == reflect.Int:
		return "an integer", "use a whole number such as 8"
	case t.Kind() == reflect.Float64:
		return "a number", "use a number such as 2 or 0.5"
	}
	return "valid", "correct the value"
}

// Validate checks the values and returns every problem at once, each naming its env var.
func (e *Env) Validate() error {
	var errs []error
	add := func(name, problem, fix string) {
		errs = append(errs, &FieldError{Path: name, Problem: problem, Fix: fix})
	}
	if e.PolicyFile == "" {
		add("GKEDR_POLICY_FILE", "is empty", "unset it to use gkedr-policy.yaml, or give the policy file's path")
	}
	for _, t := range []struct{ name, value, def string }{
		{"GKEDR_REQUESTS_TOPIC", e.RequestsTopic, "gkedr-backup-requests"},
		{"GKEDR_REPORTS_TOPIC", e.ReportsTopic, "gkedr-reports"},
	} {
		switch {
		case t.value == "":
			add(t.name, "is empty", "unset it to use "+t.def)
		case strings.HasPrefix(t.value, "projects/"):
			add(t.name, fmt.Sprintf("%q is a full topic name", t.value), "use the topic id only, e.g. "+t.def)
		case !topicIDRE.MatchString(t.value) || strings.HasPrefix(strings.ToLower(t.value), "goog"):
			add(t.name, fmt.Sprintf("%q is not a Pub/Sub topic id", t.value),
				"use 3–255 letters, digits or -_.~+%, starting with a letter and not with goog, e.g. "+t.def)
		}
	}
	if e.RequestsTopic != "" && e.RequestsTopic == e.ReportsTopic {
		add("GKEDR_REPORTS_TOPIC", "is the same topic as GKEDR_REQUESTS_TOPIC",
			"use separate topics: reports published to the requests topic would be read back as backup requests")
	}
	if e.MaxEventAge < time.Minute {
		add("GKEDR_MAX_EVENT_AGE", fmt.Sprintf("%s is shorter than a minute", Duration(e.MaxEventAge)),
			"use at least 1m so that ordinary delivery delays do not drop events, or unset it for 1h")
	}
	switch {
	case e.SweepWindow <= 0:
		add("GKEDR_SWEEP_WINDOW", fmt.Sprintf("%s is not positive", Duration(e.SweepWindow)), "unset it for 24h")
	case e.SweepWindow < e.MaxEventAge:
		add("GKEDR_SWEEP_WINDOW", fmt.Sprintf("%s is shorter than GKEDR_MAX_EVENT_AGE (%s)", Duration(e.SweepWindow), Duration(e.MaxEventAge)),
			"make it at least GKEDR_MAX_EVENT_AGE: the sweep must reach back over every event the functions drop as too old")
	}
	if e.RestoreConcurrency < 1 {
		add("GKEDR_RESTORE_CONCURRENCY", fmt.Sprintf("%d is less than 1", e.RestoreConcurrency), "use a positive number, or unset it for 8")
	}
	if !(e.RestoreQPS > 0) || math.IsInf(e.RestoreQPS, 0) {
		add("GKEDR_RESTORE_QPS", fmt.Sprintf("%v is not a positive rate", e.RestoreQPS), "use a positive number of calls per second, or unset it for 5")
	}
	if e.NotifyTimeout <= 0 || e.NotifyTimeout >= maxFunctionTimeout {
		add("GKEDR_NOTIFY_TIMEOUT", fmt.Sprintf("%s is outside (0, %s)", Duration(e.NotifyTimeout), Duration(maxFunctionTimeout)),
			"use a positive duration well under the function timeout, or unset it for 30s")
	}
	for _, v := range []struct{ name, value string }{
		{"GKEBACKUP_EMULATOR_HOST", e.GKEBackupEmulatorHost},
		{"PUBSUB_EMULATOR_HOST", e.PubSubEmulatorHost},
	} {
		if v.value == "" {
			continue
		}
		host, port, err := net.SplitHostPort(v.value)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			add(v.name, fmt.Sprintf("%q is not host:port", v.value),
				"use host:port without a scheme, e.g. 127.0.0.1:8086, or unset it to use the production endpoints")
		}
	}
	return errors.Join(errs...)
}

// EnvVarNames returns the names of every environment variable Env reads, in field order. The infra
// tests use it to check that Terraform sets each one.
func EnvVarNames() []string {
	var names []string
	for _, f := range fields[Env]() {
		names = append(names, envName(f))
	}
	return names
}

// envName is the variable name of an `env:"NAME, …"` tag.
func envName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return strings.TrimSpace(name)
}

// fields returns the struct fields of T.
func fields[T any]() []reflect.StructField {
	t := reflect.TypeFor[T]()
	out := make([]reflect.StructField, 0, t.NumField())
	for f := range t.Fields() {
		out = append(out, f)
	}
	return out
}
