package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/config"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		id      string
		wantErr string
	}{
		{name: "one_char", id: "a"},
		{name: "sixty_three_chars", id: "a" + strings.Repeat("b", 61) + "c"},
		{name: "digits_and_dashes_inside", id: "bp-gke01-2"},
		{name: "sixty_four_chars", id: "a" + strings.Repeat("b", 63), wantErr: "64 characters long, the limit is 63"},
		{name: "empty", id: "", wantErr: "is empty"},
		{name: "trailing_dash", id: "gke01-", wantErr: "must end with a lowercase letter or digit"},
		{name: "leading_digit", id: "1gke", wantErr: "must start with a lowercase letter"},
		{name: "leading_dash", id: "-gke", wantErr: "must start with a lowercase letter"},
		{name: "uppercase_first", id: "Gke01", wantErr: "must start with a lowercase letter"},
		{name: "uppercase_inside", id: "gKe01", wantErr: `contains 'K'`},
		{name: "underscore", id: "gke_01", wantErr: `contains '_'`},
		{name: "one_digit", id: "1", wantErr: "must start with a lowercase letter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := config.ValidID(tc.id)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("ValidID(%q) = %v, want nil", tc.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, config.ErrInvalidID) {
				t.Errorf("ValidID(%q) = %v, want ErrInvalidID containing %q", tc.id, err, tc.wantErr)
			}
		})
	}
}

func TestRegionOf(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{name: "zone", in: "asia-northeast2-a", want: "asia-northeast2"},
		{name: "region", in: "asia-northeast2", want: "asia-northeast2"},
		{name: "long_region_zone", in: "northamerica-northeast1-c", want: "northamerica-northeast1"},
		{name: "two_digit_region_zone", in: "europe-west10-b", want: "europe-west10"},
		{name: "not_a_location", in: "global", want: "global"},
		{name: "empty", in: "", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := config.RegionOf(tc.in); got != tc.want {
				t.Errorf("RegionOf(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCluster(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		in         string
		want       config.ClusterName
		wantRegion string
		wantString string
		wantErr    string
	}{
		{
			name:       "regional",
			in:         "projects/gkedr-demo/locations/asia-northeast1/clusters/gke01",
			want:       config.ClusterName{Project: "gkedr-demo", Location: "asia-northeast1", Cluster: "gke01"},
			wantRegion: "asia-northeast1",
			wantString: "projects/gkedr-demo/locations/asia-northeast1/clusters/gke01",
		},
		{
			name:       "zonal_locations_form",
			in:         "projects/gkedr-demo/locations/asia-northeast2-a/clusters/gke03",
			want:       config.ClusterName{Project: "gkedr-demo", Location: "asia-northeast2-a", Cluster: "gke03", Zonal: true},
			wantRegion: "asia-northeast2",
			wantString: "projects/gkedr-demo/locations/asia-northeast2-a/clusters/gke03",
		},
		{
			name:       "zonal_zones_form_normalised",
			in:         "projects/gkedr-demo/zones/asia-northeast2-a/clusters/gke03",
			want:       config.ClusterName{Project: "gkedr-demo", Location: "asia-northeast2-a", Cluster: "gke03", Zonal: true},
			wantRegion: "asia-northeast2",
			wantString: "projects/gkedr-demo/locations/asia-northeast2-a/clusters/gke03",
		},
		{name: "bare_name", in: "gke03", wantErr: `"gke03" is not a cluster resource name: want projects/PROJECT/locations/LOCATION/clusters/NAME`},
		{name: "wrong_collection", in: "projects/gkedr-demo/locations/asia-northeast1/cluster/gke01", wantErr: "want projects/PROJECT/locations/LOCATION/clusters/NAME"},
		{name: "trailing_slash", in: "projects/gkedr-demo/locations/asia-northeast1/clusters/gke01/", wantErr: "want projects/PROJECT"},
		{name: "region_in_zones_form", in: "projects/gkedr-demo/zones/asia-northeast2/clusters/gke03", wantErr: `"asia-northeast2" is not a zone`},
		{name: "bad_location", in: "projects/gkedr-demo/locations/tokyo/clusters/gke01", wantErr: `location "tokyo" is not a region or zone`},
		{name: "bad_project", in: "projects/Demo/locations/asia-northeast1/clusters/gke01", wantErr: `project id "Demo"`},
		{name: "cluster_name_uppercase", in: "projects/gkedr-demo/locations/asia-northeast1/clusters/GKE01", wantErr: `cluster "GKE01" must start with a lowercase letter`},
		{name: "cluster_name_41_chars", in: "projects/gkedr-demo/locations/asia-northeast1/clusters/g" + strings.Repeat("k", 40), wantErr: "longer than GKE's 40 characters"},
		{name: "empty", in: "", wantErr: "is not a cluster resource name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseCluster(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, config.ErrInvalidName) {
					t.Fatalf("ParseCluster(%q) = %v, want ErrInvalidName containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCluster(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseCluster (-want +got):\n%s", diff)
			}
			if got.Region() != tc.wantRegion {
				t.Errorf("Region() = %q, want %q", got.Region(), tc.wantRegion)
			}
			if got.String() != tc.wantString {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantString)
			}
		})
	}
}

func TestParsePlansBackupsRestores(t *testing.T) {
	t.Parallel()
	// parse runs one of the Parse… functions and returns the parsed value and its String().
	type parse func(string) (any, string, error)
	backupPlan := func(s string) (any, string, error) { n, err := config.ParseBackupPlan(s); return n, n.String(), err }
	restorePlan := func(s string) (any, string, error) { n, err := config.ParseRestorePlan(s); return n, n.String(), err }
	backup := func(s string) (any, string, error) { n, err := config.ParseBackup(s); return n, n.String(), err }
	restore := func(s string) (any, string, error) { n, err := config.ParseRestore(s); return n, n.String(), err }
	const bp = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
	const rp = "projects/gkedr-demo/locations/asia-northeast2/restorePlans/rp-gke03"
	cases := []struct {
		name    string
		parse   parse
		in      string
		want    any
		wantErr string
	}{
		{name: "backup_plan", parse: backupPlan, in: bp, want: config.BackupPlanName{Project: "gkedr-demo", Location: "asia-northeast1", ID: "bp-gke01"}},
		{name: "backup_plan_in_zone", parse: backupPlan, in: "projects/gkedr-demo/locations/asia-northeast1-a/backupPlans/bp-gke01", wantErr: "use the region asia-northeast1"},
		{name: "backup_plan_bad_id", parse: backupPlan, in: "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp_gke01", wantErr: `id "bp_gke01" contains '_'`},
		{name: "backup_plan_is_restore_plan", parse: backupPlan, in: rp, wantErr: "want projects/PROJECT/locations/REGION/backupPlans/ID"},
		{name: "restore_plan", parse: restorePlan, in: rp, want: config.RestorePlanName{Project: "gkedr-demo", Location: "asia-northeast2", ID: "rp-gke03"}},
		{name: "restore_plan_bare", parse: restorePlan, in: "rp-gke03", wantErr: "want projects/PROJECT/locations/REGION/restorePlans/ID"},
		{
			name: "backup", parse: backup, in: bp + "/backups/gkedr-20260101-000000-abc123",
			want: config.BackupName{Plan: config.BackupPlanName{Project: "gkedr-demo", Location: "asia-northeast1", ID: "bp-gke01"}, ID: "gkedr-20260101-000000-abc123"},
		},
		{name: "backup_bad_plan", parse: backup, in: "projects/gkedr-demo/locations/asia/backupPlans/bp-gke01/backups/b1", wantErr: `location "asia" is not a region`},
		{name: "backup_bad_id", parse: backup, in: bp + "/backups/B1", wantErr: `id "B1" must start with a lowercase letter`},
		{name: "backup_empty_id", parse: backup, in: bp + "/backups/", wantErr: `id "" is empty`},
		{name: "backup_without_id", parse: backup, in: bp, wantErr: "want projects/PROJECT/locations/REGION/backupPlans/ID/backups/ID"},
		{
			name: "restore", parse: restore, in: rp + "/restores/gkedr-1a2b3c",
			want: config.RestoreName{Plan: config.RestorePlanName{Project: "gkedr-demo", Location: "asia-northeast2", ID: "rp-gke03"}, ID: "gkedr-1a2b3c"},
		},
		{name: "restore_under_backup_plan", parse: restore, in: bp + "/restores/r1", wantErr: "want projects/PROJECT/locations/REGION/restorePlans/ID/restores/ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, str, err := tc.parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, config.ErrInvalidName) {
					t.Fatalf("parse(%q) = %v, want ErrInvalidName containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
			if str != tc.in {
				t.Errorf("String() = %q, want the input %q", str, tc.in)
			}
		})
	}
}

func TestParseGroupKind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    config.GroupKind
		wantErr string
	}{
		{name: "named_group", in: "storage.k8s.io/StorageClass", want: config.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}},
		{name: "core_group", in: "/PersistentVolume", want: config.GroupKind{Kind: "PersistentVolume"}},
		{name: "no_slash", in: "Namespace", wantErr: "write group/Kind, and /Namespace for the core group"},
		{name: "with_version", in: "apps/v1/Deployment", wantErr: "without a version"},
		{name: "plural_resource", in: "storage.k8s.io/storageclasses", wantErr: `kind "storageclasses" is not a Kind`},
		{name: "empty_kind", in: "storage.k8s.io/", wantErr: "is not a Kind"},
		{name: "bad_group", in: "Storage.k8s.io/StorageClass", wantErr: `group "Storage.k8s.io"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseGroupKind(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseGroupKind(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGroupKind(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseGroupKind (-want +got):\n%s", diff)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}
