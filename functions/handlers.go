// Package functions holds gkedr's Cloud Functions entry points as thin adapters.
//
// Every handler follows the same four steps — decode the CloudEvent, validate the payload, call one
// service in internal/, classify the error — and owns no API client, business rule or environment
// lookup. The root package gkedr registers the package-level entry points; tests and the local stack
// bind a Handlers value to their own services and serve it with funcframework.
package functions

import (
	"context"
	"log/slog"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"

	"github.com/gkedr/gkedr/internal/backup"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/verify"
)

// BackupStarter takes the backup a request asks for.
type BackupStarter interface {
	Start(ctx context.Context, req events.Request) (backup.Result, error)
}

// RestoreRunner restores succeeded backups into standbys.
type RestoreRunner interface {
	OnBackup(ctx context.Context, b *gkebackuppb.Backup) (restore.Result, error)
	Migrate(ctx context.Context, req events.Request) (restore.Result, error)
	Sweep(ctx context.Context, req events.Request) (restore.Result, error)
}

// Verifier verifies finished restores and reports refusals.
type Verifier interface {
	OnRestore(ctx context.Context, r *gkebackuppb.Restore) (verify.Result, error)
	OnRefusal(ctx context.Context, r report.Report) (verify.Result, error)
	Sweep(ctx context.Context, req events.Request) (verify.Result, error)
}

// Deps are what the handlers call.
type Deps struct {
	Backups  BackupStarter
	Restores RestoreRunner
	Verifier Verifier
	// ProjectID qualifies trace ids in logs (projects/P/traces/T).
	ProjectID string
	// MaxEventAge drops events older than this: they were retried for too long, and acting on
	// them now could restore a stale backup over a newer one.
	MaxEventAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger is the base logger of every invocation; nil means logging's default (JSON to stderr).
	Logger *slog.Logger
}

// Handlers are the three entry points bound to one deployment's services.
type Handlers struct {
	d Deps
}

// New returns Handlers over d.
func New(d Deps) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = logging.FromContext(context.Background())
	}
	return &Handlers{d: d}
}
