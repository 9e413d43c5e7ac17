package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/functions"
)

// The paths the three entry points are served at, named after them as in a deployment.
const (
	PathBackupTrigger   = "/BackupTrigger"
	PathRestoreOnBackup = "/RestoreOnBackup"
	PathVerifyRestore   = "/VerifyRestore"
)

// ErrRunning is returned by Start while another Stack of this process is open.
var ErrRunning = errors.New("a local stack is already running in this process")

// errNoStack answers an event that reaches the function server while no stack is open; it is
// returned as an error so the sender retries, as a cold deployment would make it.
var errNoStack = errors.New("no local stack is running")

// The function server is process-wide because funcframework is: its registry is a package global
// and StartHostPort serves until the process exits, with no way to stop it. The three functions
// are therefore registered once, as thin wrappers that call the handlers of the open stack, and
// the server outlives the stacks that use it. One stack is open at a time; its port is released
// when the process exits.
var (
	current atomic.Pointer[functions.Handlers]

	serveOnce sync.Once
	serveAddr string
	serveErr  error
)

// acquire makes b the handlers the function server calls, unless another stack holds it.
func acquire(b *functions.Handlers) error {
	if !current.CompareAndSwap(nil, b) {
		return ErrRunning
	}
	return nil
}

// release stops the function server from calling b.
func release(b *functions.Handlers) { current.CompareAndSwap(b, nil) }

// entry returns the function registered at a path: it runs fn on the open stack's handlers.
func entry(fn func(*functions.Handlers, context.Context, cloudevents.Event) error) func(context.Context, cloudevents.Event) error {
	return func(ctx context.Context, e cloudevents.Event) error {
		h := current.Load()
		if h == nil {
			return errNoStack
		}
		return fn(h, ctx, e)
	}
}

// serveFunctions registers the three entry points and starts funcframework's server on a free
// loopback port, once per process, and returns its address.
func serveFunctions(ctx context.Context) (string, error) {
	serveOnce.Do(func() {
		serveAddr, serveErr = startFunctionServer(ctx)
	})
	return serveAddr, serveErr
}

func startFunctionServer(ctx context.Context) (string, error) {
	for path, fn := range map[string]func(*functions.Handlers, context.Context, cloudevents.Event) error{
		PathBackupTrigger:   (*functions.Handlers).BackupTrigger,
		PathRestoreOnBackup: (*functions.Handlers).RestoreOnBackup,
		PathVerifyRestore:   (*functions.Handlers).VerifyRestore,
	} {
		if err := funcframework.RegisterCloudEventFunctionContext(ctx, path, entry(fn)); err != nil {
			return "", fmt.Errorf("register function at %s: %w", path, err)
		}
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	failed := make(chan error, 1)
	go func() {
		// Note that this returns only when the listen fails: the server cannot be stopped.
		failed <- funcframework.StartHostPort("127.0.0.1", strconv.Itoa(port))
	}()
	if err := waitListening(ctx, addr, failed); err != nil {
		return "", fmt.Errorf("serve functions on %s: %w", addr, err)
	}
	return addr, nil
}

// waitListening polls until addr accepts connections, the server fails, or ctx ends.
func waitListening(ctx context.Context, addr string, failed <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
