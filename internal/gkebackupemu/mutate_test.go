package gkebackupemu

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestUpdate checks update masks: labels and description update, immutable and other fields do not.
func TestUpdate(t *testing.T) {
	t.Parallel()
	e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
	b := e.succeededBackup(t, bpGKE01, "b-ok")
	rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	r := e.restore(t, rp.GetName(), "r-ok", b.GetName())

	updateBackup := func(in *gkebackuppb.Backup, m *fieldmaskpb.FieldMask) func(context.Context) error {
		return func(ctx context.Context) error {
			op, err := e.c.UpdateBackup(ctx, &gkebackuppb.UpdateBackupRequest{Backup: in, UpdateMask: m})
			if err != nil {
				return err
			}
			got, err := op.Poll(ctx)
			for err == nil && !op.Done() {
				got, err = op.Poll(ctx)
			}
			if err == nil && !cmp.Equal(in.GetLabels(), got.GetLabels()) {
				t.Errorf("updated backup labels = %v, want %v", got.GetLabels(), in.GetLabels())
			}
			return err
		}
	}
	updateRestorePlan := func(in *gkebackuppb.RestorePlan, m *fieldmaskpb.FieldMask) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.c.UpdateRestorePlan(ctx, &gkebackuppb.UpdateRestorePlanRequest{RestorePlan: in, UpdateMask: m})
			return err
		}
	}
	updateRestore := func(in *gkebackuppb.Restore, m *fieldmaskpb.FieldMask) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.c.UpdateRestore(ctx, &gkebackuppb.UpdateRestoreRequest{Restore: in, UpdateMask: m})
			return err
		}
	}
	labels := map[string]string{"gkedr-managed": "true"}
	cases := []struct {
		name string
		call func(context.Context) error
		want codes.Code
	}{
		{name: "backup_labels", call: updateBackup(&gkebackuppb.Backup{Name: b.GetName(), Labels: labels}, mask("labels")), want: codes.OK},
		{name: "backup_empty_mask", call: updateBackup(&gkebackuppb.Backup{Name: b.GetName(), Labels: labels, Description: "d"}, nil), want: codes.OK},
		{name: "backup_output_only_field", call: updateBackup(&gkebackuppb.Backup{Name: b.GetName()}, mask("state")), want: codes.InvalidArgument},
		{name: "backup_stale_etag", call: updateBackup(&gkebackuppb.Backup{Name: b.GetName(), Etag: "stale"}, mask("labels")), want: codes.Aborted},
		{name: "backup_missing", call: updateBackup(&gkebackuppb.Backup{Name: bpGKE01 + "/backups/nope"}, mask("labels")), want: codes.NotFound},
		{name: "restore_plan_description", call: updateRestorePlan(&gkebackuppb.RestorePlan{Name: rp.GetName(), Description: "standby"}, mask("description")), want: codes.OK},
		{name: "restore_plan_cluster_immutable", call: updateRestorePlan(&gkebackuppb.RestorePlan{Name: rp.GetName(), Cluster: gke03}, mask("cluster")), want: codes.InvalidArgument},
		{name: "restore_plan_backup_plan_immutable", call: updateRestorePlan(&gkebackuppb.RestorePlan{Name: rp.GetName(), BackupPlan: bpNoData}, mask("backup_plan")), want: codes.InvalidArgument},
		{name: "restore_plan_restore_config", call: updateRestorePlan(&gkebackuppb.RestorePlan{Name: rp.GetName()}, mask("restore_config")), want: codes.InvalidArgument},
		{name: "restore_labels", call: updateRestore(&gkebackuppb.Restore{Name: r.GetName(), Labels: labels}, mask("labels")), want: codes.OK},
		{name: "restore_backup_immutable", call: updateRestore(&gkebackuppb.Restore{Name: r.GetName(), Backup: b.GetName()}, mask("backup")), want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, tc.call(t.Context()), tc.want)
		})
	}
}

// TestBackupPlanLifecycle creates a BackupPlan through the API, deactivates it and deletes it.
func TestBackupPlanLifecycle(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	ctx := t.Context()
	op, err := e.c.CreateBackupPlan(ctx, &gkebackuppb.CreateBackupPlanRequest{
		Parent: tokyo, BackupPlanId: "bp-new",
		BackupPlan: &gkebackuppb.BackupPlan{
			Cluster: gke02,
			BackupConfig: &gkebackuppb.BackupPlan_BackupConfig{
				BackupScope: &gkebackuppb.BackupPlan_BackupConfig_AllNamespaces{AllNamespaces: true},
			},
		},
	})
	if err != nil {
		t.Fatalf("CreateBackupPlan() error = %v", err)
	}
	poll(t, "create backup plan done", func() (bool, error) {
		_, err := op.Poll(ctx)
		return op.Done(), err
	})
	name := tokyo + "/backupPlans/bp-new"
	up, err := e.c.UpdateBackupPlan(ctx, &gkebackuppb.UpdateBackupPlanRequest{
		BackupPlan: &gkebackuppb.BackupPlan{Name: name, Deactivated: true}, UpdateMask: mask("deactivated"),
	})
	if err != nil {
		t.Fatalf("UpdateBackupPlan(deactivated) error = %v", err)
	}
	var plan *gkebackuppb.BackupPlan
	poll(t, "update backup plan done", func() (bool, error) {
		plan, err = up.Poll(ctx)
		return up.Done(), err
	})
	if plan.GetState() != gkebackuppb.BackupPlan_DEACTIVATED {
		t.Errorf("deactivated plan state = %s, want DEACTIVATED", plan.GetState())
	}
	_, err = e.c.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: name, BackupId: "b1"})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.c.UpdateBackupPlan(ctx, &gkebackuppb.UpdateBackupPlanRequest{
		BackupPlan: &gkebackuppb.BackupPlan{Name: name, Description: "again"}, UpdateMask: mask("description"),
	})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.c.CreateBackupPlan(ctx, &gkebackuppb.CreateBackupPlanRequest{
		Parent: tokyo, BackupPlanId: "bp-new", BackupPlan: &gkebackuppb.BackupPlan{Cluster: gke02},
	})
	wantCode(t, err, codes.AlreadyExists)
	_, err = e.c.CreateBackupPlan(ctx, &gkebackuppb.CreateBackupPlanRequest{
		Parent: tokyo, BackupPlanId: "bp-nocluster", BackupPlan: &gkebackuppb.BackupPlan{Cluster: tokyo + "/clusters/nope"},
	})
	wantCode(t, err, codes.NotFound)
	del, err := e.c.DeleteBackupPlan(ctx, &gkebackuppb.DeleteBackupPlanRequest{Name: name})
	if err != nil {
		t.Fatalf("DeleteBackupPlan() error = %v", err)
	}
	poll(t, "delete backup plan done", func() (bool, error) {
		err := del.Poll(ctx)
		return del.Done(), err
	})
	_, err = e.c.GetBackupPlan(ctx, &gkebackuppb.GetBackupPlanRequest{Name: name})
	wantCode(t, err, codes.NotFound)
}

// TestDelete walks the deletion rules: force for children, locks, running resources.
func TestDelete(t *testing.T) {
	t.Parallel()
	e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
	ctx := t.Context()
	b := e.succeededBackup(t, bpGKE01, "b-ok")
	rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	r := e.restore(t, rp.GetName(), "r-ok", b.GetName())
	locked := e.succeededBackup(t, bpLocked, "b-locked")

	deleteBackup := func(name string, force bool) error {
		op, err := e.c.DeleteBackup(ctx, &gkebackuppb.DeleteBackupRequest{Name: name, Force: force})
		if err != nil {
			return err
		}
		poll(t, "delete backup done", func() (bool, error) {
			err := op.Poll(ctx)
			return op.Done(), err
		})
		return nil
	}
	steps := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{name: "backup_with_volume_backups_needs_force", call: func() error { return deleteBackup(b.GetName(), false) }, want: codes.FailedPrecondition},
		{name: "backup_plan_with_backups", call: func() error {
			_, err := e.c.DeleteBackupPlan(ctx, &gkebackuppb.DeleteBackupPlanRequest{Name: bpGKE01})
			return err
		}, want: codes.FailedPrecondition},
		{name: "restore_with_volume_restores_needs_force", call: func() error {
			_, err := e.c.DeleteRestore(ctx, &gkebackuppb.DeleteRestoreRequest{Name: r.GetName()})
			return err
		}, want: codes.FailedPrecondition},
		{name: "restore_plan_with_restores_needs_force", call: func() error {
			_, err := e.c.DeleteRestorePlan(ctx, &gkebackuppb.DeleteRestorePlanRequest{Name: rp.GetName()})
			return err
		}, want: codes.FailedPrecondition},
		{name: "restore_plan_force", call: func() error {
			op, err := e.c.DeleteRestorePlan(ctx, &gkebackuppb.DeleteRestorePlanRequest{Name: rp.GetName(), Force: true})
			if err != nil {
				return err
			}
			poll(t, "delete restore plan done", func() (bool, error) {
				err := op.Poll(ctx)
				return op.Done(), err
			})
			return nil
		}, want: codes.OK},
		{name: "restore_gone_with_its_plan", call: func() error {
			_, err := e.c.GetRestore(ctx, &gkebackuppb.GetRestoreRequest{Name: r.GetName()})
			return err
		}, want: codes.NotFound},
		{name: "volume_restores_gone_with_their_restore", call: func() error {
			_, err := e.c.ListVolumeRestores(ctx, &gkebackuppb.ListVolumeRestoresRequest{Parent: r.GetName()}).Next()
			return err
		}, want: codes.NotFound},
		{name: "backup_force", call: func() error { return deleteBackup(b.GetName(), true) }, want: codes.OK},
		{name: "backup_gone", call: func() error {
			_, err := e.c.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: b.GetName()})
			return err
		}, want: codes.NotFound},
		{name: "locked_backup", call: func() error { return deleteBackup(locked.GetName(), true) }, want: codes.FailedPrecondition},
		{name: "backup_plan_without_backups", call: func() error {
			_, err := e.c.DeleteBackupPlan(ctx, &gkebackuppb.DeleteBackupPlanRequest{Name: bpNoData})
			return err
		}, want: codes.OK},
	}
	// Note that the steps build on each other, so they run in order and not in parallel.
	for _, st := range steps {
		wantCodeIn(t, st.name, st.call(), st.want)
	}
}

// wantCodeIn is wantCode for a named step that does not stop the test.
func wantCodeIn(t *testing.T, step string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: error = %v, want code %s", step, err, want)
	}
}

// TestDeleteRunningBackup refuses to delete a backup that is still running.
func TestDeleteRunningBackup(t *testing.T) {
	t.Parallel()
	// At real speed the backup runs for 100 s, longer than the test.
	e := startEnv(t, nil, WithTimeScale(1))
	b := e.createBackupNoWait(t, bpGKE01, "b-running")
	_, err := e.c.DeleteBackup(t.Context(), &gkebackuppb.DeleteBackupRequest{Name: b, Force: true})
	wantCode(t, err, codes.FailedPrecondition)
}

// createBackupNoWait starts a backup and returns its name.
func (e *env) createBackupNoWait(t *testing.T, plan, id string) string {
	t.Helper()
	if _, err := e.c.CreateBackup(t.Context(), &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id}); err != nil {
		t.Fatalf("CreateBackup(%s) error = %v", id, err)
	}
	return plan + "/backups/" + id
}

// TestOperations drives the long-running operations service.
func TestOperations(t *testing.T) {
	t.Parallel()
	t.Run("done_after_operation_duration", func(t *testing.T) {
		t.Parallel()
		e := startEnv(t, nil)
		e.createBackup(t, bpGKE01, "b1")
		var op *longrunningpb.Operation
		it := e.c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: tokyo})
		for {
			o, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatalf("ListOperations() error = %v", err)
			}
			op = o
		}
		if op == nil || !op.GetDone() {
			t.Fatalf("ListOperations() = %v, want the done create operation", op)
		}
		meta := &gkebackuppb.OperationMetadata{}
		if err := op.GetMetadata().UnmarshalTo(meta); err != nil {
			t.Fatalf("unpack metadata: %v", err)
		}
		if d := meta.GetEndTime().AsTime().Sub(meta.GetCreateTime().AsTime()); d != 2*time.Second {
			t.Errorf("operation took %s of emulated time, want 2s", d)
		}
		b := &gkebackuppb.Backup{}
		if err := op.GetResponse().UnmarshalTo(b); err != nil || b.GetName() != bpGKE01+"/backups/b1" {
			t.Errorf("operation response = %v, %v; want the backup", b, err)
		}
	})
	t.Run("cancel_and_delete", func(t *testing.T) {
		t.Parallel()
		e := startEnv(t, nil, WithTimeScale(1)) // operations stay pending for 2 s
		ctx := t.Context()
		op, err := e.c.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: bpGKE01, BackupId: "b1"})
		if err != nil {
			t.Fatalf("CreateBackup() error = %v", err)
		}
		got, err := e.c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
		if err != nil || got.GetDone() {
			t.Fatalf("GetOperation() = %v, %v; want a pending operation", got, err)
		}
		if err := e.c.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()}); err != nil {
			t.Fatalf("CancelOperation() error = %v", err)
		}
		_, err = op.Poll(ctx)
		if !op.Done() {
			t.Errorf("cancelled operation is not done")
		}
		wantCode(t, err, codes.Canceled)
		if err := e.c.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.Name()}); err != nil {
			t.Fatalf("DeleteOperation() error = %v", err)
		}
		_, err = e.c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
		wantCode(t, err, codes.NotFound)
		_, err = e.c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/1"})
		if !strings.Contains(err.Error(), "projects/*/locations/*/operations/*") {
			t.Errorf("GetOperation(malformed) error = %v, want the expected form", err)
		}
	})
}
