package restore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
)

// restoreName is the name of the one restore of backup into the standby with cluster and plan rp.
func restoreName(rp, backup, cluster string) string {
	return rp + "/restores/" + naming.RestoreID(backup, cluster)
}

// TestOnBackupWalkthrough runs the walkthrough end to end: a SUCCEEDED backup of gke01 is restored
// into gke02 (same region) and gke03 (cross-region) with exactly the walkthrough's options, and
// once the emulator finishes, the standbys hold the StorageClass, the CRD and the "BfG Test" data.
func TestOnBackupWalkthrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gkebackupemu.DefaultWorld())
	svc := e.service(loadPolicy(t), restore.Options{})
	b := e.backup(t, bpGKE01, "backup-gke01", nil, gkebackuppb.Backup_SUCCEEDED)

	// An event still in progress is trusted only to do nothing: no call at all.
	before := len(e.srv.Calls())
	res, err := svc.OnBackup(e.ctx, &gkebackuppb.Backup{Name: b.GetName(), State: gkebackuppb.Backup_IN_PROGRESS})
	if err != nil || res.Skipped == "" || len(e.srv.Calls()) != before {
		t.Fatalf("OnBackup(IN_PROGRESS event) = %+v, %v with %d calls; want skipped without calls", res, err, len(e.srv.Calls())-before)
	}
	// An event whose state this binary cannot read must be re-read, not trusted.
	res, err = svc.OnBackup(e.ctx, &gkebackuppb.Backup{Name: b.GetName()})
	if err != nil {
		t.Fatalf("OnBackup() error = %v", err)
	}
	want := restore.Result{Backup: b.GetName(), Outcomes: []restore.Outcome{
		{Standby: "gke02", Cluster: gke02, Restore: restoreName(rpGKE02, b.GetName(), gke02), Backup: b.GetName(), Created: true},
		{Standby: "gke03", Cluster: gke03, Restore: restoreName(rpGKE03, b.GetName(), gke03), Backup: b.GetName(), Created: true},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("OnBackup() mismatch (-want +got):\n%s", diff)
	}

	wantConfig := walkthroughConfig(t)
	for _, o := range res.Outcomes {
		rp := strings.Split(o.Restore, "/restores/")[0]
		plan, err := e.api.GetRestorePlan(e.ctx, &gkebackuppb.GetRestorePlanRequest{Name: rp})
		if err != nil {
			t.Fatalf("get restore plan %s: %v", rp, err)
		}
		if diff := cmp.Diff(wantConfig, plan.GetRestoreConfig(), protocmp.Transform()); diff != "" {
			t.Errorf("restore plan %s config mismatch (-want +got):\n%s", rp, diff)
		}
		if plan.GetBackupPlan() != bpGKE01 || plan.GetCluster() != o.Cluster {
			t.Errorf("restore plan %s binds %s to %s, want %s to %s", rp, plan.GetBackupPlan(), plan.GetCluster(), bpGKE01, o.Cluster)
		}
		r := e.waitRestore(t, o.Restore)
		wantLabels := map[string]string{naming.LabelManaged: "true", naming.LabelRequest: "backup-gke01", naming.LabelReason: "schedule"}
		if diff := cmp.Diff(wantLabels, r.GetLabels()); diff != "" {
			t.Errorf("restore %s labels mismatch (-want +got):\n%s", o.Restore, diff)
		}
		c, ok := e.srv.Cluster(o.Cluster)
		if !ok {
			t.Fatalf("emulator has no cluster %s", o.Cluster)
		}
		for _, cr := range []gkebackupemu.ClusterResource{
			{Group: "storage.k8s.io", Kind: "StorageClass", Name: "standard"},
			{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "backendconfigs.cloud.google.com"},
		} {
			if !c.HasClusterResource(cr.Group, cr.Kind, cr.Name) {
				t.Errorf("standby %s lacks %s %s after the restore", o.Standby, cr.Kind, cr.Name)
			}
		}
		ns, _ := c.Namespace("default")
		for _, pvc := range []string{"redis-leader-pvc", "redis-follower-pvc"} {
			i := slices.IndexFunc(ns.PVCs, func(p gkebackupemu.PVC) bool { return p.Name == pvc })
			if i < 0 || !slices.Contains(ns.PVCs[i].DataMarkers, "BfG Test") {
				t.Errorf("standby %s: PVC default/%s not restored with its data (\"BfG Test\")", o.Standby, pvc)
			}
		}
		if got := e.logs.lines(`"message":"restore created"`, `"restore":"`+o.Restore+`"`, `"backup":"`+b.GetName()+`"`,
			`"standby":"`+o.Standby+`"`, `"standby_cluster":"`+o.Cluster+`"`, `"severity":"INFO"`); len(got) != 1 {
			t.Errorf("want one INFO log line for restore %s with backup, restore, standby and standby_cluster, got %d", o.Restore, len(got))
		}
	}
	if got := e.refusals.all(); len(got) != 0 {
		t.Errorf("refusals = %v, want none", got)
	}
}

// TestOnBackupActsOnlyOnSucceededManagedBackups: a backup that is not SUCCEEDED (whatever the event
// says) or that belongs to a BackupPlan the policy does not manage leads to no mutation at all.
func TestOnBackupActsOnlyOnSucceededManagedBackups(t *testing.T) {
	t.Parallel()
	const bpOther = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke02"
	cases := []struct {
		name  string
		world func(w *gkebackupemu.World)
		// take returns the backup's name, in the state the case is about.
		take        func(t *testing.T, e *env) string
		wantSkipped string
	}{
		{
			name: "failed",
			take: func(t *testing.T, e *env) string {
				e.srv.FailNext(bpGKE01, "snapshot quota exceeded")
				return e.backup(t, bpGKE01, "b-failed", nil, gkebackuppb.Backup_FAILED).GetName()
			},
			wantSkipped: "backup is FAILED, not SUCCEEDED",
		},
		{
			name: "creating",
			// The backup leaves CREATING after a tenth of its duration: about two hours here.
			world: func(w *gkebackupemu.World) { w.Durations.Backup.Duration = 100_000 * time.Hour },
			take: func(t *testing.T, e *env) string {
				return e.backup(t, bpGKE01, "b-creating", nil, gkebackuppb.Backup_CREATING).GetName()
			},
			wantSkipped: "backup is CREATING, not SUCCEEDED",
		},
		{
			name: "in_progress",
			// IN_PROGRESS from 0.5 s to 5 s of real time.
			world: func(w *gkebackupemu.World) {
				w.Durations.Backup.Duration = time.Duration(5 / emutest.Scale * float64(time.Second))
			},
			take: func(t *testing.T, e *env) string {
				return e.backup(t, bpGKE01, "b-in-progress", nil, gkebackuppb.Backup_IN_PROGRESS).GetName()
			},
			wantSkipped: "backup is IN_PROGRESS, not SUCCEEDED",
		},
		{
			name: "unmanaged_backup_plan",
			world: func(w *gkebackupemu.World) {
				w.BackupPlans = append(w.BackupPlans, gkebackupemu.BackupPlanSpec{Name: bpOther, Cluster: gke02, AllNamespaces: true})
			},
			take: func(t *testing.T, e *env) string {
				return e.backup(t, bpOther, "b-unmanaged", nil, gkebackuppb.Backup_SUCCEEDED).GetName()
			},
			wantSkipped: "backup plan " + bpOther + " is not a source's backupPlan in the policy",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, worldWith(tc.world))
			svc := e.service(loadPolicy(t), restore.Options{})
			name := tc.take(t, e)
			// The event claims SUCCEEDED; only the re-read state counts.
			res, err := svc.OnBackup(e.ctx, &gkebackuppb.Backup{Name: name, State: gkebackuppb.Backup_SUCCEEDED})
			if err != nil {
				t.Fatalf("OnBackup() error = %v", err)
			}
			if diff := cmp.Diff(restore.Result{Backup: name, Skipped: tc.wantSkipped}, res); diff != "" {
				t.Errorf("OnBackup() mismatch (-want +got):\n%s", diff)
			}
			for _, m := range []string{"CreateRestorePlan", "CreateRestore"} {
				if n := e.srv.CallCount(m); n != 0 {
					t.Errorf("%s called %d times, want 0", m, n)
				}
			}
			if got := e.refusals.all(); len(got) != 0 {
				t.Errorf("refusals = %v, want none", got)
			}
		})
	}
}

// guardCase is one safety-guard scenario: a world and policy variation, a setup run before the
// service, and the request that meets the guard.
type guardCase struct {
	name   string
	world  func(t *testing.T, w *gkebackupemu.World)
	policy func(t *testing.T, p *config.Policy)
	// setup runs on the emulator before the service, e.g. to create a conflicting RestorePlan.
	setup func(t *testing.T, e *env, p *config.Policy)
	// plan is the BackupPlan to back up (default bp-gke01) of source (default gke01); state is the
	// backup's final state.
	plan   string
	source string
	state  gkebackuppb.Backup_State
	// migrate, when set, runs Migrate into these standbys instead of OnBackup.
	migrate []string
	// want maps each standby to "created" or its refusal reason.
	want map[string]string
	// refusedPlans are the RestorePlans of the refused standbys: no mutation may target them.
	refusedPlans []string
}

// TestGuards runs every safety guard of DESIGN §3 (and the RestorePlan checks): the refused standby
// gets a refusal record and no CreateRestorePlan or CreateRestore, and the other standbys proceed.
func TestGuards(t *testing.T) {
	t.Parallel()
	const (
		gkez    = "projects/gkedr-demo/locations/asia-northeast1-a/clusters/gkez"
		bpGKEZ  = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gkez"
		bpOther = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-other"
		rpSelf  = "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-self"
		rpWrong = "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke03"
		rpGKE04 = "projects/gkedr-demo/locations/asia-northeast2/restorePlans/rp-gke04"
	)
	created, drifted := "created", "refused:"
	refused := func(r report.Reason) string { return drifted + string(r) }
	// createPlan makes rp-gke03 exist before the service runs, bound as given.
	createPlan := func(t *testing.T, e *env, backupPlan string, cfg *gkebackuppb.RestoreConfig) {
		t.Helper()
		if _, err := e.api.CreateRestorePlan(e.ctx, &gkebackuppb.CreateRestorePlanRequest{
			Parent: "projects/gkedr-demo/locations/asia-northeast2", RestorePlanId: "rp-gke03",
			RestorePlan: &gkebackuppb.RestorePlan{BackupPlan: backupPlan, Cluster: gke03, RestoreConfig: cfg},
		}); err != nil {
			t.Fatalf("create restore plan: %v", err)
		}
	}
	cases := []guardCase{
		{
			name: "same_cluster",
			policy: func(t *testing.T, p *config.Policy) {
				p.Sources[0].Standbys = append(p.Sources[0].Standbys, config.Standby{Name: "self", Cluster: gke01, RestorePlan: rpSelf, Standby: true})
			},
			want:         map[string]string{"gke02": created, "gke03": created, "self": refused(report.ReasonSameCluster)},
			refusedPlans: []string{rpSelf},
		},
		{
			name: "same_cluster_in_zonal_form",
			world: func(t *testing.T, w *gkebackupemu.World) {
				w.Clusters = append(w.Clusters, gkebackupemu.ClusterState{Name: gkez, GKEVersion: "1.22.12-gke.300"})
				w.BackupPlans = append(w.BackupPlans, gkebackupemu.BackupPlanSpec{Name: bpGKEZ, Cluster: gkez, AllNamespaces: true})
			},
			policy: func(t *testing.T, p *config.Policy) {
				p.Sources = append(p.Sources, config.Source{
					Name: "gkez", Cluster: gkez, BackupPlan: bpGKEZ,
					Standbys: []config.Standby{
						{Name: "gke02", Cluster: gke02, RestorePlan: rpGKE02, Standby: true},
						// The same cluster as the source, in the older zonal form of its name.
						{Name: "selfz", Cluster: "projects/gkedr-demo/zones/asia-northeast1-a/clusters/gkez", RestorePlan: rpSelf, Standby: true},
					},
				})
			},
			plan:         bpGKEZ,
			source:       "gkez",
			want:         map[string]string{"gke02": created, "selfz": refused(report.ReasonSameCluster)},
			refusedPlans: []string{rpSelf},
		},
		{
			name:         "not_a_standby",
			migrate:      []string{"gke02", "gke09"},
			want:         map[string]string{"gke02": created, "gke09": refused(report.ReasonNotAStandby)},
			refusedPlans: []string{"projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke09"},
		},
		{
			name:         "version_skew_older_target",
			world:        func(t *testing.T, w *gkebackupemu.World) { setVersion(t, w, gke03, "1.21.14-gke.700") },
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonVersionSkew)},
			refusedPlans: []string{rpGKE03},
		},
		{
			name:         "version_skew_more_than_three_minors_newer",
			world:        func(t *testing.T, w *gkebackupemu.World) { setVersion(t, w, gke03, "1.26.5-gke.100") },
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonVersionSkew)},
			refusedPlans: []string{rpGKE03},
		},
		{
			name:         "region_mismatch",
			policy:       func(t *testing.T, p *config.Policy) { standby(t, p, "gke03").RestorePlan = rpWrong },
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonRegionMismatch)},
			refusedPlans: []string{rpWrong},
		},
		{
			name:         "backup_not_succeeded",
			state:        gkebackuppb.Backup_FAILED,
			migrate:      []string{"gke02", "gke03"},
			want:         map[string]string{"gke02": refused(report.ReasonBackupNotSucceeded), "gke03": refused(report.ReasonBackupNotSucceeded)},
			refusedPlans: []string{rpGKE02, rpGKE03},
		},
		{
			name: "scope_unsafe_delete_and_restore_without_standby_true",
			policy: func(t *testing.T, p *config.Policy) {
				sb := standby(t, p, "gke03")
				sb.Standby = false
				sb.Restore.NamespacedResourceRestoreMode = config.ModeDeleteAndRestore
			},
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonScopeUnsafe)},
			refusedPlans: []string{rpGKE03},
		},
		{
			name: "scope_unsafe_managed_namespace",
			policy: func(t *testing.T, p *config.Policy) {
				standby(t, p, "gke03").Restore.SelectedNamespaces = []string{"default", "kube-system"}
			},
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonScopeUnsafe)},
			refusedPlans: []string{rpGKE03},
		},
		{
			name: "cluster_not_found",
			policy: func(t *testing.T, p *config.Policy) {
				sb := standby(t, p, "gke03")
				sb.Cluster, sb.RestorePlan = "projects/gkedr-demo/locations/asia-northeast2/clusters/gke04", rpGKE04
			},
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonClusterNotFound)},
			refusedPlans: []string{rpGKE04},
		},
		{
			name: "existing_plan_of_another_backup_plan",
			world: func(t *testing.T, w *gkebackupemu.World) {
				w.BackupPlans = append(w.BackupPlans, gkebackupemu.BackupPlanSpec{Name: bpOther, Cluster: gke02, AllNamespaces: true})
			},
			setup: func(t *testing.T, e *env, p *config.Policy) {
				createPlan(t, e, bpOther, restore.ConfigFor(*standby(t, p, "gke03")))
			},
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonPlanMismatch)},
			refusedPlans: []string{rpGKE03},
		},
		{
			name:   "existing_plan_drifted_with_enforce",
			policy: func(t *testing.T, p *config.Policy) { standby(t, p, "gke03").Enforce = true },
			setup: func(t *testing.T, e *env, p *config.Policy) {
				cfg := restore.ConfigFor(*standby(t, p, "gke03"))
				cfg.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
				createPlan(t, e, bpGKE01, cfg)
			},
			want:         map[string]string{"gke02": created, "gke03": refused(report.ReasonPlanDrift)},
			refusedPlans: []string{rpGKE03},
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
				tc.policy(t, p)
			}
			if tc.setup != nil {
				tc.setup(t, e, p)
			}
			plan, state := orDefault(tc.plan, bpGKE01), tc.state
			if state == gkebackuppb.Backup_STATE_UNSPECIFIED {
				state = gkebackuppb.Backup_SUCCEEDED
			}
			if state == gkebackuppb.Backup_FAILED {
				e.srv.FailNext(plan, "volume snapshot failed")
			}
			b := e.backup(t, plan, "b-guard", nil, state)
			mark := len(e.srv.Calls())

			svc := e.service(p, restore.Options{})
			var (
				res restore.Result
				err error
			)
			if tc.migrate != nil {
				res, err = svc.Migrate(e.ctx, events.Request{Kind: events.RequestMigration, Source: "gke01", Standbys: tc.migrate,
					Backup: b.GetName(), RequestID: "req-guard", RequestedAt: e.srv.Now()})
			} else {
				res, err = svc.OnBackup(e.ctx, b)
			}
			if err != nil {
				t.Fatalf("error = %v, want nil: a refusal is not a failure", err)
			}

			got := map[string]string{}
			for _, o := range res.Outcomes {
				switch {
				case o.Err != nil:
					got[o.Standby] = "error: " + o.Err.Error()
				case o.Refusal != nil:
					got[o.Standby] = refused(o.Refusal.Reason)
				case o.Created:
					got[o.Standby] = created
				default:
					got[o.Standby] = "existed"
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcomes mismatch (-want +got):\n%s", diff)
			}
			for _, rp := range tc.refusedPlans {
				if m := e.mutations(rp, mark); len(m) != 0 {
					t.Errorf("mutating calls on the refused standby's plan %s: %v, want none", rp, m)
				}
			}

			var wantRecords, gotRecords []string
			for sb, w := range tc.want {
				if w != created {
					wantRecords = append(wantRecords, sb+" "+w)
				}
			}
			for _, r := range e.refusals.all() {
				gotRecords = append(gotRecords, r.Standby+" "+refused(r.Refusal.Reason))
				if r.Verdict != report.Refused || r.Source != orDefault(tc.source, "gke01") || r.Backup != b.GetName() || r.Refusal.Message == "" ||
					r.SchemaVersion != report.SchemaVersion || r.GeneratedAt.IsZero() {
					t.Errorf("refusal record %+v: want verdict REFUSED, source %s, backup %s, a message with the fix, schema version and time",
						r, orDefault(tc.source, "gke01"), b.GetName())
				}
			}
			slices.Sort(wantRecords)
			slices.Sort(gotRecords)
			if diff := cmp.Diff(wantRecords, gotRecords); diff != "" {
				t.Errorf("refusal records mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDriftedPlanWarnsAndProceeds: without enforce, an existing RestorePlan whose config differs
// from the policy is used as it is, with a WARN naming the difference.
func TestDriftedPlanWarnsAndProceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gkebackupemu.DefaultWorld())
	p := loadPolicy(t)
	cfg := restore.ConfigFor(*standby(t, p, "gke03"))
	cfg.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
	if _, err := e.api.CreateRestorePlan(e.ctx, &gkebackuppb.CreateRestorePlanRequest{
		Parent: "projects/gkedr-demo/locations/asia-northeast2", RestorePlanId: "rp-gke03",
		RestorePlan: &gkebackuppb.RestorePlan{BackupPlan: bpGKE01, Cluster: gke03, RestoreConfig: cfg},
	}); err != nil {
		t.Fatalf("create restore plan: %v", err)
	}
	b := e.backup(t, bpGKE01, "b-drift", nil, gkebackuppb.Backup_SUCCEEDED)

	res, err := e.service(p, restore.Options{}).OnBackup(e.ctx, b)
	if err != nil {
		t.Fatalf("OnBackup() error = %v", err)
	}
	for _, o := range res.Outcomes {
		if !o.Created || o.Err != nil || o.Refusal != nil {
			t.Errorf("standby %s: created %v, err %v, refusal %v; want created", o.Standby, o.Created, o.Err, o.Refusal)
		}
	}
	if got := e.logs.lines(`"severity":"WARNING"`, `"restore_plan":"`+rpGKE03+`"`,
		"restoreConfig.volumeDataRestorePolicy: plan has NO_VOLUME_DATA_RESTORATION, policy wants RESTORE_VOLUME_DATA_FROM_BACKUP"); len(got) != 1 {
		t.Errorf("want one WARNING naming the drift of %s, got %d", rpGKE03, len(got))
	}
	if got := e.refusals.all(); len(got) != 0 {
		t.Errorf("refusals = %v, want none", got)
	}
}

// TestOnBackupConcurrentDeliveries: 100 concurrent deliveries of the same event create exactly one
// Restore per standby, and all of them succeed.
func TestOnBackupConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gkebackupemu.DefaultWorld())
	svc := e.service(loadPolicy(t), restore.Options{})
	b := e.backup(t, bpGKE01, "b-concurrent", nil, gkebackuppb.Backup_SUCCEEDED)

	const n = 100
	results := make([]restore.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = svc.OnBackup(e.ctx, b) })
	}
	wg.Wait()

	createdBy := map[string]int{}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("delivery %d: error = %v", i, errs[i])
		}
		for _, o := range res.Outcomes {
			if o.Err != nil || o.Refusal != nil || o.Restore != restoreName(strings.Split(o.Restore, "/restores/")[0], b.GetName(), o.Cluster) {
				t.Errorf("delivery %d, standby %s: %+v", i, o.Standby, o)
			}
			if o.Created {
				createdBy[o.Standby]++
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"gke02": 1, "gke03": 1}, createdBy); diff != "" {
		t.Errorf("outcomes with Created per standby mismatch (-want +got):\n%s", diff)
	}
	for _, rp := range []string{rpGKE02, rpGKE03} {
		if got := e.createdRestores(rp); len(got) != 1 {
			t.Errorf("restores created in %s: %v, want exactly one", rp, got)
		}
	}
}

// TestSweepRecoversDroppedEvent: no event arrives for two backups; the sweep restores the newer one
// into every standby, leaves the older one as superseded, and a second sweep creates nothing.
func TestSweepRecoversDroppedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gkebackupemu.DefaultWorld())
	// Note that emulated time runs 20,000 times faster than real time here: a window of 1,000
	// emulated hours is 3 real minutes, so a slow (-race, loaded) run stays inside it.
	const window = 1000 * time.Hour
	svc := e.service(loadPolicy(t), restore.Options{SweepWindow: window})
	older := e.backup(t, bpGKE01, "b-older", nil, gkebackuppb.Backup_SUCCEEDED)
	newer := e.backup(t, bpGKE01, "b-newer", nil, gkebackuppb.Backup_SUCCEEDED)
	sweep := events.Request{Kind: events.RequestSweep}

	res, err := svc.Sweep(e.ctx, sweep)
	if err != nil {
		t.Fatalf("first Sweep() error = %v", err)
	}
	want := restore.Result{Backup: newer.GetName(), Outcomes: []restore.Outcome{
		{Standby: "gke02", Cluster: gke02, Restore: restoreName(rpGKE02, newer.GetName(), gke02), Backup: newer.GetName(), Created: true},
		{Standby: "gke03", Cluster: gke03, Restore: restoreName(rpGKE03, newer.GetName(), gke03), Backup: newer.GetName(), Created: true},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("first Sweep() mismatch (-want +got):\n%s", diff)
	}
	if got := e.logs.lines("superseded", `"backup":"`+older.GetName()+`"`); len(got) != 1 {
		t.Errorf("want one INFO line saying %s is superseded, got %d", older.GetName(), len(got))
	}

	mark := len(e.srv.Calls())
	res, err = svc.Sweep(e.ctx, events.Request{Kind: events.RequestSweep, Source: "gke01"})
	if err != nil {
		t.Fatalf("second Sweep() error = %v", err)
	}
	for i := range want.Outcomes {
		want.Outcomes[i].Created = false
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("second Sweep() mismatch (-want +got):\n%s", diff)
	}
	for _, rp := range []string{rpGKE02, rpGKE03} {
		if m := e.mutations(rp, mark); len(m) != 0 {
			t.Errorf("second sweep made mutating calls on %s: %v", rp, m)
		}
	}

	// Outside the window there is nothing to recover.
	late := e.service(loadPolicy(t), restore.Options{SweepWindow: window, Now: func() time.Time { return e.srv.Now().Add(2 * window) }})
	res, err = late.Sweep(e.ctx, sweep)
	if err != nil || len(res.Outcomes) != 0 || !strings.Contains(res.Skipped, "source gke01: no SUCCEEDED backup completed since") {
		t.Errorf("Sweep() after the window = %+v, %v; want skipped, no outcomes", res, err)
	}
}

// TestRateLimitedFanOut: 50 standbys against an API that allows 20 calls a second, with a client
// rate above it: every restore is created, and the ResourceExhausted answers never surface.
func TestRateLimitedFanOut(t *testing.T) {
	t.Parallel()
	const n = 50
	w := gkebackupemu.DefaultWorld()
	p := loadPolicy(t)
	p.Sources[0].Standbys = nil
	for i := range n {
		name := fmt.Sprintf("sb%02d", i)
		cluster := "projects/gkedr-demo/locations/asia-northeast1/clusters/" + name
		w.Clusters = append(w.Clusters, gkebackupemu.ClusterState{Name: cluster, GKEVersion: "1.23.17-gke.100",
			Namespaces: []gkebackupemu.Namespace{{Name: "default"}}})
		p.Sources[0].Standbys = append(p.Sources[0].Standbys, config.Standby{Name: name, Cluster: cluster,
			RestorePlan: "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-" + name, Standby: true})
	}
	e := newEnv(t, w)
	b := e.backup(t, bpGKE01, "b-wide", nil, gkebackuppb.Backup_SUCCEEDED)
	e.srv.SetRateLimit(20, 5)

	svc := e.service(p, restore.Options{QPS: 40})
	res, err := svc.OnBackup(e.ctx, b)
	if err != nil {
		t.Fatalf("OnBackup() error = %v", err)
	}
	created := 0
	for _, o := range res.Outcomes {
		if o.Err != nil || o.Refusal != nil {
			t.Errorf("standby %s: err %v, refusal %v", o.Standby, o.Err, o.Refusal)
		}
		if o.Created {
			created++
		}
	}
	if created != n {
		t.Errorf("created %d restores, want %d", created, n)
	}
	exhausted := 0
	for _, c := range e.srv.Calls() {
		if c.Code == codes.ResourceExhausted {
			exhausted++
		}
	}
	// Without rejected calls the test would not have exercised the retry it is about.
	if exhausted == 0 {
		t.Errorf("the emulator rejected no call: the client rate did not exceed the API's limit")
	}
}

// TestMigration covers migration backups and requests: a labelled backup restores only into its
// targets, Migrate restores the latest backup when none is named, and a blue/green upgrade into a
// newer cluster works within three minor versions.
func TestMigration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		world  func(t *testing.T, w *gkebackupemu.World)
		labels map[string]string
		// migrate, when set, runs Migrate into these standbys (with no backup named) after OnBackup
		// is skipped; else OnBackup runs.
		migrate []string
		want    map[string]string
		// wantLabels are the labels of the created restores.
		wantLabels map[string]string
		// untouched are the RestorePlans of standbys that are not targets: no mutation may reach them.
		untouched []string
	}{
		{
			name:       "labelled_backup_restores_only_into_its_targets",
			labels:     map[string]string{naming.TargetLabel("gke03"): "true", naming.LabelRequest: "req-42", naming.LabelReason: "migration"},
			want:       map[string]string{"gke03": "created"},
			wantLabels: map[string]string{naming.LabelManaged: "true", naming.LabelRequest: "req-42", naming.LabelReason: "migration"},
			untouched:  []string{rpGKE02},
		},
		{
			name:       "migrate_latest_backup_into_one_standby",
			migrate:    []string{"gke02"},
			want:       map[string]string{"gke02": "created"},
			wantLabels: map[string]string{naming.LabelManaged: "true", naming.LabelRequest: "b-migrate", naming.LabelReason: "migration"},
			untouched:  []string{rpGKE03},
		},
		{
			name:       "blue_green_into_a_newer_cluster",
			world:      func(t *testing.T, w *gkebackupemu.World) { setVersion(t, w, gke03, "1.24.17-gke.200") },
			migrate:    []string{"gke03"},
			want:       map[string]string{"gke03": "created"},
			wantLabels: map[string]string{naming.LabelManaged: "true", naming.LabelRequest: "b-migrate", naming.LabelReason: "migration"},
			untouched:  []string{rpGKE02},
		},
		{
			name:      "blue_green_too_far_ahead",
			world:     func(t *testing.T, w *gkebackupemu.World) { setVersion(t, w, gke03, "1.26.5-gke.100") },
			migrate:   []string{"gke03"},
			want:      map[string]string{"gke03": string(report.ReasonVersionSkew)},
			untouched: []string{rpGKE02, rpGKE03},
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
			svc := e.service(loadPolicy(t), restore.Options{})
			b := e.backup(t, bpGKE01, "b-migrate", tc.labels, gkebackuppb.Backup_SUCCEEDED)
			var (
				res restore.Result
				err error
			)
			if tc.migrate != nil {
				res, err = svc.Migrate(e.ctx, events.Request{Kind: events.RequestMigration, Source: "gke01", Standbys: tc.migrate, Backup: events.LatestBackup,
					RequestID: "req-m", RequestedAt: e.srv.Now()})
			} else {
				res, err = svc.OnBackup(e.ctx, b)
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if res.Backup != b.GetName() {
				t.Errorf("Result.Backup = %s, want %s", res.Backup, b.GetName())
			}
			got := map[string]string{}
			for _, o := range res.Outcomes {
				switch {
				case o.Err != nil:
					got[o.Standby] = "error: " + o.Err.Error()
				case o.Refusal != nil:
					got[o.Standby] = string(o.Refusal.Reason)
				case o.Created:
					got[o.Standby] = "created"
					r := e.waitRestore(t, o.Restore) // the emulator enforces the skew rule too
					if diff := cmp.Diff(tc.wantLabels, r.GetLabels()); diff != "" {
						t.Errorf("restore %s labels mismatch (-want +got):\n%s", o.Restore, diff)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcomes mismatch (-want +got):\n%s", diff)
			}
			for _, rp := range tc.untouched {
				if m := e.mutations(rp, 0); len(m) != 0 {
					t.Errorf("mutating calls on %s: %v, want none", rp, m)
				}
			}
		})
	}
}

// TestMigrateRequestErrors: requests that no retry can fix fail with a sentinel and touch nothing.
func TestMigrateRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gkebackupemu.DefaultWorld())
	svc := e.service(loadPolicy(t), restore.Options{})
	cases := []struct {
		name string
		req  events.Request
		want error
	}{
		{
			name: "unknown_source",
			req:  events.Request{Kind: events.RequestMigration, Source: "gke99", Standbys: []string{"gke02"}},
			want: restore.ErrUnknownSource,
		},
		{
			name: "no_standbys",
			req:  events.Request{Kind: events.RequestMigration, Source: "gke01"},
			want: restore.ErrNoStandbys,
		},
		{
			name: "backup_of_another_plan",
			req: events.Request{Kind: events.RequestMigration, Source: "gke01", Standbys: []string{"gke02"},
				Backup: "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-other/backups/b1"},
			want: restore.ErrForeignBackup,
		},
		{
			name: "backup_not_found",
			req: events.Request{Kind: events.RequestMigration, Source: "gke01", Standbys: []string{"gke02"},
				Backup: bpGKE01 + "/backups/nope"},
			want: restore.ErrBackupNotFound,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.Migrate(e.ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Errorf("Migrate() error = %v, want %v", err, tc.want)
			}
			if retry.IsTransient(err) {
				t.Errorf("Migrate() error %v is transient, want permanent", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := e.srv.CallCount("CreateRestore") + e.srv.CallCount("CreateRestorePlan"); n != 0 {
			t.Errorf("mutating calls: %d, want none", n)
		}
	})
}

// TestErrorsDecideRedelivery: a standby stuck on a transient error makes the invocation fail
// (transient, so the trigger redelivers) without blocking the other standby; a permanent error is
// logged, reported in its Outcome and acknowledged.
func TestErrorsDecideRedelivery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		code          codes.Code
		wantErr       bool
		wantTransient bool
	}{
		{name: "unavailable_is_redelivered", code: codes.Unavailable, wantErr: true, wantTransient: true},
		{name: "permission_denied_is_acknowledged", code: codes.PermissionDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, gkebackupemu.DefaultWorld())
			p := loadPolicy(t)
			// gke02's plan exists, so only gke03 needs CreateRestorePlan, the call that fails.
			if _, err := e.api.CreateRestorePlan(e.ctx, &gkebackuppb.CreateRestorePlanRequest{
				Parent: "projects/gkedr-demo/locations/asia-northeast1", RestorePlanId: "rp-gke02",
				RestorePlan: &gkebackuppb.RestorePlan{BackupPlan: bpGKE01, Cluster: gke02, RestoreConfig: restore.ConfigFor(*standby(t, p, "gke02"))},
			}); err != nil {
				t.Fatalf("create restore plan: %v", err)
			}
			b := e.backup(t, bpGKE01, "b-fault", nil, gkebackuppb.Backup_SUCCEEDED)
			e.srv.SetFault("CreateRestorePlan", gkebackupemu.Fault{Code: tc.code})

			svc := e.service(p, restore.Options{Retry: retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 3}})
			res, err := svc.OnBackup(e.ctx, b)
			if (err != nil) != tc.wantErr || retry.IsTransient(err) != tc.wantTransient {
				t.Fatalf("OnBackup() error = %v, want error %v (transient %v)", err, tc.wantErr, tc.wantTransient)
			}
			if tc.wantErr && !errors.Is(err, restore.ErrIncomplete) {
				t.Errorf("OnBackup() error = %v, want ErrIncomplete", err)
			}
			got := map[string]string{}
			for _, o := range res.Outcomes {
				switch {
				case o.Err != nil:
					got[o.Standby] = fmt.Sprintf("error (transient %v)", retry.IsTransient(o.Err))
				case o.Created:
					got[o.Standby] = "created"
				}
			}
			want := map[string]string{"gke02": "created", "gke03": fmt.Sprintf("error (transient %v)", tc.wantTransient)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes mismatch (-want +got):\n%s", diff)
			}
			wantLogged := 0
			if !tc.wantTransient {
				wantLogged = 1 // logged where handled; a transient error is logged by the adapter
			}
			if got := e.logs.lines(`"severity":"ERROR"`, `"standby":"gke03"`, "standby not restored"); len(got) != wantLogged {
				t.Errorf("ERROR lines for gke03: %d, want %d", len(got), wantLogged)
			}
		})
	}
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
