package functions

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/logging"
)

// BackupTrigger handles a request on gkedr-backup-requests (a scheduler tick, a migration or a
// manual request) by starting the source's backup.
//
// Retry contract: it returns an error only for a transient failure (gRPC Unavailable,
// ResourceExhausted, DeadlineExceeded, Aborted, a context deadline), so that the trigger redelivers
// the event; the backup id is derived from the request, so a redelivery cannot take a second
// backup. A malformed, invalid or stale event is logged at ERROR with the field and the fix and
// acknowledged (nil): redelivering it would fail the same way forever.
func (h *Handlers) BackupTrigger(ctx context.Context, e cloudevents.Event) error {
	ctx = h.eventContext(ctx, e)
	req, err := h.decodeRequest(e)
	if err != nil {
		return h.settle(ctx, "decode backup request", err)
	}
	res, err := h.d.Backups.Start(ctx, req)
	if err == nil && res.Skipped != "" {
		logging.FromContext(ctx).InfoContext(ctx, "no backup needed", "reason", res.Skipped, "kind", string(req.Kind))
	}
	return h.settle(ctx, "start backup for "+req.Source, err)
}
