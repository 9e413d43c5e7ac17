package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
	"github.com/gkedr/gkedr/internal/verify"
)

// Names of the walkthrough's world (gkebackupemu's default world) and of testdata/policy.yaml.
const (
	backupPlan  = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
	gke02       = "projects/gkedr-demo/locations/asia-northeast1/clusters/gke02"
	gke03       = "projects/gkedr-demo/locations/asia-northeast2/clusters/gke03"
	rpGke02     = "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke02"
	rpGke03     = "projects/gkedr-demo/locations/asia-northeast2/restorePlans/rp-gke03"
	probeBody   = "<h1>Guestbook</h1><div>BfG Test</div>"
	waitTimeout = 20 * time.Second
)

// clock is the service's clock; tests set it relative to the restore's times so that readiness
// timeouts do not depend on how fast the machine is.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeKube is the Kube seam: a client-go fake per cluster name (containerpb.Cluster.Name), or an
// error for a cluster that is down.
type fakeKube struct {
	mu       sync.Mutex
	clusters map[string]kubernetes.Interface
	down     map[string]bool
}

func (k *fakeKube) Clientset(_ context.Context, c *containerpb.Cluster) (kubernetes.Interface, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down[c.GetName()] {
		return nil, errors.New("dial tcp 10.0.0.2:443: connect: connection refused")
	}
	cs, ok := k.clusters[c.GetName()]
	if !ok {
		return nil, errors.New("no fake for cluster " + c.GetName())
	}
	return cs, nil
}

// recorder is the Reports seam: it keeps the audit copies.
type recorder struct {
	mu      sync.Mutex
	reports []report.Report
}

func (r *recorder) PublishReport(_ context.Context, rep report.Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

// sink is a generic JSON webhook that records the reports posted to it.
type sink struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []report.Report
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posts = append(s.posts, rep)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) reports() []report.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Report(nil), s.posts...)
}

// syncBuffer is a log destination that concurrent handlers may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// logLine is one JSON log line, decoded and raw.
type logLine struct {
	fields map[string]any
	raw    string
}

// lines decodes the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, logLine{fields: m, raw: l})
	}
	return out
}

// env is one emulated world with the service under test wired to it.
type env struct {
	srv     *gkebackupemu.Server
	api     *gkebackup.BackupForGKEClient
	clock   *clock
	kube    *fakeKube
	sink    *sink
	reports *recorder
	logs    *syncBuffer
	policy  *config.Policy
	svc     *verify.Service
	ctx     context.Context
}

// setup tunes an env before the service is built.
type setup struct {
	// world edits the walkthrough world.
	world func(w *gkebackupemu.World)
	// probe answers the policy's probe; nil answers probeBody.
	probe http.HandlerFunc
}

func newEnv(t *testing.T, st setup) *env {
	t.Helper()
	ctx := t.Context()
	w := gkebackupemu.DefaultWorld()
	if st.world != nil {
		st.world(w)
	}
	// Note that the world's own time scale is kept: cases rely on a cross-region restore taking
	// seconds of real time.
	emu := emutest.Start(t, w, gkebackupemu.WithTimeScale(w.TimeScale))
	srv, api, clusters := emu.Server, emu.Backup, emu.Clusters

	probe := st.probe
	if probe == nil {
		probe = func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, probeBody) }
	}
	probeSrv := httptest.NewServer(probe)
	t.Cleanup(probeSrv.Close)

	e := &env{
		srv:     srv,
		api:     api,
		clock:   &clock{t: srv.Now()},
		kube:    &fakeKube{clusters: map[string]kubernetes.Interface{}, down: map[string]bool{}},
		sink:    newSink(t),
		reports: &recorder{},
		logs:    &syncBuffer{},
		policy:  loadPolicy(t, probeSrv.URL),
	}
	e.kube.clusters["gke01"] = fake.NewClientset(guestbook(t)...)
	e.kube.clusters["gke02"] = fake.NewClientset(guestbook(t)...)
	e.kube.clusters["gke03"] = fake.NewClientset(guestbook(t)...)
	sender, err := notify.NewSender([]notify.Channel{{Type: notify.TypeWebhook, URL: e.sink.srv.URL}}, e.sink.srv.Client(),
		notify.WithRetryPolicy(retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}))
	if err != nil {
		t.Fatalf("new sender: %v", err)
	}
	e.svc = verify.NewService(api, clusters, e.kube, sender, e.reports, e.policy, verify.Options{
		Now:             e.clock.Now,
		ReadinessPoll:   time.Millisecond,
		ReadinessBudget: 20 * time.Millisecond,
		HTTPClient:      probeSrv.Client(),
		Retry:           retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 2},
	})
	e.ctx = logging.WithContext(ctx, logging.New(e.logs))
	return e
}

// loadPolicy parses testdata/policy.yaml with the probe pointed at probeURL.
func loadPolicy(t *testing.T, probeURL string) *config.Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatalf("read policy: %v", err)
	}
	p, err := config.Parse(bytes.ReplaceAll(data, []byte("PROBE_URL"), []byte(probeURL)))
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	return p
}

// guestbook decodes testdata/guestbook.yaml: the restored Guestbook, ready.
func guestbook(t *testing.T) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "guestbook.yaml"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var objs []runtime.Object
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decode document %d of guestbook.yaml: %v", i, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// setAvailable sets a Deployment's available replicas on a fake cluster.
func (e *env) setAvailable(t *testing.T, cluster, name string, n int32) {
	t.Helper()
	deps := e.kube.clusters[cluster].AppsV1().Deployments("default")
	d, err := deps.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	d.Status.AvailableReplicas, d.Status.ReadyReplicas = n, n
	if _, err := deps.UpdateStatus(e.ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update deployment %s: %v", name, err)
	}
}

// waitFor polls cond until it holds, failing the test after waitTimeout. The emulator runs its
// state machine on a scaled clock, so this is how a test waits for a backup or restore to finish.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// backup takes a backup of gke01 and waits for it to succeed.
func (e *env) backup(t *testing.T, id string) *gkebackuppb.Backup {
	t.Helper()
	if _, err := e.api.CreateBackup(e.ctx, &gkebackuppb.CreateBackupRequest{Parent: backupPlan, BackupId: id, Backup: &gkebackuppb.Backup{}}); err != nil {
		t.Fatalf("create backup: %v", err)
	}
	var b *gkebackuppb.Backup
	waitFor(t, "backup "+id, func() bool {
		var err error
		b, err = e.api.GetBackup(e.ctx, &gkebackuppb.GetBackupRequest{Name: backupPlan + "/backups/" + id})
		if err != nil {
			t.Fatalf("get backup: %v", err)
		}
		return b.GetState() == gkebackuppb.Backup_SUCCEEDED || b.GetState() == gkebackuppb.Backup_FAILED
	})
	if b.GetState() != gkebackuppb.Backup_SUCCEEDED {
		t.Fatalf("backup %s is %s: %s", id, b.GetState(), b.GetStateReason())
	}
	return b
}

// restorePlan creates a RestorePlan for a standby with cfg; nil cfg is the policy's config.
func (e *env) restorePlan(t *testing.T, standby string, cfg *gkebackuppb.RestoreConfig) {
	t.Helper()
	src := &e.policy.Sources[0]
	sb, ok := src.Standby(standby)
	if !ok {
		t.Fatalf("no standby %s in the policy", standby)
	}
	if cfg == nil {
		cfg = restore.ConfigFor(*sb)
	}
	plan, err := config.ParseRestorePlan(sb.RestorePlan)
	if err != nil {
		t.Fatalf("parse restore plan: %v", err)
	}
	_, err = e.api.CreateRestorePlan(e.ctx, &gkebackuppb.CreateRestorePlanRequest{
		Parent:        "projects/" + plan.Project + "/locations/" + plan.Location,
		RestorePlanId: plan.ID,
		RestorePlan:   &gkebackuppb.RestorePlan{BackupPlan: src.BackupPlan, Cluster: sb.Cluster, RestoreConfig: cfg},
	})
	if err != nil {
		t.Fatalf("create restore plan: %v", err)
	}
}

// startRestore creates a Restore of backup in plan and returns its name without waiting.
func (e *env) startRestore(t *testing.T, plan, id string, backup *gkebackuppb.Backup) string {
	t.Helper()
	_, err := e.api.CreateRestore(e.ctx, &gkebackuppb.CreateRestoreRequest{
		Parent: plan, RestoreId: id, Restore: &gkebackuppb.Restore{Backup: backup.GetName()},
	})
	if err != nil {
		t.Fatalf("create restore: %v", err)
	}
	return plan + "/restores/" + id
}

// finish waits for a Restore to be SUCCEEDED or FAILED and returns it.
func (e *env) finish(t *testing.T, name string) *gkebackuppb.Restore {
	t.Helper()
	var r *gkebackuppb.Restore
	waitFor(t, "restore "+name, func() bool {
		r = e.getRestore(t, name)
		return r.GetState() == gkebackuppb.Restore_SUCCEEDED || r.GetState() == gkebackuppb.Restore_FAILED
	})
	return r
}

func (e *env) getRestore(t *testing.T, name string) *gkebackuppb.Restore {
	t.Helper()
	r, err := e.api.GetRestore(e.ctx, &gkebackuppb.GetRestoreRequest{Name: name})
	if err != nil {
		t.Fatalf("get restore: %v", err)
	}
	return r
}

// restoreInto runs the whole walkthrough for one standby: backup, RestorePlan with cfg (nil: the
// policy's), Restore, and waits for the Restore to finish.
func (e *env) restoreInto(t *testing.T, standby string, cfg *gkebackuppb.RestoreConfig) *gkebackuppb.Restore {
	t.Helper()
	b := e.backup(t, "backup-gke01")
	e.restorePlan(t, standby, cfg)
	plan := rpGke02
	if standby == "gke03" {
		plan = rpGke03
	}
	return e.finish(t, e.startRestore(t, plan, "restore-"+standby, b))
}

// findingWith returns the first finding whose message contains msg.
func findingWith(rep report.Report, msg string) (report.Finding, bool) {
	for _, f := range rep.Findings {
		if strings.Contains(f.Message, msg) {
			return f, true
		}
	}
	return report.Finding{}, false
}
