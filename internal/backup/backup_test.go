package backup_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/backup"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/retry"
)

const bpGKE01 = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"

var requestedAt = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// fast retries without noticeable waits.
var fast = retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 3}

func walkthroughPolicy(t *testing.T) *config.Policy {
	t.Helper()
	p, err := config.Parse(examples.WalkthroughPolicy)
	if err != nil {
		t.Fatalf("parse walkthrough policy: %v", err)
	}
	return p
}

func request(kind events.RequestKind, source string, standbys ...string) events.Request {
	return events.Request{
		SchemaVersion: events.RequestSchemaVersion, Kind: kind, Source: source, Standbys: standbys,
		RequestID: "req-" + string(kind), RequestedAt: requestedAt,
	}
}

func TestStart_creates_one_labelled_backup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		req        events.Request
		wantID     string
		wantLabels map[string]string
	}{
		{
			name:   "scheduled",
			req:    request(events.RequestScheduled, "gke01"),
			wantID: "gkedr-20261203-090000-",
			wantLabels: map[string]string{
				"gkedr-managed": "true", "gkedr-request": "req-scheduled", "gkedr-reason": "schedule",
			},
		},
		{
			name:   "migration_carries_its_standbys",
			req:    request(events.RequestMigration, "gke01", "gke03"),
			wantID: "gkedr-20261203-090000-",
			wantLabels: map[string]string{
				"gkedr-managed": "true", "gkedr-request": "req-migration", "gkedr-reason": "migration",
				"gkedr-to-gke03": "true",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := emutest.Start(t, nil)
			svc := backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: fast})

			res, err := svc.Start(t.Context(), tc.req)
			if err != nil {
				t.Fatalf("Start() error = %v", err)
			}
			if !res.Created || !strings.HasPrefix(res.Backup, bpGKE01+"/backups/"+tc.wantID) {
				t.Errorf("Start() = %+v, want a created backup %s/backups/%s…", res, bpGKE01, tc.wantID)
			}
			calls := emu.Calls("CreateBackup")
			if len(calls) != 1 {
				t.Fatalf("CreateBackup calls = %d, want 1", len(calls))
			}
			req := calls[0].Request.(*gkebackuppb.CreateBackupRequest)
			if req.GetParent() != bpGKE01 || bpGKE01+"/backups/"+req.GetBackupId() != res.Backup {
				t.Errorf("CreateBackup parent, id = %s, %s; want %s and the id of %s", req.GetParent(), req.GetBackupId(), bpGKE01, res.Backup)
			}
			if diff := cmp.Diff(tc.wantLabels, req.GetBackup().GetLabels()); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if n := len(emu.Calls("GetOperation")); n != 0 {
				t.Errorf("Start polled the operation %d times; it must return without waiting", n)
			}
		})
	}
}

func TestStart_redelivery_is_idempotent(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, nil)
	svc := backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: fast})
	req := request(events.RequestScheduled, "gke01")

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		names   = map[string]bool{}
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := svc.Start(t.Context(), req)
			if err != nil {
				t.Errorf("Start() error = %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			names[res.Backup] = true
			if res.Created {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 || len(names) != 1 {
		t.Errorf("20 deliveries: %d created, names %v; want exactly one backup", created, names)
	}
	it := emu.Backup.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: bpGKE01})
	var count int
	for _, err := it.Next(); !errors.Is(err, iterator.Done); _, err = it.Next() {
		if err != nil {
			t.Fatalf("ListBackups: %v", err)
		}
		count++
	}
	if count != 1 {
		t.Errorf("backups in %s = %d, want 1", bpGKE01, count)
	}
}

func TestStart_refuses_with_the_fix(t *testing.T) {
	t.Parallel()
	deactivated := gkebackupemu.DefaultWorld()
	deactivated.BackupPlans[0].Deactivated = true
	noPlan := gkebackupemu.DefaultWorld()
	noPlan.BackupPlans = nil

	cases := []struct {
		name      string
		world     *gkebackupemu.World
		req       events.Request
		wantErr   error
		wantText  string
		wantCalls int
	}{
		{name: "unknown_source", req: request(events.RequestScheduled, "gke09"),
			wantErr: backup.ErrUnknownSource, wantText: "the policy has sources [gke01]"},
		{name: "unknown_standby", req: request(events.RequestMigration, "gke01", "gke09"),
			wantErr: backup.ErrUnknownStandby, wantText: "declare it under the source's standbys"},
		{name: "deactivated_plan", world: deactivated, req: request(events.RequestScheduled, "gke01"),
			wantErr: backup.ErrPlanNotReady, wantText: "deactivated", wantCalls: 1},
		{name: "missing_plan", world: noPlan, req: request(events.RequestScheduled, "gke01"),
			wantErr: backup.ErrPlanNotReady, wantText: "does not exist", wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := emutest.Start(t, tc.world)
			svc := backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: fast})
			_, err := svc.Start(t.Context(), tc.req)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Start() error = %v, want %v mentioning %q", err, tc.wantErr, tc.wantText)
			}
			if retry.IsTransient(err) {
				t.Errorf("Start() error %v is transient; a refusal must not be retried", err)
			}
			if got := len(emu.Server.Calls()); got != tc.wantCalls {
				t.Errorf("API calls = %d, want %d", got, tc.wantCalls)
			}
			if n := len(emu.Calls("CreateBackup")); n != 0 {
				t.Errorf("CreateBackup called %d times on a refused request", n)
			}
		})
	}
}

func TestStart_skips_what_other_functions_handle(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, nil)
	svc := backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: fast})
	latest := request(events.RequestMigration, "gke01", "gke03")
	latest.Backup = events.LatestBackup
	for _, req := range []events.Request{request(events.RequestSweep, ""), latest} {
		res, err := svc.Start(t.Context(), req)
		if err != nil || res.Skipped == "" {
			t.Errorf("Start(%s) = %+v, %v; want skipped", req.Kind, res, err)
		}
	}
	if n := len(emu.Server.Calls()); n != 0 {
		t.Errorf("API calls = %d, want none", n)
	}
}

func TestStart_transient_failures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		attempts    int
		wantFirstOK bool
	}{
		// The default: the in-process retry waits out the fault within one delivery.
		{name: "retried_in_process", attempts: 3, wantFirstOK: true},
		// Without it the error is transient, so the trigger redelivers.
		{name: "left_to_redelivery", attempts: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := emutest.Start(t, nil)
			emu.Server.SetFault("CreateBackup", gkebackupemu.Fault{Code: codes.ResourceExhausted, Count: 1})
			policy := fast
			policy.Attempts = tc.attempts
			svc := backup.NewService(emu.Backup, walkthroughPolicy(t), apicall.Caller{Retry: policy})
			req := request(events.RequestScheduled, "gke01")

			res, err := svc.Start(t.Context(), req)
			if tc.wantFirstOK != (err == nil) || (err != nil && !retry.IsTransient(err)) {
				t.Fatalf("first Start() = %+v, %v; want ok=%v, else a transient error", res, err, tc.wantFirstOK)
			}
			if err != nil {
				if res, err = svc.Start(t.Context(), req); err != nil || !res.Created {
					t.Fatalf("redelivered Start() = %+v, %v; want the backup created", res, err)
				}
			}
			if n := len(emu.Calls("CreateBackup")); n != 2 {
				t.Errorf("CreateBackup calls = %d, want the failed one and one more", n)
			}
		})
	}
}
