package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
)

// Backoff of a delivery the function did not acknowledge: Eventarc and push subscriptions retry
// with exponential backoff too. The numbers are small because everything is local.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 2 * time.Second
)

// receiveSettings are the pull settings of every bridged subscription. Note that NumGoroutines is
// the number of streaming pulls, not of handlers: one stream delivers 1000 messages in about 0.6 s
// against 0.1 s with ten.
var receiveSettings = pubsub.ReceiveSettings{NumGoroutines: 10, MaxOutstandingMessages: 1000}

// route is where Eventarc's trigger filters send a Backup for GKE direct event: backup events to
// RestoreOnBackup, restore events to VerifyRestore.
func route(eventType string) (string, bool) {
	switch {
	case strings.HasPrefix(eventType, "google.cloud.gkebackup.backup."):
		return PathRestoreOnBackup, true
	case strings.HasPrefix(eventType, "google.cloud.gkebackup.restore."):
		return PathVerifyRestore, true
	}
	return "", false
}

// receiveDirect is the handler of the stack's Eventarc receiver, the emulator's event sink. It
// records the event for the progress output and acknowledges at once, then delivers it to its
// function in the background, retrying until the function acknowledges: Eventarc delivers
// concurrently and retries on its own, so a slow VerifyRestore must not hold up the emulator's
// queue of later events.
func (s *Stack) receiveDirect(ctx context.Context, e cloudevents.Event) protocol.Result {
	path, ok := route(e.Type())
	if !ok {
		return fmt.Errorf("%w: no trigger for event type %q", protocol.ResultNACK, e.Type())
	}
	s.observeDirect(e)
	s.goForward(path, e.Clone())
	return protocol.ResultACK
}

// observeDirect records the Backup or Restore an event carries.
func (s *Stack) observeDirect(e cloudevents.Event) {
	switch path, _ := route(e.Type()); path {
	case PathRestoreOnBackup:
		if b, err := events.DecodeBackupEvent(e); err == nil {
			s.state.backup(b)
		}
	case PathVerifyRestore:
		if r, err := events.DecodeRestoreEvent(e); err == nil {
			s.state.restore(r)
		}
	}
}

// goForward delivers e to the function at path on a goroutine of the stack.
func (s *Stack) goForward(path string, e cloudevents.Event) {
	s.wg.Go(func() {
		_ = s.forward(s.ctx, path, e)
	})
}

// forward posts e to the function at path as a binary-mode CloudEvent until it is acknowledged or
// ctx ends, backing off between attempts.
func (s *Stack) forward(ctx context.Context, path string, e cloudevents.Event) error {
	target := "http://" + s.functionsAddr + path
	wait := retryInitial
	for attempt := 1; ; attempt++ {
		res := s.ce.Send(cloudevents.ContextWithTarget(ctx, target), e)
		if cloudevents.IsACK(res) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("function did not acknowledge the event; redelivering", "function", path, "event_id", e.ID(),
			"event_type", e.Type(), "attempt", attempt, "error", res)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// pushEnvelope is the data of a messagePublished CloudEvent, as Eventarc and push subscriptions
// write it.
type pushEnvelope struct {
	Message      pushMessage `json:"message"`
	Subscription string      `json:"subscription"`
}

type pushMessage struct {
	Data        string            `json:"data,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	MessageID   string            `json:"messageId"`
	PublishTime string            `json:"publishTime"`
	OrderingKey string            `json:"orderingKey,omitempty"`
}

// messageEvent is the CloudEvent Eventarc makes of a Pub/Sub message: type messagePublished,
// source the topic, id the message id, data the push envelope.
func messageEvent(project, topic, sub string, m *pubsub.Message) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(m.ID)
	e.SetType(events.TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/" + topicName(project, topic))
	e.SetTime(m.PublishTime)
	env := pushEnvelope{
		Message: pushMessage{
			Data:        base64.StdEncoding.EncodeToString(m.Data),
			Attributes:  m.Attributes,
			MessageID:   m.ID,
			PublishTime: m.PublishTime.UTC().Format(time.RFC3339Nano),
			OrderingKey: m.OrderingKey,
		},
		Subscription: subscriptionName(project, sub),
	}
	data, err := json.Marshal(env)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	return e, nil
}

// bridge pulls sub and delivers each message to its function as Eventarc would: acknowledged when
// the function acknowledges, negatively acknowledged (redelivered) after a backoff otherwise. It
// returns when ctx ends.
func (s *Stack) bridge(ctx context.Context, sub subscription) error {
	r := s.ps.Subscriber(sub.id)
	r.ReceiveSettings = receiveSettings
	err := r.Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		e, err := messageEvent(s.project, sub.topic, sub.id, m)
		if err != nil {
			// A message that cannot be wrapped never will be: drop it, loudly.
			s.log.Error("cannot deliver message", "subscription", sub.id, "error", err)
			m.Ack()
			return
		}
		res := s.ce.Send(cloudevents.ContextWithTarget(ctx, "http://"+s.functionsAddr+sub.path), e)
		if cloudevents.IsACK(res) {
			m.Ack()
			return
		}
		s.log.Warn("function did not acknowledge the message; redelivering", "subscription", sub.id,
			"function", sub.path, "message_id", m.ID, "error", res)
		t := time.NewTimer(retryInitial)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		m.Nack()
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pull subscription %s: %w", sub.id, err)
	}
	return nil
}

// watchReports pulls the stack's own subscription to gkedr-reports and records every report and
// refusal, which is how the drill learns that a standby is done.
func (s *Stack) watchReports(ctx context.Context, sub string) error {
	r := s.ps.Subscriber(sub)
	r.ReceiveSettings = receiveSettings
	err := r.Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		rep, err := events.DecodeReport(m.Data)
		if err != nil {
			logging.FromContext(ctx).Error("unreadable record on the reports topic", "message_id", m.ID, "error", err)
			m.Ack()
			return
		}
		s.state.report(rep)
		m.Ack()
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pull subscription %s: %w", sub, err)
	}
	return nil
}

// directHandler is the HTTP handler of the Eventarc receiver.
func (s *Stack) directHandler(ctx context.Context) (http.Handler, error) {
	p, err := cloudevents.NewHTTP()
	if err != nil {
		return nil, fmt.Errorf("create event receiver: %w", err)
	}
	h, err := cloudevents.NewHTTPReceiveHandler(ctx, p, s.receiveDirect)
	if err != nil {
		return nil, fmt.Errorf("create event receiver: %w", err)
	}
	return h, nil
}
