package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Function is the signature of every gkedr entry point.
type Function func(ctx context.Context, e cloudevents.Event) error

// TriggerOptions tune a Trigger. Zero fields take the defaults.
type TriggerOptions struct {
	// Initial is the backoff before the first redelivery (default 100ms); it doubles up to Max
	// (default 2s). Eventarc's Pub/Sub subscriptions back off from 10 s to 600 s; the benchmark
	// compresses that, as the emulator compresses the API's time.
	Initial, Max time.Duration
	// Timeout bounds one invocation (default 540s, the limit of an event-driven function).
	Timeout time.Duration
}

// TriggerStats count what a Trigger did.
type TriggerStats struct {
	// Events is the number of events handed to Deliver.
	Events int
	// Invocations is the number of calls of the function, redeliveries included.
	Invocations int
	// Errors is the number of invocations that returned an error (and were redelivered).
	Errors int
}

// Trigger delivers CloudEvents to one function at least once, the way an Eventarc trigger does:
// every event is delivered on its own goroutine, concurrently with the others, and an invocation
// that returns an error is repeated after an exponential backoff until one returns nil.
type Trigger struct {
	fn   Function
	opts TriggerOptions

	ctx    context.Context // carries the logger; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stats   TriggerStats
	pending int
	idle    []chan struct{}
}

// NewTrigger returns a Trigger that invokes fn with contexts derived from ctx (and so with ctx's
// logger). Close stops it.
func NewTrigger(ctx context.Context, fn Function, opts TriggerOptions) *Trigger {
	if opts.Initial <= 0 {
		opts.Initial = 100 * time.Millisecond
	}
	if opts.Max <= 0 {
		opts.Max = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 540 * time.Second
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Trigger{fn: fn, opts: opts, ctx: ctx, cancel: cancel}
}

// Deliver hands e to the function in the background and returns at once.
func (t *Trigger) Deliver(e cloudevents.Event) {
	t.mu.Lock()
	t.stats.Events++
	t.pending++
	t.mu.Unlock()
	t.wg.Go(func() {
		t.deliver(e)
		t.mu.Lock()
		t.pending--
		if t.pending == 0 {
			for _, ch := range t.idle {
				close(ch)
			}
			t.idle = nil
		}
		t.mu.Unlock()
	})
}

func (t *Trigger) deliver(e cloudevents.Event) {
	backoff := t.opts.Initial
	for {
		err := t.invoke(e)
		t.mu.Lock()
		t.stats.Invocations++
		if err != nil {
			t.stats.Errors++
		}
		t.mu.Unlock()
		if err == nil {
			return
		}
		// Note the ±20% jitter: without it, the events a shared outage failed together would be
		// redelivered together, which is not what Pub/Sub does.
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		timer := time.NewTimer(wait)
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, t.opts.Max)
	}
}

// invoke runs the function once; a panic is an error, as the Functions Framework answers it 500.
func (t *Trigger) invoke(e cloudevents.Event) (err error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("function panicked: %v", r)
		}
	}()
	return t.fn(ctx, e)
}

// Wait returns once every event handed to Deliver so far has been acknowledged, or ctx is done.
func (t *Trigger) Wait(ctx context.Context) error {
	t.mu.Lock()
	if t.pending == 0 {
		t.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	t.idle = append(t.idle, ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for deliveries: %w", ctx.Err())
	}
}

// Stats returns the counts so far.
func (t *Trigger) Stats() TriggerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Close stops redelivering and waits for the invocations in flight.
func (t *Trigger) Close() {
	t.cancel()
	t.wg.Wait()
}

// Bridge is the local Eventarc between the emulator and the functions: an HTTP endpoint that the
// emulator delivers its events to, which acknowledges each event and hands it to the Trigger
// whose event type it matches, as Eventarc's event filters do. Events of other types are dropped.
type Bridge struct {
	routes map[string]*Trigger
	lis    net.Listener
	srv    *http.Server
	done   chan struct{}

	mu      sync.Mutex
	dropped int
}

// NewBridge serves the routes (event type → trigger) on an ephemeral loopback port.
func NewBridge(routes map[string]*Trigger) (*Bridge, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for events: %w", err)
	}
	b := &Bridge{routes: routes, lis: lis, done: make(chan struct{})}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(lis)
	}()
	return b, nil
}

// URL is where the emulator should deliver events.
func (b *Bridge) URL() string { return "http://" + b.lis.Addr().String() + "/" }

// Dropped is the number of events no route matched.
func (b *Bridge) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

func (b *Bridge) serveHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := cloudevents.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	t, ok := b.routes[e.Type()]
	if !ok {
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	t.Deliver(*e)
	w.WriteHeader(http.StatusNoContent)
}

// Close stops serving. The triggers are the caller's to close.
func (b *Bridge) Close() error {
	err := b.srv.Close()
	<-b.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
