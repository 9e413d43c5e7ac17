// Package setup is gkedr's composition root: it builds every real client once from config.Env and
// wires the domain services. Nothing else constructs API clients, so the functions, the CLI and the
// local stack run exactly the same services and differ only in endpoints.
package setup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	container "cloud.google.com/go/container/apiv1"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/pubsub/v2"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/backup"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/kube"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/verify"
)

// emulatorToken is the bearer token sent to the emulated clusters' Kubernetes API: the local world
// has no identity provider, as the Pub/Sub emulator has none.
const emulatorToken = "gkedr-local"

// App holds one deployment's services and the clients behind them.
type App struct {
	Env       *config.Env
	Policy    *config.Policy
	Backups   *backup.Service
	Restores  *restore.Service
	Verifier  *verify.Service
	Publisher *events.Publisher
	// BackupForGKE is the API client the services share; the CLI reads status through it.
	BackupForGKE *gkebackup.BackupForGKEClient

	closers []func() error
}

// FromEnvironment loads the environment through l (nil: the process environment), the policy it
// names, and builds the App.
func FromEnvironment(ctx context.Context, l envconfig.Lookuper, opts ...Option) (*App, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	env, err := config.LoadEnv(ctx, l)
	if err != nil {
		return nil, err
	}
	policy, err := config.Load(env.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("load policy from GKEDR_POLICY_FILE=%s: %w", env.PolicyFile, err)
	}
	return New(ctx, env, policy, l, opts...)
}

// Option adjusts how New builds the App.
type Option func(*options)

type options struct {
	probeClient *http.Client
	now         func() time.Time
	poll        time.Duration
	budget      time.Duration
}

// WithProbeClient sets the HTTP client of the policy's app probes. The local stack passes one that
// resolves its emulated clusters' host names, the way DNS does in a real project.
func WithProbeClient(c *http.Client) Option { return func(o *options) { o.probeClient = c } }

// WithClock sets the clock of the restore and verification services (sweep windows, RPO, RTO,
// readiness timeouts). The local stack passes the emulator's clock, which runs faster than real
// time, so that durations compare times of one clock.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithReadiness sets how often verification reads a standby and how long one invocation waits for
// it (verify's ReadinessPoll and ReadinessBudget). The local stack scales them to its clock: a 5 s
// poll on a clock that runs a thousand times faster would read the standby once per 83 emulated
// minutes.
func WithReadiness(poll, budget time.Duration) Option {
	return func(o *options) { o.poll, o.budget = poll, budget }
}

// New builds the App for env and policy. Webhook URLs are looked up through l by the env var names
// the policy's notify entries give; they never come from the policy file itself.
func New(ctx context.Context, env *config.Env, policy *config.Policy, l envconfig.Lookuper, opts ...Option) (app *App, err error) {
	o := options{probeClient: &http.Client{}}
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{Env: env, Policy: policy}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()

	apiOpts, tokens, err := apiOptions(ctx, env)
	if err != nil {
		return nil, err
	}
	bfg, err := gkebackup.NewBackupForGKEClient(ctx, apiOpts...)
	if err != nil {
		return nil, fmt.Errorf("create backup for GKE client: %w", err)
	}
	a.closers = append(a.closers, bfg.Close)
	a.BackupForGKE = bfg
	clusters, err := container.NewClusterManagerClient(ctx, apiOpts...)
	if err != nil {
		return nil, fmt.Errorf("create container client: %w", err)
	}
	a.closers = append(a.closers, clusters.Close)
	ps, err := pubsub.NewClient(ctx, policy.Project, pubsubOptions(env)...)
	if err != nil {
		return nil, fmt.Errorf("create pub/sub client for project %s: %w", policy.Project, err)
	}
	a.closers = append(a.closers, ps.Close)
	a.Publisher = events.NewPublisher(ps)
	a.closers = append(a.closers, func() error { a.Publisher.Stop(); return nil })

	channels, err := Channels(policy, l)
	if err != nil {
		// Note that a missing chat secret must not stop restores: reports still reach the
		// reports topic and the logs, so this is loud but not fatal.
		logging.FromContext(ctx).ErrorContext(ctx, "some notification channels are not configured", "error", err)
	}
	sender, err := notify.NewSender(channels, &http.Client{}, notify.WithTimeout(env.NotifyTimeout))
	if err != nil {
		return nil, fmt.Errorf("configure notifications: %w", err)
	}
	reports := &reportPublisher{pub: a.Publisher, topic: env.ReportsTopic}

	// Note that a scheduler tick of many sources reaches one instance as concurrent events: the
	// same client-side rate as the restores keeps them from meeting the API's quota all at once.
	a.Backups = backup.NewService(bfg, policy, apicall.Caller{Limiter: rate.NewLimiter(rate.Limit(env.RestoreQPS), restore.MinBurst)})
	a.Restores = restore.NewService(bfg, clusters, reports, policy, restore.Options{
		Concurrency: env.RestoreConcurrency,
		QPS:         env.RestoreQPS,
		SweepWindow: env.SweepWindow,
		Now:         o.now,
	})
	a.Verifier = verify.NewService(bfg, clusters, &kube.Connector{TokenSource: tokens}, sender, reports, policy, verify.Options{
		HTTPClient:      o.probeClient,
		Now:             o.now,
		ReadinessPoll:   o.poll,
		ReadinessBudget: o.budget,
	})
	return a, nil
}

// Close releases every client, returning all errors.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Channels resolves the policy's notify entries to channels, reading each webhook URL from the
// environment variable the policy names.
func Channels(policy *config.Policy, l envconfig.Lookuper) ([]notify.Channel, error) {
	var (
		out  []notify.Channel
		errs []error
	)
	for i, n := range policy.Notify {
		url, ok := l.Lookup(n.WebhookURLEnv)
		if !ok || url == "" {
			errs = append(errs, fmt.Errorf("notify[%d]: environment variable %s is not set; set it to the %s webhook URL (Secret Manager in deployment) or remove the entry", i, n.WebhookURLEnv, n.Type))
			continue
		}
		out = append(out, notify.Channel{Type: n.Type, URL: url})
	}
	return out, errors.Join(errs...)
}

// apiOptions returns the client options of the Backup for GKE and container APIs and the token
// source for the clusters' Kubernetes APIs: the local emulator when GKEBACKUP_EMULATOR_HOST is set,
// Application Default Credentials otherwise.
func apiOptions(ctx context.Context, env *config.Env) ([]option.ClientOption, oauth2.TokenSource, error) {
	if host := env.GKEBackupEmulatorHost; host != "" {
		return emulatorOptions(host), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: emulatorToken}), nil
	}
	conn, err := kube.NewConnector(ctx)
	if err != nil {
		return nil, nil, err
	}
	return nil, conn.TokenSource, nil
}

// pubsubOptions points the Pub/Sub client at the emulator when PUBSUB_EMULATOR_HOST is set. The
// client library reads that variable itself too; going through Env keeps one source of truth and
// lets the local stack configure a process without touching its environment.
func pubsubOptions(env *config.Env) []option.ClientOption {
	if env.PubSubEmulatorHost == "" {
		return nil
	}
	return emulatorOptions(env.PubSubEmulatorHost)
}

// emulatorOptions dial a local emulator: plaintext, no credentials.
func emulatorOptions(host string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// reportPublisher publishes reports and refusal records to the reports topic.
type reportPublisher struct {
	pub   *events.Publisher
	topic string
}

// Refuse publishes a refusal record; VerifyRestore's trigger picks it up by its attribute.
func (p *reportPublisher) Refuse(ctx context.Context, r report.Report) error {
	return p.PublishReport(ctx, r)
}

// PublishReport publishes r with the attributes that tell a refusal from a verification report.
func (p *reportPublisher) PublishReport(ctx context.Context, r report.Report) error {
	data, attrs, err := events.EncodeReport(r)
	if err != nil {
		return err
	}
	if _, err := p.pub.Publish(ctx, p.topic, data, attrs); err != nil {
		return fmt.Errorf("publish %s report for %s to %s: %w", r.Verdict, r.Standby, p.topic, err)
	}
	return nil
}
