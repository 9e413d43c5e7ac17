package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

var errPlain = errors.New("plain failure")

// wrap2 wraps err twice with %w, as two layers of callers would.
func wrap2(err error) error {
	return fmt.Errorf("create restore for gke03: %w", fmt.Errorf("call api: %w", err))
}

// apiErr turns err into a gax *apierror.APIError, as the generated clients return.
func apiErr(t *testing.T, err error) error {
	t.Helper()
	ae, ok := apierror.FromError(err)
	if !ok {
		t.Fatalf("apierror.FromError(%v) failed", err)
	}
	return ae
}

// withRetryInfo returns a gRPC status error with code c that asks the caller to wait d.
func withRetryInfo(t *testing.T, c codes.Code, d time.Duration) error {
	t.Helper()
	st, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		t.Fatalf("WithDetails: %v", err)
	}
	return st.Err()
}

func TestIsTransient(t *testing.T) {
	t.Parallel()

	type testCase struct {
		name string
		err  error
		want bool
	}
	cases := []testCase{
		{name: "nil", err: nil, want: false},
		{name: "plain_error", err: errPlain, want: false},
		{name: "context_canceled", err: context.Canceled, want: false},
		{name: "context_canceled_wrapped", err: wrap2(context.Canceled), want: false},
		{name: "context_deadline", err: context.DeadlineExceeded, want: true},
		{name: "context_deadline_wrapped", err: wrap2(context.DeadlineExceeded), want: true},
		{name: "transient_marked", err: Transient(errPlain), want: true},
		{name: "transient_marked_wrapped", err: wrap2(Transient(errPlain)), want: true},
		{name: "permanent_overrides_code", err: Permanent(status.Error(codes.Unavailable, "x")), want: false},
		{name: "permanent_overrides_deadline", err: wrap2(Permanent(context.DeadlineExceeded)), want: false},
		{name: "outermost_mark_wins_transient", err: Transient(Permanent(errPlain)), want: true},
		{name: "outermost_mark_wins_permanent", err: Permanent(wrap2(Transient(errPlain))), want: false},
		{name: "retry_after_is_transient", err: RetryAfter(errPlain, time.Second), want: true},
		{name: "joined_with_transient_code", err: errors.Join(errPlain, status.Error(codes.Aborted, "x")), want: true},
		{name: "http_503_via_gax", err: apiErr(t, &googleapi.Error{Code: 503, Message: "unavailable"}), want: true},
		{name: "http_429_via_gax", err: apiErr(t, &googleapi.Error{Code: 429, Message: "quota"}), want: true},
		{name: "http_404_via_gax", err: apiErr(t, &googleapi.Error{Code: 404, Message: "not found"}), want: false},
	}
	for c, want := range map[codes.Code]bool{
		codes.Unavailable: true, codes.ResourceExhausted: true, codes.DeadlineExceeded: true, codes.Aborted: true,
		codes.Canceled: false, codes.Unknown: false, codes.InvalidArgument: false, codes.NotFound: false,
		codes.AlreadyExists: false, codes.PermissionDenied: false, codes.FailedPrecondition: false,
		codes.OutOfRange: false, codes.Unimplemented: false, codes.Internal: false, codes.DataLoss: false,
		codes.Unauthenticated: false,
	} {
		name := strings.ToLower(c.String())
		st := status.Error(c, "boom")
		cases = append(cases,
			testCase{name: "grpc_" + name, err: st, want: want},
			testCase{name: "grpc_" + name + "_wrapped_twice", err: wrap2(st), want: want},
			testCase{name: "gax_" + name + "_wrapped_twice", err: wrap2(apiErr(t, st)), want: want},
		)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsTransient(tc.err); got != tc.want {
				t.Errorf("IsTransient(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}

func TestMarksKeepChainAndNil(t *testing.T) {
	t.Parallel()

	for name, mark := range map[string]func(error) error{
		"transient":   Transient,
		"permanent":   Permanent,
		"retry_after": func(err error) error { return RetryAfter(err, time.Second) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := mark(nil); got != nil {
				t.Errorf("mark(nil) = %v, want nil", got)
			}
			err := mark(wrap2(errPlain))
			if !errors.Is(err, errPlain) {
				t.Errorf("errors.Is(%v, errPlain) = false, want true", err)
			}
			if diff := cmp.Diff(wrap2(errPlain).Error(), err.Error()); diff != "" {
				t.Errorf("marking changed the message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name   string
		err    error
		want   time.Duration
		wantOK bool
	}{
		{name: "nil", err: nil},
		{name: "plain", err: errPlain},
		{name: "retry_after", err: RetryAfter(errPlain, 3*time.Second), want: 3 * time.Second, wantOK: true},
		{name: "retry_after_wrapped", err: wrap2(RetryAfter(errPlain, time.Minute)), want: time.Minute, wantOK: true},
		{name: "retry_after_negative", err: RetryAfter(errPlain, -time.Second)},
		{name: "grpc_retry_info", err: withRetryInfo(t, codes.ResourceExhausted, 7*time.Second), want: 7 * time.Second, wantOK: true},
		{name: "gax_retry_info_wrapped", err: wrap2(apiErr(t, withRetryInfo(t, codes.Unavailable, 2*time.Second))), want: 2 * time.Second, wantOK: true},
		{name: "grpc_without_retry_info", err: status.Error(codes.Unavailable, "x")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := After(tc.err)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("After(%v) = %s, %t; want %s, %t", tc.err, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestCheckAge(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		event   time.Time
		max     time.Duration
		wantErr string
	}{
		{name: "fresh", event: now.Add(-time.Minute), max: time.Hour},
		{name: "exactly_max", event: now.Add(-time.Hour), max: time.Hour},
		{name: "stale", event: now.Add(-2 * time.Hour), max: time.Hour,
			wantErr: "event older than max age: event at 2026-05-01T10:00:00Z is 2h0m0s old, max 1h0m0s"},
		{name: "zero_event_time", event: time.Time{}, max: time.Hour},
		{name: "no_limit", event: now.Add(-1000 * time.Hour), max: 0},
		{name: "future_event", event: now.Add(time.Hour), max: time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckAge(tc.event, now, tc.max)
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Errorf("CheckAge error (-want +got):\n%s", diff)
			}
			if err != nil && !errors.Is(err, ErrStale) {
				t.Errorf("errors.Is(%v, ErrStale) = false, want true", err)
			}
		})
	}
}

func TestPolicyBackoff(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name   string
		policy Policy
		want   []time.Duration // waits after attempts 1, 2, …
	}{
		{name: "doubling_capped", policy: Policy{Initial: time.Second, Max: 5 * time.Second, Multiplier: 2},
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{name: "multiplier_below_one_is_constant", policy: Policy{Initial: time.Second, Max: time.Hour, Multiplier: 0.5},
			want: []time.Duration{time.Second, time.Second, time.Second}},
		{name: "zero_policy_uses_default", policy: Policy{},
			want: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := tc.policy.withDefaults()
			var got []time.Duration
			for n := 1; n <= len(tc.want); n++ {
				got = append(got, p.backoff(n))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("backoff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyJitterBounds(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name   string
		jitter float64
		r      float64
		want   time.Duration
	}{
		{name: "low_end", jitter: 0.2, r: 0, want: 800 * time.Millisecond},
		{name: "middle", jitter: 0.2, r: 0.5, want: time.Second},
		{name: "no_jitter", jitter: 0, r: 0.99, want: time.Second},
		{name: "clamped_above_one", jitter: 5, r: 0, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Policy{Jitter: tc.jitter}.withDefaults()
			if got := p.jitter(time.Second, tc.r); got != tc.want {
				t.Errorf("jitter(1s, %v) = %s, want %s", tc.r, got, tc.want)
			}
		})
	}
}

// script returns an fn for Do that returns errs in order, then nil, and counts its calls.
func script(errs ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

func TestDo(t *testing.T) {
	t.Parallel()

	unavailable := status.Error(codes.Unavailable, "try again")
	notFound := status.Error(codes.NotFound, "no such backup plan")
	p := Policy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Attempts: 4}

	cases := []struct {
		name      string
		policy    Policy
		errs      []error
		wantCalls int
		wantWaits []time.Duration
		wantErr   string
		wantIs    error
	}{
		{name: "success_first_try", policy: p, wantCalls: 1},
		{name: "transient_then_success", policy: p, errs: []error{unavailable, wrap2(unavailable)},
			wantCalls: 3, wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "stops_on_permanent_code", policy: p, errs: []error{unavailable, notFound},
			wantCalls: 2, wantWaits: []time.Duration{time.Second},
			wantErr: "after 2 attempts: rpc error: code = NotFound desc = no such backup plan", wantIs: notFound},
		{name: "stops_on_permanent_mark", policy: p, errs: []error{Permanent(unavailable)},
			wantCalls: 1, wantErr: "after 1 attempt: rpc error: code = Unavailable desc = try again", wantIs: unavailable},
		{name: "attempts_exhausted", policy: p, errs: []error{unavailable, unavailable, unavailable, unavailable, unavailable},
			wantCalls: 4, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			wantErr: "after 4 attempts: rpc error: code = Unavailable desc = try again", wantIs: unavailable},
		{name: "retry_after_longer_than_backoff", policy: p, errs: []error{RetryAfter(errPlain, 30*time.Second)},
			wantCalls: 2, wantWaits: []time.Duration{30 * time.Second}},
		{name: "retry_after_shorter_than_backoff", policy: p, errs: []error{RetryAfter(errPlain, time.Millisecond)},
			wantCalls: 2, wantWaits: []time.Duration{time.Second}},
		{name: "grpc_retry_info_honoured", policy: p, errs: []error{withRetryInfo(t, codes.ResourceExhausted, 20*time.Second)},
			wantCalls: 2, wantWaits: []time.Duration{20 * time.Second}},
		{name: "transient_mark_retries_plain_error", policy: p, errs: []error{Transient(errPlain)},
			wantCalls: 2, wantWaits: []time.Duration{time.Second}},
		{name: "single_attempt_policy", policy: Policy{Attempts: 1}, errs: []error{unavailable},
			wantCalls: 1, wantErr: "after 1 attempt: rpc error: code = Unavailable desc = try again", wantIs: unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, calls := script(tc.errs...)
			var waits []time.Duration
			wait := func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}
			err := do(t.Context(), tc.policy, fn, wait, func() float64 { return 0.5 })

			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Errorf("Do error (-want +got):\n%s", diff)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantIs)
			}
			if *calls != tc.wantCalls {
				t.Errorf("fn called %d times, want %d", *calls, tc.wantCalls)
			}
			if diff := cmp.Diff(tc.wantWaits, waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDoRealTimerTinyBackoff(t *testing.T) {
	t.Parallel()

	fn, calls := script(Transient(errPlain), Transient(errPlain))
	if err := Do(t.Context(), Policy{Initial: time.Microsecond, Attempts: 3}, fn); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if *calls != 3 {
		t.Errorf("fn called %d times, want 3", *calls)
	}
}

func TestDoHonoursContext(t *testing.T) {
	t.Parallel()

	// A backoff of an hour: the test finishes only because Do stops waiting when ctx ends.
	long := Policy{Initial: time.Hour, Max: time.Hour, Attempts: 5}
	unavailable := status.Error(codes.Unavailable, "down")

	t.Run("canceled_while_waiting", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := Do(ctx, long, func(context.Context) error {
			calls++
			cancel()
			return unavailable
		})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, unavailable) {
			t.Errorf("Do error = %v, want it to wrap context.Canceled and the last error", err)
		}
		if IsTransient(err) {
			t.Errorf("IsTransient(%v) = true, want false for a canceled retry", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times, want 1", calls)
		}
	})

	t.Run("canceled_before_first_attempt", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		fn, calls := script()
		err := Do(ctx, long, fn)
		if diff := cmp.Diff("retry stopped before attempt 1: context canceled", errString(err)); diff != "" {
			t.Errorf("Do error (-want +got):\n%s", diff)
		}
		if *calls != 0 {
			t.Errorf("fn called %d times, want 0", *calls)
		}
	})

	t.Run("next_wait_would_pass_deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		fn, calls := script(unavailable)
		err := Do(ctx, long, fn)
		if err == nil || !strings.Contains(err.Error(), "would pass the deadline") {
			t.Errorf("Do error = %v, want it to say the next wait would pass the deadline", err)
		}
		if !IsTransient(err) {
			t.Errorf("IsTransient(%v) = false, want true so that the event is redelivered", err)
		}
		if *calls != 1 {
			t.Errorf("fn called %d times, want 1", *calls)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
