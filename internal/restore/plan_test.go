package restore_test

import (
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
)

// planLine is the part of a PlanItem a case checks, as one comparable value.
type planLine struct {
	Standby     string
	Prospective bool
	CreatePlan  bool
	Exists      bool
	Refused     report.Reason
	Err         bool
}

func planLines(items []restore.PlanItem) []planLine {
	out := make([]planLine, 0, len(items))
	for _, it := range items {
		l := planLine{Standby: it.Standby, Prospective: it.Prospective, CreatePlan: it.CreatePlan, Exists: it.Exists, Err: it.Err != nil}
		if it.Refusal != nil {
			l.Refused = it.Refusal.Reason
		}
		out = append(out, l)
	}
	return out
}

// mutatingCalls lists the emulator calls that change something: a plan must make none.
func mutatingCalls(srv *gkebackupemu.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		for _, prefix := range []string{"Create", "Update", "Delete"} {
			if strings.HasPrefix(c.Method, prefix) {
				out = append(out, c.Method)
			}
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		world func(t *testing.T, w *gkebackupemu.World)
		// before runs a real restore cycle first, so that the plan meets existing resources.
		before bool
		policy func(p *config.Policy)
		want   []planLine
		// wantMessage is a substring of the first refusal's message.
		wantMessage string
	}{
		{
			name: "fresh_world_would_create_plans_and_restores",
			want: []planLine{
				{Standby: "gke02", Prospective: true, CreatePlan: true},
				{Standby: "gke03", Prospective: true, CreatePlan: true},
			},
		},
		{
			name: "standby_too_new_is_refused_for_version_skew",
			world: func(t *testing.T, w *gkebackupemu.World) {
				setVersion(t, w, gke02, "1.26.5-gke.100")
			},
			want: []planLine{
				{Standby: "gke02", Prospective: true, Refused: report.ReasonVersionSkew},
				{Standby: "gke03", Prospective: true, CreatePlan: true},
			},
			wantMessage: "more than 3 minor versions newer",
		},
		{
			name: "restore_plan_in_the_wrong_region_is_refused",
			policy: func(p *config.Policy) {
				p.Sources[0].Standbys[1].RestorePlan = "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke03"
			},
			want: []planLine{
				{Standby: "gke02", Prospective: true, CreatePlan: true},
				{Standby: "gke03", Prospective: true, Refused: report.ReasonRegionMismatch},
			},
			wantMessage: "must be in its cluster's region",
		},
		{
			name:   "existing_backup_and_restores_need_nothing",
			before: true,
			want: []planLine{
				{Standby: "gke02", Exists: true},
				{Standby: "gke03", Exists: true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := gkebackupemu.DefaultWorld()
			if tc.world != nil {
				tc.world(t, w)
			}
			e := newEnv(t, w)
			p := loadPolicy(t)
			if tc.policy != nil {
				tc.policy(p)
			}
			svc := e.service(p, restore.Options{})
			before := 0
			if tc.before {
				b := e.backup(t, bpGKE01, "b1", nil, gkebackuppb.Backup_SUCCEEDED)
				res, err := svc.OnBackup(e.ctx, b)
				if err != nil {
					t.Fatalf("OnBackup: %v", err)
				}
				for _, o := range res.Outcomes {
					e.waitRestore(t, o.Restore)
				}
				before = len(mutatingCalls(e.srv))
			}

			items, err := svc.Plan(e.ctx, "gke01")
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if diff := cmp.Diff(tc.want, planLines(items)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if got := mutatingCalls(e.srv)[before:]; len(got) > 0 {
				t.Errorf("plan made mutating calls %v; want none", got)
			}
			if got := e.refusals.all(); len(got) > 0 {
				t.Errorf("plan published %d refusals; want none", len(got))
			}
			if tc.wantMessage != "" {
				var msg string
				for _, it := range items {
					if it.Refusal != nil {
						msg = it.Refusal.Message
						break
					}
				}
				if !strings.Contains(msg, tc.wantMessage) {
					t.Errorf("refusal message %q does not contain %q", msg, tc.wantMessage)
				}
			}
			if tc.before {
				for _, it := range items {
					if it.Backup != bpGKE01+"/backups/b1" || !strings.HasPrefix(it.Restore, it.RestorePlan+"/restores/gkedr-") {
						t.Errorf("item %s: backup %q restore %q; want b1 and a restore in %s", it.Standby, it.Backup, it.Restore, it.RestorePlan)
					}
				}
			}
		})
	}
}

func TestPlanUnknownSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, err := e.service(loadPolicy(t), restore.Options{}).Plan(e.ctx, "nope")
	if !errors.Is(err, restore.ErrUnknownSource) {
		t.Errorf("Plan(nope) = %v; want ErrUnknownSource", err)
	}
}
