package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PubSubMode chooses the Pub/Sub server of the stack.
type PubSubMode string

// Pub/Sub modes.
const (
	// PubSubAuto runs gcloud's emulator when gcloud and its pubsub-emulator component are installed,
	// and the in-process fake otherwise (saying so on the progress output).
	PubSubAuto PubSubMode = ""
	// PubSubEmulator requires gcloud's emulator: the one that behaves like the service.
	PubSubEmulator PubSubMode = "emulator"
	// PubSubInProcess runs pstest, the client library's in-process fake.
	PubSubInProcess PubSubMode = "in-process"
)

// ErrNoPubSubEmulator: PubSubEmulator was asked for but gcloud or its emulator component is missing.
var ErrNoPubSubEmulator = errors.New("gcloud's Pub/Sub emulator is not installed")

// emulatorReadyTimeout bounds the emulator's start. It is ready in about 2 s on a quiet machine;
// the margin is for a loaded CI box and a cold JVM.
const emulatorReadyTimeout = 60 * time.Second

// stopGrace is how long the emulator's process group gets to exit on SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// pubSubServer is the running Pub/Sub server.
type pubSubServer struct {
	addr string
	// kind is "gcloud emulator" or "in-process pstest", for the progress output.
	kind  string
	close func() error
}

// EmulatorInstalled reports whether gcloud and its pubsub-emulator component are installed, which
// PubSubAuto and PubSubEmulator need.
func EmulatorInstalled() bool {
	_, ok := emulatorInstalled()
	return ok
}

// emulatorInstalled finds gcloud and its pubsub-emulator component without running gcloud (which
// takes a second): the component lives under the SDK root, two levels above the real gcloud binary.
func emulatorInstalled() (gcloud string, ok bool) {
	path, err := exec.LookPath("gcloud")
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false
	}
	root := filepath.Dir(filepath.Dir(real))
	if _, err := os.Stat(filepath.Join(root, "platform", "pubsub-emulator")); err != nil {
		return "", false
	}
	return path, true
}

// startPubSub starts the Pub/Sub server mode asks for and reports which on progress.
func startPubSub(ctx context.Context, mode PubSubMode, project, dir string, progress io.Writer) (*pubSubServer, error) {
	gcloud, installed := emulatorInstalled()
	switch {
	case mode == PubSubInProcess:
		return startPSTest()
	case installed:
		return startEmulator(ctx, gcloud, project, dir)
	case mode == PubSubEmulator:
		return nil, fmt.Errorf("%w: install google-cloud-cli with google-cloud-cli-pubsub-emulator (or 'gcloud components install pubsub-emulator')", ErrNoPubSubEmulator)
	default:
		fmt.Fprintln(progress, "gcloud's Pub/Sub emulator is not installed: using the in-process pstest fake instead (install google-cloud-cli-pubsub-emulator for the real emulator)")
		return startPSTest()
	}
}

func startPSTest() (*pubSubServer, error) {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	return &pubSubServer{addr: srv.Addr, kind: "in-process pstest", close: srv.Close}, nil
}

// startEmulator runs `gcloud beta emulators pubsub start` on a free loopback port, in its own
// process group so that Close can end gcloud's Python and the JVM it starts together, with a data
// directory of its own (the default one under ~/.config is shared by every run on the machine).
func startEmulator(ctx context.Context, gcloud, project, dir string) (*pubSubServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dataDir := filepath.Join(dir, "pubsub")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create pub/sub emulator data dir: %w", err)
	}
	out := &tailBuffer{limit: 8 << 10}
	// Note that the command is not bound to ctx: exec.CommandContext would kill only gcloud, not
	// the JVM; stopGroup ends the whole group instead.
	cmd := exec.Command(gcloud, "beta", "emulators", "pubsub", "start",
		"--host-port="+addr, "--project="+project, "--data-dir="+dataDir, "--quiet")
	cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = groupAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pub/sub emulator: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := sync.OnceValue(func() error { return stopGroup(cmd.Process.Pid, exited, stopGrace) })
	if err := waitEmulator(ctx, addr, exited); err != nil {
		_ = stop()
		return nil, fmt.Errorf("start pub/sub emulator on %s: %w; its output:\n%s", addr, err, out.String())
	}
	return &pubSubServer{addr: addr, kind: "gcloud emulator", close: stop}, nil
}

// waitEmulator polls the emulator's HTTP root, which answers "Ok" once it serves, until it does,
// the process exits, ctx ends or emulatorReadyTimeout passes.
func waitEmulator(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, emulatorReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the emulator exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// freePort returns a loopback port nothing listens on. Another process can take it before the
// caller binds it; the caller's readiness check then fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last limit bytes written to it: the emulator's output, for the error of a
// failed start.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.limit; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// subscription is one delivery of the stack: a subscription on a topic, with an optional filter,
// delivered to one function path (empty: the stack's own report watcher).
type subscription struct {
	id, topic, filter, path string
}

// createTopology creates the topics and subscriptions of subs. ALREADY_EXISTS is fine: the
// emulator may have kept them in a reused data directory.
func createTopology(ctx context.Context, c *pubsub.Client, project string, topics []string, subs []subscription) error {
	for _, t := range topics {
		_, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName(project, t)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	for _, s := range subs {
		_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name:               subscriptionName(project, s.id),
			Topic:              topicName(project, s.topic),
			Filter:             s.filter,
			AckDeadlineSeconds: 60,
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create subscription %s on %s: %w", s.id, s.topic, err)
		}
	}
	return nil
}

func topicName(project, id string) string { return "projects/" + project + "/topics/" + id }
func subscriptionName(project, id string) string {
	return "projects/" + project + "/subscriptions/" + id
}
