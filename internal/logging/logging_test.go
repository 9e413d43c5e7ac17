package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testLogger returns a logger writing to a buffer, and a function that parses every line written so
// far, failing the test unless each one is a JSON object with a severity and a message.
func testLogger(t *testing.T, opts ...Option) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	return New(&buf, opts...), func() []map[string]any {
		t.Helper()
		return parseLines(t, buf.String())
	}
}

func parseLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		for _, k := range []string{KeySeverity, KeyMessage, KeyTime} {
			if _, ok := m[k].(string); !ok {
				t.Fatalf("line %d has no string %q: %s", i+1, k, line)
			}
		}
		lines = append(lines, m)
	}
	return lines
}

func TestSeverity(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name  string
		level slog.Level
		want  string
	}{
		{name: "below_debug", level: -8, want: "DEBUG"},
		{name: "debug", level: slog.LevelDebug, want: "DEBUG"},
		{name: "info", level: slog.LevelInfo, want: "INFO"},
		{name: "notice", level: LevelNotice, want: "NOTICE"},
		{name: "warn", level: slog.LevelWarn, want: "WARNING"},
		{name: "between_warn_and_error", level: slog.LevelWarn + 1, want: "WARNING"},
		{name: "error", level: slog.LevelError, want: "ERROR"},
		{name: "critical", level: LevelCritical, want: "CRITICAL"},
		{name: "alert", level: LevelAlert, want: "ALERT"},
		{name: "emergency", level: LevelEmergency, want: "EMERGENCY"},
		{name: "above_emergency", level: 100, want: "EMERGENCY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Severity(tc.level); got != tc.want {
				t.Errorf("Severity(%d) = %q, want %q", tc.level, got, tc.want)
			}
		})
	}
}

func TestNewWritesCloudLoggingFields(t *testing.T) {
	t.Parallel()

	l, lines := testLogger(t, WithLevel(slog.LevelDebug))
	levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, LevelNotice, slog.LevelWarn, slog.LevelError,
		LevelCritical, LevelAlert, LevelEmergency}
	for _, lv := range levels {
		l.Log(t.Context(), lv, "restore created", "restore", "r1")
	}

	got := lines()
	if len(got) != len(levels) {
		t.Fatalf("got %d lines, want %d", len(got), len(levels))
	}
	for i, m := range got {
		if diff := cmp.Diff(Severity(levels[i]), m[KeySeverity]); diff != "" {
			t.Errorf("line %d severity (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff("restore created", m[KeyMessage]); diff != "" {
			t.Errorf("line %d message (-want +got):\n%s", i, diff)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[KeyTime].(string)); err != nil {
			t.Errorf("line %d time: %v", i, err)
		}
		for _, k := range []string{slog.LevelKey, slog.MessageKey, slog.SourceKey} {
			if _, ok := m[k]; ok {
				t.Errorf("line %d has slog key %q, want it renamed", i, k)
			}
		}
		checkSource(t, m, "TestNewWritesCloudLoggingFields")
	}
}

// checkSource fails unless the line's source location points into this test file and function.
func checkSource(t *testing.T, m map[string]any, function string) {
	t.Helper()
	src, ok := m[KeySourceLocation].(map[string]any)
	if !ok {
		t.Fatalf("no %s in %v", KeySourceLocation, m)
	}
	if file, _ := src["file"].(string); !strings.HasSuffix(file, "logging_test.go") {
		t.Errorf("source file = %q, want logging_test.go", file)
	}
	if line, _ := src["line"].(float64); line <= 0 {
		t.Errorf("source line = %v, want > 0", src["line"])
	}
	if fn, _ := src["function"].(string); !strings.Contains(fn, function) {
		t.Errorf("source function = %q, want it to contain %q", fn, function)
	}
}

func TestLevelFilter(t *testing.T) {
	t.Parallel()

	l, lines := testLogger(t, WithLevel(slog.LevelWarn))
	ctx := WithContext(t.Context(), l)
	l.Info("dropped")
	Notice(ctx, "dropped too")
	l.Warn("kept")

	got := lines()
	if len(got) != 1 || got[0][KeyMessage] != "kept" {
		t.Errorf("lines = %v, want only the WARNING line", got)
	}
}

func TestNotice(t *testing.T) {
	t.Parallel()

	l, lines := testLogger(t)
	ctx := WithContext(t.Context(), l)
	Notice(ctx, "backup started", "backupPlan", "bp-gke01")

	got := lines()
	if len(got) != 1 {
		t.Fatalf("got %d lines, want 1", len(got))
	}
	want := map[string]any{KeySeverity: "NOTICE", KeyMessage: "backup started", "backup_plan": "bp-gke01"}
	for k, v := range want {
		if diff := cmp.Diff(v, got[0][k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	// The source is the caller of Notice, not Notice itself.
	checkSource(t, got[0], "TestNotice")
}

func TestContextLogger(t *testing.T) {
	t.Parallel()

	if FromContext(t.Context()) == nil {
		t.Fatal("FromContext without a logger = nil, want the default logger")
	}
	if ctx := WithContext(t.Context(), nil); FromContext(ctx) == nil {
		t.Fatal("FromContext after WithContext(nil) = nil, want the default logger")
	}
	l, _ := testLogger(t)
	if got := FromContext(WithContext(t.Context(), l)); got != l {
		t.Errorf("FromContext = %p, want the stored logger %p", got, l)
	}
}

func TestForEvent(t *testing.T) {
	t.Parallel()

	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	cases := []struct {
		name        string
		project     string
		traceparent string
		execution   string
		want        map[string]any // the Cloud Logging keys expected on the line; others must be absent
	}{
		{name: "sampled", project: "my-project", traceparent: "00-" + traceID + "-" + spanID + "-01", execution: "exec-1",
			want: map[string]any{
				KeyTrace:        "projects/my-project/traces/" + traceID,
				KeySpanID:       spanID,
				KeyTraceSampled: true,
				KeyLabels:       map[string]any{"execution_id": "exec-1"},
			}},
		{name: "not_sampled", project: "p", traceparent: "00-" + traceID + "-" + spanID + "-00",
			want: map[string]any{KeyTrace: "projects/p/traces/" + traceID, KeySpanID: spanID, KeyTraceSampled: false}},
		{name: "future_version_with_extra_field", project: "p", traceparent: "01-" + traceID + "-" + spanID + "-03-extra",
			want: map[string]any{KeyTrace: "projects/p/traces/" + traceID, KeySpanID: spanID, KeyTraceSampled: true}},
		{name: "no_project_no_trace", traceparent: "00-" + traceID + "-" + spanID + "-01", execution: "e",
			want: map[string]any{KeyLabels: map[string]any{"execution_id": "e"}}},
		{name: "empty_traceparent", project: "p", execution: "e",
			want: map[string]any{KeyLabels: map[string]any{"execution_id": "e"}}},
		{name: "all_zero_trace_id", project: "p", traceparent: "00-" + strings.Repeat("0", 32) + "-" + spanID + "-01", want: map[string]any{}},
		{name: "all_zero_span_id", project: "p", traceparent: "00-" + traceID + "-" + strings.Repeat("0", 16) + "-01", want: map[string]any{}},
		{name: "invalid_version_ff", project: "p", traceparent: "ff-" + traceID + "-" + spanID + "-01", want: map[string]any{}},
		{name: "upper_case_hex", project: "p", traceparent: "00-" + strings.ToUpper(traceID) + "-" + spanID + "-01", want: map[string]any{}},
		{name: "short_trace_id", project: "p", traceparent: "00-abc-" + spanID + "-01", want: map[string]any{}},
		{name: "version_00_extra_field", project: "p", traceparent: "00-" + traceID + "-" + spanID + "-01-x", want: map[string]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, lines := testLogger(t)
			ctx := ForEvent(WithContext(t.Context(), l), tc.project, tc.traceparent, tc.execution)
			FromContext(ctx).Info("verify restore")

			got := lines()
			if len(got) != 1 {
				t.Fatalf("got %d lines, want 1", len(got))
			}
			gotKeys := map[string]any{}
			for _, k := range []string{KeyTrace, KeySpanID, KeyTraceSampled, KeyLabels} {
				if v, ok := got[0][k]; ok {
					gotKeys[k] = v
				}
			}
			if diff := cmp.Diff(tc.want, gotKeys); diff != "" {
				t.Errorf("Cloud Logging keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnakeCaseKeys(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		key  string
		want string
	}{
		{name: "already_snake", key: "backup_plan", want: "backup_plan"},
		{name: "camel", key: "backupPlan", want: "backup_plan"},
		{name: "pascal", key: "BackupPlan", want: "backup_plan"},
		{name: "space", key: "standby cluster", want: "standby_cluster"},
		{name: "trailing_acronym", key: "webhookURL", want: "webhook_url"},
		{name: "leading_acronym", key: "HTTPStatus", want: "http_status"},
		{name: "id_suffix", key: "restoreID", want: "restore_id"},
		{name: "kebab", key: "gkedr-kind", want: "gkedr_kind"},
		{name: "digits", key: "gke01Version", want: "gke01_version"},
		{name: "repeated_spaces", key: "  spaced  out  ", want: "spaced_out"},
		{name: "dots", key: "a.b.c", want: "a_b_c"},
		{name: "cloud_logging_key_untouched", key: KeyTrace, want: KeyTrace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := normalizeKey(tc.key); got != tc.want {
				t.Errorf("normalizeKey(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestSnakeCaseKeysInOutput(t *testing.T) {
	t.Parallel()

	l, lines := testLogger(t)
	l.With("requestId", "req-1").WithGroup("restoreConfig").Info("restore plan drift",
		"volumeDataRestorePolicy", "RESTORE_VOLUME_DATA_FROM_BACKUP",
		slog.Group("Standby Cluster", "clusterName", "gke03"))

	got := lines()
	if len(got) != 1 {
		t.Fatalf("got %d lines, want 1", len(got))
	}
	delete(got[0], KeySeverity)
	delete(got[0], KeyMessage)
	delete(got[0], KeyTime)
	delete(got[0], KeySourceLocation)
	want := map[string]any{
		"request_id": "req-1",
		"restore_config": map[string]any{
			"volume_data_restore_policy": "RESTORE_VOLUME_DATA_FROM_BACKUP",
			"standby_cluster":            map[string]any{"cluster_name": "gke03"},
		},
	}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}
