package functions

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/retry"
)

// VerifyRestore proves a finished restore and posts one report per restore. It is triggered by the
// Eventarc event google.cloud.gkebackup.restore.v1.updated, by refusal records on gkedr-reports
// (attribute gkedr-kind=refusal), and by the sweep on gkedr-backup-requests, which re-verifies
// restores whose standby was not ready yet and finished restores that were never reported.
//
// Retry contract: it returns an error only for a transient failure (gRPC Unavailable,
// ResourceExhausted, DeadlineExceeded, Aborted, a context deadline) so the event is redelivered; the
// Restore is labelled gkedr-reported before the post, so a redelivery never posts twice. A failed
// chat post is logged, never retried through the trigger. A malformed or stale event is logged at
// ERROR with the fix and acknowledged.
func (h *Handlers) VerifyRestore(ctx context.Context, e cloudevents.Event) error {
	ctx = h.eventContext(ctx, e)
	switch e.Type() {
	case events.TypeRestoreUpdated, events.TypeRestoreCreated:
		r, err := events.DecodeRestoreEvent(e)
		if err != nil {
			return h.settle(ctx, "decode restore event", err)
		}
		if err := retry.CheckAge(e.Time(), h.d.Now(), h.d.MaxEventAge); err != nil {
			return h.settle(ctx, "drop restore event", fmt.Errorf("%w; the sweep verifies unreported restores instead", err))
		}
		_, err = h.d.Verifier.OnRestore(ctx, r)
		return h.settle(ctx, "verify restore "+r.GetName(), err)
	case events.TypePubSubPublished:
		msg, err := events.DecodePubSub(e)
		if err != nil {
			return h.settle(ctx, "decode message", err)
		}
		switch msg.Attributes[events.AttrKind] {
		case "":
			// a request on gkedr-backup-requests: below.
		case events.KindRefusal:
			rep, err := events.DecodeReport(msg.Data)
			if err != nil {
				return h.settle(ctx, "decode refusal record", err)
			}
			_, err = h.d.Verifier.OnRefusal(ctx, rep)
			return h.settle(ctx, "report refusal for "+rep.Standby, err)
		default:
			// Note that our own verification reports share the topic; the trigger's filter should
			// keep them away, and this keeps a missing filter from looping.
			logging.FromContext(ctx).DebugContext(ctx, "ignoring a record that is not a refusal", "kind", msg.Attributes[events.AttrKind])
			return nil
		}
		req, err := h.requestFrom(msg)
		if err != nil {
			return h.settle(ctx, "decode request", err)
		}
		if req.Kind != events.RequestSweep {
			logging.FromContext(ctx).InfoContext(ctx, "request needs no verification", "kind", string(req.Kind))
			return nil
		}
		_, err = h.d.Verifier.Sweep(ctx, req)
		return h.settle(ctx, "sweep verifications", err)
	default:
		return h.settle(ctx, "route event", unexpectedType(e, events.TypeRestoreUpdated, events.TypePubSubPublished))
	}
}
