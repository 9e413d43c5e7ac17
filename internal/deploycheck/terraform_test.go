package deploycheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/schedule"
)

// terraformDirs returns every directory under infra/ and examples/ that holds .tf files.
func terraformDirs(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	var dirs []string
	for _, top := range []string{"infra", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			if !d.IsDir() && filepath.Ext(p) == ".tf" {
				rel, err := filepath.Rel(root, filepath.Dir(p))
				if err != nil {
					return err
				}
				if !slices.Contains(dirs, rel) {
					dirs = append(dirs, rel)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", top, err)
		}
	}
	return dirs
}

func TestLoadModule(t *testing.T) {
	t.Parallel()
	dirs := terraformDirs(t)
	for _, want := range []string{"infra", filepath.Join("examples", "walkthrough")} {
		if !slices.Contains(dirs, want) {
			t.Fatalf("terraform directories %q do not include %s", dirs, want)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			if _, err := LoadModule(filepath.Join(repoRoot(t), dir)); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("syntax_error", func(t *testing.T) {
		t.Parallel()
		src, err := os.ReadFile(filepath.Join("testdata", "tf", "syntax_error.tf"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseModule("testdata/tf", map[string][]byte{"syntax_error.tf": src})
		checkErr(t, err, "syntax_error.tf", "parse terraform")
	})
	t.Run("no_files", func(t *testing.T) {
		t.Parallel()
		_, err := LoadModule(t.TempDir())
		checkErr(t, err, "no .tf files")
	})
}

func TestCheckEntryPoints(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "gkedr.go"))
	if errors.Is(err, fs.ErrNotExist) {
		// The root file is written with the functions; until then only the drift cases can run.
		t.Skip("gkedr.go does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	registered, err := RegisteredEntryPoints("gkedr.go", src)
	if err != nil {
		t.Fatal(err)
	}
	drifted := mustEntryPoints(t, "drifted.go.txt")
	cases := []struct {
		name       string
		module     func(t *testing.T) *Module
		registered []string
		wantErr    []string
	}{
		{
			name:       "repository",
			module:     func(t *testing.T) *Module { return loadModule(t, "infra") },
			registered: registered,
		},
		{
			name: "renamed_in_terraform",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", `entry_point  = "VerifyRestore"`, `entry_point  = "VerifyRestores"`})
			},
			registered: registered,
			wantErr:    []string{`"VerifyRestores" is deployed`, `"VerifyRestore" is registered`},
		},
		{
			name:       "renamed_in_go",
			module:     func(t *testing.T) *Module { return loadModule(t, "infra") },
			registered: drifted,
			wantErr:    []string{`"RestoreOnBackup" is deployed`, `"RestoreOnBackupV2" is registered`},
		},
		{
			name: "no_literal_entry_points",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra",
					edit{"functions.tf", `entry_point = "BackupTrigger"`, `entry_point = local.backup`},
					edit{"functions.tf", `entry_point  = "RestoreOnBackup"`, `entry_point  = local.restore`},
					edit{"functions.tf", `entry_point  = "VerifyRestore"`, `entry_point  = local.verify`})
			},
			registered: registered,
			wantErr:    []string{"no entry_point literal"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckEntryPoints(tc.module(t), tc.registered), tc.wantErr...)
		})
	}
}

func mustEntryPoints(t *testing.T, name string) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "go", name))
	if err != nil {
		t.Fatal(err)
	}
	eps, err := RegisteredEntryPoints(name, src)
	if err != nil {
		t.Fatalf("RegisteredEntryPoints(%s): %v", name, err)
	}
	return eps
}

func TestRegisteredEntryPoints(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		file    string
		want    []string
		wantErr []string
	}{
		{name: "default_import_name", file: "default_import.go.txt", want: []string{"BackupTrigger", "RestoreOnBackup", "VerifyRestore"}},
		{name: "aliased_import", file: "drifted.go.txt", want: []string{"BackupTrigger", "RestoreOnBackupV2", "VerifyRestore"}},
		{name: "other_package_not_counted", file: "other_cloudevent.go.txt", want: []string{"BackupTrigger"}},
		{name: "non_literal_name", file: "nonliteral.go.txt", wantErr: []string{"must be a string literal"}},
		{name: "framework_not_imported", file: "no_framework.go.txt", wantErr: []string{"does not import"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join("testdata", "go", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := RegisteredEntryPoints(tc.file, src)
			checkErr(t, err, tc.wantErr...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("RegisteredEntryPoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckTopics(t *testing.T) {
	t.Parallel()
	topics := codeTopics(t)
	cases := []struct {
		name    string
		module  func(t *testing.T) *Module
		topics  []string
		wantErr []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }, topics: topics},
		{
			name: "renamed_in_terraform",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"pubsub.tf", `name                       = "gkedr-reports"`, `name                       = "gkedr-report"`})
			},
			topics:  topics,
			wantErr: []string{`topic "gkedr-reports"`},
		},
		{
			name:    "renamed_in_code",
			module:  func(t *testing.T) *Module { return loadModule(t, "infra") },
			topics:  append(slices.Clone(topics), "gkedr-requests"),
			wantErr: []string{`topic "gkedr-requests"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckTopics(tc.module(t), tc.topics), tc.wantErr...)
		})
	}
}

func TestCheckEnv(t *testing.T) {
	t.Parallel()
	required, forbidden := deployedEnv()
	cases := []struct {
		name     string
		module   func(t *testing.T) *Module
		required []string
		wantErr  []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }, required: required},
		{
			name: "variable_dropped_from_terraform",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", "    GKEDR_NOTIFY_TIMEOUT      = var.notify_timeout\n", ""})
			},
			required: required,
			wantErr:  []string{"google_cloudfunctions2_function.this", "GKEDR_NOTIFY_TIMEOUT, which internal/config reads, is not set"},
		},
		{
			name:     "variable_added_to_config",
			module:   func(t *testing.T) *Module { return loadModule(t, "infra") },
			required: append(slices.Clone(required), "GKEDR_NEW_KNOB"),
			wantErr:  []string{"GKEDR_NEW_KNOB"},
		},
		{
			name: "emulator_endpoint_deployed",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", `    LOG_EXECUTION_ID = "true"`, `    LOG_EXECUTION_ID = "true"
    GKEBACKUP_EMULATOR_HOST = "127.0.0.1:8086"`})
			},
			required: required,
			wantErr:  []string{"GKEBACKUP_EMULATOR_HOST is set", "is local-only"},
		},
		{
			name: "environment_not_static",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", "environment_variables            = local._env", "environment_variables            = jsondecode(var.env)"})
			},
			required: required,
			wantErr:  []string{"read environment_variables", "not static"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckEnv(tc.module(t), tc.required, forbidden), tc.wantErr...)
		})
	}
}

func TestCheckRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		module  func(t *testing.T) *Module
		wantErr []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }},
		{name: "event_trigger_retry", module: func(t *testing.T) *Module { return snippetModule(t, "event_trigger_retry.tf") }},
		{
			name:    "event_trigger_do_not_retry",
			module:  func(t *testing.T) *Module { return snippetModule(t, "event_trigger_do_not_retry.tf") },
			wantErr: []string{`retry_policy = "RETRY_POLICY_RETRY"`, `got "RETRY_POLICY_DO_NOT_RETRY"`},
		},
		{
			name:    "event_trigger_unset",
			module:  func(t *testing.T) *Module { return snippetModule(t, "event_trigger_unset.tf") },
			wantErr: []string{"google_cloudfunctions2_function.f", `got ""`},
		},
		{
			name:    "eventarc_max_attempts",
			module:  func(t *testing.T) *Module { return snippetModule(t, "eventarc_max_attempts.tf") },
			wantErr: []string{"google_eventarc_trigger.t", "remove retry_policy"},
		},
		{
			name:    "push_without_dead_letter",
			module:  func(t *testing.T) *Module { return snippetModule(t, "push_without_dead_letter.tf") },
			wantErr: []string{"needs retry_policy", "needs dead_letter_policy"},
		},
		{
			name: "repository_push_dead_letter_removed",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"pubsub.tf", "    max_delivery_attempts = var.max_delivery_attempts\n", ""})
			},
			wantErr: []string{"google_pubsub_subscription.delivery", "needs dead_letter_policy"},
		},
		{
			name:    "scheduler_without_retry",
			module:  func(t *testing.T) *Module { return snippetModule(t, "scheduler_without_retry.tf") },
			wantErr: []string{"set retry_config", "set attempt_deadline"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckRetries(tc.module(t)), tc.wantErr...)
		})
	}
}

func TestCheckNoBroadGrants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		module  func(t *testing.T) *Module
		wantErr []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }},
		{name: "editor_in_local_list", module: func(t *testing.T) *Module { return snippetModule(t, "broad_editor.tf") }, wantErr: []string{"broad_editor.tf:3", `"roles/editor"`}},
		{name: "owner_binding", module: func(t *testing.T) *Module { return snippetModule(t, "owner_binding.tf") }, wantErr: []string{`"roles/owner"`}},
		{name: "public_invoker", module: func(t *testing.T) *Module { return snippetModule(t, "public_invoker.tf") }, wantErr: []string{`"allUsers"`, "must not be invocable"}},
		{
			name: "repository_runtime_gets_editor",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"iam.tf", `backup-trigger    = []`, `backup-trigger    = ["roles/editor"]`})
			},
			wantErr: []string{"iam.tf", `"roles/editor"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckNoBroadGrants(tc.module(t)), tc.wantErr...)
		})
	}
}

func TestCheckIngress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		module  func(t *testing.T) *Module
		wantErr []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }},
		{
			name: "allow_all",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", `ingress_settings               = "ALLOW_INTERNAL_ONLY"`, `ingress_settings               = "ALLOW_ALL"`})
			},
			wantErr: []string{"google_cloudfunctions2_function.this", `got "ALLOW_ALL"`},
		},
		{
			name: "unset",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"functions.tf", `ingress_settings               = "ALLOW_INTERNAL_ONLY"`, ``})
			},
			wantErr: []string{`got ""`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckIngress(tc.module(t)), tc.wantErr...)
		})
	}
}

// examplePolicies returns the policy files under examples/.
func examplePolicies(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no example policies under examples/")
	}
	return paths
}

func TestCheckCrons(t *testing.T) {
	t.Parallel()
	var repo []Cron
	for _, dir := range terraformDirs(t) {
		repo = append(repo, TerraformCrons(loadModule(t, dir))...)
	}
	for _, p := range examplePolicies(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := PolicyCrons(p, data)
		if err != nil {
			t.Fatal(err)
		}
		repo = append(repo, c...)
	}
	// The sweep's default and the walkthrough's "0 */6 * * *" at least: a check over nothing
	// would pass whatever the files say.
	if len(repo) < 2 {
		t.Fatalf("found %d crons in the repository, want the sweep's and the examples'", len(repo))
	}
	badPolicy, err := os.ReadFile(filepath.Join("testdata", "policy", "bad_schedule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policyCrons, err := PolicyCrons("bad_schedule.yaml", badPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		crons   []Cron
		wantErr []string
	}{
		{name: "repository", crons: repo},
		{
			name:    "terraform_literals",
			crons:   TerraformCrons(snippetModule(t, "bad_crons.tf")),
			wantErr: []string{`"0 */30 * * * *"`, `"@every 30m"`, `"0 25 * * *"`, "variable sweep_schedule"},
		},
		{
			name:    "repository_sweep_drifted",
			crons:   TerraformCrons(editedModule(t, "infra", edit{"variables.tf", `default     = "*/30 * * * *"`, `default     = "*/30 * * *"`})),
			wantErr: []string{`"*/30 * * *"`},
		},
		{
			name:    "policy",
			crons:   policyCrons,
			wantErr: []string{"bad_schedule.yaml sources[0] (gke01)", `"0 0 */6 * * *"`, `"Asia/Tokio"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckCrons(tc.crons), tc.wantErr...)
		})
	}
}

func TestCheckRestoreDefaults(t *testing.T) {
	t.Parallel()
	want := RestoreDefaults{
		StandbyMode:                   config.ModeDeleteAndRestore,
		OtherMode:                     config.ModeFailOnConflict,
		ClusterResourceConflictPolicy: config.DefaultClusterResourceConflictPolicy,
		VolumeDataRestorePolicy:       config.DefaultVolumeDataRestorePolicy,
		ClusterResourceScope:          config.DefaultClusterResourceScope(),
	}
	otherScope := want
	otherScope.ClusterResourceScope = append(config.DefaultClusterResourceScope(), "scheduling.k8s.io/PriorityClass")
	cases := []struct {
		name    string
		module  func(t *testing.T) *Module
		want    RestoreDefaults
		wantErr []string
	}{
		{name: "repository", module: func(t *testing.T) *Module { return loadModule(t, "infra") }, want: want},
		{
			name: "conflict_policy_drifted_in_terraform",
			module: func(t *testing.T) *Module {
				return editedModule(t, "infra", edit{"gkebackup.tf", `cluster_resource_conflict_policy = "USE_BACKUP_VERSION"`, `cluster_resource_conflict_policy = "USE_EXISTING_VERSION"`})
			},
			want:    want,
			wantErr: []string{`_restore_defaults.cluster_resource_conflict_policy is "USE_EXISTING_VERSION"`},
		},
		{
			name:    "scope_changed_in_config",
			module:  func(t *testing.T) *Module { return loadModule(t, "infra") },
			want:    otherScope,
			wantErr: []string{"cluster_resource_scope", "PriorityClass"},
		},
		{
			name:    "defaults_missing",
			module:  func(t *testing.T) *Module { return snippetModule(t, "owner_binding.tf") },
			want:    want,
			wantErr: []string{"_restore_defaults is not defined"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckRestoreDefaults(tc.module(t), tc.want), tc.wantErr...)
		})
	}
}

func TestCheckSchedulerJobs(t *testing.T) {
	t.Parallel()
	policy, err := config.Load(filepath.Join(repoRoot(t), "examples", "walkthrough", "gkedr-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := schedule.Jobs(policy, "projects/p/locations/l", "projects/p/topics/t", schedule.DefaultSweepSchedule)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*schedulerpb.Job{"backup": jobs[0], "sweep": jobs[len(jobs)-1]}
	cases := []struct {
		name    string
		module  *Module
		wantErr []string
	}{
		{name: "repository", module: loadModule(t, "infra")},
		{name: "renamed_job", module: editedModule(t, "infra", edit{"scheduler.tf", `name        = "gkedr-backup-${each.key}"`, `name        = "backup-${each.key}"`}),
			wantErr: []string{`job name starts "backup-", but internal/schedule names it gkedr-backup-gke01`}},
		{name: "retry_drift", module: editedModule(t, "infra", edit{"scheduler.tf", "retry_count          = 5", "retry_count          = 2"}),
			wantErr: []string{`retry_config.retry_count = "2", internal/schedule has "5"`}},
		{name: "deadline_drift", module: editedModule(t, "infra", edit{"scheduler.tf", `time_zone        = "Etc/UTC"
  attempt_deadline = "60s"`, `time_zone        = "Etc/UTC"
  attempt_deadline = "30s"`}),
			wantErr: []string{`attempt_deadline "30s", internal/schedule has 60s`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, CheckSchedulerJobs(tc.module, want), tc.wantErr...)
		})
	}
	checkErr(t, CheckSweepSchedule(loadModule(t, "infra"), "sweep_schedule", schedule.DefaultSweepSchedule))
	checkErr(t, CheckSweepSchedule(editedModule(t, "infra", edit{"variables.tf", `default     = "*/30 * * * *"`, `default     = "0 * * * *"`}),
		"sweep_schedule", schedule.DefaultSweepSchedule), `defaults to "0 * * * *", internal/schedule to "*/30 * * * *"`)
}
