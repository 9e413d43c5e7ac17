// Package localstack runs gkedr's whole disaster-recovery loop on one machine, with no cloud
// account (DESIGN §8): the real Pub/Sub emulator, the gkebackup emulator over a world of clusters
// (with each cluster's Kubernetes API and its apps, which verification reads), the three functions
// served by the functions framework, an Eventarc-style bridge from both emulators to the functions,
// a local Cloud Scheduler and a webhook sink that records the chat posts.
//
// The functions run exactly as deployed: setup builds their services from a config.Env that points
// at the emulators, and every event reaches them over HTTP as a CloudEvent, the way Eventarc
// delivers it. Only the endpoints differ.
//
// Everything listens on 127.0.0.1 on ephemeral ports and stops on Close, on a failed Start, and
// when the context given to Start ends (an interrupted drill). One limit comes from the functions
// framework: its registry is process-global and its server cannot be stopped, so the function server
// is started once per process and outlives the stacks that use it (its port is released when the
// process exits), and only one Stack is open at a time in a process (ErrRunning).
package localstack

import (
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/pubsub/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/robfig/cron/v3"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gkedr/gkedr/functions"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/schedule"
	"github.com/gkedr/gkedr/internal/setup"
	"github.com/gkedr/gkedr/internal/verify"
)

// Subscription ids the stack creates. The function subscriptions are those of infra/pubsub.tf; the
// watch subscription is the stack's own view of every report and refusal.
const (
	SubBackupTriggerRequests   = "gkedr-backup-trigger-requests"
	SubRestoreOnBackupRequests = "gkedr-restore-on-backup-requests"
	SubVerifyRestoreRequests   = "gkedr-verify-restore-requests"
	SubVerifyRestoreRefusals   = "gkedr-verify-restore-refusals"
	SubWatchReports            = "gkedr-local-watch-reports"
)

// localRestoreQPS replaces GKEDR_RESTORE_QPS's default of 5 unless Options.Env sets it: the quota
// it protects is the real API's, and the emulator has none, so a drill need not wait for it.
const localRestoreQPS = "50"

// Lower bounds of the verification timings scaled to the emulator's clock: below them a standby
// would be read in a busy loop.
const (
	minPoll   = 5 * time.Millisecond
	minBudget = 100 * time.Millisecond
)

// ErrWorldMismatch: the policy's project is not the project the world emulates.
var ErrWorldMismatch = errors.New("policy and world disagree")

// Options configure Start.
type Options struct {
	// Policy is the DR policy the functions run; required.
	Policy *config.Policy
	// World is the emulated project; nil means gkebackupemu.DefaultWorld(), the walkthrough.
	World *gkebackupemu.World
	// PubSub chooses the Pub/Sub server; the default prefers gcloud's emulator.
	PubSub PubSubMode
	// Env adds environment variables for the functions (GKEDR_* knobs). The emulator endpoints
	// and the policy's webhook variables are always the stack's own.
	Env map[string]string
	// Progress receives one line per stack component started; nil discards them.
	Progress io.Writer
	// Logger receives the functions' and the stack's logs; nil discards them.
	Logger *slog.Logger
}

// Stack is a running local stack. Its methods are safe for concurrent use.
type Stack struct {
	policy  *config.Policy
	project string
	env     *config.Env
	envVars map[string]string
	log     *slog.Logger

	emu           *gkebackupemu.Server
	pubsub        *pubSubServer
	ps            *pubsub.Client
	pub           *events.Publisher
	app           *setup.App
	ce            cloudevents.Client
	transport     *http.Transport
	functionsAddr string
	bound         *functions.Handlers
	servers       []*http.Server
	jobs          []*schedulerpb.Job
	cron          *cron.Cron
	dir           string

	state *state

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start starts a stack for opts. On error everything started so far is stopped again. When ctx
// ends the stack closes itself; Close must still be called to wait for it and get its error.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	if opts.Policy == nil {
		return nil, errors.New("start local stack: no policy")
	}
	world := opts.World
	if world == nil {
		world = gkebackupemu.DefaultWorld()
	}
	if world.Project != opts.Policy.Project {
		return nil, fmt.Errorf("start local stack: %w: the policy's project is %q but the world emulates %q; set the policy's project to %q or use a world file of project %q",
			ErrWorldMismatch, opts.Policy.Project, world.Project, world.Project, opts.Policy.Project)
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{policy: opts.Policy, project: opts.Policy.Project, log: log, state: newState()}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			_ = s.Close()
			st = nil
		}
	}()
	if s.dir, err = os.MkdirTemp("", "gkedr-localstack-"); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}

	// Pub/Sub first: it is the slowest to start.
	if s.pubsub, err = startPubSub(ctx, opts.PubSub, s.project, s.dir, progress); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	fmt.Fprintf(progress, "pub/sub: %s on %s\n", s.pubsub.kind, s.pubsub.addr)

	if s.emu, err = gkebackupemu.New(world, gkebackupemu.WithLogger(log.With("component", "gkebackupemu"))); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	if err = s.emu.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	fmt.Fprintf(progress, "gkebackup emulator: %d clusters of project %s on %s\n", len(world.Clusters), world.Project, s.emu.Addr())
	resolve, err := s.serveApps()
	if err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	fmt.Fprintf(progress, "clusters: %d Kubernetes APIs, apps at http://<service>.<namespace>.<cluster>%s/\n", len(s.emu.KubernetesEndpoints()), ProbeDomain)

	sinkAddr, err := s.serve(s.sinkHandler())
	if err != nil {
		return nil, fmt.Errorf("start webhook sink: %w", err)
	}
	if s.env, s.envVars, err = s.environment(opts.Env, sinkAddr); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	fmt.Fprintf(progress, "webhook sink: %d notify channels on %s\n", len(opts.Policy.Notify), sinkAddr)

	lookup := envconfig.MapLookuper(s.envVars)
	appCtx := logging.WithContext(ctx, log)
	if s.app, err = setup.New(appCtx, s.env, s.policy, lookup, setup.WithProbeClient(probeClient(resolve)),
		// Note that the emulator's clock runs faster than real time (the world's timeScale), and the
		// restores' and backups' times are on it: RPO, RTO and readiness deadlines must be too.
		setup.WithClock(s.emu.Now),
		setup.WithReadiness(scaled(verify.DefaultReadinessPoll, world.TimeScale, minPoll), scaled(verify.DefaultReadinessBudget, world.TimeScale, minBudget))); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	if s.ps, err = pubsub.NewClient(ctx, s.project, emulatorClientOptions(s.pubsub.addr)...); err != nil {
		return nil, fmt.Errorf("start local stack: create pub/sub client: %w", err)
	}
	s.pub = events.NewPublisher(s.ps)
	subs := s.subscriptions()
	if err = createTopology(ctx, s.ps, s.project, []string{s.env.RequestsTopic, s.env.ReportsTopic}, subs); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}

	// The functions: bound to this stack's services, served by the process's function server.
	s.bound = functions.New(functions.Deps{
		Backups:     s.app.Backups,
		Restores:    s.app.Restores,
		Verifier:    s.app.Verifier,
		ProjectID:   s.project,
		MaxEventAge: s.env.MaxEventAge,
		Logger:      log,
	})
	if err = acquire(s.bound); err != nil {
		s.bound = nil
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	if s.functionsAddr, err = serveFunctions(ctx); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	fmt.Fprintf(progress, "functions: BackupTrigger, RestoreOnBackup, VerifyRestore on %s\n", s.functionsAddr)

	// The bridges: Eventarc's direct events and its Pub/Sub triggers.
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
	if s.ce, err = cloudevents.NewClientHTTP(cehttp.WithClient(http.Client{Transport: s.transport})); err != nil {
		return nil, fmt.Errorf("start local stack: create event client: %w", err)
	}
	direct, err := s.directHandler(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	receiverAddr, err := s.serve(direct)
	if err != nil {
		return nil, fmt.Errorf("start event receiver: %w", err)
	}
	s.emu.AddEventSink("http://" + receiverAddr + "/")
	for _, sub := range subs {
		if sub.path == "" {
			s.wg.Go(func() { s.fail(s.watchReports(s.ctx, sub.id)) })
			continue
		}
		s.wg.Go(func() { s.fail(s.bridge(s.ctx, sub)) })
	}
	fmt.Fprintf(progress, "eventarc bridge: gkebackup events via %s, %d pub/sub subscriptions\n", receiverAddr, len(subs))

	topic := "projects/" + s.policy.Project + "/topics/" + s.env.RequestsTopic
	if s.jobs, err = schedule.Jobs(s.policy, s.jobLocation(), topic, schedule.DefaultSweepSchedule); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	if s.cron, err = newScheduler(s.jobs, s.scheduled); err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	s.cron.Start()
	fmt.Fprintf(progress, "scheduler: %d Cloud Scheduler jobs on their crons\n", len(s.jobs))

	// Note that the stack closes itself when ctx ends, so an interrupted caller cannot leave the
	// emulator's process group behind.
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.ctx.Done():
		}
	}()
	return s, nil
}

// subscriptions are the deliveries of DESIGN §8 (those of infra/pubsub.tf, without the filters
// that only save invocations): every request to all three functions, which each act on the kinds
// they handle; refusal records to VerifyRestore; and every record to the stack's watcher.
func (s *Stack) subscriptions() []subscription {
	req, rep := s.env.RequestsTopic, s.env.ReportsTopic
	return []subscription{
		{id: SubBackupTriggerRequests, topic: req, path: PathBackupTrigger},
		{id: SubRestoreOnBackupRequests, topic: req, path: PathRestoreOnBackup},
		{id: SubVerifyRestoreRequests, topic: req, path: PathVerifyRestore},
		{id: SubVerifyRestoreRefusals, topic: rep, filter: `attributes.` + events.AttrKind + ` = "` + events.KindRefusal + `"`, path: PathVerifyRestore},
		{id: SubWatchReports, topic: rep},
	}
}

// environment is the functions' environment: extra first, then the emulator endpoints and one
// sink URL per notify entry, which always win.
func (s *Stack) environment(extra map[string]string, sinkAddr string) (*config.Env, map[string]string, error) {
	vars := map[string]string{"GKEDR_RESTORE_QPS": localRestoreQPS}
	maps.Copy(vars, extra)
	vars["GKEBACKUP_EMULATOR_HOST"] = s.emu.Addr()
	vars["PUBSUB_EMULATOR_HOST"] = s.pubsub.addr
	for _, n := range s.policy.Notify {
		vars[n.WebhookURLEnv] = sinkURL(sinkAddr, n.Type)
	}
	env, err := config.LoadEnv(s.ctx, envconfig.MapLookuper(vars))
	if err != nil {
		return nil, nil, err
	}
	return env, vars, nil
}

// scheduled runs a job on its cron tick.
func (s *Stack) scheduled(j *schedulerpb.Job) {
	if _, err := s.run(s.ctx, j); err != nil && s.ctx.Err() == nil {
		s.log.Error("scheduled request not published", "job", j.GetName(), "error", err)
	}
}

// serve serves h on a new loopback listener until Close and returns its address.
func (s *Stack) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.serveListener(l, h)
	return l.Addr().String(), nil
}

// serveListener serves h on l until Close.
func (s *Stack) serveListener(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve on %s: %w", l.Addr(), err))
		}
	})
}

// fail logs a component that stopped while the stack runs.
func (s *Stack) fail(err error) {
	if err != nil && s.ctx.Err() == nil {
		s.log.Error("local stack component stopped", "error", err)
	}
}

// Close stops everything the stack started, in reverse order, and waits for it: the scheduler, the
// bridges and servers, the functions' services, the emulators (the Pub/Sub emulator's whole process
// group). It is idempotent and returns every error.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Stack) close() error {
	var errs []error
	if s.cron != nil {
		<-s.cron.Stop().Done()
	}
	if s.cancel != nil {
		s.cancel()
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.Shutdown(shutdown); err != nil {
			errs = append(errs, srv.Close())
		}
	}
	s.wg.Wait()
	// Note that the handlers are released only now: the bridges have stopped, so no delivery of
	// this stack meets "no local stack" on its way out.
	if s.bound != nil {
		release(s.bound)
	}
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if s.pub != nil {
		s.pub.Stop()
	}
	if s.ps != nil {
		errs = append(errs, s.ps.Close())
	}
	if s.app != nil {
		errs = append(errs, s.app.Close())
	}
	if s.emu != nil {
		errs = append(errs, s.emu.Close())
	}
	if s.pubsub != nil {
		errs = append(errs, s.pubsub.close())
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close local stack: %w", err)
	}
	return nil
}

// Emulator is the gkebackup emulator, for its call log and live cluster state.
func (s *Stack) Emulator() *gkebackupemu.Server { return s.emu }

// PubSubAddr is the Pub/Sub server's host:port (the stack's PUBSUB_EMULATOR_HOST).
func (s *Stack) PubSubAddr() string { return s.pubsub.addr }

// PubSubKind says which Pub/Sub server runs: "gcloud emulator" or "in-process pstest".
func (s *Stack) PubSubKind() string { return s.pubsub.kind }

// Env returns the environment the functions run with: the emulator endpoints and the webhook URLs
// among others. Note that the URLs point at the local sink; they are not secrets.
func (s *Stack) Env() map[string]string { return maps.Clone(s.envVars) }

// Changed returns a channel that is closed at the next change of what the stack has seen (an event,
// a report, a post); wait on it instead of sleeping, then call it again.
func (s *Stack) Changed() <-chan struct{} { return s.state.changedChan() }

// Backups returns the latest copy of every Backup the emulator's events carried, in order of first
// sight.
func (s *Stack) Backups() []*gkebackuppb.Backup { return s.state.snapshot().backups }

// Restores returns the latest copy of every Restore the emulator's events carried.
func (s *Stack) Restores() []*gkebackuppb.Restore { return s.state.snapshot().restores }

// Reports returns every record published to gkedr-reports, reports and refusals, in arrival order.
func (s *Stack) Reports() []report.Report { return s.state.snapshot().reports }

// Posts returns every webhook post the sink received, in arrival order.
func (s *Stack) Posts() []Post { return s.state.snapshot().posts }

// scaled is d of emulated time in real time (scale real seconds per emulated second), at least
// floor and at most d.
func scaled(d time.Duration, scale float64, floor time.Duration) time.Duration {
	return min(max(time.Duration(float64(d)*scale), floor), d)
}

// emulatorClientOptions dial a local emulator: plaintext, no credentials.
func emulatorClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}
