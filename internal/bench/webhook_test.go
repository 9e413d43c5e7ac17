package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// behavior is how the chaos endpoint answers one POST.
type behavior string

const (
	answerOK          behavior = "ok"
	answerThrottled   behavior = "429_retry_after_0"
	answerThrottledNH behavior = "429"
	answerError       behavior = "500"
	answerBadGateway  behavior = "502"
	answerUnavailable behavior = "503_retry_after_1"
	answerHang        behavior = "hang"        // no answer until the sender gives up
	answerSlowOK      behavior = "slow_ok"     // 200, then a body slower than the sender waits
	answerSlowError   behavior = "slow_503"    // 503, then a body slower than the sender waits
	answerRejected    behavior = "400_revoked" // a permanent rejection
)

var allBehaviors = []behavior{answerOK, answerThrottled, answerThrottledNH, answerError, answerBadGateway,
	answerUnavailable, answerHang, answerSlowOK, answerSlowError, answerRejected}

// chaosEndpoint answers each channel's POSTs by its script (the last step repeats) and counts
// the posts it accepted: a 2xx status written and flushed to the sender.
type chaosEndpoint struct {
	srv    *httptest.Server
	script []behavior

	mu       sync.Mutex
	requests map[string]int
	accepted map[string]int
}

func newChaosEndpoint(t *testing.T, script ...behavior) *chaosEndpoint {
	t.Helper()
	e := &chaosEndpoint{script: script, requests: map[string]int{}, accepted: map[string]int{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *chaosEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	// Note that the body is read first: the server notices a client that gave up (and cancels
	// r.Context()) only once the request body is consumed.
	_, _ = io.Copy(io.Discard, r.Body)
	e.mu.Lock()
	n := e.requests[r.URL.Path]
	e.requests[r.URL.Path]++
	e.mu.Unlock()
	b := e.script[min(n, len(e.script)-1)]
	flush := func() { w.(http.Flusher).Flush() }
	dribble := func() {
		for range 2000 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			flush()
		}
	}
	switch b {
	case answerOK:
		w.WriteHeader(http.StatusOK)
		flush()
		e.accept(r.URL.Path)
	case answerThrottled:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "rate limited", http.StatusTooManyRequests)
	case answerThrottledNH:
		http.Error(w, "rate limited", http.StatusTooManyRequests)
	case answerError:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case answerBadGateway:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case answerUnavailable:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case answerHang:
		<-r.Context().Done()
	case answerSlowOK:
		w.WriteHeader(http.StatusOK)
		flush()
		e.accept(r.URL.Path)
		dribble()
	case answerSlowError:
		w.WriteHeader(http.StatusServiceUnavailable)
		flush()
		dribble()
	case answerRejected:
		http.Error(w, "webhook revoked", http.StatusBadRequest)
	}
}

func (e *chaosEndpoint) accept(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accepted[path]++
}

func (e *chaosEndpoint) counts(path string) (requests, accepted int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[path], e.accepted[path]
}

// chaosTimeout bounds one Send in this suite; the production default is 30 s.
const chaosTimeout = 400 * time.Millisecond

// sendChaos sends one report to three channels of e (Chat, Slack, generic webhook) and checks the
// invariants that must hold whatever the endpoint does: Send returns within its timeout, no
// channel accepts the report twice, a delivery the sender reports was accepted exactly once, and
// every failed delivery carries its error and one ERROR log line.
func sendChaos(t *testing.T, e *chaosEndpoint, id int) []notify.Delivery {
	t.Helper()
	types := []string{notify.TypeGoogleChat, notify.TypeSlack, notify.TypeWebhook}
	var channels []notify.Channel
	for _, typ := range types {
		channels = append(channels, notify.Channel{Type: typ, URL: fmt.Sprintf("%s/%d/%s/hook-secret-0123456789abcdef", e.srv.URL, id, typ)})
	}
	s, err := notify.NewSender(channels, nil,
		notify.WithRetryPolicy(retry.Policy{Initial: time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2, Attempts: 5}),
		notify.WithTimeout(chaosTimeout))
	if err != nil {
		t.Fatalf("new sender: %v", err)
	}
	var logs syncBuffer
	ctx := logging.WithContext(t.Context(), logging.New(&logs))
	start := time.Now()
	ds := s.Send(ctx, report.Report{SchemaVersion: report.SchemaVersion, Verdict: report.Pass, Source: "gke01", Standby: fmt.Sprintf("gke-%d", id)})
	// Note the slack: the timeout ends the attempts; closing a dribbling response takes a moment.
	if took := time.Since(start); took > chaosTimeout+500*time.Millisecond {
		t.Errorf("send %d took %s, want it bounded by the %s timeout", id, took, chaosTimeout)
	}
	errLines := logs.errorLines(t)
	for i, d := range ds {
		path := fmt.Sprintf("/%d/%s/hook-secret-0123456789abcdef", id, types[i])
		requests, accepted := e.counts(path)
		switch {
		case accepted > 1:
			t.Errorf("send %d: %s accepted the report %d times (duplicate post)", id, types[i], accepted)
		case d.Delivered && (accepted != 1 || d.Err != nil):
			t.Errorf("send %d: %s reported delivered with error %v, endpoint accepted %d", id, types[i], d.Err, accepted)
		case !d.Delivered && d.Err == nil:
			t.Errorf("send %d: %s not delivered and no error says why", id, types[i])
		case !d.Delivered && errLines[i] != 1:
			t.Errorf("send %d: %s not delivered, %d ERROR lines, want 1", id, types[i], errLines[i])
		}
		if d.Attempts != requests {
			t.Errorf("send %d: %s reports %d attempts, endpoint saw %d", id, types[i], d.Attempts, requests)
		}
	}
	return ds
}

// TestReliability_webhook_chaos posts reports to endpoints that throttle, fail, hang and dribble.
func TestReliability_webhook_chaos(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script []behavior
		// wantDelivered is nil when the outcome depends on timing; the invariants hold anyway.
		wantDelivered *bool
		wantAttempts  int
	}{
		{name: "throttled_then_ok", script: []behavior{answerThrottled, answerThrottledNH, answerOK}, wantDelivered: ptr(true), wantAttempts: 3},
		{name: "server_errors_then_ok", script: []behavior{answerError, answerBadGateway, answerOK}, wantDelivered: ptr(true), wantAttempts: 3},
		{name: "server_errors_forever", script: []behavior{answerError}, wantDelivered: ptr(false), wantAttempts: 5},
		{name: "unavailable_retry_after_capped", script: []behavior{answerUnavailable, answerOK}, wantDelivered: ptr(true), wantAttempts: 2},
		{name: "revoked_not_retried", script: []behavior{answerRejected}, wantDelivered: ptr(false), wantAttempts: 1},
		// Each attempt gets a third of the send's budget, so a sink that keeps hanging is tried three times.
		{name: "hang_times_out", script: []behavior{answerHang}, wantDelivered: ptr(false), wantAttempts: 3},
		{name: "slow_ok_body_is_delivered_once", script: []behavior{answerSlowOK}, wantDelivered: ptr(true), wantAttempts: 1},
		{name: "slow_error_body_times_out", script: []behavior{answerSlowError}, wantDelivered: ptr(false)},
		{name: "hang_then_ok", script: []behavior{answerHang, answerOK}, wantDelivered: ptr(true), wantAttempts: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newChaosEndpoint(t, tc.script...)
			for _, d := range sendChaos(t, e, 0) {
				if tc.wantDelivered != nil && d.Delivered != *tc.wantDelivered {
					t.Errorf("%s: delivered = %v, want %v (err %v)", d.Channel, d.Delivered, *tc.wantDelivered, d.Err)
				}
				if tc.wantAttempts != 0 && d.Attempts != tc.wantAttempts {
					t.Errorf("%s: %d attempts, want %d", d.Channel, d.Attempts, tc.wantAttempts)
				}
			}
		})
	}
}

// TestReliability_webhook_chaos_mix posts to endpoints whose every answer is drawn at random
// (seeded, so a failure reproduces) and checks the invariants of sendChaos for each send.
func TestReliability_webhook_chaos_mix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		long  bool
		sends int
	}{
		{name: "24_sends", sends: 24},
		{name: "600_sends", long: true, sends: 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.long {
				requireLong(t)
			}
			rng := rand.New(rand.NewPCG(8, uint64(tc.sends)))
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			var mu sync.Mutex
			delivered, failed := 0, 0
			for i := range tc.sends {
				script := make([]behavior, 1+rng.IntN(5))
				for j := range script {
					script[j] = allBehaviors[rng.IntN(len(allBehaviors))]
				}
				e := newChaosEndpoint(t, script...)
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					for _, d := range sendChaos(t, e, i) {
						mu.Lock()
						if d.Delivered {
							delivered++
						} else {
							failed++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if delivered == 0 || failed == 0 {
				t.Errorf("%d delivered, %d failed: the mix must exercise both outcomes", delivered, failed)
			}
			t.Logf("%d deliveries succeeded, %d failed and were reported", delivered, failed)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// errorLines counts the ERROR log lines by channel_index.
func (s *syncBuffer) errorLines(t *testing.T) map[int]int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var line struct {
			Severity string `json:"severity"`
			Index    *int   `json:"channel_index"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if line.Severity == "ERROR" && line.Index != nil {
			out[*line.Index]++
		}
	}
	return out
}
