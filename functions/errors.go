package functions

import (
	"context"
	"fmt"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/retry"
)

// settle is the one place that maps an outcome to the trigger's retry decision: a transient error
// is returned (the event is redelivered), anything else is logged once at ERROR and acknowledged.
func (h *Handlers) settle(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	log := logging.FromContext(ctx)
	if retry.IsTransient(err) {
		log.WarnContext(ctx, what+" failed; the event will be redelivered", "error", err)
		return fmt.Errorf("%s: %w", what, err)
	}
	log.ErrorContext(ctx, what+" failed; the event is acknowledged and will not be retried", "error", err)
	return nil
}

// eventContext returns ctx with a logger that carries the event's trace and execution id, so the
// lines of one invocation group together in Cloud Logging.
func (h *Handlers) eventContext(ctx context.Context, e cloudevents.Event) context.Context {
	traceparent, _ := e.Extensions()["traceparent"].(string)
	ctx = logging.WithContext(ctx, h.d.Logger)
	ctx = logging.ForEvent(ctx, h.d.ProjectID, traceparent, funcframework.ExecutionIDFromContext(ctx))
	return logging.WithContext(ctx, logging.FromContext(ctx).With("event_id", e.ID(), "event_type", e.Type()))
}

// decodeRequest decodes a request message from a Pub/Sub CloudEvent and drops stale ones.
func (h *Handlers) decodeRequest(e cloudevents.Event) (events.Request, error) {
	msg, err := events.DecodePubSub(e)
	if err != nil {
		return events.Request{}, err
	}
	return h.requestFrom(msg)
}

// requestFrom decodes the request carried by msg, filling what Cloud Scheduler's static body cannot
// carry (request id, time) from the message itself.
func (h *Handlers) requestFrom(msg events.Message) (events.Request, error) {
	if err := retry.CheckAge(msg.PublishTime, h.d.Now(), h.d.MaxEventAge); err != nil {
		return events.Request{}, fmt.Errorf("drop message %s: %w; raise GKEDR_MAX_EVENT_AGE if such delays are expected", msg.ID, err)
	}
	req, err := events.DecodeRequest(msg.Data)
	if err != nil {
		return events.Request{}, fmt.Errorf("message %s: %w", msg.ID, err)
	}
	req.FillFrom(msg)
	return req, nil
}
