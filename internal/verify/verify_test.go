package verify_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
	"github.com/gkedr/gkedr/internal/verify"
)

// shortCrossRegion makes the cross-region restore take 10 emulated minutes (0.6 s) instead of 68.
func shortCrossRegion(w *gkebackupemu.World) {
	w.Durations.RestoreCrossRegion = gkebackupemu.Duration{Duration: 10 * time.Minute}
}

// summary is the part of a report each case pins down; the rest is checked by findings.
type summary struct {
	Verdict      report.Verdict
	RestoreState string
	CrossRegion  bool
	Volumes      report.VolumeCounts
	Failed       int
	Ready        bool
	Probes       []bool
}

func summarize(r report.Report) summary {
	s := summary{Verdict: r.Verdict, RestoreState: r.RestoreState, CrossRegion: r.CrossRegion, Volumes: r.Volumes, Failed: r.Resources.Failed}
	if r.Readiness != nil {
		s.Ready = r.Readiness.Ready
	}
	for _, p := range r.Probes {
		s.Probes = append(s.Probes, p.OK)
	}
	return s
}

func TestOnRestore(t *testing.T) {
	t.Parallel()
	bothVolumes := report.VolumeCounts{InBackup: 2, Restored: 2}
	cases := []struct {
		name    string
		setup   setup
		standby string
		// plan edits the policy's RestoreConfig before the RestorePlan is created.
		plan func(cfg *gkebackuppb.RestoreConfig)
		// prepare edits the fake clusters before verification.
		prepare func(t *testing.T, e *env)
		// after is the service's clock, relative to the restore's complete time.
		after       time.Duration
		want        summary
		wantFinding string // a finding's message contains it (empty: no finding at all)
		wantFix     string // and that finding's fix contains this
		wantPosted  bool   // one post and the gkedr-reported label; otherwise neither
	}{
		{
			name:       "pass_walkthrough_same_region",
			standby:    "gke02",
			after:      time.Minute,
			want:       summary{Verdict: report.Pass, RestoreState: "SUCCEEDED", Volumes: bothVolumes, Ready: true, Probes: []bool{true}},
			wantPosted: true,
		},
		{
			name:       "pass_cross_region_with_source_down",
			setup:      setup{world: shortCrossRegion},
			standby:    "gke03",
			prepare:    func(t *testing.T, e *env) { e.kube.down["gke01"] = true },
			after:      time.Minute,
			want:       summary{Verdict: report.Pass, RestoreState: "SUCCEEDED", CrossRegion: true, Volumes: bothVolumes, Ready: true},
			wantPosted: true,
		},
		{
			name:    "volume_data_not_restored",
			standby: "gke02",
			plan: func(cfg *gkebackuppb.RestoreConfig) {
				cfg.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			},
			after:       time.Minute,
			want:        summary{Verdict: report.Fail, RestoreState: "SUCCEEDED", Volumes: report.VolumeCounts{InBackup: 2}, Ready: true, Probes: []bool{true}},
			wantFinding: "volume data not restored: new empty volumes were provisioned",
			wantFix:     "restore.volumeDataRestorePolicy: RESTORE_VOLUME_DATA_FROM_BACKUP",
			wantPosted:  true,
		},
		{
			name:    "volume_data_policy_unspecified",
			standby: "gke02",
			plan: func(cfg *gkebackuppb.RestoreConfig) {
				cfg.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_VOLUME_DATA_RESTORE_POLICY_UNSPECIFIED
			},
			after:       time.Minute,
			want:        summary{Verdict: report.Fail, RestoreState: "SUCCEEDED", Volumes: report.VolumeCounts{InBackup: 2}, Ready: true, Probes: []bool{true}},
			wantFinding: "volume data not restored: new empty volumes were provisioned",
			wantFix:     "restore.volumeDataRestorePolicy: RESTORE_VOLUME_DATA_FROM_BACKUP",
			wantPosted:  true,
		},
		{
			name:        "cluster_scoped_kinds_not_in_scope",
			standby:     "gke02",
			plan:        func(cfg *gkebackuppb.RestoreConfig) { cfg.ClusterResourceRestoreScope = nil },
			after:       time.Minute,
			want:        summary{Verdict: report.Warn, RestoreState: "SUCCEEDED", Volumes: bothVolumes, Ready: true, Probes: []bool{true}},
			wantFinding: "cluster-scoped kinds (StorageClass, CRDs) were not in scope",
			wantFix:     "sources[0].standbys[0].restore.clusterResourceScope",
			wantPosted:  true,
		},
		{
			name:        "not_ready_within_readiness_timeout",
			standby:     "gke02",
			prepare:     func(t *testing.T, e *env) { e.setAvailable(t, "gke02", "frontend", 0) },
			after:       time.Minute,
			want:        summary{Verdict: report.Pending, RestoreState: "SUCCEEDED", Volumes: bothVolumes},
			wantFinding: "standby not ready yet: 1 of 8 checks not ready: Deployment default/frontend (available 0/1)",
			wantFix:     "the sweep verifies again",
		},
		{
			name:        "not_ready_after_readiness_timeout",
			standby:     "gke02",
			prepare:     func(t *testing.T, e *env) { e.setAvailable(t, "gke02", "frontend", 0) },
			after:       31 * time.Minute,
			want:        summary{Verdict: report.Fail, RestoreState: "SUCCEEDED", Volumes: bothVolumes},
			wantFinding: "standby not ready 30m after the restore completed",
			wantFix:     "sources[0].standbys[0].verify.readinessTimeout",
			wantPosted:  true,
		},
		{
			name: "failed_restore_version_skew",
			setup: setup{world: func(w *gkebackupemu.World) {
				for i := range w.Clusters {
					if w.Clusters[i].Name == gke02 {
						w.Clusters[i].GKEVersion = "1.26.5-gke.100"
					}
				}
			}},
			standby:     "gke02",
			after:       time.Minute,
			want:        summary{Verdict: report.Fail, RestoreState: "FAILED", Volumes: report.VolumeCounts{InBackup: 2}},
			wantFinding: "restore FAILED: version skew",
			wantFix:     "3 minor versions",
			wantPosted:  true,
		},
		{
			name: "probe_mismatch",
			setup: setup{probe: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "<h1>Guestbook</h1>") // the app is up, its data is not
			}},
			standby:     "gke02",
			after:       time.Minute,
			want:        summary{Verdict: report.Fail, RestoreState: "SUCCEEDED", Volumes: bothVolumes, Ready: true, Probes: []bool{false}},
			wantFinding: `answered HTTP 200 without "BfG Test"`,
			wantFix:     "sources[0].standbys[0].verify.probes",
			wantPosted:  true,
		},
		{
			name: "probe_unavailable_within_readiness_timeout",
			setup: setup{probe: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			}},
			standby:     "gke02",
			after:       time.Minute,
			want:        summary{Verdict: report.Pending, RestoreState: "SUCCEEDED", Volumes: bothVolumes, Ready: true, Probes: []bool{false}},
			wantFinding: "(HTTP 503)",
			wantFix:     "the sweep verifies again",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.setup)
			var cfg *gkebackuppb.RestoreConfig
			if tc.plan != nil {
				sb, _ := e.policy.Sources[0].Standby(tc.standby)
				cfg = restore.ConfigFor(*sb)
				tc.plan(cfg)
			}
			r := e.restoreInto(t, tc.standby, cfg)
			if tc.prepare != nil {
				tc.prepare(t, e)
			}
			e.clock.Set(r.GetCompleteTime().AsTime().Add(tc.after))

			// The event carries only the name: the service must re-read the restore.
			res, err := e.svc.OnRestore(e.ctx, &gkebackuppb.Restore{Name: r.GetName()})
			if err != nil {
				t.Fatalf("OnRestore() error = %v", err)
			}
			if len(res.Reports) != 1 {
				t.Fatalf("OnRestore() made %d reports, want 1 (skipped: %q)", len(res.Reports), res.Skipped)
			}
			rep := res.Reports[0]
			if diff := cmp.Diff(tc.want, summarize(rep)); diff != "" {
				t.Errorf("report mismatch (-want +got):\n%s\nfindings: %+v", diff, rep.Findings)
			}
			checkFindings(t, rep, tc.wantFinding, tc.wantFix)
			if rep.Restore != r.GetName() || rep.Source != "gke01" || rep.Standby != tc.standby || rep.ConsoleURL == "" {
				t.Errorf("report names restore %q, source %q, standby %q, console %q; want %q, gke01, %s and a link",
					rep.Restore, rep.Source, rep.Standby, rep.ConsoleURL, r.GetName(), tc.standby)
			}
			if rep.RPOSeconds <= 0 {
				t.Errorf("RPOSeconds = %v, want > 0", rep.RPOSeconds)
			}
			seenReady := tc.want.RestoreState == "SUCCEEDED" && (tc.want.Ready || tc.standby == "gke03") && !slices.Contains(tc.want.Probes, false)
			if gotRTO := rep.RTOSeconds > 0; gotRTO != seenReady {
				t.Errorf("RTOSeconds = %v: want > 0 exactly when the standby was seen ready (%v)", rep.RTOSeconds, seenReady)
			}

			wantPosts, wantLabel := 0, ""
			if tc.wantPosted {
				wantPosts, wantLabel = 1, "true"
			}
			if got := len(e.sink.reports()); got != wantPosts {
				t.Errorf("posts = %d, want %d", got, wantPosts)
			}
			if len(res.Deliveries) != wantPosts {
				t.Errorf("Result.Deliveries = %+v, want %d", res.Deliveries, wantPosts)
			}
			labels := e.getRestore(t, r.GetName()).GetLabels()
			if got := labels[naming.LabelReported]; got != wantLabel {
				t.Errorf("label %s = %q, want %q", naming.LabelReported, got, wantLabel)
			}
			if wantLabel == "true" && labels[naming.LabelVerdict] != strings.ToLower(string(rep.Verdict)) {
				t.Errorf("label %s = %q, want the verdict %s", naming.LabelVerdict, labels[naming.LabelVerdict], rep.Verdict)
			}
			if got := e.reports.count(); got != 1 {
				t.Errorf("audit copies published = %d, want 1", got)
			}
			checkNotice(t, e, rep, tc.wantPosted)
		})
	}
}

// checkFindings checks that every WARN/FAIL/PENDING finding has a fix, and that the wanted finding
// is there (or that there is none).
func checkFindings(t *testing.T, rep report.Report, wantMsg, wantFix string) {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Fix == "" {
			t.Errorf("finding %q has no fix", f.Message)
		}
	}
	if wantMsg == "" {
		if len(rep.Findings) != 0 {
			t.Errorf("findings = %+v, want none", rep.Findings)
		}
		return
	}
	f, ok := findingWith(rep, wantMsg)
	if !ok {
		t.Fatalf("no finding contains %q; findings: %+v", wantMsg, rep.Findings)
	}
	if !strings.Contains(f.Fix, wantFix) {
		t.Errorf("fix of %q = %q, want it to contain %q", f.Message, f.Fix, wantFix)
	}
}

// checkNotice checks the one NOTICE line per final report that log-based metrics count.
func checkNotice(t *testing.T, e *env, rep report.Report, final bool) {
	t.Helper()
	var got []logLine
	for _, l := range e.logs.lines(t) {
		if l.fields["message"] == "restore verified" {
			got = append(got, l)
		}
	}
	if !final {
		if len(got) != 0 {
			t.Errorf("%d \"restore verified\" lines for a %s report, want none", len(got), rep.Verdict)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("%d \"restore verified\" lines, want 1", len(got))
	}
	want := map[string]any{
		"severity":    "NOTICE",
		"verdict":     string(rep.Verdict),
		"source":      rep.Source,
		"standby":     rep.Standby,
		"restore":     rep.Restore,
		"rpo_seconds": rep.RPOSeconds,
		"rto_seconds": rep.RTOSeconds,
	}
	for k, v := range want {
		if got[0].fields[k] != v {
			t.Errorf("notice %s = %v, want %v", k, got[0].fields[k], v)
		}
		// A key twice in one line would make the log-based metrics pick either value.
		if n := strings.Count(got[0].raw, `"`+k+`":`); n != 1 {
			t.Errorf("notice has key %s %d times, want once: %s", k, n, got[0].raw)
		}
	}
}

func TestOnRestoreReportsOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// second is the event delivered again: the same name, or the stale copy of the first
		// event without the label.
		second func(r *gkebackuppb.Restore) *gkebackuppb.Restore
	}{
		{name: "same_event_twice", second: func(r *gkebackuppb.Restore) *gkebackuppb.Restore { return &gkebackuppb.Restore{Name: r.GetName()} }},
		{name: "stale_event_payload", second: func(r *gkebackuppb.Restore) *gkebackuppb.Restore { return r }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{})
			r := e.restoreInto(t, "gke02", nil)
			e.clock.Set(r.GetCompleteTime().AsTime().Add(time.Minute))
			first, err := e.svc.OnRestore(e.ctx, &gkebackuppb.Restore{Name: r.GetName()})
			if err != nil || len(first.Reports) != 1 {
				t.Fatalf("first OnRestore() = %+v, %v; want one report", first, err)
			}
			second, err := e.svc.OnRestore(e.ctx, tc.second(r))
			if err != nil {
				t.Fatalf("second OnRestore() error = %v", err)
			}
			if len(second.Reports) != 0 || !strings.Contains(second.Skipped, "already reported") {
				t.Errorf("second OnRestore() = %+v, want no report and skipped as already reported", second)
			}
			if got := len(e.sink.reports()); got != 1 {
				t.Errorf("posts = %d, want 1", got)
			}
		})
	}
}

func TestOnRestoreSkips(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		restore     func(t *testing.T, e *env) *gkebackuppb.Restore
		wantSkipped string
		wantErr     error
		wantReads   int // GetRestore calls
	}{
		{
			name: "restore_in_unmanaged_plan",
			restore: func(*testing.T, *env) *gkebackuppb.Restore {
				return &gkebackuppb.Restore{Name: "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-manual/restores/r1"}
			},
			wantSkipped: "not in the RestorePlan of any standby",
		},
		{
			name: "restore_not_finished",
			restore: func(t *testing.T, e *env) *gkebackuppb.Restore {
				b := e.backup(t, "backup-gke01")
				e.restorePlan(t, "gke03", nil)
				// The default cross-region restore takes 68 emulated minutes, about 4 s.
				return &gkebackuppb.Restore{Name: e.startRestore(t, rpGke03, "restore-gke03", b)}
			},
			wantSkipped: "it is verified once it is SUCCEEDED or FAILED",
			wantReads:   1,
		},
		{
			name: "event_in_progress_trusted_to_do_nothing",
			restore: func(t *testing.T, e *env) *gkebackuppb.Restore {
				return &gkebackuppb.Restore{Name: rpGke02 + "/restores/r1", State: gkebackuppb.Restore_IN_PROGRESS}
			},
			wantSkipped: "it is verified once it is SUCCEEDED or FAILED",
		},
		{
			name: "event_of_the_reported_label_itself",
			restore: func(t *testing.T, e *env) *gkebackuppb.Restore {
				return &gkebackuppb.Restore{Name: rpGke02 + "/restores/r1", State: gkebackuppb.Restore_SUCCEEDED,
					Labels: map[string]string{naming.LabelReported: "true"}}
			},
			wantSkipped: "already reported",
		},
		{
			name:    "event_without_name",
			restore: func(*testing.T, *env) *gkebackuppb.Restore { return &gkebackuppb.Restore{} },
			wantErr: verify.ErrNoRestoreName,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{})
			res, err := e.svc.OnRestore(e.ctx, tc.restore(t, e))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OnRestore() error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && retry.IsTransient(err) {
				t.Errorf("OnRestore() error %v is transient; a malformed event must not be retried", err)
			}
			if !strings.Contains(res.Skipped, tc.wantSkipped) || len(res.Reports) != 0 {
				t.Errorf("OnRestore() = %+v, want no report and skipped containing %q", res, tc.wantSkipped)
			}
			if got := e.srv.CallCount("GetRestore"); got != tc.wantReads {
				t.Errorf("GetRestore calls = %d, want %d", got, tc.wantReads)
			}
			if got := len(e.sink.reports()); got != 0 {
				t.Errorf("posts = %d, want 0", got)
			}
		})
	}
}

func TestOnRestoreTransientErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method string
		code   codes.Code
	}{
		// Note that Unavailable is not among them: the client library itself retries it for a
		// minute before the service sees it.
		{name: "get_restore_quota", method: "GetRestore", code: codes.ResourceExhausted},
		{name: "get_backup_deadline", method: "GetBackup", code: codes.DeadlineExceeded},
		{name: "get_restore_plan_quota", method: "GetRestorePlan", code: codes.ResourceExhausted},
		{name: "list_volume_restores_quota", method: "ListVolumeRestores", code: codes.ResourceExhausted},
		{name: "get_cluster_quota", method: "GetCluster", code: codes.ResourceExhausted},
		{name: "label_etag_conflict", method: "UpdateRestore", code: codes.Aborted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{})
			r := e.restoreInto(t, "gke02", nil)
			e.clock.Set(r.GetCompleteTime().AsTime().Add(time.Minute))
			e.srv.SetFault(tc.method, gkebackupemu.Fault{Code: tc.code})
			_, err := e.svc.OnRestore(e.ctx, &gkebackuppb.Restore{Name: r.GetName()})
			if !retry.IsTransient(err) {
				t.Fatalf("OnRestore() error = %v, want a transient error so the event is redelivered", err)
			}
			if got := len(e.sink.reports()); got != 0 {
				t.Errorf("posts = %d, want 0", got)
			}
			e.srv.SetFault(tc.method, gkebackupemu.Fault{})
			// The redelivery succeeds and posts once.
			if _, err := e.svc.OnRestore(e.ctx, &gkebackuppb.Restore{Name: r.GetName()}); err != nil {
				t.Fatalf("redelivered OnRestore() error = %v", err)
			}
			if got := len(e.sink.reports()); got != 1 {
				t.Errorf("posts after redelivery = %d, want 1", got)
			}
		})
	}
}

func TestOnRefusal(t *testing.T) {
	t.Parallel()
	refusal := func(standby string, reason report.Reason) report.Report {
		return report.Report{
			SchemaVersion: report.SchemaVersion,
			Verdict:       report.Refused,
			Source:        "gke01",
			Standby:       standby,
			Cluster:       gke02,
			Backup:        backupPlan + "/backups/b1",
			Refusal:       &report.Refusal{Reason: reason, Message: "target minor 1.26 is more than 3 above the backup's 1.22"},
		}
	}
	cases := []struct {
		name      string
		records   []report.Report
		wantPosts int
		wantErr   error
	}{
		{
			name:      "same_refusal_redelivered",
			records:   []report.Report{refusal("gke02", report.ReasonVersionSkew), refusal("gke02", report.ReasonVersionSkew)},
			wantPosts: 1,
		},
		{
			name:      "distinct_refusals",
			records:   []report.Report{refusal("gke02", report.ReasonVersionSkew), refusal("gke03", report.ReasonVersionSkew), refusal("gke02", report.ReasonSameCluster)},
			wantPosts: 3,
		},
		{
			name:    "not_a_refusal",
			records: []report.Report{{Verdict: report.Pass, Source: "gke01", Standby: "gke02"}},
			wantErr: verify.ErrNotRefusal,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{})
			for _, rec := range tc.records {
				_, err := e.svc.OnRefusal(e.ctx, rec)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("OnRefusal() error = %v, want %v", err, tc.wantErr)
				}
			}
			posts := e.sink.reports()
			if len(posts) != tc.wantPosts {
				t.Fatalf("posts = %d, want %d", len(posts), tc.wantPosts)
			}
			for _, p := range posts {
				if p.Verdict != report.Refused || p.Refusal == nil {
					t.Errorf("posted %s report with refusal %v, want REFUSED with its reason", p.Verdict, p.Refusal)
				}
			}
		})
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	type step struct {
		after        time.Duration // clock, relative to the restore's complete time
		wantVerdicts []report.Verdict
		wantPosts    int // total so far
	}
	cases := []struct {
		name    string
		req     events.Request
		prepare func(t *testing.T, e *env)
		steps   []step
		wantErr error
	}{
		{
			name: "unreported_restore_reported_once",
			req:  events.Request{Kind: events.RequestSweep},
			steps: []step{
				{after: time.Minute, wantVerdicts: []report.Verdict{report.Pass}, wantPosts: 1},
				{after: 2 * time.Minute, wantPosts: 1},
			},
		},
		{
			name:    "pending_until_readiness_timeout",
			req:     events.Request{Kind: events.RequestSweep, Source: "gke01"},
			prepare: func(t *testing.T, e *env) { e.setAvailable(t, "gke02", "redis-leader", 0) },
			steps: []step{
				{after: time.Minute, wantVerdicts: []report.Verdict{report.Pending}},
				{after: 10 * time.Minute, wantVerdicts: []report.Verdict{report.Pending}},
				{after: 31 * time.Minute, wantVerdicts: []report.Verdict{report.Fail}, wantPosts: 1},
				{after: 40 * time.Minute, wantPosts: 1},
			},
		},
		{
			name:  "restore_older_than_window",
			req:   events.Request{Kind: events.RequestSweep},
			steps: []step{{after: 25 * time.Hour}},
		},
		{
			name:    "unknown_source",
			req:     events.Request{Kind: events.RequestSweep, Source: "gke09"},
			steps:   []step{{after: time.Minute}},
			wantErr: verify.ErrUnknownSource,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{})
			r := e.restoreInto(t, "gke02", nil)
			if tc.prepare != nil {
				tc.prepare(t, e)
			}
			for i, st := range tc.steps {
				e.clock.Set(r.GetCompleteTime().AsTime().Add(st.after))
				res, err := e.svc.Sweep(e.ctx, tc.req)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("step %d: Sweep() error = %v, want %v", i, err, tc.wantErr)
				}
				var got []report.Verdict
				for _, rep := range res.Reports {
					got = append(got, rep.Verdict)
				}
				if diff := cmp.Diff(st.wantVerdicts, got); diff != "" {
					t.Errorf("step %d: verdicts mismatch (-want +got):\n%s", i, diff)
				}
				if n := len(e.sink.reports()); n != st.wantPosts {
					t.Errorf("step %d: posts = %d, want %d", i, n, st.wantPosts)
				}
			}
		})
	}
}
