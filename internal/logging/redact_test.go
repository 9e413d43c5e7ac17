package logging

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// uniqueSecret registers and returns a webhook URL that no built-in rule would catch, unique to the
// test: the registry is process-wide and tests run in parallel.
func uniqueSecret(t *testing.T) string {
	t.Helper()
	s := "https://hooks.example.test/notify/" + rand.Text()
	RegisterSecret(s)
	return s
}

type webhookTarget struct {
	Name   string
	Target string
}

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("sink at " + v.s) }

func TestRegisteredSecretNeverLogged(t *testing.T) {
	t.Parallel()

	secret := uniqueSecret(t)
	urlErr := &url.Error{Op: "Post", URL: secret, Err: errors.New("connection refused")}
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{name: "message", log: func(l *slog.Logger) { l.Error("post to " + secret + " failed") }},
		{name: "string_attribute", log: func(l *slog.Logger) { l.Info("posting", "detail", "target "+secret) }},
		{name: "nested_group", log: func(l *slog.Logger) {
			l.Info("posting", slog.Group("notify", slog.Group("sink", "target", secret)))
		}},
		{name: "wrapped_error", log: func(l *slog.Logger) {
			l.Error("notify failed", "err", fmt.Errorf("notify googlechat: %w", fmt.Errorf("post: %w", urlErr)))
		}},
		{name: "joined_error", log: func(l *slog.Logger) {
			l.Error("notify failed", "error", errors.Join(errors.New("slack ok"), urlErr))
		}},
		{name: "with_attrs", log: func(l *slog.Logger) { l.With("endpoint", secret).Info("posting") }},
		{name: "with_group", log: func(l *slog.Logger) { l.WithGroup("sink").Info("posting", "target", secret) }},
		{name: "struct_value", log: func(l *slog.Logger) {
			l.Info("posting", "sink", webhookTarget{Name: "chat", Target: secret})
		}},
		{name: "map_value", log: func(l *slog.Logger) { l.Info("posting", "sinks", map[string]string{"chat": secret}) }},
		{name: "slice_value", log: func(l *slog.Logger) { l.Info("posting", "targets", []string{secret}) }},
		{name: "log_valuer", log: func(l *slog.Logger) { l.Info("posting", "sink", valuer{s: secret}) }},
		{name: "sensitive_key", log: func(l *slog.Logger) { l.Info("posting", "webhookURL", "anything") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.log(New(&buf))
			out := buf.String()
			parseLines(t, out)
			if strings.Contains(out, secret) {
				t.Errorf("output contains the registered secret:\n%s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Errorf("output has no %s marker:\n%s", redacted, out)
			}
		})
	}
}

func TestRegisterSecretIgnoresShortStrings(t *testing.T) {
	t.Parallel()

	// "gke03" is a cluster name in every line; registering it must not blank them all.
	RegisterSecret("gke03")
	RegisterSecret("   ")
	if got := scrub("restore into gke03"); got != "restore into gke03" {
		t.Errorf("scrub = %q, want the text unchanged", got)
	}
}

func TestRegisterSecretConcurrent(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	l := New(&buf) // the JSON handler serialises writes to buf
	secrets := make([]string, 16)
	var wg sync.WaitGroup
	for i := range secrets {
		secrets[i] = "https://hooks.example.test/concurrent/" + rand.Text()
		wg.Go(func() {
			RegisterSecret(secrets[i])
			l.Info("registered", "target", secrets[i])
		})
	}
	wg.Wait()

	out := buf.String()
	if got := len(parseLines(t, out)); got != len(secrets) {
		t.Fatalf("got %d lines, want %d", got, len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains secret %s", s)
		}
	}
}

func TestScrubBuiltinRules(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain_text", in: "restore gke03 SUCCEEDED", want: "restore gke03 SUCCEEDED"},
		{name: "slack_webhook", in: `Post "https://hooks.slack.com/services/T0001/B0002/abcdefXYZ": 404`,
			want: `Post "https://hooks.slack.com/services/[REDACTED]": 404`},
		{name: "slack_webhook_unquoted", in: "post https://hooks.slack.com/services/T0001/B0002/abcdefXYZ: 404",
			want: "post https://hooks.slack.com/services/[REDACTED]: 404"},
		{name: "chat_webhook", in: `Post "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=AIzaK&token=tok%3D": EOF`,
			want: `Post "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?[REDACTED]": EOF`},
		{name: "query_key", in: "GET https://example.test/x?key=abc123&page=2",
			want: "GET https://example.test/x?key=[REDACTED]&page=2"},
		{name: "query_access_token", in: "https://example.test/x?a=1&access_token=ya29.abc",
			want: "https://example.test/x?a=1&access_token=[REDACTED]"},
		{name: "query_sig", in: "https://storage.example.test/o?sig=AbC%2Bd&se=2026", want: "https://storage.example.test/o?sig=[REDACTED]&se=2026"},
		{name: "signed_url", in: "https://storage.example.test/o?X-Goog-Signature=deadbeef",
			want: "https://storage.example.test/o?X-Goog-Signature=[REDACTED]"},
		{name: "token_in_text", in: "token=abc123 expired", want: "token=[REDACTED] expired"},
		{name: "compound_key_kept", in: "backup_key=bk-1 ordering_key=gke01", want: "backup_key=bk-1 ordering_key=gke01"},
		{name: "word_ending_in_key_kept", in: "monkey=banana", want: "monkey=banana"},
		{name: "url_userinfo", in: "clone https://user:pa55w0rd@git.example.test/repo",
			want: "clone https://[REDACTED]@git.example.test/repo"},
		{name: "bearer_header", in: "Authorization: Bearer ya29.a0AfH6SMBx", want: "Authorization: Bearer [REDACTED]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, scrub(tc.in)); diff != "" {
				t.Errorf("scrub(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSensitiveKey(t *testing.T) {
	t.Parallel()

	cases := []struct {
		key  string
		want bool
	}{
		{key: "webhook_url", want: true},
		{key: "webhookURL", want: true},
		{key: "slack_webhook", want: true},
		{key: "url", want: true},
		{key: "target_uri", want: true},
		{key: "token", want: true},
		{key: "accessToken", want: true},
		{key: "client_secret", want: true},
		{key: "password", want: true},
		{key: "key", want: true},
		{key: "api_key", want: true},
		{key: "accessKey", want: true},
		{key: "signing_key_material", want: true},
		{key: "authorization", want: true},
		{key: "backup_key", want: false},
		{key: "ordering_key", want: false},
		{key: "threadKey", want: false},
		{key: "console_url", want: false},
		{key: "probe_url", want: false},
		{key: "webhook_url_env", want: false},
		{key: "webhookURLEnv", want: false},
		{key: "secret_name", want: false},
		{key: "token_count", want: false},
		{key: "backup_plan", want: false},
		{key: "standby_cluster", want: false},
		{key: "monkey", want: false},
		{key: "keystone", want: false},
	}
	for _, tc := range cases {
		t.Run(toSnake(tc.key), func(t *testing.T) {
			t.Parallel()
			if got := sensitiveKey(tc.key); got != tc.want {
				t.Errorf("sensitiveKey(%q) = %t, want %t", tc.key, got, tc.want)
			}
		})
	}
}

func TestSensitiveKeysRedactedInOutput(t *testing.T) {
	t.Parallel()

	l, lines := testLogger(t)
	l.WithGroup("webhook").Info("notify", "target", "chat", "attempt", 2)
	l.Info("notify",
		"webhookURL", "https://example.test/hook",
		"backup_key", "bk-1",
		"probe_url", "http://frontend.example/?key=abc",
		slog.Group("slackToken", "value", "xoxb-1"),
		"sink", map[string]any{"name": "chat", "webhookUrl": "https://example.test/hook", "threadKey": "t1"},
	)

	got := lines()
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	want := []map[string]any{
		{"webhook": map[string]any{"target": redacted, "attempt": redacted}},
		{
			"webhook_url": redacted,
			"backup_key":  "bk-1",
			"probe_url":   "http://frontend.example/?key=" + redacted,
			"slack_token": redacted,
			"sink":        map[string]any{"name": "chat", "webhookUrl": redacted, "threadKey": "t1"},
		},
	}
	for i := range got {
		for _, k := range []string{KeySeverity, KeyMessage, KeyTime, KeySourceLocation} {
			delete(got[i], k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
