package gkebackupemu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("emulator closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("emulator already started")
)

// Server is the emulator: a gRPC server for the Backup for GKE API, its long-running operations
// and the GKE cluster API, over an emulated world. All methods are safe for concurrent use.
type Server struct {
	log   *slog.Logger
	clk   *clock
	sched *scheduler
	bus   *eventBus

	mu             sync.Mutex // guards the emulated state below
	project        string
	durations      Durations
	clusters       map[string]*ClusterState
	plans          map[string]*gkebackuppb.BackupPlan
	backups        map[string]*backupRec
	restorePlans   map[string]*gkebackuppb.RestorePlan
	restores       map[string]*restoreRec
	volumeBackups  map[string]*gkebackuppb.VolumeBackup
	volumeRestores map[string]*gkebackuppb.VolumeRestore
	ops            map[string]*longrunningpb.Operation
	failNext       map[string]string
	seq            int // operation numbers, etags, generated ids and addresses

	callMu  sync.Mutex // guards the call log, faults, the limiter and rng
	calls   []Call
	faults  map[string]*faultState
	limiter *rate.Limiter
	rng     *rand.Rand

	lifeMu    sync.Mutex
	grpc      *grpc.Server
	lis       net.Listener
	kube      *kubeAPIs // the clusters' Kubernetes APIs (kubeapi.go)
	serveDone chan struct{}
	started   bool
	closed    bool
	closing   chan struct{}
}

// Call is one RPC as the emulator saw it, rejected ones included.
type Call struct {
	// Method is the short method name, e.g. "CreateRestore" or "GetOperation".
	Method string
	// Request is a copy of the request message.
	Request proto.Message
	// Code is the status code the emulator answered with.
	Code codes.Code
	// Time is the emulated time of the call.
	Time time.Time
}

// Fault is injected into calls of one method (see SetFault).
type Fault struct {
	// Code is the status returned instead of calling the method; OK only adds Latency.
	Code codes.Code
	// Probability that an affected call fails, in (0, 1]; 0 means always.
	Probability float64
	// Latency is real time added before answering (or failing) an affected call.
	Latency time.Duration
	// Count limits the fault to the first Count calls after SetFault; 0 is unlimited.
	Count int
}

type faultState struct {
	f    Fault
	seen int
}

// Option configures New.
type Option func(*options)

type options struct {
	logger       *slog.Logger
	timeScale    float64
	startTime    time.Time
	seed         uint64
	seeded       bool
	retryInitial time.Duration
	retryMax     time.Duration
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTimeScale overrides the world's timeScale: real seconds per emulated second.
func WithTimeScale(scale float64) Option { return func(o *options) { o.timeScale = scale } }

// WithStartTime sets the emulated time at New (default: the real time at New).
func WithStartTime(t time.Time) Option { return func(o *options) { o.startTime = t } }

// WithSeed makes fault probabilities reproducible.
func WithSeed(seed int64) Option {
	return func(o *options) { o.seed, o.seeded = uint64(seed), true }
}

// WithEventRetry sets the real-time backoff between delivery attempts of an event to a sink
// (default 50ms doubling up to 2s).
func WithEventRetry(initial, max time.Duration) Option {
	return func(o *options) { o.retryInitial, o.retryMax = initial, max }
}

// New builds an emulator over a copy of world. Start serves it.
func New(world *World, opts ...Option) (*Server, error) {
	if world == nil {
		return nil, errors.New("new emulator: nil world")
	}
	if err := world.Validate(); err != nil {
		return nil, fmt.Errorf("new emulator: %w", err)
	}
	o := options{
		logger:       slog.New(slog.DiscardHandler),
		timeScale:    world.TimeScale,
		retryInitial: 50 * time.Millisecond,
		retryMax:     2 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeScale <= 0 {
		return nil, fmt.Errorf("new emulator: time scale must be > 0, got %g", o.timeScale)
	}
	if !o.seeded {
		o.seed = uint64(time.Now().UnixNano())
	}
	realStart := time.Now()
	epoch := o.startTime
	if epoch.IsZero() {
		epoch = realStart
	}
	clk := &clock{start: realStart, epoch: epoch.UTC(), scale: o.timeScale}
	w := world.Clone()
	s := &Server{
		log:            o.logger,
		clk:            clk,
		sched:          newScheduler(clk),
		project:        w.Project,
		durations:      w.Durations,
		clusters:       map[string]*ClusterState{},
		plans:          map[string]*gkebackuppb.BackupPlan{},
		backups:        map[string]*backupRec{},
		restorePlans:   map[string]*gkebackuppb.RestorePlan{},
		restores:       map[string]*restoreRec{},
		volumeBackups:  map[string]*gkebackuppb.VolumeBackup{},
		volumeRestores: map[string]*gkebackuppb.VolumeRestore{},
		ops:            map[string]*longrunningpb.Operation{},
		failNext:       map[string]string{},
		faults:         map[string]*faultState{},
		rng:            rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15)),
		closing:        make(chan struct{}),
	}
	s.bus = newEventBus(o, clk)
	for i := range w.Clusters {
		c := &w.Clusters[i]
		s.settle(c)
		s.clusters[c.Name] = c
	}
	for _, spec := range w.BackupPlans {
		s.plans[spec.Name] = s.seedPlan(spec)
	}
	return s, nil
}

// settle fills the state fields a world file may leave out: bound volumes and service addresses.
func (s *Server) settle(c *ClusterState) {
	for i := range c.Namespaces {
		ns := &c.Namespaces[i]
		for j := range ns.PVCs {
			p := &ns.PVCs[j]
			if p.VolumeName == "" {
				p.VolumeName = s.newVolumeName()
			}
			if p.Phase == "" {
				p.Phase = "Bound"
			}
		}
		for j := range ns.Services {
			s.assignAddresses(&ns.Services[j])
		}
	}
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the background. It also
// serves each cluster's Kubernetes API on its own loopback TLS port (see KubernetesEndpoints).
func (s *Server) Start(addr string) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return ErrStarted
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	kube, err := s.startKubeAPIs()
	if err != nil {
		_ = lis.Close() // nothing was served on it yet
		return err
	}
	s.kube = kube
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(s.intercept))
	gkebackuppb.RegisterBackupForGKEServer(g, &backupService{s: s})
	longrunningpb.RegisterOperationsServer(g, &operationsService{s: s})
	containerpb.RegisterClusterManagerServer(g, &clusterService{s: s})
	s.grpc, s.lis, s.started = g, lis, true
	s.serveDone = make(chan struct{})
	go s.sched.run()
	go func() {
		defer close(s.serveDone)
		if err := g.Serve(lis); err != nil {
			s.log.Error("gkebackup emulator stopped serving", "error", err)
		}
	}()
	s.log.Info("gkebackup emulator listening", "addr", lis.Addr().String())
	return nil
}

// Addr is the address Start listens on, empty before Start.
func (s *Server) Addr() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// ClientOptions are the options that point the real client libraries (gkebackup, its
// operations, container) at the emulator. Call it after Start.
func (s *Server) ClientOptions() []option.ClientOption { return ClientOptions(s.Addr()) }

// ClientOptions are the options that point the real client libraries at an emulator serving on
// addr, e.g. the value of GKEBACKUP_EMULATOR_HOST: the endpoint, no authentication, no TLS.
func ClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Close stops serving, the state transitions and event delivery, and waits for their goroutines.
// It is idempotent.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.closing)
	if s.started {
		s.grpc.Stop()
		<-s.serveDone
		s.kube.close()
	}
	s.sched.close(s.started)
	s.bus.close()
	return nil
}

// Now is the current emulated time.
func (s *Server) Now() time.Time { return s.clk.now() }

// Calls returns the call log, oldest first.
func (s *Server) Calls() []Call {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Request = proto.Clone(c.Request)
		out[i] = c
	}
	return out
}

// CallCount is how many calls of the method (short name) the emulator received.
func (s *Server) CallCount(method string) int {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// SetFault injects f into the calls of method (short name, e.g. "CreateBackup"; "*" for every
// method without a fault of its own). A zero Fault removes it.
func (s *Server) SetFault(method string, f Fault) {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, method)
		return
	}
	s.faults[method] = &faultState{f: f}
}

// SetRateLimit answers calls beyond perSecond (with bursts of burst) with ResourceExhausted, as
// the API quota does. perSecond <= 0 removes the limit.
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	if perSecond <= 0 {
		s.limiter = nil
		return
	}
	s.limiter = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// AddEventSink delivers every later Backup and Restore event to url as a CloudEvent.
func (s *Server) AddEventSink(url string) { s.bus.addSink(url) }

// FailNext makes the next Backup created under the BackupPlan parent, or the next Restore created
// under the RestorePlan parent, end FAILED with reason, for tests of failure paths.
func (s *Server) FailNext(parent, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[parent] = reason
}

// takeFailNext returns the reason FailNext set for the next Backup or Restore under parent, or
// "", and forgets it: it fails one resource only. Callers hold s.mu.
func (s *Server) takeFailNext(parent string) string {
	reason := s.failNext[parent]
	delete(s.failNext, parent)
	return reason
}

// Cluster returns a deep copy of the live state of the cluster (its full container API name).
func (s *Server) Cluster(name string) (ClusterState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[name]
	if !ok {
		return ClusterState{}, false
	}
	return c.Clone(), true
}

// SetClusterEndpoint sets what GetCluster returns as the cluster's endpoint and CA certificate,
// e.g. the address of a loopback Kubernetes API serving the cluster.
func (s *Server) SetClusterEndpoint(name, endpoint, caCertificate string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[name]
	if !ok {
		return fmt.Errorf("set endpoint of %s: no such cluster", name)
	}
	c.Endpoint, c.CACertificate = endpoint, caCertificate
	return nil
}

// intercept applies the rate limit and faults and records every call with its outcome.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	resp, err := s.admit(ctx, method)
	if err == nil {
		resp, err = handler(ctx, req)
	}
	msg, _ := req.(proto.Message)
	call := Call{Method: method, Request: proto.Clone(msg), Code: status.Code(err), Time: s.clk.now()}
	s.callMu.Lock()
	s.calls = append(s.calls, call)
	s.callMu.Unlock()
	if err != nil {
		s.log.Debug("gkebackup emulator call failed", "method", method, "code", call.Code.String(), "error", err)
	}
	return resp, err
}

// admit returns an error when the call is rate limited or hit by a fault.
func (s *Server) admit(ctx context.Context, method string) (any, error) {
	s.callMu.Lock()
	if s.limiter != nil && !s.limiter.Allow() {
		s.callMu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "quota exceeded: more than %g requests per second", float64(s.limiter.Limit()))
	}
	fs, ok := s.faults[method]
	if !ok {
		fs, ok = s.faults["*"]
	}
	var f Fault
	hit := false
	if ok && (fs.f.Count == 0 || fs.seen < fs.f.Count) {
		fs.seen++
		f, hit = fs.f, true
		if f.Code != codes.OK && f.Probability > 0 && f.Probability < 1 && s.rng.Float64() >= f.Probability {
			f.Code = codes.OK
		}
	}
	s.callMu.Unlock()
	if !hit {
		return nil, nil
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.closing:
			return nil, status.Error(codes.Unavailable, "emulator closing")
		}
	}
	if f.Code != codes.OK {
		return nil, status.Errorf(f.Code, "injected fault in %s", method)
	}
	return nil, nil
}

// nextSeq returns a new number for names, etags and addresses. Callers hold s.mu.
func (s *Server) nextSeq() int {
	s.seq++
	return s.seq
}

func (s *Server) newEtag() string { return fmt.Sprintf("%08x", s.nextSeq()) }

func (s *Server) newVolumeName() string { return fmt.Sprintf("pvc-%s", newUID()) }

func (s *Server) assignAddresses(svc *Service) {
	if svc.Type == "" {
		svc.Type = "ClusterIP"
	}
	n := s.nextSeq()
	if svc.ClusterIP == "" {
		svc.ClusterIP = fmt.Sprintf("10.96.%d.%d", (n/250)%250, n%250+2)
	}
	if svc.Type == "LoadBalancer" && svc.ExternalIP == "" {
		// Addresses of the documentation range: nothing real answers on them.
		svc.ExternalIP = fmt.Sprintf("198.51.100.%d", n%250+2)
	}
}

// checkProject refuses names outside the world's project, as the real service refuses projects
// the caller cannot see.
func (s *Server) checkProject(project string) error {
	if project != s.project {
		return status.Errorf(codes.PermissionDenied, "project %q is not served by this emulator (it serves %q)", project, s.project)
	}
	return nil
}
