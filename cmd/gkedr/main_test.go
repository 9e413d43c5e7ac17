package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// binDir holds the gkedr binary that the subprocess tests build once.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gkedr-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "gkedr")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// binary builds cmd/gkedr once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runCLI runs the CLI in process with env as its whole environment.
func runCLI(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, cli{stdout: &out, stderr: &errOut, lookup: envconfig.MapLookuper(env)}, args)
	return code, out.String(), errOut.String()
}

// walkthroughPolicyFile is the example policy the drill embeds.
const walkthroughPolicyFile = "../../examples/walkthrough/gkedr-policy.yaml"

func TestRunDispatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no_command_is_usage", nil, exitUsage, "usage: gkedr <command>"},
		{"help_lists_commands", []string{"--help"}, exitOK, "drill"},
		{"unknown_command", []string{"deploy"}, exitUsage, `unknown command "deploy"`},
		{"drill_help", []string{"drill", "--help"}, exitOK, "--timeout"},
		{"validate_help", []string{"validate", "-h"}, exitOK, "--policy"},
		{"plan_help", []string{"plan", "--help"}, exitOK, "Dry run"},
		{"migrate_help", []string{"migrate", "--help"}, exitOK, "--backup"},
		{"status_help", []string{"status", "--help"}, exitOK, "RPO"},
		{"bad_flag", []string{"drill", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"stray_argument", []string{"validate", "--policy", walkthroughPolicyFile, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad_timeout", []string{"drill", "--timeout", "-1s"}, exitUsage, "--timeout"},
		{"bad_pubsub_mode", []string{"drill", "--pubsub", "cloud"}, exitUsage, "--pubsub"},
		{"drill_with_a_broken_policy", []string{"drill", "--policy", "testdata/bad-policy.yaml"}, exitUsage, "sources[0].standbys[0].restorePlan"},
		{"drill_with_a_missing_world", []string{"drill", "--world", "testdata/none.yaml"}, exitUsage, "world file is not usable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t.Context(), nil, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("gkedr %v = %d, stderr:\n%s\nwant %d and %q", tc.args, code, stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		// wantStderr are substrings of the output on stderr, each problem with its path.
		wantStderr []string
	}{
		{
			name:       "walkthrough_policy_is_valid",
			args:       []string{"--policy", walkthroughPolicyFile},
			wantCode:   exitOK,
			wantStdout: "is valid: project gkedr-demo, 1 source, 2 standbys, 2 notify channels",
		},
		{
			name:     "every_problem_is_listed",
			args:     []string{"--policy", "testdata/bad-policy.yaml"},
			wantCode: exitUsage,
			wantStderr: []string{
				"(3 problems)",
				"  - sources[0].schedule:",
				"  - sources[0].standbys[0].restorePlan:",
				"  - notify[0].type:",
			},
		},
		{
			name:       "missing_file",
			args:       []string{"--policy", "testdata/none.yaml"},
			wantCode:   exitUsage,
			wantStderr: []string{"none.yaml"},
		},
		{
			name:       "policy_flag_is_required",
			wantCode:   exitUsage,
			wantStderr: []string{"--policy is required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t.Context(), nil, append([]string{"validate"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit %d; want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout, tc.wantStdout)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}
