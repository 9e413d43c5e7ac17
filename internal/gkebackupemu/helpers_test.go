package gkebackupemu

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	project   = "gkedr-demo"
	bpGKE01   = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
	gke01     = "projects/gkedr-demo/locations/asia-northeast1/clusters/gke01"
	gke02     = "projects/gkedr-demo/locations/asia-northeast1/clusters/gke02"
	gke03     = "projects/gkedr-demo/locations/asia-northeast2/clusters/gke03"
	tokyo     = "projects/gkedr-demo/locations/asia-northeast1"
	osaka     = "projects/gkedr-demo/locations/asia-northeast2"
	testScale = 0.00005 // an emulated hour takes 180 ms
	// pollEvery is how often tests poll the emulator; waitFor is how long they wait at most.
	pollEvery = 2 * time.Millisecond
	waitFor   = 15 * time.Second
)

// env is an emulator with a real Backup for GKE client connected to it over a socket.
type env struct {
	s *Server
	c *gkebackup.BackupForGKEClient
}

// startEnv serves world (the default world when nil) on an ephemeral loopback port.
func startEnv(t *testing.T, world *World, opts ...Option) *env {
	t.Helper()
	if world == nil {
		world = DefaultWorld()
	}
	s, err := New(world, append([]Option{WithTimeScale(testScale)}, opts...)...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	c, err := gkebackup.NewBackupForGKEClient(t.Context(), s.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewBackupForGKEClient() error = %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &env{s: s, c: c}
}

// loadTestWorld reads a world from testdata.
func loadTestWorld(t *testing.T, name string) *World {
	t.Helper()
	w, err := LoadWorld("testdata/" + name)
	if err != nil {
		t.Fatalf("LoadWorld(%s) error = %v", name, err)
	}
	return w
}

// poll calls check until it returns true or the deadline passes.
func poll(t *testing.T, what string, check func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, waitFor)
		}
		<-tick.C
	}
}

// createBackup starts a backup and waits for its operation (not the backup) to be done.
func (e *env) createBackup(t *testing.T, plan, id string) *gkebackuppb.Backup {
	t.Helper()
	ctx := t.Context()
	op, err := e.c.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id})
	if err != nil {
		t.Fatalf("CreateBackup(%s) error = %v", id, err)
	}
	var b *gkebackuppb.Backup
	poll(t, "create backup operation done", func() (bool, error) {
		b, err = op.Poll(ctx)
		return op.Done(), err
	})
	return b
}

// waitBackup polls GetBackup until the backup is SUCCEEDED or FAILED.
func (e *env) waitBackup(t *testing.T, name string) *gkebackuppb.Backup {
	t.Helper()
	var b *gkebackuppb.Backup
	poll(t, "backup "+name+" finished", func() (bool, error) {
		var err error
		b, err = e.c.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: name})
		st := b.GetState()
		return st == gkebackuppb.Backup_SUCCEEDED || st == gkebackuppb.Backup_FAILED, err
	})
	return b
}

// succeededBackup creates a backup on plan and waits for it to succeed.
func (e *env) succeededBackup(t *testing.T, plan, id string) *gkebackuppb.Backup {
	t.Helper()
	b := e.waitBackup(t, e.createBackup(t, plan, id).GetName())
	if b.GetState() != gkebackuppb.Backup_SUCCEEDED {
		t.Fatalf("backup %s: state = %s (%s), want SUCCEEDED", id, b.GetState(), b.GetStateReason())
	}
	return b
}

// createRestorePlan creates a RestorePlan on bp-gke01 and waits for its operation.
func (e *env) createRestorePlan(t *testing.T, location, id, cluster string, cfg *gkebackuppb.RestoreConfig) *gkebackuppb.RestorePlan {
	t.Helper()
	return e.createRestorePlanOf(t, bpGKE01, location, id, cluster, cfg)
}

// createRestorePlanOf creates a RestorePlan on backupPlan and waits for its operation.
func (e *env) createRestorePlanOf(t *testing.T, backupPlan, location, id, cluster string, cfg *gkebackuppb.RestoreConfig) *gkebackuppb.RestorePlan {
	t.Helper()
	ctx := t.Context()
	op, err := e.c.CreateRestorePlan(ctx, &gkebackuppb.CreateRestorePlanRequest{
		Parent:        location,
		RestorePlanId: id,
		RestorePlan:   &gkebackuppb.RestorePlan{BackupPlan: backupPlan, Cluster: cluster, RestoreConfig: cfg},
	})
	if err != nil {
		t.Fatalf("CreateRestorePlan(%s) error = %v", id, err)
	}
	var rp *gkebackuppb.RestorePlan
	poll(t, "create restore plan operation done", func() (bool, error) {
		rp, err = op.Poll(ctx)
		return op.Done(), err
	})
	return rp
}

// restore creates a restore of backup under plan and waits for it to finish.
func (e *env) restore(t *testing.T, plan, id, backup string) *gkebackuppb.Restore {
	t.Helper()
	ctx := t.Context()
	if _, err := e.c.CreateRestore(ctx, &gkebackuppb.CreateRestoreRequest{
		Parent: plan, RestoreId: id, Restore: &gkebackuppb.Restore{Backup: backup},
	}); err != nil {
		t.Fatalf("CreateRestore(%s) error = %v", id, err)
	}
	var r *gkebackuppb.Restore
	poll(t, "restore "+id+" finished", func() (bool, error) {
		var err error
		r, err = e.c.GetRestore(ctx, &gkebackuppb.GetRestoreRequest{Name: plan + "/restores/" + id})
		st := r.GetState()
		return st == gkebackuppb.Restore_SUCCEEDED || st == gkebackuppb.Restore_FAILED, err
	})
	return r
}

// walkthroughConfig is the restore config of the walkthrough's RestorePlans.
func walkthroughConfig() *gkebackuppb.RestoreConfig {
	return &gkebackuppb.RestoreConfig{
		NamespacedResourceRestoreMode:  gkebackuppb.RestoreConfig_DELETE_AND_RESTORE,
		NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_AllNamespaces{AllNamespaces: true},
		ClusterResourceRestoreScope: &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{
			SelectedGroupKinds: []*gkebackuppb.RestoreConfig_GroupKind{
				{ResourceGroup: "storage.k8s.io", ResourceKind: "StorageClass"},
				{ResourceGroup: "apiextensions.k8s.io", ResourceKind: "CustomResourceDefinition"},
			},
		},
		ClusterResourceConflictPolicy: gkebackuppb.RestoreConfig_USE_BACKUP_VERSION,
		VolumeDataRestorePolicy:       gkebackuppb.RestoreConfig_RESTORE_VOLUME_DATA_FROM_BACKUP,
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// serveDefaultWorld runs Serve on the default world in the background and returns the first n
// lines it prints, trimmed. stop cancels Serve and checks that it returns nil in time.
func serveDefaultWorld(t *testing.T, n int) (lines []string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", DefaultWorld(), nil, pw, WithTimeScale(testScale))
		pw.Close()
	}()
	rd := bufio.NewReader(pr)
	for range n {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read Serve output: %v", err)
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains the pipe until Serve returns
	return lines, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() error = %v, want nil after cancel", err)
			}
		case <-time.After(waitFor):
			t.Fatal("Serve() did not return after its context was cancelled")
		}
	}
}
