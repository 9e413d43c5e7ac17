package gkebackupemu

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recorder is an event sink that fails its first failFirst requests with 500.
type recorder struct {
	t         *testing.T
	failFirst int

	mu       sync.Mutex
	attempts int
	events   []cloudevents.Event
	headers  []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.attempts++
	fail := r.attempts <= r.failFirst
	r.mu.Unlock()
	if fail {
		http.Error(w, "sink down", http.StatusInternalServerError)
		return
	}
	ev, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil {
		r.t.Errorf("sink received a request that is no CloudEvent: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.events = append(r.events, *ev)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *recorder) snapshot() ([]cloudevents.Event, []http.Header, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cloudevents.Event(nil), r.events...), append([]http.Header(nil), r.headers...), r.attempts
}

// startSink serves a recorder on a loopback port.
func startSink(t *testing.T, failFirst int) (*recorder, string) {
	t.Helper()
	r := &recorder{t: t, failFirst: failFirst}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// payloadOf decodes {"payload": ...} into m.
func payloadOf(t *testing.T, e cloudevents.Event, m proto.Message) {
	t.Helper()
	var data struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		t.Fatalf("event data %s: %v", e.Data(), err)
	}
	if err := protojson.Unmarshal(data.Payload, m); err != nil {
		t.Fatalf("event payload %s: %v", data.Payload, err)
	}
}

// eventSummary is what the tests compare of each event.
type eventSummary struct {
	Type, Source, Subject, State string
	Extensions                   map[string]string
}

// waitEvents waits until the sink has n events and summarises them.
func waitEvents(t *testing.T, r *recorder, n int) ([]eventSummary, []cloudevents.Event, []http.Header) {
	t.Helper()
	var events []cloudevents.Event
	var headers []http.Header
	poll(t, "events delivered", func() (bool, error) {
		events, headers, _ = r.snapshot()
		return len(events) >= n, nil
	})
	var out []eventSummary
	for _, e := range events {
		s := eventSummary{Type: e.Type(), Source: e.Source(), Subject: e.Subject(), Extensions: map[string]string{}}
		for k, v := range e.Extensions() {
			s.Extensions[k] = v.(string)
		}
		if e.Type() == BackupCreatedType || e.Type() == BackupUpdatedType {
			b := &gkebackuppb.Backup{}
			payloadOf(t, e, b)
			s.State = b.GetState().String()
		} else {
			rs := &gkebackuppb.Restore{}
			payloadOf(t, e, rs)
			s.State = rs.GetState().String()
		}
		out = append(out, s)
	}
	return out, events, headers
}

// TestEvents checks the Eventarc-shaped events of a backup and a restore as a sink receives them.
func TestEvents(t *testing.T) {
	t.Parallel()
	rec, url := startSink(t, 0)
	e := startEnv(t, nil)
	e.s.AddEventSink(url)
	b := e.succeededBackup(t, bpGKE01, "b1")
	rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	e.restore(t, rp.GetName(), "r1", b.GetName())

	got, events, headers := waitEvents(t, rec, 6)
	src := "//gkebackup.googleapis.com/projects/gkedr-demo/locations/asia-northeast1"
	bext := map[string]string{"location": "asia-northeast1", "backupplan": "bp-gke01", "backup": "b1"}
	rext := map[string]string{"location": "asia-northeast1", "restoreplan": "rp-gke02", "restore": "r1"}
	want := []eventSummary{
		{Type: BackupCreatedType, Source: src, Subject: "backupPlans/bp-gke01/backups/b1", State: "CREATING", Extensions: bext},
		{Type: BackupUpdatedType, Source: src, Subject: "backupPlans/bp-gke01/backups/b1", State: "IN_PROGRESS", Extensions: bext},
		{Type: BackupUpdatedType, Source: src, Subject: "backupPlans/bp-gke01/backups/b1", State: "SUCCEEDED", Extensions: bext},
		{Type: RestoreCreatedType, Source: src, Subject: "restorePlans/rp-gke02/restores/r1", State: "CREATING", Extensions: rext},
		{Type: RestoreUpdatedType, Source: src, Subject: "restorePlans/rp-gke02/restores/r1", State: "IN_PROGRESS", Extensions: rext},
		{Type: RestoreUpdatedType, Source: src, Subject: "restorePlans/rp-gke02/restores/r1", State: "SUCCEEDED", Extensions: rext},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Binary mode: attributes travel as ce- headers, the body is the data.
	for i, h := range headers {
		if h.Get("Ce-Specversion") != "1.0" || h.Get("Content-Type") != "application/json" || h.Get("Ce-Id") == "" {
			t.Errorf("event %d headers = %v, want a binary-mode CloudEvent 1.0 with JSON data", i, h)
		}
	}
	final := &gkebackuppb.Backup{}
	payloadOf(t, events[2], final)
	got2, err := e.c.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: b.GetName()})
	if err != nil {
		t.Fatalf("GetBackup() error = %v", err)
	}
	if !proto.Equal(got2, final) {
		t.Errorf("SUCCEEDED event payload = %v, want what GetBackup returns: %v", final, got2)
	}
	if !events[2].Time().Equal(final.GetUpdateTime().AsTime()) {
		t.Errorf("event time %v, want the backup's update time %v", events[2].Time(), final.GetUpdateTime().AsTime())
	}
}

// TestEventsAtLeastOnce retries a failing sink until it takes the events, in order.
func TestEventsAtLeastOnce(t *testing.T) {
	t.Parallel()
	rec, url := startSink(t, 2)
	e := startEnv(t, nil, WithEventRetry(time.Millisecond, 5*time.Millisecond))
	e.s.AddEventSink(url)
	e.succeededBackup(t, bpGKE01, "b1")
	got, _, _ := waitEvents(t, rec, 3)
	var states []string
	for _, s := range got {
		states = append(states, s.State)
	}
	if diff := cmp.Diff([]string{"CREATING", "IN_PROGRESS", "SUCCEEDED"}, states); diff != "" {
		t.Errorf("states delivered (-want +got):\n%s", diff)
	}
	if _, _, attempts := rec.snapshot(); attempts != 5 {
		t.Errorf("sink saw %d requests, want 2 failures + 3 deliveries", attempts)
	}
}

// TestEventGolden pins the wire form of both event kinds (structured JSON) in testdata, where the
// events package can use it as a fixture. Run with -update to rewrite.
func TestEventGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 12, 1, 40, 0, time.UTC)
	created := timestamppb.New(at.Add(-100 * time.Second))
	backup := &gkebackuppb.Backup{
		Name:            bpGKE01 + "/backups/backup-gke01",
		Uid:             "6f1f9a52-8c2e-4b1a-9d2b-0b5c1e7d9a10",
		CreateTime:      created,
		UpdateTime:      timestamppb.New(at),
		CompleteTime:    timestamppb.New(at),
		Manual:          true,
		Labels:          map[string]string{"gkedr-managed": "true"},
		RetainDays:      3,
		BackupScope:     &gkebackuppb.Backup_AllNamespaces{AllNamespaces: true},
		ContainsSecrets: true, ContainsVolumeData: true,
		ClusterMetadata: &gkebackuppb.Backup_ClusterMetadata{
			Cluster: gke01, K8SVersion: "v1.22.12-gke.300",
			PlatformVersion: &gkebackuppb.Backup_ClusterMetadata_GkeVersion{GkeVersion: "1.22.12-gke.300"},
		},
		State:         gkebackuppb.Backup_SUCCEEDED,
		ResourceCount: 11, VolumeCount: 2, PodCount: 3, SizeBytes: 134262784, ConfigBackupSizeBytes: 45056,
		Etag: "0000002a",
	}
	restore := &gkebackuppb.Restore{
		Name:                   tokyo + "/restorePlans/rp-gke02/restores/restore-gke02",
		Uid:                    "0d0e7a3c-3d1f-4a7e-8f54-5b2f8c1e2a77",
		CreateTime:             timestamppb.New(at),
		UpdateTime:             timestamppb.New(at.Add(7 * time.Second)),
		CompleteTime:           timestamppb.New(at.Add(7 * time.Second)),
		Backup:                 backup.GetName(),
		Cluster:                gke02,
		RestoreConfig:          walkthroughConfig(),
		State:                  gkebackuppb.Restore_SUCCEEDED,
		ResourcesRestoredCount: 11, VolumesRestoredCount: 2,
		Etag: "0000002b",
	}
	be, err := backupEvents.event(backup, false, "evt-backup-1", at)
	if err != nil {
		t.Fatalf("backupEvents.event() error = %v", err)
	}
	re, err := restoreEvents.event(restore, false, "evt-restore-1", at.Add(7*time.Second))
	if err != nil {
		t.Fatalf("restoreEvents.event() error = %v", err)
	}
	cases := []struct {
		name  string
		event cloudevents.Event
		file  string
	}{
		{name: "backup_updated", event: be, file: "testdata/backup_updated_event.json"},
		{name: "restore_updated", event: re, file: "testdata/restore_updated_event.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.MarshalIndent(tc.event, "", "  ")
			if err != nil {
				t.Fatalf("marshal event: %v", err)
			}
			if *update {
				if err := os.WriteFile(tc.file, append(got, '\n'), 0o644); err != nil {
					t.Fatalf("write golden: %v", err)
				}
			}
			golden, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			var wantAny, gotAny any
			if err := json.Unmarshal(golden, &wantAny); err != nil {
				t.Fatalf("golden %s: %v", tc.file, err)
			}
			if err := json.Unmarshal(got, &gotAny); err != nil {
				t.Fatalf("event JSON: %v", err)
			}
			if diff := cmp.Diff(wantAny, gotAny); diff != "" {
				t.Errorf("event differs from %s (-want +got):\n%s", tc.file, diff)
			}
		})
	}
}
