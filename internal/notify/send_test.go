package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// fastPolicy keeps every backoff (and every capped Retry-After) in microseconds to a millisecond.
var fastPolicy = retry.Policy{Initial: time.Microsecond, Max: time.Millisecond, Multiplier: 2, Attempts: 5}

// step is one scripted answer of a test endpoint; the last step repeats forever.
type step struct {
	status     int
	retryAfter string
	body       string
}

// request is what a test endpoint received.
type request struct {
	path, rawQuery, contentType string
	body                        []byte
}

// endpoint is a scripted webhook on 127.0.0.1 that records every request.
type endpoint struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []request
	steps []step
}

func newEndpoint(t *testing.T, steps ...step) *endpoint {
	t.Helper()
	e := &endpoint{steps: steps}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, request{path: r.URL.Path, rawQuery: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), body: b})
		s := e.steps[min(len(e.reqs), len(e.steps))-1]
		e.mu.Unlock()
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]request(nil), e.reqs...)
}

// hangingEndpoint never answers; it returns once the client gives up or the test ends.
func hangingEndpoint(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	// Note that cleanups run last-in first-out: the handler is released before Close waits for it.
	t.Cleanup(func() { close(done) })
	return srv
}

// logCapture is a context whose logger writes Cloud Logging JSON lines into a buffer.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// lines decodes every captured log line.
func (c *logCapture) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(c.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// errorLines returns the captured lines at severity ERROR.
func (c *logCapture) errorLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range c.lines(t) {
		if m["severity"] == "ERROR" {
			out = append(out, m)
		}
	}
	return out
}

func captureLogs(t *testing.T) (context.Context, *logCapture) {
	t.Helper()
	c := &logCapture{}
	return logging.WithContext(t.Context(), logging.New(c, logging.WithLevel(slog.LevelDebug))), c
}

func newTestSender(t *testing.T, channels []Channel, opts ...Option) *Sender {
	t.Helper()
	s, err := NewSender(channels, nil, append([]Option{WithRetryPolicy(fastPolicy)}, opts...)...)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// deliveryView is the comparable part of a Delivery.
type deliveryView struct {
	Channel   string
	Delivered bool
	Attempts  int
	Status    int
}

func view(d Delivery) deliveryView {
	return deliveryView{Channel: d.Channel, Delivered: d.Delivered, Attempts: d.Attempts, Status: d.Status}
}

func TestSend_retries(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name        string
		steps       []step
		want        deliveryView
		wantErrIs   error
		wantErrLogs int
		wantExcerpt string
	}{
		{
			name:  "throttled_retry_after_0_then_ok",
			steps: []step{{status: 429, retryAfter: "0"}, {status: 200}},
			want:  deliveryView{Channel: TypeWebhook, Delivered: true, Attempts: 2, Status: 200},
		},
		{
			name:  "throttled_retry_after_1_capped_then_ok",
			steps: []step{{status: 429, retryAfter: "1"}, {status: 200}},
			want:  deliveryView{Channel: TypeWebhook, Delivered: true, Attempts: 2, Status: 200},
		},
		{
			name:  "unavailable_retry_after_date_capped_then_ok",
			steps: []step{{status: 503, retryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, {status: 204}},
			want:  deliveryView{Channel: TypeWebhook, Delivered: true, Attempts: 2, Status: 204},
		},
		{
			name:        "server_error_forever_gives_up",
			steps:       []step{{status: 500, body: "internal error"}},
			want:        deliveryView{Channel: TypeWebhook, Attempts: fastPolicy.Attempts, Status: 500},
			wantErrLogs: 1,
			wantExcerpt: "internal error",
		},
		{
			name:        "bad_request_not_retried",
			steps:       []step{{status: 400, body: "Invalid JSON payload received.\n Unknown name \"cardsV3\""}},
			want:        deliveryView{Channel: TypeWebhook, Attempts: 1, Status: 400},
			wantErrIs:   ErrRejected,
			wantErrLogs: 1,
			wantExcerpt: `Invalid JSON payload received. Unknown name "cardsV3"`,
		},
		{
			name:        "not_found_not_retried",
			steps:       []step{{status: 404, body: "no such hook"}},
			want:        deliveryView{Channel: TypeWebhook, Attempts: 1, Status: 404},
			wantErrIs:   ErrRejected,
			wantErrLogs: 1,
			wantExcerpt: "no such hook",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, logs := captureLogs(t)
			e := newEndpoint(t, tc.steps...)
			hook := e.srv.URL + "/hooks/" + strings.Repeat("s3cr3t", 4)
			s := newTestSender(t, []Channel{{Type: TypeWebhook, URL: hook}})

			ds := s.Send(ctx, loadReport(t, "pass"))
			if len(ds) != 1 {
				t.Fatalf("got %d deliveries, want 1", len(ds))
			}
			d := ds[0]
			if diff := cmp.Diff(tc.want, view(d)); diff != "" {
				t.Errorf("delivery (-want +got):\n%s", diff)
			}
			if got := len(e.requests()); got != tc.want.Attempts {
				t.Errorf("endpoint got %d requests, want %d", got, tc.want.Attempts)
			}
			if tc.want.Delivered != (d.Err == nil) {
				t.Errorf("Delivered = %v but Err = %v", d.Delivered, d.Err)
			}
			if tc.wantErrIs != nil && !errors.Is(d.Err, tc.wantErrIs) {
				t.Errorf("Err = %v, want errors.Is %v", d.Err, tc.wantErrIs)
			}
			errLines := logs.errorLines(t)
			if len(errLines) != tc.wantErrLogs {
				t.Fatalf("got %d ERROR lines, want %d:\n%s", len(errLines), tc.wantErrLogs, logs)
			}
			if tc.wantErrLogs > 0 {
				if got := errLines[0]["response"]; got != tc.wantExcerpt {
					t.Errorf("logged response = %q, want %q", got, tc.wantExcerpt)
				}
				if got, want := errLines[0]["status"], float64(tc.want.Status); got != want {
					t.Errorf("logged status = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestSend_bounded(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name        string
		opts        []Option
		ctxTimeout  time.Duration
		wantErrIs   error
		wantAtMost  int
		closeServer bool
	}{
		// Each attempt gets a third of the send's timeout, so a hanging sink is tried again.
		{name: "slow_server_sender_timeout", opts: []Option{WithTimeout(100 * time.Millisecond)}, wantErrIs: context.DeadlineExceeded, wantAtMost: attemptShare + 1},
		{name: "slow_server_caller_deadline", ctxTimeout: 100 * time.Millisecond, wantErrIs: context.DeadlineExceeded, wantAtMost: 1},
		{name: "connection_refused_gives_up", closeServer: true, wantAtMost: fastPolicy.Attempts},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, logs := captureLogs(t)
			srv := hangingEndpoint(t)
			hook := srv.URL + "/hook?token=" + strings.Repeat("t0k", 4)
			if tc.closeServer {
				srv.Close()
			}
			s := newTestSender(t, []Channel{{Type: TypeWebhook, URL: hook}}, tc.opts...)
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}

			start := time.Now()
			d := s.Send(ctx, loadReport(t, "fail"))[0]
			// Note that the bound is generous for a loaded machine; a Send that blocked on the
			// server would never return at all.
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("Send took %s", el)
			}
			if d.Delivered || d.Err == nil {
				t.Fatalf("delivery = %+v, want a failure", d)
			}
			if d.Attempts < 1 || d.Attempts > tc.wantAtMost {
				t.Errorf("Attempts = %d, want 1..%d", d.Attempts, tc.wantAtMost)
			}
			if tc.closeServer && d.Attempts != fastPolicy.Attempts {
				t.Errorf("Attempts = %d, want %d (network errors are retried)", d.Attempts, fastPolicy.Attempts)
			}
			if tc.wantErrIs != nil && !errors.Is(d.Err, tc.wantErrIs) {
				t.Errorf("Err = %v, want errors.Is %v", d.Err, tc.wantErrIs)
			}
			if strings.Contains(d.Err.Error(), srv.URL) || strings.Contains(d.Err.Error(), "t0k") {
				t.Errorf("Err quotes the webhook URL: %v", d.Err)
			}
			if n := len(logs.errorLines(t)); n != 1 {
				t.Errorf("got %d ERROR lines, want 1:\n%s", n, logs)
			}
		})
	}
}

func TestSend_one_hang_leaves_time_to_retry(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // the first attempt hangs until the client gives up on it
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	t.Cleanup(srv.Close)
	// Note that cleanups run last-in first-out: the handler is released before Close waits for it.
	t.Cleanup(func() { close(release) })
	s := newTestSender(t, []Channel{{Type: TypeWebhook, URL: srv.URL}}, WithTimeout(600*time.Millisecond))
	d := s.Send(t.Context(), loadReport(t, "pass"))[0]
	if !d.Delivered || d.Attempts != 2 {
		t.Errorf("delivery = %+v, want delivered on the second attempt", d)
	}
}

func TestSend_every_channel(t *testing.T) {
	t.Parallel()

	ctx, logs := captureLogs(t)
	chat, slack, hook := newEndpoint(t, step{status: 200}), newEndpoint(t, step{status: 200}), newEndpoint(t, step{status: 202})
	const chatQuery = "key=AIzaSy-test_key1&token=abc%3Ddef%2Bghi"
	channels := []Channel{
		{Type: TypeGoogleChat, URL: chat.srv.URL + "/v1/spaces/AAAAxyz/messages?" + chatQuery},
		{Type: TypeSlack, URL: slack.srv.URL + "/services/T000/B000/" + strings.Repeat("x", 24)},
		{Type: TypeWebhook, URL: hook.srv.URL + "/gkedr/reports"},
	}
	s := newTestSender(t, channels)
	r := loadReport(t, "warn")

	var got []deliveryView
	for _, d := range s.Send(ctx, r) {
		if d.Err != nil {
			t.Errorf("%s: %v", d.Channel, d.Err)
		}
		got = append(got, view(d))
	}
	want := []deliveryView{
		{Channel: TypeGoogleChat, Delivered: true, Attempts: 1, Status: 200},
		{Channel: TypeSlack, Delivered: true, Attempts: 1, Status: 200},
		{Channel: TypeWebhook, Delivered: true, Attempts: 1, Status: 202},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}

	wantChat, _ := RenderChat(r)
	wantSlack, _ := RenderSlack(r)
	wantJSON, _ := RenderJSON(r)
	for _, c := range []struct {
		name      string
		e         *endpoint
		wantQuery string
		wantBody  []byte
	}{
		{name: "googlechat", e: chat, wantQuery: chatQuery + "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", wantBody: wantChat},
		{name: "slack", e: slack, wantBody: wantSlack},
		{name: "webhook", e: hook, wantBody: wantJSON},
	} {
		reqs := c.e.requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: got %d requests, want 1", c.name, len(reqs))
		}
		if reqs[0].rawQuery != c.wantQuery {
			t.Errorf("%s: query = %q, want %q", c.name, reqs[0].rawQuery, c.wantQuery)
		}
		if reqs[0].contentType != "application/json" {
			t.Errorf("%s: Content-Type = %q, want application/json", c.name, reqs[0].contentType)
		}
		if diff := cmp.Diff(string(c.wantBody), string(reqs[0].body)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", c.name, diff)
		}
	}
	if n := len(logs.errorLines(t)); n != 0 {
		t.Errorf("got %d ERROR lines, want none:\n%s", n, logs)
	}
}

func TestSend_never_logs_webhook_url(t *testing.T) {
	t.Parallel()

	ctx, logs := captureLogs(t)
	const token = "tok-9f8e7d6c5b4a"
	failing := newEndpoint(t, step{status: 500, body: "boom"})
	rejecting := newEndpoint(t, step{status: 403, body: "forbidden"})
	refused := hangingEndpoint(t)
	refusedURL := refused.URL + "/v1/spaces/BBBB/messages?key=k-123456789&token=" + token
	refused.Close()
	urls := []string{
		failing.srv.URL + "/hook?token=" + token,
		rejecting.srv.URL + "/services/T1/B1/" + token + "abcdefgh",
		refusedURL,
	}
	s := newTestSender(t, []Channel{
		{Type: TypeWebhook, URL: urls[0]},
		{Type: TypeSlack, URL: urls[1]},
		{Type: TypeGoogleChat, URL: urls[2]},
	})

	for _, d := range s.Send(ctx, loadReport(t, "pending")) {
		if d.Delivered {
			t.Errorf("%s delivered, want a failure", d.Channel)
		}
		if strings.Contains(d.Err.Error(), token) {
			t.Errorf("%s: Err quotes the webhook URL: %v", d.Channel, d.Err)
		}
	}
	out := logs.String()
	if n := len(logs.errorLines(t)); n != 3 {
		t.Errorf("got %d ERROR lines, want 3:\n%s", n, out)
	}
	for _, u := range urls {
		if strings.Contains(out, u) {
			t.Errorf("log contains webhook URL %q:\n%s", u, out)
		}
	}
	if strings.Contains(out, token) {
		t.Errorf("log contains the webhook token:\n%s", out)
	}
}

func TestSend_refuses_body_with_secret(t *testing.T) {
	t.Parallel()

	ctx, logs := captureLogs(t)
	e := newEndpoint(t, step{status: 200})
	const token = "leaked-token-0123456789"
	s := newTestSender(t, []Channel{{Type: TypeSlack, URL: e.srv.URL + "/hook?token=" + token}})
	r := loadReport(t, "fail")
	r.Findings = append(r.Findings, report.Finding{Severity: report.Fail, Message: "webhook rejected token " + token})

	d := s.Send(ctx, r)[0]
	if diff := cmp.Diff(deliveryView{Channel: TypeSlack}, view(d)); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}
	if !errors.Is(d.Err, ErrSecretInBody) {
		t.Errorf("Err = %v, want ErrSecretInBody", d.Err)
	}
	if n := len(e.requests()); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
	if n := len(logs.errorLines(t)); n != 1 {
		t.Errorf("got %d ERROR lines, want 1:\n%s", n, logs)
	}
}

func TestNewSender_invalid(t *testing.T) {
	t.Parallel()

	const secret = "sekrit-path-0123456789"
	cases := []struct {
		name     string
		channels []Channel
		wantErr  []string
	}{
		{name: "unknown_type", channels: []Channel{{Type: "teams", URL: "https://127.0.0.1/" + secret}}, wantErr: []string{"channel 0 (teams)", "unknown type"}},
		{name: "relative_url", channels: []Channel{{Type: TypeSlack, URL: "/" + secret}}, wantErr: []string{"channel 0 (slack)", "absolute http(s) URL"}},
		{name: "other_scheme", channels: []Channel{{Type: TypeWebhook, URL: "ftp://127.0.0.1/" + secret}}, wantErr: []string{"channel 0 (webhook)"}},
		{name: "unparsable", channels: []Channel{{Type: TypeGoogleChat, URL: "http://[::1/" + secret}}, wantErr: []string{"channel 0 (googlechat)"}},
		{
			name: "every_problem_reported",
			channels: []Channel{
				{Type: TypeWebhook, URL: "http://127.0.0.1:1/ok"},
				{Type: "", URL: "http://127.0.0.1:1/" + secret},
				{Type: TypeSlack, URL: ""},
			},
			wantErr: []string{"channel 1 ()", "channel 2 (slack)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSender(tc.channels, nil)
			if !errors.Is(err, ErrInvalidChannel) {
				t.Fatalf("err = %v, want ErrInvalidChannel", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err quotes the URL: %v", err)
			}
		})
	}
}

func TestSend_no_channels(t *testing.T) {
	t.Parallel()

	s, err := NewSender(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds := s.Send(t.Context(), loadReport(t, "pass")); len(ds) != 0 {
		t.Errorf("got %d deliveries, want none", len(ds))
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2024, 5, 1, 6, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{name: "absent", in: "", wantOK: false},
		{name: "zero", in: "0", want: 0, wantOK: true},
		{name: "seconds", in: " 12 ", want: 12 * time.Second, wantOK: true},
		{name: "huge_seconds_clamped", in: "99999999999999", want: 24 * time.Hour, wantOK: true},
		{name: "negative", in: "-3", wantOK: false},
		{name: "http_date", in: "Wed, 01 May 2024 06:00:30 GMT", want: 30 * time.Second, wantOK: true},
		{name: "http_date_past", in: "Wed, 01 May 2024 05:00:00 GMT", want: 0, wantOK: true},
		{name: "garbage", in: "soon", wantOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestReadExcerpt(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "collapses_whitespace", in: "{\n  \"error\": \"bad\"\n}\n", want: `{ "error": "bad" }`},
		{name: "truncates", in: strings.Repeat("a", 2000), want: strings.Repeat("a", excerptLimit) + "…"},
		{name: "drops_split_rune", in: strings.Repeat("a", excerptLimit-1) + "é" + strings.Repeat("b", 10), want: strings.Repeat("a", excerptLimit-1) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := readExcerpt(strings.NewReader(tc.in)); got != tc.want {
				t.Errorf("readExcerpt = %q, want %q", got, tc.want)
			}
		})
	}
}
