package functions

import (
	"context"
	"fmt"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/retry"
	"github.com/gkedr/gkedr/internal/setup"
)

// deployed builds the deployment's Handlers from the environment on the first event rather than
// in init(): a broken policy then fails events (logged, retried until it is fixed and redeployed)
// instead of crashing the instance before it can say why. Note that a failed build is not
// remembered: the next event tries again, so a passing fault at cold start does not poison the
// instance for its whole life.
var deployed lazyHandlers

// lazyHandlers builds Handlers once it succeeds.
type lazyHandlers struct {
	mu sync.Mutex
	h  *Handlers
}

// get returns the Handlers, building them if no earlier call succeeded.
func (l *lazyHandlers) get() (*Handlers, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	app, err := setup.FromEnvironment(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	l.h = New(Deps{
		Backups:     app.Backups,
		Restores:    app.Restores,
		Verifier:    app.Verifier,
		ProjectID:   app.Policy.Project,
		MaxEventAge: app.Env.MaxEventAge,
	})
	return l.h, nil
}

// withDeployed runs fn on the deployment's Handlers. A setup failure is returned as transient on
// purpose: the event is kept and redelivered, so once the configuration is fixed nothing was lost.
func withDeployed(ctx context.Context, fn func(*Handlers) error) error {
	h, err := deployed.get()
	if err != nil {
		logging.FromContext(ctx).Log(ctx, logging.LevelCritical, "gkedr cannot start; fix the configuration and redeploy — events are kept for redelivery", "error", err)
		return retry.Transient(fmt.Errorf("set up gkedr: %w", err))
	}
	return fn(h)
}

// BackupTrigger is the deployed BackupTrigger entry point; see Handlers.BackupTrigger.
func BackupTrigger(ctx context.Context, e cloudevents.Event) error {
	return withDeployed(ctx, func(h *Handlers) error { return h.BackupTrigger(ctx, e) })
}

// RestoreOnBackup is the deployed RestoreOnBackup entry point; see Handlers.RestoreOnBackup.
func RestoreOnBackup(ctx context.Context, e cloudevents.Event) error {
	return withDeployed(ctx, func(h *Handlers) error { return h.RestoreOnBackup(ctx, e) })
}

// VerifyRestore is the deployed VerifyRestore entry point; see Handlers.VerifyRestore.
func VerifyRestore(ctx context.Context, e cloudevents.Event) error {
	return withDeployed(ctx, func(h *Handlers) error { return h.VerifyRestore(ctx, e) })
}
