// Package logging writes log/slog records as the structured JSON that Cloud Logging understands,
// carries the logger in the context, and keeps secrets out of every line.
//
// On Cloud Run functions a JSON line on stdout or stderr becomes a LogEntry: "severity" and "message"
// set the entry's severity and text, "logging.googleapis.com/sourceLocation", ".../trace",
// ".../spanId", ".../trace_sampled" and ".../labels" fill the entry's fields of those names, and every
// other key lands in jsonPayload. Attribute keys are normalised to snake_case so that log queries and
// log-based metrics can rely on one spelling (backup_plan, standby_cluster).
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Cloud Logging severities that slog lacks. slog's Debug (-4), Info (0), Warn (4) and Error (8) map
// to DEBUG, INFO, WARNING and ERROR; these fill the gaps between and above them.
const (
	LevelNotice    = slog.Level(2)
	LevelCritical  = slog.Level(12)
	LevelAlert     = slog.Level(16)
	LevelEmergency = slog.Level(20)
)

// Keys of the LogEntry fields that Cloud Logging lifts out of a structured log line. They are written
// verbatim: never snake_cased, never redacted.
const (
	KeySeverity       = "severity"
	KeyMessage        = "message"
	KeyTime           = "time"
	KeySourceLocation = "logging.googleapis.com/sourceLocation"
	KeyTrace          = "logging.googleapis.com/trace"
	KeySpanID         = "logging.googleapis.com/spanId"
	KeyTraceSampled   = "logging.googleapis.com/trace_sampled"
	KeyLabels         = "logging.googleapis.com/labels"
)

// specialPrefix marks every Cloud Logging special key; such keys are left as they are.
const specialPrefix = "logging.googleapis.com/"

// Severity returns the Cloud Logging severity name of level: the highest severity whose slog level
// is at or below it, so that e.g. slog.LevelWarn+1 is still WARNING.
func Severity(level slog.Level) string {
	switch {
	case level < slog.LevelInfo:
		return "DEBUG"
	case level < LevelNotice:
		return "INFO"
	case level < slog.LevelWarn:
		return "NOTICE"
	case level < slog.LevelError:
		return "WARNING"
	case level < LevelCritical:
		return "ERROR"
	case level < LevelAlert:
		return "CRITICAL"
	case level < LevelEmergency:
		return "ALERT"
	default:
		return "EMERGENCY"
	}
}

type options struct {
	level slog.Leveler
}

// Option configures New.
type Option func(*options)

// WithLevel sets the minimum level logged; the default is slog.LevelInfo.
func WithLevel(l slog.Leveler) Option {
	return func(o *options) { o.level = l }
}

// New returns a logger that writes one Cloud Logging JSON object per line to w, with the source
// location of the call, snake_case attribute keys and secrets redacted (see RegisterSecret).
func New(w io.Writer, opts ...Option) *slog.Logger {
	o := options{level: slog.LevelInfo}
	for _, opt := range opts {
		opt(&o)
	}
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{
		AddSource:   true,
		Level:       o.level,
		ReplaceAttr: replaceBuiltin,
	})
	return slog.New(&handler{inner: inner})
}

// replaceBuiltin renames slog's built-in keys to Cloud Logging's. User attributes were already
// normalised by handler, so only the four built-ins need work here.
func replaceBuiltin(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(KeySeverity, Severity(l))
		}
	case slog.MessageKey:
		return slog.Attr{Key: KeyMessage, Value: a.Value}
	case slog.SourceKey:
		if src, ok := a.Value.Any().(*slog.Source); ok {
			// Note that a record without a PC (a hand-built record) has an empty Source: drop it
			// rather than send Cloud Logging a location of line 0.
			if src.File == "" {
				return slog.Attr{}
			}
			return slog.Any(KeySourceLocation, src)
		}
	}
	return a
}

// handler normalises and redacts every attribute and the message, then hands the record to the JSON
// handler. It does the work itself rather than in ReplaceAttr because slog never passes group keys
// to ReplaceAttr, and group keys need snake_case and key-based redaction as much as leaf keys do.
type handler struct {
	inner slog.Handler
	// redactAll is set below a group whose own key is sensitive (WithGroup("webhook")).
	redactAll bool
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.clean(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cleaned := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cleaned[i] = h.clean(a)
	}
	return &handler{inner: h.inner.WithAttrs(cleaned), redactAll: h.redactAll}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{inner: h.inner.WithGroup(normalizeKey(name)), redactAll: h.redactAll || sensitiveKey(name)}
}

func (h *handler) clean(a slog.Attr) slog.Attr {
	a = cleanAttr(a)
	if h.redactAll && a.Key != "" {
		return slog.String(a.Key, redacted)
	}
	return a
}

// WithContext returns a copy of ctx that carries l, for FromContext.
func WithContext(ctx context.Context, l *slog.Logger) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, loggerKey{}, l)
}

type loggerKey struct{}

// defaultLogger is built on first use so that importing the package writes nothing and costs nothing.
var defaultLogger = sync.OnceValue(func() *slog.Logger { return New(os.Stderr) })

// FromContext returns the logger that WithContext stored in ctx, or else a logger to stderr with the
// same format. It never returns nil, so handlers can log before (or without) ForEvent.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return defaultLogger()
}

// ForEvent returns a copy of ctx whose logger adds the fields that tie every line of one invocation
// together in the Logs Explorer: the trace and span of the W3C traceparent (when projectID is known and
// traceparent is valid) and the execution_id label (when executionID is not empty).
func ForEvent(ctx context.Context, projectID, traceparent, executionID string) context.Context {
	var attrs []any
	if tc, ok := parseTraceparent(traceparent); ok && projectID != "" {
		attrs = append(attrs,
			slog.String(KeyTrace, "projects/"+projectID+"/traces/"+tc.traceID),
			slog.String(KeySpanID, tc.spanID),
			slog.Bool(KeyTraceSampled, tc.sampled),
		)
	}
	if executionID != "" {
		attrs = append(attrs, slog.Group(KeyLabels, slog.String("execution_id", executionID)))
	}
	if len(attrs) == 0 {
		return ctx
	}
	return WithContext(ctx, FromContext(ctx).With(attrs...))
}

type traceContext struct {
	traceID, spanID string
	sampled         bool
}

// parseTraceparent reads a W3C trace context header, version-traceid-parentid-flags. Note that
// versions other than 00 are accepted (the spec asks readers to parse the known prefix of future
// versions), but the invalid version ff and all-zero ids are not.
func parseTraceparent(s string) (traceContext, bool) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) < 4 || (parts[0] == "00" && len(parts) != 4) {
		return traceContext{}, false
	}
	version, traceID, spanID, flags := parts[0], parts[1], parts[2], parts[3]
	if !isLowerHex(version, 2) || version == "ff" || !isLowerHex(traceID, 32) || !isLowerHex(spanID, 16) || !isLowerHex(flags, 2) {
		return traceContext{}, false
	}
	if strings.Trim(traceID, "0") == "" || strings.Trim(spanID, "0") == "" {
		return traceContext{}, false
	}
	sampled := (hexValue(flags[1]) & 1) == 1
	return traceContext{traceID: traceID, spanID: spanID, sampled: sampled}, true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if hexValue(s[i]) < 0 {
			return false
		}
	}
	return true
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// Notice logs at NOTICE (slog has no such method) with the logger of ctx: for events an operator
// should see but need not act on, such as a backup started or a restore created.
func Notice(ctx context.Context, msg string, args ...any) {
	l := FromContext(ctx)
	if !l.Enabled(ctx, LevelNotice) {
		return
	}
	// Note that slog.Logger.Log would record this function as the source location; take the caller's
	// PC instead, as the slog documentation shows for wrappers.
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:])
	r := slog.NewRecord(time.Now(), LevelNotice, msg, pcs[0])
	r.Add(args...)
	_ = l.Handler().Handle(ctx, r)
}
