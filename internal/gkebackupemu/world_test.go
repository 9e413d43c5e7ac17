package gkebackupemu

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseWorldErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file string
		yaml string
		// wantErr are substrings of the error, each naming a path.
		wantErr []string
	}{
		{
			name:    "unknown_field_with_path",
			file:    "world_unknown_field.yaml",
			wantErr: []string{`unknown field "clusters[0].namespaces[0].deploymnets"`},
		},
		{
			name: "every_problem_with_its_path",
			file: "world_invalid.yaml",
			wantErr: []string{
				"timeScale: must be > 0",
				"durations.backup: must be > 0",
				`clusters[0].gkeVersion: "1.22" is not a GKE version`,
				`clusters[0].namespaces[0].deployments[0].volumes: no PVC "missing-pvc"`,
				`clusters[0].namespaces[0].pvcs[0].size: size "lots"`,
				`clusters[0].namespaces[0].services[0].type: must be one of`,
				"clusters[0].namespaces[0].services[0].ports: port 0 out of range",
				"clusters[1].name: duplicate cluster",
				"clusters[2].name",
				`backupPlans[0].name: location "asia-northeast1-a" is not a region`,
				"backupPlans[0].cluster: no cluster",
				"backupPlans[0]: set exactly one of allNamespaces and selectedNamespaces",
				"backupPlans[0].retainDays: must be >= deleteLockDays",
			},
		},
		{name: "not_yaml", yaml: "project: [", wantErr: []string{"parse world"}},
		{name: "wrong_type", yaml: "project: gkedr-demo\ntimeScale: fast\n", wantErr: []string{"timeScale"}},
		{name: "bad_duration", yaml: "project: gkedr-demo\ndurations: {backup: 100}\n", wantErr: []string{"duration"}},
		{name: "project_required", yaml: "clusters: []\n", wantErr: []string{"project:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tc.yaml)
			if tc.file != "" {
				var err error
				if b, err = os.ReadFile("testdata/" + tc.file); err != nil {
					t.Fatalf("read %s: %v", tc.file, err)
				}
			}
			_, err := ParseWorld(b)
			if err == nil {
				t.Fatalf("ParseWorld() succeeded, want errors %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ParseWorld() error = %v\nwant it to contain %q", err, want)
				}
			}
		})
	}
}

func TestParseWorldDefaults(t *testing.T) {
	t.Parallel()
	w, err := ParseWorld([]byte("project: p1\ndurations:\n  backup: 5m\n  operation: 0s\n"))
	if err != nil {
		t.Fatalf("ParseWorld() error = %v", err)
	}
	want := Durations{
		Backup:              Duration{5 * time.Minute},
		RestoreSameRegion:   Duration{7 * time.Second},
		RestoreCrossRegion:  Duration{68 * time.Minute},
		WorkloadsReadyAfter: Duration{30 * time.Second},
		Operation:           Duration{0},
	}
	if diff := cmp.Diff(want, w.Durations); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
	if w.TimeScale != 1 {
		t.Errorf("timeScale = %g, want the default 1", w.TimeScale)
	}
}

func TestDefaultWorld(t *testing.T) {
	t.Parallel()
	w := DefaultWorld()
	var clusters []string
	for _, c := range w.Clusters {
		clusters = append(clusters, c.Name+" "+c.GKEVersion)
	}
	want := []string{gke01 + " 1.22.12-gke.300", gke02 + " 1.22.12-gke.300", gke03 + " 1.22.12-gke.300"}
	if diff := cmp.Diff(want, clusters); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if w.Project != project || len(w.BackupPlans) != 1 || w.BackupPlans[0].Name != bpGKE01 {
		t.Errorf("project %q, backup plans %v", w.Project, w.BackupPlans)
	}
	// A backup and a cross-region restore must finish within a few real seconds.
	d := time.Duration(float64(w.Durations.Backup.Duration+w.Durations.RestoreCrossRegion.Duration) * w.TimeScale)
	if d > 5*time.Second {
		t.Errorf("backup + cross-region restore take %s of real time, want a few seconds", d)
	}
	w.Clusters[0].Namespaces = nil
	if again := DefaultWorld(); len(again.Clusters[0].Namespaces) == 0 {
		t.Errorf("DefaultWorld() shares state between calls")
	}
}

func TestLoadWorld(t *testing.T) {
	t.Parallel()
	if _, err := LoadWorld("testdata/rules_world.yaml"); err != nil {
		t.Errorf("LoadWorld(rules_world.yaml) error = %v", err)
	}
	if _, err := LoadWorld("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadWorld(missing) error = %v, want one naming the file", err)
	}
}

func TestNewCopiesWorld(t *testing.T) {
	t.Parallel()
	w := DefaultWorld()
	s, err := New(w, WithTimeScale(testScale))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	w.Clusters[0].Namespaces = nil
	got, ok := s.Cluster(gke01)
	if !ok || len(got.Namespaces) == 0 {
		t.Fatalf("Cluster(gke01) = %v, %v; the server must not share the caller's world", got, ok)
	}
	got.Namespaces[0].PVCs[0].DataMarkers[0] = "changed"
	again, _ := s.Cluster(gke01)
	if again.Namespaces[0].PVCs[0].DataMarkers[0] != "BfG Test" {
		t.Errorf("Cluster() returned shared state")
	}
	if p := again.Namespaces[0].PVCs[0]; p.Phase != "Bound" || !strings.HasPrefix(p.VolumeName, "pvc-") {
		t.Errorf("seeded PVC = %+v, want it bound to a volume", p)
	}
	if _, err := New(&World{Project: "p"}, WithTimeScale(-1)); err == nil {
		t.Errorf("New(time scale -1) succeeded")
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		id   string
		want bool
	}{
		{name: "one_letter", id: "a", want: true},
		{name: "plan_id", id: "bp-gke01", want: true},
		{name: "gkedr_backup_id", id: "gkedr-20240501-120000-ab12cd", want: true},
		{name: "63_chars", id: "a" + strings.Repeat("b", 62), want: true},
		{name: "64_chars", id: "a" + strings.Repeat("b", 63), want: false},
		{name: "empty", id: "", want: false},
		{name: "leading_digit", id: "1a", want: false},
		{name: "trailing_dash", id: "a-", want: false},
		{name: "leading_dash", id: "-a", want: false},
		{name: "upper_case", id: "A", want: false},
		{name: "underscore", id: "a_b", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidID(tc.id); got != tc.want {
				t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestParseClusterName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    string
		region  string
		wantErr bool
	}{
		{name: "regional", in: gke01, want: gke01, region: "asia-northeast1"},
		{name: "zonal_locations", in: "projects/p/locations/us-central1-c/clusters/c", want: "projects/p/locations/us-central1-c/clusters/c", region: "us-central1"},
		{name: "zonal_zones", in: "projects/p/zones/us-central1-c/clusters/c", want: "projects/p/locations/us-central1-c/clusters/c", region: "us-central1"},
		{name: "zones_with_region", in: "projects/p/zones/us-central1/clusters/c", wantErr: true},
		{name: "bare_name", in: "gke01", wantErr: true},
		{name: "bad_location", in: "projects/p/locations/tokyo/clusters/c", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref, err := parseClusterName(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseClusterName(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err == nil && (ref.String() != tc.want || regionOf(ref.Location) != tc.region) {
				t.Errorf("parseClusterName(%q) = %s in %s, want %s in %s", tc.in, ref, regionOf(ref.Location), tc.want, tc.region)
			}
		})
	}
}
