package restore_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	container "cloud.google.com/go/container/apiv1"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
)

// Names of the walkthrough world (gkebackupemu.DefaultWorld) and testdata/policy.yaml.
const (
	bpGKE01   = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
	gke01     = "projects/gkedr-demo/locations/asia-northeast1/clusters/gke01"
	gke02     = "projects/gkedr-demo/locations/asia-northeast1/clusters/gke02"
	gke03     = "projects/gkedr-demo/locations/asia-northeast2/clusters/gke03"
	rpGKE02   = "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke02"
	rpGKE03   = "projects/gkedr-demo/locations/asia-northeast2/restorePlans/rp-gke03"
	waitLimit = 20 * time.Second
)

// fastRetry keeps retries of transient errors quick but patient, as a test has no redelivery.
var fastRetry = retry.Policy{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond, Multiplier: 2, Attempts: 60, Jitter: 0.3}

// env is one emulator with the real clients pointed at it, a recording Refusals and a captured log.
type env struct {
	srv      *gkebackupemu.Server
	api      *gkebackup.BackupForGKEClient
	clusters *container.ClusterManagerClient
	refusals *recorder
	logs     *lockedBuffer
	// ctx carries the captured logger; it ends with the test.
	ctx context.Context
}

func newEnv(t *testing.T, world *gkebackupemu.World) *env {
	t.Helper()
	emu := emutest.Start(t, world)
	logs := &lockedBuffer{}
	return &env{
		srv: emu.Server, api: emu.Backup, clusters: emu.Clusters, refusals: &recorder{}, logs: logs,
		ctx: logging.WithContext(t.Context(), logging.New(logs)),
	}
}

// service returns a Service on the emulator's clock. The client rate is high unless opts say
// otherwise: most tests are not about it, and 2 QPS would make them slow.
func (e *env) service(p *config.Policy, opts restore.Options) *restore.Service {
	if opts.Now == nil {
		opts.Now = e.srv.Now
	}
	if opts.QPS == 0 {
		opts.QPS = 1000
	}
	if opts.Retry == (retry.Policy{}) {
		opts.Retry = fastRetry
	}
	return restore.NewService(e.api, e.clusters, e.refusals, p, opts)
}

// backup takes a backup of plan with id and labels and waits until it reaches want.
func (e *env) backup(t *testing.T, plan, id string, labels map[string]string, want gkebackuppb.Backup_State) *gkebackuppb.Backup {
	t.Helper()
	if _, err := e.api.CreateBackup(e.ctx, &gkebackuppb.CreateBackupRequest{
		Parent: plan, BackupId: id, Backup: &gkebackuppb.Backup{Labels: labels},
	}); err != nil {
		t.Fatalf("create backup %s: %v", id, err)
	}
	return e.waitBackup(t, plan+"/backups/"+id, want)
}

func (e *env) waitBackup(t *testing.T, name string, want gkebackuppb.Backup_State) *gkebackuppb.Backup {
	t.Helper()
	var b *gkebackuppb.Backup
	poll(t, fmt.Sprintf("backup %s %s", name, want), func() bool {
		var err error
		b, err = e.api.GetBackup(e.ctx, &gkebackuppb.GetBackupRequest{Name: name})
		if err != nil {
			t.Fatalf("get backup %s: %v", name, err)
		}
		return b.GetState() == want
	})
	return b
}

func (e *env) waitRestore(t *testing.T, name string) *gkebackuppb.Restore {
	t.Helper()
	var r *gkebackuppb.Restore
	poll(t, "restore "+name+" SUCCEEDED", func() bool {
		var err error
		r, err = e.api.GetRestore(e.ctx, &gkebackuppb.GetRestoreRequest{Name: name})
		if err != nil {
			t.Fatalf("get restore %s: %v", name, err)
		}
		if r.GetState() == gkebackuppb.Restore_FAILED {
			t.Fatalf("restore %s FAILED: %s", name, r.GetStateReason())
		}
		return r.GetState() == gkebackuppb.Restore_SUCCEEDED
	})
	return r
}

// mutations returns the mutating calls aimed at restore plan rp (creating it, or a restore in
// it) from position from of the call log on, whatever their outcome, as "Method code".
func (e *env) mutations(rp string, from int) []string {
	var out []string
	for _, c := range e.srv.Calls()[from:] {
		switch req := c.Request.(type) {
		case *gkebackuppb.CreateRestorePlanRequest:
			if req.GetParent()+"/restorePlans/"+req.GetRestorePlanId() == rp {
				out = append(out, c.Method+" "+c.Code.String())
			}
		case *gkebackuppb.CreateRestoreRequest:
			if req.GetParent() == rp {
				out = append(out, c.Method+" "+c.Code.String())
			}
		}
	}
	return out
}

// createdRestores returns the names of the restores created (code OK) in rp.
func (e *env) createdRestores(rp string) []string {
	var out []string
	for _, c := range e.srv.Calls() {
		if req, ok := c.Request.(*gkebackuppb.CreateRestoreRequest); ok && req.GetParent() == rp && c.Code == 0 {
			out = append(out, rp+"/restores/"+req.GetRestoreId())
		}
	}
	return out
}

// poll calls cond until it is true, failing the test after waitLimit.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", waitLimit, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// loadPolicy reads testdata/policy.yaml; each call returns a fresh copy to change.
func loadPolicy(t *testing.T) *config.Policy {
	t.Helper()
	p, err := config.Load("testdata/policy.yaml")
	if err != nil {
		t.Fatalf("load policy: %v", err)
	}
	return p
}

// standby returns the policy's standby called name of the first source.
func standby(t *testing.T, p *config.Policy, name string) *config.Standby {
	t.Helper()
	sb, ok := p.Sources[0].Standby(name)
	if !ok {
		t.Fatalf("policy has no standby %s", name)
	}
	return sb
}

// worldWith returns the walkthrough world changed by change.
func worldWith(change func(w *gkebackupemu.World)) *gkebackupemu.World {
	w := gkebackupemu.DefaultWorld()
	if change != nil {
		change(w)
	}
	return w
}

// setVersion sets the GKE version of the world's cluster name.
func setVersion(t *testing.T, w *gkebackupemu.World, name, version string) {
	t.Helper()
	i := slices.IndexFunc(w.Clusters, func(c gkebackupemu.ClusterState) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("world has no cluster %s", name)
	}
	w.Clusters[i].GKEVersion = version
}

// recorder is a Refusals that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	reports []report.Report
}

func (r *recorder) Refuse(_ context.Context, rep report.Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return nil
}

func (r *recorder) all() []report.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// lockedBuffer is a log sink safe for the fan-out's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines that contain every one of parts.
func (b *lockedBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for l := range strings.SplitSeq(b.buf.String(), "\n") {
		if l != "" && !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) }) {
			out = append(out, l)
		}
	}
	return out
}
