package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// P1Config is one configuration of the event → action measurement.
type P1Config struct {
	// Name labels the configuration in the report.
	Name string
	// QPS is the functions' GKEDR_RESTORE_QPS.
	QPS float64
	// Events is how many backups, and as many Pub/Sub hops, one run measures.
	Events int
	// Backup is the emulated duration of a backup. Note that it must leave the client-side rate
	// limiter time to refill between a backup's first events and its SUCCEEDED event, as the
	// real 100 s do: a compressed backup would charge the SUCCEEDED event for the tokens its
	// CREATING and IN_PROGRESS events just spent.
	Backup time.Duration
}

// P1Run is one run: the event → action latency of each backup and the Pub/Sub hop latencies
// measured between them.
type P1Run struct {
	Loop, Hop []time.Duration
}

// P1Result is one configuration over all runs.
type P1Result struct {
	Config P1Config
	// Standbys is the number of standbys each backup is restored into.
	Standbys int
	Runs     []P1Run
}

// perRun applies f to each run and returns the median.
func (r P1Result) perRun(f func(P1Run) float64) float64 {
	xs := make([]float64, len(r.Runs))
	for i, run := range r.Runs {
		xs[i] = f(run)
	}
	return Median(xs)
}

// LoopQ is the median over runs of the q-quantile of the loop latency.
func (r P1Result) LoopQ(q float64) time.Duration {
	return time.Duration(r.perRun(func(run P1Run) float64 { return float64(Quantile(run.Loop, q)) }))
}

// HopQ is the median over runs of the q-quantile of the Pub/Sub hop.
func (r P1Result) HopQ(q float64) time.Duration {
	return time.Duration(r.perRun(func(run P1Run) float64 { return float64(Quantile(run.Hop, q)) }))
}

// RatioQ is the median over runs of loop/hop at the q-quantile, each ratio taken within one run.
func (r P1Result) RatioQ(q float64) float64 {
	return r.perRun(func(run P1Run) float64 {
		return Ratio(float64(Quantile(run.Loop, q)), float64(Quantile(run.Hop, q)))
	})
}

// runP1 measures one run of cfg: the walkthrough's gke01 → gke02, gke03 served by the real
// functions binary (RestoreOnBackup, funcframework on loopback) that the emulator delivers its
// events to over HTTP. For each backup, the latency runs from the SUCCEEDED transition (the
// backup's complete_time, when the emulator emits the event) to the last CreateRestore of its
// standbys arriving at the emulator, both read from the emulator's clock and converted to real
// time. Between two backups, one message makes a publish → receive hop through the Pub/Sub
// emulator, so both figures share the machine's state.
func (b *runner) runP1(ctx context.Context, cfg P1Config, run int) (P1Run, error) {
	d := FastDurations()
	if cfg.Backup > 0 {
		d.Backup.Duration = cfg.Backup
	}
	topo, err := WalkthroughTopology(d)
	if err != nil {
		return P1Run{}, err
	}
	emu, err := gkebackupemu.New(topo.World, gkebackupemu.WithTimeScale(TimeScale))
	if err != nil {
		return P1Run{}, err
	}
	defer emu.Close()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		return P1Run{}, err
	}
	dir, err := os.MkdirTemp(b.dir, "p1-")
	if err != nil {
		return P1Run{}, err
	}
	policy := filepath.Join(dir, "gkedr-policy.yaml")
	if err := os.WriteFile(policy, topo.PolicyYAML, 0o600); err != nil {
		return P1Run{}, err
	}
	child, err := startProcess(b.functionsBin, filepath.Join(dir, "functions.log"), map[string]string{
		"FUNCTION_TARGET":         "RestoreOnBackup",
		"GKEDR_POLICY_FILE":       policy,
		"GKEBACKUP_EMULATOR_HOST": emu.Addr(),
		"PUBSUB_EMULATOR_HOST":    b.pubsubHost,
		"GKEDR_RESTORE_QPS":       strconv.FormatFloat(cfg.QPS, 'g', -1, 64),
	})
	if err != nil {
		return P1Run{}, err
	}
	defer func() { _, _ = child.stop() }()
	if err := child.waitListening(ctx, 30*time.Second); err != nil {
		return P1Run{}, err
	}
	// Note that only the functions receive the emulator's events: an observer sink would share
	// the emulator's delivery work and skew what is measured.
	emu.AddEventSink(child.url)

	client, err := gkebackup.NewBackupForGKEClient(ctx, emu.ClientOptions()...)
	if err != nil {
		return P1Run{}, fmt.Errorf("connect to the emulator: %w", err)
	}
	defer client.Close()
	hop, err := newPubSubHop(ctx, b.pubsubHost, fmt.Sprintf("gkedr-bench-p1-%d-%d", time.Now().UnixNano(), run))
	if err != nil {
		return P1Run{}, err
	}
	defer hop.close()

	plan := topo.Policy.Sources[0].BackupPlan
	standbys := len(topo.Policy.Sources[0].Standbys)
	// The restore events of the previous backup must be delivered before the next backup
	// succeeds, so that they do not queue in front of its SUCCEEDED event: wait for the longest
	// restore plus a margin, in real time.
	settle := time.Duration(float64(FastDurations().RestoreCrossRegion.Duration)*TimeScale) + 10*time.Millisecond
	var out P1Run
	var backups []string
	// Backup 0 warms up: the first event builds the services (lazily, as a deployed instance
	// does) and creates the RestorePlans. It is not measured.
	for i := 0; i <= cfg.Events; i++ {
		h, err := hop.sample(ctx)
		if err != nil {
			return P1Run{}, err
		}
		id := fmt.Sprintf("bench-p1-%02d-%03d", run, i)
		if _, err := client.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id}); err != nil {
			return P1Run{}, fmt.Errorf("create backup %s: %w", id, err)
		}
		if err := waitRestores(ctx, emu, plan+"/backups/"+id, standbys, 2*time.Minute, child.logFile.Name()); err != nil {
			return P1Run{}, err
		}
		if i > 0 {
			out.Hop = append(out.Hop, h)
			backups = append(backups, plan+"/backups/"+id)
		}
		time.Sleep(settle)
	}

	last := map[string]time.Time{}
	for _, c := range emu.Calls() {
		if req, ok := c.Request.(*gkebackuppb.CreateRestoreRequest); ok && c.Code == codes.OK {
			if bk := req.GetRestore().GetBackup(); c.Time.After(last[bk]) {
				last[bk] = c.Time
			}
		}
	}
	for _, name := range backups {
		bk, err := client.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: name})
		if err != nil {
			return P1Run{}, fmt.Errorf("read backup %s: %w", name, err)
		}
		t, ok := last[name]
		if !ok || bk.GetCompleteTime() == nil {
			return P1Run{}, fmt.Errorf("backup %s: no restore created, or no complete time (log: %s)", name, child.logFile.Name())
		}
		out.Loop = append(out.Loop, realDuration(t.Sub(bk.GetCompleteTime().AsTime())))
	}
	return out, nil
}

// realDuration converts an emulated duration to the real time it took.
func realDuration(emulated time.Duration) time.Duration {
	return time.Duration(float64(emulated) * TimeScale)
}

// waitCalls waits until the emulator has received n calls of method.
func waitCalls(ctx context.Context, emu *gkebackupemu.Server, method string, n int, timeout time.Duration, logPath string) error {
	deadline := time.Now().Add(timeout)
	for emu.CallCount(method) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d %s calls after %s, want %d (functions log: %s)", emu.CallCount(method), method, timeout, n, logPath)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(500 * time.Microsecond)
	}
	return nil
}

// waitRestores waits until the emulator has created n restores of backup.
func waitRestores(ctx context.Context, emu *gkebackupemu.Server, backup string, n int, timeout time.Duration, logPath string) error {
	deadline := time.Now().Add(timeout)
	seen := -1
	for {
		// Note that the log is copied only when a CreateRestore arrived since the last look: the
		// copies must not take the CPU from the functions being measured.
		if c := emu.CallCount("CreateRestore"); c != seen {
			seen = c
			got := 0
			for _, call := range emu.Calls() {
				if req, ok := call.Request.(*gkebackuppb.CreateRestoreRequest); ok && call.Code == codes.OK && req.GetRestore().GetBackup() == backup {
					got++
				}
			}
			if got >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backup %s: fewer than %d restores after %s (functions log: %s)", backup, n, timeout, logPath)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// pubSubHop is the baseline: one message published to a topic of the Pub/Sub emulator and
// received through a streaming-pull subscription.
type pubSubHop struct {
	client *pubsub.Client
	pub    *pubsub.Publisher
	got    chan received
	cancel context.CancelFunc
	done   chan error
	seq    int
}

type received struct {
	data string
	at   time.Time
}

// newPubSubHop creates a topic and a subscription named id on the emulator at host.
func newPubSubHop(ctx context.Context, host, id string) (*pubSubHop, error) {
	if host == "" {
		return nil, errors.New("the Pub/Sub hop needs the Pub/Sub emulator: set PUBSUB_EMULATOR_HOST (scripts/bench starts it)")
	}
	client, err := pubsub.NewClient(ctx, benchProject,
		option.WithEndpoint(host), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, fmt.Errorf("connect to the Pub/Sub emulator at %s: %w", host, err)
	}
	topic := "projects/" + benchProject + "/topics/" + id
	sub := "projects/" + benchProject + "/subscriptions/" + id
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic}); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("create subscription %s: %w", sub, err)
	}
	h := &pubSubHop{client: client, pub: client.Publisher(topic), got: make(chan received, 16), done: make(chan error, 1)}
	// Note that the publisher sends each message at once: the default bundling waits up to 10 ms
	// for more messages, which would inflate the baseline this benchmark divides by.
	h.pub.PublishSettings.CountThreshold = 1
	h.pub.PublishSettings.DelayThreshold = time.Millisecond
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	go func() {
		h.done <- client.Subscriber(sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
			at := time.Now()
			m.Ack()
			h.got <- received{data: string(m.Data), at: at}
		})
	}()
	return h, nil
}

// sample publishes one message and returns the time until it is received.
func (h *pubSubHop) sample(ctx context.Context) (time.Duration, error) {
	h.seq++
	want := strconv.Itoa(h.seq)
	start := time.Now()
	res := h.pub.Publish(ctx, &pubsub.Message{Data: []byte(want)})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-h.got:
			if r.data != want {
				// A redelivery of an earlier message: Pub/Sub is at least once too.
				continue
			}
			if _, err := res.Get(ctx); err != nil {
				return 0, fmt.Errorf("publish to the Pub/Sub emulator: %w", err)
			}
			return r.at.Sub(start), nil
		case err := <-h.done:
			return 0, fmt.Errorf("receive from the Pub/Sub emulator: %w", err)
		case <-timeout:
			return 0, errors.New("message not received from the Pub/Sub emulator within 30s")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (h *pubSubHop) close() {
	h.pub.Stop()
	h.cancel()
	<-h.done
	_ = h.client.Close()
}
