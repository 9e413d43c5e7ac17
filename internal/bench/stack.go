package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/sethvargo/go-envconfig"
	"sigs.k8s.io/yaml"

	"github.com/gkedr/gkedr/functions"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/setup"
)

// Names of the generated topologies. Everything lives in one region, so every restore is a
// same-region one and the emulated durations stay short.
const (
	benchProject = "gkedr-bench"
	benchRegion  = "asia-northeast1"
	gkeVersion   = "1.22.12-gke.300"
)

// Topology is a generated world and the policy that protects it: Sources source clusters, each
// with its own BackupPlan and its own Standbys standby clusters, each standby with its own
// RestorePlan.
type Topology struct {
	World      *gkebackupemu.World
	PolicyYAML []byte
	Policy     *config.Policy
	// Sources are the policy names of the sources, in order.
	Sources []string
}

// FastDurations are emulated durations that keep a whole cycle within milliseconds of real time
// at TimeScale, while keeping the API's order of events (a backup outlasts a restore plan's
// creation, a cross-region restore outlasts a same-region one).
func FastDurations() gkebackupemu.Durations {
	return gkebackupemu.Durations{
		Backup:              gkebackupemu.Duration{Duration: 20 * time.Second},
		RestoreSameRegion:   gkebackupemu.Duration{Duration: 5 * time.Second},
		RestoreCrossRegion:  gkebackupemu.Duration{Duration: 10 * time.Second},
		WorkloadsReadyAfter: gkebackupemu.Duration{Duration: time.Second},
		Operation:           gkebackupemu.Duration{Duration: time.Second},
	}
}

// TimeScale is the emulator's time scale in the benchmarks and the reliability suite: an
// emulated second takes a real millisecond, as in the default world.
const TimeScale = 0.001

// TopologyOption adjusts a generated topology.
type TopologyOption func(*topologyOptions)

type topologyOptions struct {
	workloads bool
}

// VerifyWorkloads makes the policy verify the standbys' workloads (verify.workloads: true, the
// policy default) through the Kubernetes APIs that the emulator serves for its clusters, instead
// of judging a restore by the Backup for GKE API alone.
func VerifyWorkloads() TopologyOption { return func(o *topologyOptions) { o.workloads = true } }

// NewTopology generates sources × standbys clusters with a small stateful app on each source, and
// the policy that restores every source into its standbys. Unless VerifyWorkloads is given,
// verification is limited to the Backup for GKE API's view (verify.workloads: false).
func NewTopology(sources, standbys int, d gkebackupemu.Durations, opts ...TopologyOption) (*Topology, error) {
	if sources < 1 || standbys < 1 || sources > 999 || standbys > 99 {
		return nil, fmt.Errorf("new topology: want 1-999 sources and 1-99 standbys, got %d and %d", sources, standbys)
	}
	var o topologyOptions
	for _, opt := range opts {
		opt(&o)
	}
	loc := "projects/" + benchProject + "/locations/" + benchRegion
	w := &gkebackupemu.World{Project: benchProject, TimeScale: TimeScale, Durations: d}
	p := config.Policy{Project: benchProject}
	workloads := o.workloads
	for i := 1; i <= sources; i++ {
		src := fmt.Sprintf("src-%03d", i)
		cluster := loc + "/clusters/" + src
		w.Clusters = append(w.Clusters, gkebackupemu.ClusterState{
			Name:       cluster,
			GKEVersion: gkeVersion,
			Namespaces: []gkebackupemu.Namespace{{
				Name:        "app",
				Deployments: []gkebackupemu.Workload{{Name: "web", Replicas: 1, Image: "web:v1", Volumes: []string{"data"}}},
				PVCs:        []gkebackupemu.PVC{{Name: "data", Size: "1Gi", StorageClass: "standard", DataMarkers: []string{"bench"}}},
				Services:    []gkebackupemu.Service{{Name: "web", Type: "ClusterIP", Ports: []int32{80}}},
			}},
		})
		plan := loc + "/backupPlans/bp-" + src
		w.BackupPlans = append(w.BackupPlans, gkebackupemu.BackupPlanSpec{
			Name: plan, Cluster: cluster, AllNamespaces: true, IncludeSecrets: true, IncludeVolumeData: true, RetainDays: 3,
		})
		s := config.Source{Name: src, Cluster: cluster, BackupPlan: plan}
		for j := 1; j <= standbys; j++ {
			sb := fmt.Sprintf("sb-%03d-%02d", i, j)
			w.Clusters = append(w.Clusters, gkebackupemu.ClusterState{
				Name: loc + "/clusters/" + sb, GKEVersion: gkeVersion,
				Namespaces: []gkebackupemu.Namespace{{Name: "default"}},
			})
			s.Standbys = append(s.Standbys, config.Standby{
				Name: sb, Cluster: loc + "/clusters/" + sb, RestorePlan: fmt.Sprintf("%s/restorePlans/rp-%03d-%02d", loc, i, j),
				Standby: true, Verify: config.Verify{Workloads: &workloads},
			})
		}
		p.Sources = append(p.Sources, s)
	}
	return newTopology(w, p)
}

// WalkthroughTopology is the walkthrough's world (gke01 → gke02 in the same region and gke03
// across regions) with durations d, and a policy that restores gke01 into both standbys.
func WalkthroughTopology(d gkebackupemu.Durations) (*Topology, error) {
	w := gkebackupemu.DefaultWorld()
	w.TimeScale, w.Durations = TimeScale, d
	const tokyo, osaka = "projects/gkedr-demo/locations/asia-northeast1", "projects/gkedr-demo/locations/asia-northeast2"
	off := false
	p := config.Policy{Project: w.Project, Sources: []config.Source{{
		Name: "gke01", Cluster: tokyo + "/clusters/gke01", BackupPlan: tokyo + "/backupPlans/bp-gke01",
		Standbys: []config.Standby{
			{Name: "gke02", Cluster: tokyo + "/clusters/gke02", RestorePlan: tokyo + "/restorePlans/rp-gke02", Standby: true, Verify: config.Verify{Workloads: &off}},
			{Name: "gke03", Cluster: osaka + "/clusters/gke03", RestorePlan: osaka + "/restorePlans/rp-gke03", Standby: true, Verify: config.Verify{Workloads: &off}},
		},
	}}}
	return newTopology(w, p)
}

// newTopology validates the world and round-trips the policy through its YAML form and
// config.Parse, so the services run with exactly what a deployment would load from the file.
func newTopology(w *gkebackupemu.World, p config.Policy) (*Topology, error) {
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("generated world: %w", err)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshal generated policy: %w", err)
	}
	policy, err := config.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("generated policy: %w", err)
	}
	t := &Topology{World: w, PolicyYAML: b, Policy: policy}
	for _, s := range policy.Sources {
		t.Sources = append(t.Sources, s.Name)
	}
	return t, nil
}

// msgSeq numbers the Pub/Sub messages the benchmark makes up, so that each has its own id.
var msgSeq atomic.Int64

// RequestEvent returns the messagePublished CloudEvent that delivers req from the requests topic,
// as Eventarc delivers a Pub/Sub message: the data is the push envelope, and the message id is
// also the event id (it stays the same on every redelivery).
func RequestEvent(project string, req events.Request, published time.Time) (cloudevents.Event, error) {
	data, err := req.Encode()
	if err != nil {
		return cloudevents.Event{}, err
	}
	id := strconv.FormatInt(published.UnixNano(), 10) + "-" + strconv.FormatInt(msgSeq.Add(1), 10)
	envelope := map[string]any{
		"message": map[string]any{
			"data":        data, // encoding/json writes []byte as standard base64, as Pub/Sub does
			"messageId":   id,
			"publishTime": published.UTC().Format(time.RFC3339Nano),
			"attributes":  map[string]string{"origin": "gkedr-bench"},
		},
		"subscription": "projects/" + project + "/subscriptions/eventarc-bench",
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(events.TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/projects/" + project + "/topics/gkedr-backup-requests")
	e.SetTime(published)
	if err := e.SetData(cloudevents.ApplicationJSON, envelope); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode pubsub envelope: %w", err)
	}
	return e, nil
}

// StackOptions configure NewStack.
type StackOptions struct {
	// Topology is what the emulator serves and the policy protects.
	Topology *Topology
	// Env overrides the deployment's environment (GKEDR_RESTORE_QPS, ...); the emulator and
	// Pub/Sub addresses are set by the stack.
	Env map[string]string
	// Verify routes restore events to VerifyRestore; without it they are dropped, and a cycle ends
	// with the restores' creation.
	Verify bool
	// ManualEvents keeps the emulator's events away from the triggers, for callers that deliver
	// events themselves.
	ManualEvents bool
	// Trigger tunes redelivery.
	Trigger TriggerOptions
	// Logger receives the functions' logs (default: discarded).
	Logger *slog.Logger
	// EmulatorOptions are passed to gkebackupemu.New after the stack's own.
	EmulatorOptions []gkebackupemu.Option
}

// Stack is the whole loop in one process: the gkebackup emulator, an in-process Pub/Sub server
// for the audit topic, the services built by the composition root (setup.New) exactly as a
// deployment builds them, the three entry points over them, and Eventarc-like triggers that feed
// them: Backup for requests, Restore for backup events, Verify for restore events.
type Stack struct {
	Emulator *gkebackupemu.Server
	App      *setup.App
	Handlers *functions.Handlers
	Backup   *Trigger
	Restore  *Trigger
	Verify   *Trigger
	Policy   *config.Policy

	bridge *Bridge
	pubsub *pstest.Server
	ctx    context.Context
}

// NewStack starts a Stack; Close stops it.
func NewStack(ctx context.Context, o StackOptions) (st *Stack, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx = logging.WithContext(ctx, logger)
	st = &Stack{Policy: o.Topology.Policy, ctx: ctx}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	emu, err := gkebackupemu.New(o.Topology.World, append([]gkebackupemu.Option{gkebackupemu.WithTimeScale(o.Topology.World.TimeScale)}, o.EmulatorOptions...)...)
	if err != nil {
		return nil, err
	}
	st.Emulator = emu
	if err := emu.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	st.pubsub = pstest.NewServerWithAddress("127.0.0.1:0")
	env, err := config.LoadEnv(ctx, envconfig.MapLookuper(stackEnv(o.Env, emu.Addr(), st.pubsub.Addr)))
	if err != nil {
		return nil, fmt.Errorf("stack environment: %w", err)
	}
	if _, err := st.pubsub.GServer.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + o.Topology.Policy.Project + "/topics/" + env.ReportsTopic}); err != nil {
		return nil, fmt.Errorf("create the reports topic: %w", err)
	}
	app, err := setup.New(ctx, env, o.Topology.Policy, envconfig.MapLookuper(nil))
	if err != nil {
		return nil, fmt.Errorf("set up services: %w", err)
	}
	st.App = app
	st.Handlers = functions.New(functions.Deps{
		Backups: app.Backups, Restores: app.Restores, Verifier: app.Verifier,
		ProjectID: o.Topology.Policy.Project, MaxEventAge: env.MaxEventAge, Logger: logger,
	})
	st.Backup = NewTrigger(ctx, st.Handlers.BackupTrigger, o.Trigger)
	st.Restore = NewTrigger(ctx, st.Handlers.RestoreOnBackup, o.Trigger)
	st.Verify = NewTrigger(ctx, st.Handlers.VerifyRestore, o.Trigger)
	routes := map[string]*Trigger{
		events.TypeBackupCreated: st.Restore,
		events.TypeBackupUpdated: st.Restore,
	}
	if o.Verify {
		routes[events.TypeRestoreCreated] = st.Verify
		routes[events.TypeRestoreUpdated] = st.Verify
	}
	if st.bridge, err = NewBridge(routes); err != nil {
		return nil, err
	}
	if !o.ManualEvents {
		emu.AddEventSink(st.bridge.URL())
	}
	return st, nil
}

// stackEnv is the deployment environment of a stack: the defaults, the emulators, overrides.
func stackEnv(overrides map[string]string, emulator, pubsub string) map[string]string {
	m := map[string]string{
		"GKEBACKUP_EMULATOR_HOST": emulator,
		"PUBSUB_EMULATOR_HOST":    pubsub,
	}
	for k, v := range overrides {
		m[k] = v
	}
	return m
}

// Tick publishes one scheduled backup request per source, as one Cloud Scheduler tick of every
// source's job does.
func (s *Stack) Tick(sources []string) error {
	now := time.Now()
	for _, src := range sources {
		e, err := RequestEvent(s.Policy.Project, events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestScheduled, Source: src}, now)
		if err != nil {
			return fmt.Errorf("tick %s: %w", src, err)
		}
		s.Backup.Deliver(e)
	}
	return nil
}

// Idle waits until every trigger has no delivery left. Events still on their way from the
// emulator are not seen: callers first wait for the calls they expect.
func (s *Stack) Idle(ctx context.Context) error {
	for _, t := range []*Trigger{s.Backup, s.Restore, s.Verify} {
		if err := t.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops everything the stack started.
func (s *Stack) Close() error {
	var errs []error
	if s.Emulator != nil {
		// Note that the emulator goes first: it stops delivering events to the bridge.
		errs = append(errs, s.Emulator.Close())
	}
	if s.bridge != nil {
		errs = append(errs, s.bridge.Close())
	}
	for _, t := range []*Trigger{s.Backup, s.Restore, s.Verify} {
		if t != nil {
			t.Close()
		}
	}
	if s.App != nil {
		errs = append(errs, s.App.Close())
	}
	if s.pubsub != nil {
		errs = append(errs, s.pubsub.Close())
	}
	return errors.Join(errs...)
}

// freePort returns a loopback port that nothing listened on a moment ago, for a child process
// that takes its port from the environment. Another process may take it in between; the caller
// then fails to see its child become ready, loudly.
func freePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	return port, lis.Close()
}
