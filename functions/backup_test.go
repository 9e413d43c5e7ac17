package functions_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/functions"
	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/backup"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/retry"
	"github.com/gkedr/gkedr/internal/setup"
	"github.com/gkedr/gkedr/internal/testutil"
)

const (
	project = "gkedr-demo"
	bpGKE01 = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
)

func walkthroughPolicy(t *testing.T) *config.Policy {
	t.Helper()
	p, err := config.Parse(examples.WalkthroughPolicy)
	if err != nil {
		t.Fatalf("parse walkthrough policy: %v", err)
	}
	return p
}

// backupTrigger returns BackupTrigger bound to a fresh emulator, and its logs.
func backupTrigger(t *testing.T, opts ...gkebackupemu.Option) (*emutest.Env, *logBuffer, *functions.Handlers) {
	t.Helper()
	emu := emutest.Start(t, nil, opts...)
	logs, deps := newLogger()
	// Note that in-process retries are off: these tests are about what the trigger sees.
	deps.Backups = backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: retry.Policy{Attempts: 1}})
	deps.ProjectID = project
	deps.MaxEventAge = time.Hour
	return emu, logs, functions.New(deps)
}

// pubsubEvent is a Pub/Sub message as Eventarc delivers it to a function.
func pubsubEvent(t *testing.T, id string, data []byte, published time.Time) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(events.TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/projects/gkedr-demo/topics/gkedr-backup-requests")
	e.SetTime(published)
	body := map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(data), "messageId": id,
			"publishTime": published.UTC().Format(time.RFC3339Nano),
		},
		"subscription": "projects/gkedr-demo/subscriptions/gkedr-backup-trigger",
	}
	if err := e.SetData(cloudevents.ApplicationJSON, body); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestBackupTrigger_through_pubsub_emulator(t *testing.T) {
	t.Parallel()
	testutil.PubSubEmulator(t)
	emu, logs, h := backupTrigger(t)
	base := serve(t, "BackupTrigger", h.BackupTrigger)

	ps, err := pubsub.NewClient(t.Context(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	topic := "projects/" + project + "/topics/requests-" + time.Now().Format("150405.000000000")
	if _, err := ps.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Note that the push path ends in /projects/P/topics/T: funcframework derives the CloudEvent
	// source from it, as Eventarc's Pub/Sub trigger does.
	if _, err := ps.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
		Name:       strings.Replace(topic, "/topics/", "/subscriptions/", 1) + "-backup-trigger",
		Topic:      topic,
		PushConfig: &pubsubpb.PushConfig{PushEndpoint: base + "/" + topic},
	}); err != nil {
		t.Fatalf("create push subscription: %v", err)
	}
	pub := ps.Publisher(topic)
	defer pub.Stop()
	if _, err := pub.Publish(t.Context(), &pubsub.Message{
		Data: []byte(`{"schemaVersion":1,"kind":"manual","source":"gke01","requestId":"push-1","requestedAt":"2026-12-03T09:30:00Z"}`),
	}).Get(t.Context()); err != nil {
		t.Fatalf("publish: %v", err)
	}

	waitFor(t, "the backup to start", func() bool { return strings.Contains(logs.text(), "backup started") })
	calls := emu.Calls("CreateBackup")
	if len(calls) != 1 {
		t.Fatalf("CreateBackup calls = %d, want exactly 1", len(calls))
	}
	req := calls[0].Request.(*gkebackuppb.CreateBackupRequest)
	wantID := "gkedr-20261203-093000-"
	if req.GetParent() != bpGKE01 || !strings.HasPrefix(req.GetBackupId(), wantID) {
		t.Errorf("CreateBackup(parent %s, id %s), want parent %s and id %s…", req.GetParent(), req.GetBackupId(), bpGKE01, wantID)
	}
	want := map[string]string{"gkedr-managed": "true", "gkedr-request": "push-1", "gkedr-reason": "manual"}
	if diff := cmp.Diff(want, req.GetBackup().GetLabels()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	logs.lines(t)
}

func TestBackupTrigger_duplicate_deliveries_take_one_backup(t *testing.T) {
	t.Parallel()
	emu, logs, h := backupTrigger(t)
	url := serve(t, "BackupTrigger", h.BackupTrigger)
	e := pubsubEvent(t, "dup-1", []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`), time.Now())

	for range 10 {
		if code := post(t, url, e); code/100 != 2 {
			t.Fatalf("sequential delivery: HTTP %d, want 2xx", code)
		}
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := post(t, url, e); code/100 != 2 {
				t.Errorf("concurrent delivery: HTTP %d, want 2xx", code)
			}
		}()
	}
	wg.Wait()

	ids := map[string]int{}
	created := 0
	for _, c := range emu.Calls("CreateBackup") {
		ids[c.Request.(*gkebackuppb.CreateBackupRequest).GetBackupId()]++
		if c.Code == codes.OK {
			created++
		}
	}
	if len(ids) != 1 || created != 1 {
		t.Errorf("20 deliveries: backup ids %v, %d created; want one id and one backup", ids, created)
	}
	logs.lines(t)
}

func TestBackupTrigger_malformed_input_is_acknowledged(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cases := []struct {
		name      string
		data      []byte
		published time.Time
		wantError string // in the one ERROR line: the problem and the fix
	}{
		{name: "not_json", data: []byte("kind=scheduled"), wantError: "not valid JSON"},
		{name: "unknown_kind", data: []byte(`{"schemaVersion":1,"kind":"hourly","source":"gke01"}`),
			wantError: `kind: \"hourly\" is not a request kind; use one of scheduled, migration, sweep, manual`},
		{name: "unknown_source", data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke09"}`),
			wantError: `unknown source \"gke09\": the policy has sources [gke01]`},
		{name: "empty_data", data: nil, wantError: "request is empty"},
		{name: "data_too_large", data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"` + strings.Repeat("x", events.MaxRequestBytes) + `"}`),
			wantError: "over the limit of 65536"},
		{name: "stale_event", data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`),
			published: now.Add(-2 * time.Hour), wantError: "GKEDR_MAX_EVENT_AGE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu, logs, h := backupTrigger(t)
			url := serve(t, "BackupTrigger", h.BackupTrigger)
			published := tc.published
			if published.IsZero() {
				published = now
			}
			if code := post(t, url, pubsubEvent(t, "bad-"+tc.name, tc.data, published)); code/100 != 2 {
				t.Errorf("HTTP %d, want 2xx: a malformed event must be acknowledged, not retried", code)
			}
			errs := withSeverity(logs.lines(t), "ERROR")
			if len(errs) != 1 {
				t.Fatalf("ERROR lines = %d, want 1:\n%s", len(errs), logs.text())
			}
			if line, _ := json.Marshal(errs[0]); !strings.Contains(string(line), tc.wantError) {
				t.Errorf("ERROR line %s\ndoes not name %q", line, tc.wantError)
			}
			if n := len(emu.Server.Calls()); n != 0 {
				t.Errorf("API calls = %d, want none for malformed input", n)
			}
		})
	}
}

func TestBackupTrigger_transient_failure_is_redelivered(t *testing.T) {
	t.Parallel()
	emu, logs, h := backupTrigger(t)
	emu.Server.SetFault("CreateBackup", gkebackupemu.Fault{Code: codes.Unavailable, Count: 1})
	url := serve(t, "BackupTrigger", h.BackupTrigger)
	e := pubsubEvent(t, "flaky-1", []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`), time.Now())

	if code := post(t, url, e); code/100 == 2 {
		t.Fatalf("first delivery: HTTP %d, want an error status so the trigger redelivers", code)
	}
	if code := post(t, url, e); code != http.StatusOK {
		t.Fatalf("redelivery: HTTP %d, want 200", code)
	}
	var created int
	for _, c := range emu.Calls("CreateBackup") {
		if c.Code == codes.OK {
			created++
		}
	}
	if created != 1 {
		t.Errorf("backups created = %d, want 1", created)
	}
	if n := len(withSeverity(logs.lines(t), "WARNING")); n != 1 {
		t.Errorf("WARNING lines = %d, want 1 for the transient failure", n)
	}
}

func TestBackupTrigger_never_logs_a_webhook_url(t *testing.T) {
	t.Parallel()
	testutil.PubSubEmulator(t)
	emu := emutest.Start(t, nil)
	const chatURL = "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=SuperSecretToken123"
	const slackURL = "https://hooks.slack.com/services/T0000/B0000/XXXXSECRETXXXX"
	env, err := config.LoadEnv(t.Context(), envconfig.MapLookuper(map[string]string{
		"GKEBACKUP_EMULATOR_HOST": emu.Server.Addr(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	app, err := setup.New(t.Context(), env, walkthroughPolicy(t), envconfig.MapLookuper(map[string]string{
		"CHAT_WEBHOOK_URL": chatURL, "SLACK_WEBHOOK_URL": slackURL,
	}))
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Cleanup(func() { _ = app.Close() })
	logs, deps := newLogger()
	deps.Backups, deps.ProjectID, deps.MaxEventAge = app.Backups, project, time.Hour
	url := serve(t, "BackupTrigger", functions.New(deps).BackupTrigger)

	// Hostile input that echoes the secrets back into error messages.
	for i, source := range []string{chatURL, slackURL, "gke01"} {
		data, _ := json.Marshal(map[string]any{"schemaVersion": 1, "kind": "scheduled", "source": source})
		post(t, url, pubsubEvent(t, "secret-"+string(rune('a'+i)), data, time.Now()))
	}
	logs.lines(t)
	for _, secret := range []string{chatURL, slackURL, "SuperSecretToken123", "XXXXSECRETXXXX", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"} {
		if strings.Contains(logs.text(), secret) {
			t.Errorf("a log line contains %q:\n%s", secret, logs.text())
		}
	}
}
