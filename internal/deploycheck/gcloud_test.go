package deploycheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/testutil"
)

func TestScriptGcloudCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script string
		want   []GcloudCommand
	}{
		{
			name:   "continuation_and_expansions",
			script: "#!/bin/bash\n\ngcloud builds submit \"${ROOT}\" \\\n  --project=\"${PROJECT_ID}\" \\\n  --substitutions=\"_REGION=${REGION},_TAG=$TAG\"\n",
			want:   []GcloudCommand{{Where: "s:3", Args: []string{"builds", "submit", "placeholder", "--project=placeholder", "--substitutions=_REGION=placeholder,_TAG=placeholder"}}},
		},
		{
			name:   "command_substitution_and_pipe",
			script: "enabled=\"$(gcloud services list --enabled --format='value(config.name)')\"\ngcloud auth print-access-token >/dev/null 2>&1 || die \"run 'gcloud auth login'\"\n",
			want: []GcloudCommand{
				{Where: "s:1", Args: []string{"services", "list", "--enabled", "--format=value(config.name)"}},
				{Where: "s:2", Args: []string{"auth", "print-access-token"}},
			},
		},
		{
			name:   "not_commands",
			script: "# gcloud builds submit in a comment\nrequire_cmd gcloud \"install it\"\ncommand -v gcloud >/dev/null\necho \"gcloud is missing\"\nlog \"run gcloud\"\n",
		},
		{
			name:   "nested_expansion_in_argument",
			script: "gcloud secrets versions add \"gkedr-$(echo \"${N}\" | tr A-Z a-z)\" --data-file=- # trailing comment\n",
			want:   []GcloudCommand{{Where: "s:1", Args: []string{"secrets", "versions", "add", "gkedr-placeholder", "--data-file=-"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ScriptGcloudCommands("s", []byte(tc.script))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ScriptGcloudCommands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarkdownGcloudCommands(t *testing.T) {
	t.Parallel()
	md := "# Title\n\nProse that says gcloud builds submit is run.\n\n```sh\n$ gcloud storage buckets update \"gs://${B}\" --versioning\n```\n\nMore `gcloud iam roles undelete` prose.\n\n```\ngcloud services enable a.googleapis.com \\\n  --project=p\n```\n"
	want := []GcloudCommand{
		{Where: "README.md:6", Args: []string{"storage", "buckets", "update", "gs://placeholder", "--versioning"}},
		{Where: "README.md:12", Args: []string{"services", "enable", "a.googleapis.com", "--project=p"}},
	}
	if diff := cmp.Diff(want, MarkdownGcloudCommands("README.md", []byte(md))); diff != "" {
		t.Errorf("MarkdownGcloudCommands (-want +got):\n%s", diff)
	}
}

// repoGcloudCommands returns the gcloud command lines of scripts/ and README.md.
func repoGcloudCommands(t *testing.T) []GcloudCommand {
	t.Helper()
	root := repoRoot(t)
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []GcloudCommand
	for _, p := range scripts {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, ScriptGcloudCommands(filepath.Join("scripts", filepath.Base(p)), src)...)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds = append(cmds, MarkdownGcloudCommands("README.md", readme)...)
	// scripts/deploy alone has several: finding none means the extraction broke.
	if !slices.ContainsFunc(cmds, func(c GcloudCommand) bool { return strings.HasPrefix(c.Where, "scripts/deploy:") }) {
		t.Fatalf("no gcloud command found in scripts/deploy (found %d elsewhere)", len(cmds))
	}
	return cmds
}

// TestGcloudCommandLines runs every gcloud command line of scripts/ and README.md with gcloud and
// no credentials: a wrong command, flag or flag value exits 2 during parsing, while a valid line
// gets as far as the missing credentials (exit 1) or succeeds.
func TestGcloudCommandLines(t *testing.T) {
	t.Parallel()
	cmds := repoGcloudCommands(t)
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		testutil.RequireOrSkip(t, "gcloud", "install google-cloud-cli")
	}
	root := repoRoot(t)
	// The drift case: a real command line with a flag gcloud does not have must exit 2, which is
	// what proves that exit 2 is how this test sees a wrong flag.
	bogus := cmds[0]
	bogus.Args = append(slices.Clone(bogus.Args), "--no-such-flag-gkedr")
	cases := []struct {
		cmd      GcloudCommand
		wantExit func(int) bool
		want     string
	}{
		{cmd: bogus, wantExit: func(c int) bool { return c == ExitUnrecognizedArguments }, want: "exit 2"},
	}
	for _, c := range cmds {
		cases = append(cases, struct {
			cmd      GcloudCommand
			wantExit func(int) bool
			want     string
		}{cmd: c, wantExit: func(c int) bool { return c != ExitUnrecognizedArguments }, want: "an exit other than 2"})
	}
	for i, tc := range cases {
		name := strings.ReplaceAll(tc.cmd.Where, "/", "_")
		if i == 0 {
			name = "bogus_flag"
		}
		// Subtests run in parallel, bounded by go test's -parallel (GOMAXPROCS by default): each
		// gcloud start costs about a second of CPU.
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !RunnableOffline(tc.cmd.Args) {
				t.Skipf("%s: %s starts local work (an emulator, a login): it cannot be checked by running it", tc.cmd.Where, tc.cmd)
			}
			// A valid command stops at the credentials check within seconds; the bound turns a hang
			// (gcloud waiting on the network) into a failure instead of a stuck suite.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			res, err := RunGcloudOffline(ctx, gcloud, t.TempDir(), root, tc.cmd.Args)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantExit(res.ExitCode) {
				t.Errorf("%s: %s exited %d, want %s:\n%s", tc.cmd.Where, tc.cmd, res.ExitCode, tc.want, res.Output)
			}
		})
	}
}

func TestRunnableOffline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want bool
	}{
		{name: "api_call", args: []string{"builds", "submit", "."}, want: true},
		{name: "emulator", args: []string{"beta", "emulators", "pubsub", "start"}, want: false},
		{name: "login", args: []string{"auth", "login"}, want: false},
		{name: "print_token", args: []string{"auth", "print-access-token"}, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := RunnableOffline(tc.args); got != tc.want {
				t.Errorf("RunnableOffline(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

// TestRunGcloudOfflineTimeout checks that a context deadline ends gcloud and is an error, not an
// exit status.
func TestRunGcloudOfflineTimeout(t *testing.T) {
	t.Parallel()
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		testutil.RequireOrSkip(t, "gcloud", "install google-cloud-cli")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, err = RunGcloudOffline(ctx, gcloud, t.TempDir(), t.TempDir(), []string{"version"})
	checkErr(t, err, "run gcloud version")
}
