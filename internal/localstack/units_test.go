package localstack

import (
	"bytes"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/pubsub/v2"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/kube"
	"github.com/gkedr/gkedr/internal/schedule"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, eventType, wantPath string
		wantOK                    bool
	}{
		{"backup_updated_to_restore_on_backup", events.TypeBackupUpdated, PathRestoreOnBackup, true},
		{"backup_created_to_restore_on_backup", events.TypeBackupCreated, PathRestoreOnBackup, true},
		{"restore_updated_to_verify_restore", events.TypeRestoreUpdated, PathVerifyRestore, true},
		{"restore_created_to_verify_restore", events.TypeRestoreCreated, PathVerifyRestore, true},
		{"pubsub_has_no_direct_trigger", events.TypePubSubPublished, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, ok := route(tc.eventType)
			if path != tc.wantPath || ok != tc.wantOK {
				t.Errorf("route(%q) = %q, %v; want %q, %v", tc.eventType, path, ok, tc.wantPath, tc.wantOK)
			}
		})
	}
}

// TestMessageEventDecodes checks that the bridge's CloudEvent is what the functions' decoder reads,
// the way it reads Eventarc's.
func TestMessageEventDecodes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 9, 0, 0, 123e6, time.UTC)
	m := &pubsub.Message{ID: "42", Data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`),
		Attributes: map[string]string{events.AttrKind: "scheduled"}, PublishTime: at}
	e, err := messageEvent("gkedr-demo", "gkedr-backup-requests", SubBackupTriggerRequests, m)
	if err != nil {
		t.Fatalf("messageEvent: %v", err)
	}
	if got, want := e.Source(), "//pubsub.googleapis.com/projects/gkedr-demo/topics/gkedr-backup-requests"; got != want {
		t.Errorf("source = %q; want %q", got, want)
	}
	got, err := events.DecodePubSub(e)
	if err != nil {
		t.Fatalf("DecodePubSub: %v", err)
	}
	want := events.Message{Data: m.Data, Attributes: m.Attributes, ID: "42", PublishTime: at}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded message (-want +got):\n%s", diff)
	}
}

func TestSchedulerRunsEachJobInItsZone(t *testing.T) {
	t.Parallel()
	p := &config.Policy{Project: "p", Sources: []config.Source{
		{Name: "tokyo", Schedule: "0 9 * * *", TimeZone: "Asia/Tokyo"},
		{Name: "utc", Schedule: "30 1 * * *", TimeZone: "UTC"},
		{Name: "manual"},
	}}
	jobs, err := schedule.Jobs(p, "projects/p/locations/local", "projects/p/topics/t", "0 3 * * *")
	if err != nil {
		t.Fatalf("schedule.Jobs: %v", err)
	}
	c, err := newScheduler(jobs, func(*schedulerpb.Job) {})
	if err != nil {
		t.Fatalf("newScheduler: %v", err)
	}
	from := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var got []string
	for _, e := range c.Entries() {
		got = append(got, e.Schedule.Next(from).UTC().Format(time.RFC3339))
	}
	// 09:00 in Tokyo is 00:00 UTC; a source without a schedule gets no job; the sweep runs in UTC.
	want := []string{"2026-05-02T00:00:00Z", "2026-05-02T01:30:00Z", "2026-05-02T03:00:00Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("next activations (-want +got):\n%s", diff)
	}

	bad := []*schedulerpb.Job{{Name: "projects/p/locations/local/jobs/bad", Schedule: "0 9 * * *", TimeZone: "Mars/Base"}}
	if _, err := newScheduler(bad, func(*schedulerpb.Job) {}); err == nil || !strings.Contains(err.Error(), "Mars/Base") {
		t.Errorf("newScheduler with an unknown zone = %v; want an error naming it", err)
	}
}

func TestSinkRecordsPosts(t *testing.T) {
	t.Parallel()
	s := &Stack{state: newState()}
	srv := httptest.NewServer(s.sinkHandler())
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, typ := range []string{config.NotifyGoogleChat, config.NotifySlack, config.NotifyWebhook} {
		resp, err := http.Post(sinkURL(addr, typ), "application/json", strings.NewReader(`{"typ":"`+typ+`"}`))
		if err != nil {
			t.Fatalf("post to %s sink: %v", typ, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("post to %s sink: status %d; want 200", typ, resp.StatusCode)
		}
	}
	resp, err := http.Get(sinkURL(addr, config.NotifySlack))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status %d; want 405", resp.StatusCode)
	}
	var got []string
	for _, p := range s.state.snapshot().posts {
		got = append(got, p.Channel+" "+string(p.Body))
	}
	want := []string{`googlechat {"typ":"googlechat"}`, `slack {"typ":"slack"}`, `webhook {"typ":"webhook"}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded posts (-want +got):\n%s", diff)
	}
}

func TestUpsertKeepsTheNewestCopy(t *testing.T) {
	t.Parallel()
	b := func(state gkebackuppb.Backup_State, sec int64) *gkebackuppb.Backup {
		return &gkebackuppb.Backup{Name: "b1", State: state, UpdateTime: timestamppb.New(time.Unix(sec, 0))}
	}
	var list []*gkebackuppb.Backup
	list = upsert(list, b(gkebackuppb.Backup_IN_PROGRESS, 10))
	list = upsert(list, b(gkebackuppb.Backup_SUCCEEDED, 20))
	// A redelivered older event must not take the backup back to IN_PROGRESS.
	list = upsert(list, b(gkebackuppb.Backup_IN_PROGRESS, 10))
	list = upsert(list, &gkebackuppb.Backup{Name: "b2", State: gkebackuppb.Backup_CREATING})
	var got []string
	for _, x := range list {
		got = append(got, x.GetName()+" "+x.GetState().String())
	}
	if diff := cmp.Diff([]string{"b1 SUCCEEDED", "b2 CREATING"}, got); diff != "" {
		t.Errorf("backups (-want +got):\n%s", diff)
	}
}

func TestScaled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		d     time.Duration
		scale float64
		want  time.Duration
	}{
		{"real_time_keeps_the_duration", 5 * time.Second, 1, 5 * time.Second},
		{"fast_clock_shrinks_it", 2 * time.Minute, 0.001, 120 * time.Millisecond},
		{"never_below_the_floor", 5 * time.Second, 0.0001, 5 * time.Millisecond},
		{"never_above_the_duration", time.Second, 10, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := scaled(tc.d, tc.scale, 5*time.Millisecond); got != tc.want {
				t.Errorf("scaled(%s, %g) = %s; want %s", tc.d, tc.scale, got, tc.want)
			}
		})
	}
}

// clusterStack is a Stack with only the emulator and the clusters' apps, for the tests of what the
// stack wires up for verification.
func clusterStack(t *testing.T) (*Stack, ProbeResolver) {
	t.Helper()
	world := gkebackupemu.DefaultWorld()
	emu, err := gkebackupemu.New(world)
	if err != nil {
		t.Fatalf("new emulator: %v", err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	s := &Stack{emu: emu, state: newState(), log: discardLogger()}
	s.ctx, s.cancel = context.WithCancel(t.Context())
	resolve, err := s.serveApps()
	if err != nil {
		t.Fatalf("serveApps: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, resolve
}

// TestClusterKubeAPIReachable checks the emulator's Kubernetes API the way VerifyRestore reaches
// it: the endpoint and CA that GetCluster returns, a bearer token, client-go.
func TestClusterKubeAPIReachable(t *testing.T) {
	t.Parallel()
	s, _ := clusterStack(t)
	state, _ := s.emu.Cluster("projects/gkedr-demo/locations/asia-northeast1/clusters/gke01")
	ca, err := base64.StdEncoding.DecodeString(state.CACertificate)
	if err != nil {
		t.Fatalf("decode CA: %v", err)
	}
	cs, err := kube.NewClientset(kube.Endpoint{Host: state.Endpoint, CAData: ca,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "local"})})
	if err != nil {
		t.Fatalf("NewClientset: %v", err)
	}
	inv, err := kube.Snapshot(t.Context(), cs, []string{"default"})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	var got []string
	for _, n := range inv.Deployments {
		got = append(got, "deployment "+n.Name)
	}
	for _, n := range inv.PVCs {
		got = append(got, "pvc "+n.Name)
	}
	want := []string{"deployment frontend", "deployment redis-follower", "deployment redis-leader", "pvc redis-follower-pvc", "pvc redis-leader-pvc"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("source inventory (-want +got):\n%s", diff)
	}
	rd, err := kube.CheckReadiness(t.Context(), cs, []string{"default"}, &inv)
	if err != nil {
		t.Fatalf("CheckReadiness: %v", err)
	}
	if !rd.Ready {
		t.Errorf("the source cluster's workloads are not ready: %+v", rd.Checks)
	}
	cluster := &containerpb.Cluster{Name: "gke01", Endpoint: state.Endpoint,
		MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: state.CACertificate}}
	if _, err := (&kube.Connector{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})}).Clientset(t.Context(), cluster); err != nil {
		t.Errorf("Connector.Clientset on the recorded endpoint: %v", err)
	}
}

func TestClusterFrontEnd(t *testing.T) {
	t.Parallel()
	_, resolve := clusterStack(t)
	client := probeClient(resolve)
	cases := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
		wantErr    error
	}{
		{"source_frontend_shows_the_guestbook_entry", "http://frontend.default.gke01.local/", http.StatusOK, "BfG Test", nil},
		{"empty_standby_has_no_frontend_yet", "http://frontend.default.gke02.local/", http.StatusNotFound, "no Service default/frontend", nil},
		{"other_hosts_are_refused", "http://frontend.example/", 0, "", ErrNotLocal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := client.Get(tc.url)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("GET %s = %v; want %v", tc.url, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET %s: %v", tc.url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !bytes.Contains(body, []byte(tc.wantBody)) {
				t.Errorf("GET %s = %d %q; want %d containing %q", tc.url, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}
