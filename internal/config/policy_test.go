package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/config"
)

// problemsOf returns every *FieldError in err's tree, in order.
func problemsOf(t *testing.T, err error) []*config.FieldError {
	t.Helper()
	var out []*config.FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*config.FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// paths returns the paths of problems.
func paths(problems []*config.FieldError) []string {
	var out []string
	for _, p := range problems {
		out = append(out, p.Path)
	}
	return out
}

// readFixture returns the bytes of testdata/name.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// parseFixture parses testdata/name, which must be valid.
func parseFixture(t *testing.T, name string) *config.Policy {
	t.Helper()
	p, err := config.Parse(readFixture(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

func TestParse_validPolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		path        string
		wantSources []string
		wantStandby int
	}{
		{name: "design_example", path: "testdata/design_example.yaml", wantSources: []string{"gke01"}, wantStandby: 1},
		{name: "valid_fixture", path: "testdata/valid.yaml", wantSources: []string{"gke01", "gke04"}, wantStandby: 3},
		{name: "walkthrough_example", path: "../../examples/walkthrough/gkedr-policy.yaml", wantSources: []string{"gke01"}, wantStandby: 2},
		{name: "multi_example", path: "../../examples/multi/gkedr-policy.yaml", wantSources: []string{"shop", "analytics"}, wantStandby: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := config.Load(tc.path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var names []string
			standbys := 0
			for _, s := range p.Sources {
				names = append(names, s.Name)
				standbys += len(s.Standbys)
			}
			if diff := cmp.Diff(tc.wantSources, names); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			if standbys != tc.wantStandby {
				t.Errorf("standbys = %d, want %d", standbys, tc.wantStandby)
			}
		})
	}
}

func TestParse_walkthroughExample(t *testing.T) {
	t.Parallel()
	p, err := config.Load("../../examples/walkthrough/gkedr-policy.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	src, ok := p.SourceForBackupPlan("projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01")
	if !ok {
		t.Fatal("SourceForBackupPlan(bp-gke01) found nothing")
	}
	type standby struct {
		Name, Region, Mode, Expect string
	}
	var got []standby
	for _, sb := range src.Standbys {
		c, err := config.ParseCluster(sb.Cluster)
		if err != nil {
			t.Fatalf("ParseCluster: %v", err)
		}
		got = append(got, standby{Name: sb.Name, Region: c.Region(), Mode: sb.Restore.NamespacedResourceRestoreMode, Expect: sb.Verify.Probes[0].Expect})
	}
	want := []standby{
		{Name: "gke02", Region: "asia-northeast1", Mode: "DELETE_AND_RESTORE", Expect: "BfG Test"},
		{Name: "gke03", Region: "asia-northeast2", Mode: "DELETE_AND_RESTORE", Expect: "BfG Test"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("standbys (-want +got):\n%s", diff)
	}
	if got, want := []string{src.Schedule, src.TimeZone}, []string{"0 */6 * * *", "Asia/Tokyo"}; !slices.Equal(got, want) {
		t.Errorf("schedule, timeZone = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]config.Notifier{{Type: "googlechat", WebhookURLEnv: "CHAT_WEBHOOK_URL"}, {Type: "slack", WebhookURLEnv: "SLACK_WEBHOOK_URL"}}, p.Notify); diff != "" {
		t.Errorf("notify (-want +got):\n%s", diff)
	}
}

func TestParse_decodeErrors(t *testing.T) {
	t.Parallel()
	type problem struct{ Path, Substr string }
	cases := []struct {
		name string
		file string
		want []problem
	}{
		{
			name: "unknown_fields_named_with_suggestion",
			file: "unknown_fields.yaml",
			want: []problem{
				{"notfy", `unknown field; did you mean "notify"?`},
				{"sources[0].standbys[0].restor", `did you mean "restore"?`},
				{"sources[0].standbys[0].verify.Workloads", `did you mean "workloads"?`},
			},
		},
		{
			name: "wrong_types_named",
			file: "wrong_types.yaml",
			want: []problem{
				{"sources[0].standbys[0].restore.selectedNamespaces", "got a string, want a list"},
				{"sources[0].standbys[0].standby", "got a string, want true or false"},
				{"sources[0].standbys[0].verify.probes[0].expect", "got the number 200, want a string; quote the value"},
				{"sources[0].standbys[0].verify.readinessTimeout", "got the number 30, want a duration string"},
			},
		},
		{
			name: "bad_duration",
			file: "bad_duration.yaml",
			want: []problem{{"sources[0].standbys[0].verify.readinessTimeout", `"half an hour" is not a duration; write a number with a unit`}},
		},
		{
			name: "duplicate_key",
			file: "duplicate_key.yaml",
			want: []problem{{"", `"project" already set`}},
		},
		{
			name: "not_a_mapping",
			file: "not_a_mapping.yaml",
			want: []problem{{"(policy)", "got a list, want a mapping"}},
		},
		{
			name: "empty_file_fails_validation",
			file: "empty.yaml",
			want: []problem{{"project", "is empty"}, {"sources", "no sources"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := config.Parse(readFixture(t, tc.file))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			var got []problem
			for _, fe := range problemsOf(t, err) {
				got = append(got, problem{Path: fe.Path, Substr: fe.Error()})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				if got[i].Path != w.Path || !strings.Contains(got[i].Substr, w.Substr) {
					t.Errorf("problem %d = %q at %q, want %q at %q", i, got[i].Substr, got[i].Path, w.Substr, w.Path)
				}
			}
		})
	}
}

func TestParse_fiveMistakes(t *testing.T) {
	t.Parallel()
	_, err := config.Parse(readFixture(t, "five_mistakes.yaml"))
	got := problemsOf(t, err)
	want := []string{
		"sources[0].schedule",
		"sources[0].standbys[0].restore.namespacedResourceRestoreMode",
		"sources[0].standbys[1].cluster",
		"sources[0].standbys[1].verify.probes[0].expect",
		"notify[0].type",
	}
	if diff := cmp.Diff(want, paths(got)); diff != "" {
		t.Fatalf("problem paths (-want +got):\n%s\nerror: %v", diff, err)
	}
	// The example message of the package contract, word for word.
	const wantMsg = `sources[0].standbys[1].cluster: "gke03" is not a cluster resource name; use projects/gkedr-test/locations/LOCATION/clusters/gke03`
	if got[2].Error() != wantMsg {
		t.Errorf("cluster problem = %q, want %q", got[2].Error(), wantMsg)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != want[0] {
		t.Errorf("errors.As found %v, want the first problem at %s", fe, want[0])
	}
}

func TestParse_secretsNeverEchoed(t *testing.T) {
	t.Parallel()
	_, err := config.Parse(readFixture(t, "secret_in_policy.yaml"))
	got := problemsOf(t, err)
	if len(got) != 1 || got[0].Path != "notify[0].webhookURLEnv" || !strings.Contains(got[0].Fix, "secrets must come from the environment") {
		t.Fatalf("problems = %v, want one at notify[0].webhookURLEnv saying secrets come from the environment", err)
	}
	for _, secret := range []string{"SECRETKEY", "SECRETTOKEN", "chat.example"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q echoes the secret URL (%s)", err, secret)
		}
	}
}

func TestParse_defaultsApplied(t *testing.T) {
	t.Parallel()
	p := parseFixture(t, "defaults.yaml")
	src := p.Sources[0]
	if src.TimeZone != "UTC" {
		t.Errorf("timeZone = %q, want UTC", src.TimeZone)
	}
	defaultScope := []string{"storage.k8s.io/StorageClass", "apiextensions.k8s.io/CustomResourceDefinition"}
	type effective struct {
		Restore config.RestoreOverrides
		Verify  config.Verify
	}
	want := []effective{
		{
			Restore: config.RestoreOverrides{
				NamespacedResourceRestoreMode: "DELETE_AND_RESTORE",
				ClusterResourceScope:          &defaultScope,
				ClusterResourceConflictPolicy: "USE_BACKUP_VERSION",
				VolumeDataRestorePolicy:       "RESTORE_VOLUME_DATA_FROM_BACKUP",
			},
			Verify: config.Verify{
				Workloads:        new(true),
				Probes:           []config.Probe{{URL: "http://frontend.example/", Expect: "BfG Test", Timeout: config.Duration(10 * time.Second)}},
				ReadinessTimeout: config.Duration(30 * time.Minute),
			},
		},
		{
			// Not marked standby: true, so the default never deletes what is on the target.
			Restore: config.RestoreOverrides{
				NamespacedResourceRestoreMode: "FAIL_ON_CONFLICT",
				ClusterResourceScope:          &defaultScope,
				ClusterResourceConflictPolicy: "USE_BACKUP_VERSION",
				VolumeDataRestorePolicy:       "RESTORE_VOLUME_DATA_FROM_BACKUP",
			},
			Verify: config.Verify{Workloads: new(true), ReadinessTimeout: config.Duration(30 * time.Minute)},
		},
	}
	var got []effective
	for _, sb := range src.Standbys {
		got = append(got, effective{Restore: sb.Restore, Verify: sb.Verify})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("effective settings (-want +got):\n%s", diff)
	}
}

func TestStandby_EffectiveRestore(t *testing.T) {
	t.Parallel()
	defaultScope := config.DefaultClusterResourceScope()
	empty := []string{}
	custom := []string{"/PersistentVolume"}
	cases := []struct {
		name string
		in   config.Standby
		want config.RestoreOverrides
	}{
		{
			name: "standby_gets_delete_and_restore",
			in:   config.Standby{Standby: true},
			want: config.RestoreOverrides{NamespacedResourceRestoreMode: "DELETE_AND_RESTORE", ClusterResourceScope: &defaultScope, ClusterResourceConflictPolicy: "USE_BACKUP_VERSION", VolumeDataRestorePolicy: "RESTORE_VOLUME_DATA_FROM_BACKUP"},
		},
		{
			name: "non_standby_gets_fail_on_conflict",
			in:   config.Standby{},
			want: config.RestoreOverrides{NamespacedResourceRestoreMode: "FAIL_ON_CONFLICT", ClusterResourceScope: &defaultScope, ClusterResourceConflictPolicy: "USE_BACKUP_VERSION", VolumeDataRestorePolicy: "RESTORE_VOLUME_DATA_FROM_BACKUP"},
		},
		{
			name: "empty_scope_means_no_cluster_kinds",
			in:   config.Standby{Standby: true, Restore: config.RestoreOverrides{ClusterResourceScope: &empty}},
			want: config.RestoreOverrides{NamespacedResourceRestoreMode: "DELETE_AND_RESTORE", ClusterResourceScope: &empty, ClusterResourceConflictPolicy: "USE_BACKUP_VERSION", VolumeDataRestorePolicy: "RESTORE_VOLUME_DATA_FROM_BACKUP"},
		},
		{
			name: "overrides_kept",
			in: config.Standby{Standby: true, Restore: config.RestoreOverrides{
				NamespacedResourceRestoreMode: "MERGE_SKIP_ON_CONFLICT", SelectedNamespaces: []string{"shop"},
				ClusterResourceScope: &custom, ClusterResourceConflictPolicy: "USE_EXISTING_VERSION", VolumeDataRestorePolicy: "NO_VOLUME_DATA_RESTORATION",
			}},
			want: config.RestoreOverrides{
				NamespacedResourceRestoreMode: "MERGE_SKIP_ON_CONFLICT", SelectedNamespaces: []string{"shop"},
				ClusterResourceScope: &custom, ClusterResourceConflictPolicy: "USE_EXISTING_VERSION", VolumeDataRestorePolicy: "NO_VOLUME_DATA_RESTORATION",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.in.EffectiveRestore()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("EffectiveRestore (-want +got):\n%s", diff)
			}
			if got.ClusterResourceScope == nil || *got.ClusterResourceScope == nil {
				t.Errorf("ClusterResourceScope is nil; the effective scope must be explicit")
			}
			// The result must not alias the policy: restore code may append to it.
			(*got.ClusterResourceScope) = append((*got.ClusterResourceScope)[:0:0], "x/Y")
			if again := tc.in.EffectiveRestore(); cmp.Diff(tc.want, again) != "" {
				t.Errorf("changing the result changed the policy: %+v", again)
			}
		})
	}
}

func TestPolicy_lookups(t *testing.T) {
	t.Parallel()
	p := parseFixture(t, "valid.yaml")
	cases := []struct {
		name        string
		lookup      func() (string, bool)
		want        string
		wantMissing bool
	}{
		{name: "source_by_name", lookup: func() (string, bool) { s, ok := p.Source("gke04"); return name(s), ok }, want: "gke04"},
		{name: "source_missing", lookup: func() (string, bool) { s, ok := p.Source("gke09"); return name(s), ok }, wantMissing: true},
		{name: "source_for_backup_plan", lookup: func() (string, bool) {
			s, ok := p.SourceForBackupPlan("projects/gkedr-test/locations/us-central1/backupPlans/bp-gke04")
			return name(s), ok
		}, want: "gke04"},
		{name: "source_for_unknown_backup_plan", lookup: func() (string, bool) {
			s, ok := p.SourceForBackupPlan("projects/gkedr-test/locations/us-central1/backupPlans/bp-other")
			return name(s), ok
		}, wantMissing: true},
		{name: "source_for_malformed_backup_plan", lookup: func() (string, bool) { s, ok := p.SourceForBackupPlan("bp-gke04"); return name(s), ok }, wantMissing: true},
		{name: "standby_by_name", lookup: func() (string, bool) {
			src, _ := p.Source("gke01")
			sb, ok := src.Standby("gke03")
			return standbyName(sb), ok
		}, want: "gke03"},
		{name: "standby_missing", lookup: func() (string, bool) {
			src, _ := p.Source("gke01")
			sb, ok := src.Standby("staging")
			return standbyName(sb), ok
		}, wantMissing: true},
		{name: "standby_for_cluster_in_other_zonal_form", lookup: func() (string, bool) {
			src, _ := p.Source("gke01")
			c, err := config.ParseCluster("projects/gkedr-test/locations/asia-northeast2-a/clusters/gke03")
			if err != nil {
				t.Fatalf("ParseCluster: %v", err)
			}
			sb, ok := src.StandbyForCluster(c)
			return standbyName(sb), ok
		}, want: "gke03"},
		{name: "source_cluster_is_not_a_standby", lookup: func() (string, bool) {
			src, _ := p.Source("gke01")
			c, _ := config.ParseCluster(src.Cluster)
			sb, ok := src.StandbyForCluster(c)
			return standbyName(sb), ok
		}, wantMissing: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.lookup()
			if ok == tc.wantMissing || got != tc.want {
				t.Errorf("lookup = %q, %t; want %q, %t", got, ok, tc.want, !tc.wantMissing)
			}
		})
	}
}

func name(s *config.Source) string {
	if s == nil {
		return ""
	}
	return s.Name
}

func standbyName(s *config.Standby) string {
	if s == nil {
		return ""
	}
	return s.Name
}

func TestLoad_errors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "missing_file", path: "testdata/does-not-exist.yaml", wantErr: "read policy: open testdata/does-not-exist.yaml"},
		{name: "invalid_policy_names_file", path: "testdata/five_mistakes.yaml", wantErr: "load policy testdata/five_mistakes.yaml: invalid policy: sources[0].schedule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Load error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in       time.Duration
		wantJSON string
	}{
		{name: "minutes", in: 30 * time.Minute, wantJSON: `"30m"`},
		{name: "hours", in: time.Hour, wantJSON: `"1h"`},
		{name: "hours_and_minutes", in: 90 * time.Minute, wantJSON: `"1h30m"`},
		{name: "seconds", in: 10 * time.Second, wantJSON: `"10s"`},
		{name: "minutes_and_seconds", in: 90 * time.Second, wantJSON: `"1m30s"`},
		{name: "zero", in: 0, wantJSON: `"0s"`},
		{name: "sub_second", in: 1500 * time.Millisecond, wantJSON: `"1.5s"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := config.Duration(tc.in).MarshalJSON()
			if err != nil || string(b) != tc.wantJSON {
				t.Fatalf("MarshalJSON = %s, %v; want %s", b, err, tc.wantJSON)
			}
			var back config.Duration
			if err := back.UnmarshalJSON(b); err != nil || time.Duration(back) != tc.in {
				t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", b, time.Duration(back), err, tc.in)
			}
		})
	}
}
