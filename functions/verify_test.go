package functions_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"golang.org/x/oauth2"

	"github.com/gkedr/gkedr/functions"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/kube"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
	"github.com/gkedr/gkedr/internal/verify"
)

// gkebackupEvent is a Backup for GKE direct event as Eventarc delivers it.
func gkebackupEvent(t *testing.T, typ string, data []byte) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID("evt-" + time.Now().Format("150405.000000000"))
	e.SetType(typ)
	e.SetSource("//gkebackup.googleapis.com/projects/gkedr-demo/locations/asia-northeast1")
	e.SetTime(time.Now())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// restoreLoop serves RestoreOnBackup and VerifyRestore over one emulator, posting reports to sink.
func restoreLoop(t *testing.T, sink string) (*emutest.Env, *logBuffer, string, string) {
	t.Helper()
	emu := emutest.Start(t, nil)
	policy := walkthroughPolicy(t)
	logs, deps := newLogger()
	deps.ProjectID, deps.MaxEventAge = project, time.Hour
	deps.Restores = restore.NewService(emu.Backup, emu.Clusters, nil, policy, restore.Options{QPS: 100})
	sender, err := notify.NewSender([]notify.Channel{{Type: notify.TypeWebhook, URL: sink}}, &http.Client{},
		notify.WithRetryPolicy(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	deps.Verifier = verify.NewService(emu.Backup, emu.Clusters,
		&kube.Connector{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "test"})},
		sender, nil, policy, verify.Options{
			HTTPClient:      &http.Client{Transport: emu.Server.ProbeTransport()},
			ReadinessPoll:   10 * time.Millisecond,
			ReadinessBudget: 10 * time.Second,
		})
	h := functions.New(deps)
	return emu, logs, serve(t, "RestoreOnBackup", h.RestoreOnBackup), serve(t, "VerifyRestore", h.VerifyRestore)
}

// succeededBackup takes a backup in the emulator and waits for it to succeed.
func succeededBackup(t *testing.T, emu *emutest.Env) *gkebackuppb.Backup {
	t.Helper()
	if _, err := emu.Backup.CreateBackup(t.Context(), &gkebackuppb.CreateBackupRequest{Parent: bpGKE01, BackupId: "b1"}); err != nil {
		t.Fatal(err)
	}
	var b *gkebackuppb.Backup
	waitFor(t, "the backup to succeed", func() bool {
		var err error
		b, err = emu.Backup.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: bpGKE01 + "/backups/b1"})
		return err == nil && b.GetState() == gkebackuppb.Backup_SUCCEEDED
	})
	return b
}

// finishedRestore waits until the restore into rp has finished and returns it.
func finishedRestore(t *testing.T, emu *emutest.Env, rp string) *gkebackuppb.Restore {
	t.Helper()
	var r *gkebackuppb.Restore
	waitFor(t, "the restore into "+rp+" to finish", func() bool {
		it := emu.Backup.ListRestores(t.Context(), &gkebackuppb.ListRestoresRequest{Parent: rp})
		got, err := it.Next()
		r = got
		return err == nil && got.GetState() == gkebackuppb.Restore_SUCCEEDED
	})
	return r
}

func TestRestoreAndVerify_report_once_per_restore(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
	}))
	t.Cleanup(sink.Close)
	emu, logs, restoreURL, verifyURL := restoreLoop(t, sink.URL)

	data, err := events.EncodeBackupEvent(succeededBackup(t, emu))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, restoreURL, gkebackupEvent(t, events.TypeBackupUpdated, data)); code != http.StatusOK {
		t.Fatalf("RestoreOnBackup: HTTP %d", code)
	}
	r := finishedRestore(t, emu, "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke02")
	data, err = events.EncodeRestoreEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code := post(t, verifyURL, gkebackupEvent(t, events.TypeRestoreUpdated, data)); code != http.StatusOK {
			t.Fatalf("VerifyRestore: HTTP %d", code)
		}
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("webhook posts = %d, want 1 for a restore event delivered twice", n)
	}
	if !strings.Contains(logs.text(), `"verdict":"PASS"`) {
		t.Errorf("no PASS verdict logged:\n%s", logs.text())
	}
	logs.lines(t)
}

func TestVerifyRestore_failed_post_does_not_fail_the_function(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(sink.Close)
	emu, logs, restoreURL, verifyURL := restoreLoop(t, sink.URL)

	data, _ := events.EncodeBackupEvent(succeededBackup(t, emu))
	post(t, restoreURL, gkebackupEvent(t, events.TypeBackupUpdated, data))
	data, _ = events.EncodeRestoreEvent(finishedRestore(t, emu, "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke02"))
	if code := post(t, verifyURL, gkebackupEvent(t, events.TypeRestoreUpdated, data)); code != http.StatusOK {
		t.Fatalf("VerifyRestore: HTTP %d, want 200: a failed chat post must not make the trigger retry", code)
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("webhook attempts = %d, want the bound of 3", n)
	}
	if errs := withSeverity(logs.lines(t), "ERROR"); len(errs) != 1 {
		t.Errorf("ERROR lines = %d, want 1 for the undelivered report:\n%s", len(errs), logs.text())
	}
}
