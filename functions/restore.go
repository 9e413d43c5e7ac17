package functions

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/retry"
)

// RestoreOnBackup restores a succeeded backup into its standbys. It is triggered by the Eventarc
// event google.cloud.gkebackup.backup.v1.updated (backups gkedr started and those a BackupPlan's
// own schedule takes), and by requests on gkedr-backup-requests: a migration of an existing backup,
// and the sweep that recovers lost events.
//
// Retry contract: it returns an error only for a transient failure of some standby (gRPC
// Unavailable, ResourceExhausted, DeadlineExceeded, Aborted, a context deadline), so the event is
// redelivered; restore ids are derived from (backup, standby), so a redelivery restores no standby
// twice. A malformed, stale or refused event is logged at ERROR with the fix and acknowledged;
// refusals are also published as refusal records so VerifyRestore reports them.
func (h *Handlers) RestoreOnBackup(ctx context.Context, e cloudevents.Event) error {
	ctx = h.eventContext(ctx, e)
	switch e.Type() {
	case events.TypeBackupUpdated, events.TypeBackupCreated:
		b, err := events.DecodeBackupEvent(e)
		if err != nil {
			return h.settle(ctx, "decode backup event", err)
		}
		if err := retry.CheckAge(e.Time(), h.d.Now(), h.d.MaxEventAge); err != nil {
			return h.settle(ctx, "drop backup event", fmt.Errorf("%w; the sweep restores the newest backup instead", err))
		}
		_, err = h.d.Restores.OnBackup(ctx, b)
		return h.settle(ctx, "restore backup "+b.GetName(), err)
	case events.TypePubSubPublished:
		req, err := h.decodeRequest(e)
		if err != nil {
			return h.settle(ctx, "decode request", err)
		}
		switch {
		case req.Kind == events.RequestSweep:
			_, err = h.d.Restores.Sweep(ctx, req)
			return h.settle(ctx, "sweep restores", err)
		case req.Kind == events.RequestMigration && req.Backup != "":
			_, err = h.d.Restores.Migrate(ctx, req)
			return h.settle(ctx, "migrate "+req.Source, err)
		default:
			// Note that a request for a new backup is BackupTrigger's; its backup's success event
			// brings it back here.
			logging.FromContext(ctx).InfoContext(ctx, "request needs no restore yet", "kind", string(req.Kind), "source", req.Source)
			return nil
		}
	default:
		return h.settle(ctx, "route event", unexpectedType(e, events.TypeBackupUpdated, events.TypePubSubPublished))
	}
}

// unexpectedType is the error for an event of a type the trigger should not deliver here.
func unexpectedType(e cloudevents.Event, want ...string) error {
	return fmt.Errorf("%w: event type %q; this function takes %v — check the trigger's event filter", events.ErrMalformed, e.Type(), want)
}
