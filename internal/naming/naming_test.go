package naming

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// apiID is the Backup for GKE id rule.
var apiID = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

func TestBackupID(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 16, 40, 5, 0, time.FixedZone("JST", 9*3600))
	cases := []struct {
		name      string
		requestID string
		at        time.Time
		want      string
	}{
		{name: "utc_time_and_hash", requestID: "req-1", at: at, want: "gkedr-20261203-074005-"},
		{name: "empty_request_id_still_valid", requestID: "", at: at, want: "gkedr-20261203-074005-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := BackupID(tc.requestID, tc.at)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("BackupID = %q, want prefix %q", got, tc.want)
			}
			if !apiID.MatchString(got) {
				t.Errorf("BackupID = %q breaks the API id rule", got)
			}
			if again := BackupID(tc.requestID, tc.at); again != got {
				t.Errorf("BackupID not deterministic: %q then %q", got, again)
			}
		})
	}
	if BackupID("a", at) == BackupID("b", at) {
		t.Error("two requests in the same second got the same backup id")
	}
}

func TestRestoreID(t *testing.T) {
	t.Parallel()
	b := "projects/p/locations/asia-northeast1/backupPlans/bp/backups/b1"
	c2 := "projects/p/locations/asia-northeast1/clusters/gke02"
	c3 := "projects/p/locations/asia-northeast2/clusters/gke03"
	id := RestoreID(b, c2)
	if !apiID.MatchString(id) {
		t.Fatalf("RestoreID = %q breaks the API id rule", id)
	}
	if RestoreID(b, c2) != id {
		t.Error("RestoreID not deterministic")
	}
	if RestoreID(b, c3) == id {
		t.Error("two standbys share a restore id")
	}
	if RestoreID(b+"x", c2) == id {
		t.Error("two backups share a restore id")
	}
}

func TestLabelValue(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{name: "uuid_unchanged", in: "0f8fad5b-d9cb-469f-a165-70867728950e", want: "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{name: "message_id_unchanged", in: "1234567890", want: "1234567890"},
		{name: "upper_and_symbols", in: "Run#42/A", want: "run-42-a"},
		{name: "truncated_to_63", in: strings.Repeat("a", 70), want: strings.Repeat("a", 63)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := LabelValue(tc.in); got != tc.want {
				t.Errorf("LabelValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLabelsAndTargets(t *testing.T) {
	t.Parallel()
	l := Labels("Req-1", ReasonMigration)
	l[TargetLabel("gke03")] = "true"
	l[TargetLabel("gke02")] = "true"
	l[TargetLabel("gke04")] = "false"
	want := map[string]string{
		"gkedr-managed": "true", "gkedr-request": "req-1", "gkedr-reason": "migration",
		"gkedr-to-gke02": "true", "gkedr-to-gke03": "true", "gkedr-to-gke04": "false",
	}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gke02", "gke03"}, Targets(l)); diff != "" {
		t.Errorf("Targets (-want +got):\n%s", diff)
	}
	if !IsManaged(l) || IsManaged(map[string]string{}) {
		t.Error("IsManaged wrong")
	}
	if Targets(Labels("r", ReasonSchedule)) != nil {
		t.Error("a scheduled backup has no targets")
	}
}
