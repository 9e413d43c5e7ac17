package gkebackupemu

import (
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestFaults injects errors and latency into one method at a time.
func TestFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method string
		fault  Fault
		calls  int
		want   []codes.Code
	}{
		{
			name: "first_two_calls", method: "CreateBackup", fault: Fault{Code: codes.Unavailable, Count: 2}, calls: 4,
			want: []codes.Code{codes.Unavailable, codes.Unavailable, codes.OK, codes.OK},
		},
		{
			name: "every_call", method: "GetBackupPlan", fault: Fault{Code: codes.PermissionDenied}, calls: 3,
			want: []codes.Code{codes.PermissionDenied, codes.PermissionDenied, codes.PermissionDenied},
		},
		{
			name: "wildcard", method: "*", fault: Fault{Code: codes.Internal, Count: 1}, calls: 2,
			want: []codes.Code{codes.Internal, codes.OK},
		},
		{
			name: "other_method_unaffected", method: "GetRestore", fault: Fault{Code: codes.Internal}, calls: 2,
			want: []codes.Code{codes.OK, codes.OK},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, nil)
			e.s.SetFault(tc.method, tc.fault)
			var got []codes.Code
			for i := range tc.calls {
				var err error
				if tc.method == "CreateBackup" {
					_, err = e.c.CreateBackup(t.Context(), &gkebackuppb.CreateBackupRequest{Parent: bpGKE01, BackupId: "b" + string(rune('a'+i))})
				} else {
					_, err = e.c.GetBackupPlan(t.Context(), &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01})
				}
				got = append(got, status.Code(err))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFaultProbability fails about the given share of calls, reproducibly for a seed.
func TestFaultProbability(t *testing.T) {
	t.Parallel()
	run := func(seed int64) []codes.Code {
		e := startEnv(t, nil, WithSeed(seed))
		e.s.SetFault("GetBackupPlan", Fault{Code: codes.Internal, Probability: 0.3})
		var got []codes.Code
		for range 100 {
			_, err := e.c.GetBackupPlan(t.Context(), &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01})
			got = append(got, status.Code(err))
		}
		return got
	}
	first, again, other := run(7), run(7), run(8)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("same seed, different faults (-first +again):\n%s", diff)
	}
	if cmp.Equal(first, other) {
		t.Errorf("seeds 7 and 8 injected the same faults")
	}
	failed := 0
	for _, c := range first {
		if c == codes.Internal {
			failed++
		}
	}
	// 100 draws at p=0.3: 15..45 holds with overwhelming probability, and the seed is fixed.
	if failed < 15 || failed > 45 {
		t.Errorf("%d of 100 calls failed, want about 30", failed)
	}
}

// TestFaultLatency delays the affected call by at least the latency.
func TestFaultLatency(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	e.s.SetFault("GetBackupPlan", Fault{Latency: 100 * time.Millisecond, Count: 1})
	start := time.Now()
	if _, err := e.c.GetBackupPlan(t.Context(), &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01}); err != nil {
		t.Fatalf("GetBackupPlan() error = %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("GetBackupPlan() answered after %s, want at least 100ms", d)
	}
}

// TestRateLimitAndCallLog answers calls beyond the rate with ResourceExhausted and logs every
// call, rejected ones included.
func TestRateLimitAndCallLog(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	e.s.SetRateLimit(0.001, 2) // two calls, then nothing for a long while
	var got []codes.Code
	for range 3 {
		_, err := e.c.GetBackupPlan(t.Context(), &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01})
		got = append(got, status.Code(err))
	}
	e.s.SetRateLimit(0, 0)
	_, err := e.c.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: bpGKE01 + "/backups/nope"})
	got = append(got, status.Code(err))
	if diff := cmp.Diff([]codes.Code{codes.OK, codes.OK, codes.ResourceExhausted, codes.NotFound}, got); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}

	wantCalls := []Call{
		{Method: "GetBackupPlan", Request: &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01}, Code: codes.OK},
		{Method: "GetBackupPlan", Request: &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01}, Code: codes.OK},
		{Method: "GetBackupPlan", Request: &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01}, Code: codes.ResourceExhausted},
		{Method: "GetBackup", Request: &gkebackuppb.GetBackupRequest{Name: bpGKE01 + "/backups/nope"}, Code: codes.NotFound},
	}
	calls := e.s.Calls()
	if diff := cmp.Diff(wantCalls, calls, protocmp.Transform(), cmpopts.IgnoreFields(Call{}, "Time")); diff != "" {
		t.Errorf("Calls() (-want +got):\n%s", diff)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Time.Before(calls[i-1].Time) {
			t.Errorf("call %d at %v is before call %d at %v", i, calls[i].Time, i-1, calls[i-1].Time)
		}
	}
	if n := e.s.CallCount("GetBackupPlan"); n != 3 {
		t.Errorf("CallCount(GetBackupPlan) = %d, want 3", n)
	}
}
