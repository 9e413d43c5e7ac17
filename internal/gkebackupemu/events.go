package gkebackupemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The Eventarc direct event types the emulator emits.
const (
	BackupCreatedType  = "google.cloud.gkebackup.backup.v1.created"
	BackupUpdatedType  = "google.cloud.gkebackup.backup.v1.updated"
	RestoreCreatedType = "google.cloud.gkebackup.restore.v1.created"
	RestoreUpdatedType = "google.cloud.gkebackup.restore.v1.updated"
)

const (
	eventSourcePrefix = "//gkebackup.googleapis.com/"
	// eventMaxAge is how long (emulated) delivery of an event is retried: Eventarc gives up
	// after 24 hours.
	eventMaxAge = 24 * time.Hour
	// sendTimeout bounds one delivery attempt in real time.
	sendTimeout = 30 * time.Second
)

// eventKind is what tells the events of Backups and of Restores apart.
type eventKind struct {
	noun             string // "backup", as logs name the resource
	created, updated string // the event types
	// extensions name the attributes that carry the plan's and the resource's short ids.
	extensions []string
}

var (
	backupEvents  = eventKind{noun: "backup", created: BackupCreatedType, updated: BackupUpdatedType, extensions: []string{"backupplan", "backup"}}
	restoreEvents = eventKind{noun: "restore", created: RestoreCreatedType, updated: RestoreUpdatedType, extensions: []string{"restoreplan", "restore"}}
)

// event builds the Eventarc event of a Backup or Restore: source is the location, subject the
// name relative to it, extensions the short ids, data {"payload": the resource as protojson}.
func (k eventKind) event(m apiResource, created bool, id string, at time.Time) (cloudevents.Event, error) {
	typ := k.updated
	if created {
		typ = k.created
	}
	return newEvent(typ, m.GetName(), k.extensions, m, id, at)
}

// newEvent builds an event for the resource name projects/P/locations/L/<c1>/<id1>/<c2>/<id2>;
// extensions name the attributes that carry id1 and id2.
func newEvent(typ, name string, extensions []string, payload proto.Message, id string, at time.Time) (cloudevents.Event, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 8 {
		return cloudevents.Event{}, fmt.Errorf("build event for %q: want projects/P/locations/L/<plans>/ID/<items>/ID", name)
	}
	data, err := eventData(payload)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("build event for %s: %w", name, err)
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(eventSourcePrefix + strings.Join(parts[:4], "/"))
	e.SetSubject(strings.Join(parts[4:], "/"))
	e.SetTime(at)
	e.SetExtension("location", parts[3])
	e.SetExtension(extensions[0], parts[5])
	e.SetExtension(extensions[1], parts[7])
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return cloudevents.Event{}, fmt.Errorf("build event for %s: %w", name, err)
	}
	return e, nil
}

// eventData is {"payload": <protojson of m>} with camelCase fields and enum names, as Eventarc
// sends google-cloudevents' BackupEventData and RestoreEventData.
func eventData(m proto.Message) (json.RawMessage, error) {
	pj, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal payload: %w", err)
	}
	// protojson varies its whitespace on purpose; compacting makes the wire bytes stable.
	var buf bytes.Buffer
	if err := json.Compact(&buf, pj); err != nil {
		return nil, fmt.Errorf("compact payload: %w", err)
	}
	return json.RawMessage(`{"payload":` + buf.String() + `}`), nil
}

// emit publishes the event of a Backup's or Restore's creation or change. Callers hold s.mu.
func (s *Server) emit(k eventKind, m apiResource, created bool, at time.Time) {
	if !s.bus.hasSinks() {
		return
	}
	e, err := k.event(m, created, newUID(), at)
	if err != nil {
		s.log.Error("cannot build "+k.noun+" event", k.noun, m.GetName(), "error", err)
		return
	}
	s.bus.publish(e, at)
}

// eventBus delivers events to HTTP sinks: at least once, in order, each sink on its own
// goroutine, retrying with backoff until the sink answers 2xx or the event is older than
// maxAge (emulated), as Eventarc gives up after 24 hours.
type eventBus struct {
	log          *slog.Logger
	clk          *clock
	transport    *http.Transport
	client       cloudevents.Client
	retryInitial time.Duration
	retryMax     time.Duration
	maxAge       time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	sinks  []*sink
	closed bool
}

type sink struct {
	url    string
	notify chan struct{}

	mu    sync.Mutex
	queue []queuedEvent
}

type queuedEvent struct {
	event cloudevents.Event
	at    time.Time // emulated time of the change
}

func newEventBus(o options, clk *clock) *eventBus {
	// An own transport, so that Close can drop its idle connections and leave no goroutine.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	httpClient := &http.Client{Transport: tr, Timeout: sendTimeout}
	client, err := cloudevents.NewClientHTTP(cehttp.WithClient(*httpClient))
	if err != nil {
		// NewClientHTTP fails only on invalid options, and these are fixed.
		panic(fmt.Sprintf("gkebackupemu: cloudevents client: %v", err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &eventBus{
		log: o.logger, clk: clk, transport: tr, client: client,
		retryInitial: o.retryInitial, retryMax: o.retryMax, maxAge: eventMaxAge,
		ctx: ctx, cancel: cancel,
	}
}

func (b *eventBus) addSink(url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	sk := &sink{url: url, notify: make(chan struct{}, 1)}
	b.sinks = append(b.sinks, sk)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.deliver(sk)
	}()
}

func (b *eventBus) hasSinks() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sinks) > 0 && !b.closed
}

func (b *eventBus) publish(e cloudevents.Event, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sk := range b.sinks {
		sk.mu.Lock()
		sk.queue = append(sk.queue, queuedEvent{event: e.Clone(), at: at})
		sk.mu.Unlock()
		select {
		case sk.notify <- struct{}{}:
		default:
		}
	}
}

// deliver sends the sink's events one at a time, so a sink sees each resource's changes in order.
func (b *eventBus) deliver(sk *sink) {
	for {
		sk.mu.Lock()
		if len(sk.queue) == 0 {
			sk.mu.Unlock()
			select {
			case <-b.ctx.Done():
				return
			case <-sk.notify:
				continue
			}
		}
		q := sk.queue[0]
		sk.mu.Unlock()
		if !b.send(sk.url, q) {
			return
		}
		sk.mu.Lock()
		sk.queue = sk.queue[1:]
		sk.mu.Unlock()
	}
}

// send delivers one event, retrying; it returns false when the bus is closing.
func (b *eventBus) send(url string, q queuedEvent) bool {
	backoff := b.retryInitial
	for attempt := 1; ; attempt++ {
		res := b.client.Send(cloudevents.ContextWithTarget(b.ctx, url), q.event)
		if cloudevents.IsACK(res) {
			return true
		}
		if b.ctx.Err() != nil {
			return false
		}
		if age := b.clk.now().Sub(q.at); age > b.maxAge {
			b.log.Error("dropped event after retrying for too long", "sink", url, "event_id", q.event.ID(),
				"type", q.event.Type(), "subject", q.event.Subject(), "attempts", attempt, "error", res)
			return true
		}
		b.log.Warn("event delivery failed; retrying", "sink", url, "event_id", q.event.ID(),
			"type", q.event.Type(), "attempt", attempt, "backoff", backoff, "error", res)
		t := time.NewTimer(backoff)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, b.retryMax)
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.transport.CloseIdleConnections()
}
