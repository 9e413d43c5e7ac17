package bench

import (
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// fastQPS lifts the services' client-side rate limit in the reliability suite: what is tested is
// idempotency and recovery, and the default 2 calls per second would make each case take minutes.
const fastQPS = "1000"

// TestReliability_duplicate_deliveries delivers one backup's SUCCEEDED event many times at once —
// what at-least-once delivery, a redelivery racing a slow first attempt, or the sweep racing the
// event can all produce — and expects exactly one restore per standby.
func TestReliability_duplicate_deliveries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		standbys   int
		deliveries int
	}{
		{name: "one_standby_100_deliveries", standbys: 1, deliveries: 100},
		{name: "three_standbys_100_deliveries", standbys: 3, deliveries: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topo := topology(t, 1, tc.standbys)
			st := newStack(t, StackOptions{Topology: topo, Env: map[string]string{"GKEDR_RESTORE_QPS": fastQPS}, ManualEvents: true})
			b := succeededBackup(t, st, topo.World.BackupPlans[0].Name, "dup")
			e := backupEvent(t, b)

			for range tc.deliveries {
				st.Restore.Deliver(e)
			}
			idle(t, st, 60*time.Second)

			sum := Summarize(st.Emulator.Calls(), time.Time{})
			want := map[RestoreKey]int{}
			for _, sb := range st.Policy.Sources[0].Standbys {
				want[RestoreKey{Backup: b.GetName(), Plan: sb.RestorePlan}] = 1
			}
			if diff := cmp.Diff(want, sum.Restores); diff != "" {
				t.Errorf("restores created per (backup, plan) (-want +got):\n%s", diff)
			}
			if got := st.Restore.Stats(); got.Invocations != tc.deliveries || got.Errors != 0 {
				t.Errorf("RestoreOnBackup: %+v, want %d invocations and no errors", got, tc.deliveries)
			}
			if got, want := sum.ByMethod["CreateRestorePlan"], tc.standbys; got < want {
				t.Errorf("CreateRestorePlan admitted %d times, want at least %d (one per standby)", got, want)
			}
		})
	}
}

// TestReliability_faults runs backup → restore cycles while the emulator fails a share of the
// calls of every method gkedr makes with Unavailable, DeadlineExceeded or ResourceExhausted. The
// functions either recover in process or return the error, and the trigger redelivers; in the end
// every standby must hold exactly one restore of every backup: nothing lost, nothing doubled.
func TestReliability_faults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		long     bool
		cycles   int
		standbys int
		// share of the calls that fail.
		share float64
		// invocation is the functions' timeout; a short one makes RestoreOnBackup give up its
		// in-process retries and return the error, so its redelivery path is exercised too.
		invocation time.Duration
		// wantRestoreRedeliveries asks for at least one redelivery of RestoreOnBackup.
		wantRestoreRedeliveries bool
	}{
		{name: "20_cycles_2_standbys_20pct", cycles: 20, standbys: 2, share: 0.2},
		{name: "4_cycles_2_standbys_50pct_1s_invocations", cycles: 4, standbys: 2, share: 0.5, invocation: time.Second, wantRestoreRedeliveries: true},
		{name: "200_cycles_2_standbys_20pct", long: true, cycles: 200, standbys: 2, share: 0.2},
		{name: "100_cycles_2_standbys_50pct_2s_invocations", long: true, cycles: 100, standbys: 2, share: 0.5, invocation: 2 * time.Second, wantRestoreRedeliveries: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.long {
				requireLong(t)
			}
			topo := topology(t, 1, tc.standbys)
			st := newStack(t, StackOptions{
				Topology:        topo,
				Env:             map[string]string{"GKEDR_RESTORE_QPS": fastQPS},
				Trigger:         TriggerOptions{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond, Timeout: tc.invocation},
				EmulatorOptions: []gkebackupemu.Option{gkebackupemu.WithSeed(int64(tc.cycles))},
			})
			// Each code hits reads and writes, on both the backup and the restore path.
			faults := map[string]codes.Code{
				"GetBackupPlan":     codes.Unavailable,
				"CreateBackup":      codes.DeadlineExceeded,
				"GetBackup":         codes.ResourceExhausted,
				"GetCluster":        codes.DeadlineExceeded,
				"GetRestorePlan":    codes.Unavailable,
				"CreateRestorePlan": codes.ResourceExhausted,
				"CreateRestore":     codes.Unavailable,
				"*":                 codes.ResourceExhausted,
			}
			for method, code := range faults {
				st.Emulator.SetFault(method, gkebackupemu.Fault{Code: code, Probability: tc.share})
			}

			src := topo.Sources[0]
			for range tc.cycles {
				if err := st.Tick([]string{src}); err != nil {
					t.Fatal(err)
				}
			}
			want := tc.cycles * tc.standbys
			var sum CallSummary
			waitFor(t, 3*time.Minute, fmt.Sprintf("%d restores", want), func() bool {
				sum = Summarize(st.Emulator.Calls(), time.Time{})
				return len(sum.Restores) >= want
			})
			// Note the patience: with half the calls failing, an invocation must get every call of
			// every standby through in one go, and some events need many tries.
			idle(t, st, 3*time.Minute)
			sum = Summarize(st.Emulator.Calls(), time.Time{})

			if got := len(sum.Backups); got != tc.cycles {
				t.Errorf("%d backups created, want one per tick: %d", got, tc.cycles)
			}
			lost := 0
			for backup := range sum.Backups {
				for _, sb := range st.Policy.Sources[0].Standbys {
					if sum.Restores[RestoreKey{Backup: backup, Plan: sb.RestorePlan}] == 0 {
						lost++
						t.Errorf("lost: backup %s never restored into %s", backup, sb.Name)
					}
				}
			}
			if d := sum.Duplicates(); d != 0 || lost != 0 || len(sum.Restores) != want {
				t.Errorf("%d restores for %d expected, %d lost, %d duplicates", len(sum.Restores), want, lost, d)
			}
			if sum.Total == sum.Admitted {
				t.Errorf("no call was failed by the injected faults: the test proves nothing")
			}
			if tc.wantRestoreRedeliveries && st.Restore.Stats().Errors == 0 {
				t.Errorf("RestoreOnBackup never returned an error: its redelivery path was not exercised")
			}
			redelivered := st.Backup.Stats().Errors + st.Restore.Stats().Errors
			t.Logf("%d calls, %d failed by faults, %d redeliveries (BackupTrigger %+v, RestoreOnBackup %+v)",
				sum.Total, sum.Total-sum.Admitted, redelivered, st.Backup.Stats(), st.Restore.Stats())
		})
	}
}

// succeededBackup takes a backup through the emulator's API and waits for it to succeed.
func succeededBackup(t *testing.T, st *Stack, plan, id string) *gkebackuppb.Backup {
	t.Helper()
	c := backupClient(t, st)
	if _, err := c.CreateBackup(t.Context(), &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id}); err != nil {
		t.Fatalf("create backup: %v", err)
	}
	var b *gkebackuppb.Backup
	waitFor(t, 30*time.Second, "backup "+id+" SUCCEEDED", func() bool {
		var err error
		b, err = c.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: plan + "/backups/" + id})
		if err != nil {
			t.Fatalf("get backup: %v", err)
		}
		return b.GetState() == gkebackuppb.Backup_SUCCEEDED
	})
	return b
}

// backupEvent is BackupEvent or a failed test.
func backupEvent(t *testing.T, b *gkebackuppb.Backup) cloudevents.Event {
	t.Helper()
	e, err := BackupEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
