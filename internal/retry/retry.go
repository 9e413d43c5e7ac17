// Package retry decides whether a failure is worth another try, and tries again.
//
// It is the single source of truth for the retry contract of every gkedr function (DESIGN §2): a
// handler returns an error only when IsTransient says so, so that Pub/Sub or Eventarc redelivers the
// event; every other failure is logged, reported and acknowledged. Do applies the same
// classification to in-process retries of a single call.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrStale is returned (wrapped) by CheckAge for an event older than the configured max age.
var ErrStale = errors.New("event older than max age")

// marked is an error whose retryability a caller decided explicitly. after > 0 only for RetryAfter.
type marked struct {
	err       error
	transient bool
	after     time.Duration
}

func (m *marked) Error() string { return m.err.Error() }
func (m *marked) Unwrap() error { return m.err }

// Transient marks err as retryable, whatever its code, e.g. an HTTP 503 from a chat webhook. It
// returns nil for a nil err.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, transient: true}
}

// Permanent marks err as not retryable even when its gRPC code says transient, e.g. a
// ResourceExhausted quota error that no redelivery within the event's lifetime can fix. It returns
// nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, transient: false}
}

// RetryAfter marks err as retryable no sooner than d from now, e.g. from an HTTP Retry-After header.
// Do waits max(backoff, d) before the next attempt. It returns nil for a nil err.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, transient: true, after: max(d, 0)}
}

// After reports how long the server asked the caller to wait before retrying err: the duration given
// to RetryAfter, or else the RetryInfo detail of a gRPC status (or gax APIError) that carries one.
func After(err error) (time.Duration, bool) {
	var m *marked
	if errors.As(err, &m) && m.after > 0 {
		return m.after, true
	}
	if st, ok := status.FromError(err); ok && err != nil {
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				return ri.GetRetryDelay().AsDuration(), true
			}
		}
	}
	return 0, false
}

// IsTransient reports whether err is worth retrying: the redelivery of the event, or another attempt
// in Do, may succeed where this one failed.
//
// In order of precedence:
//   - an explicit mark (Transient, Permanent, RetryAfter) decides; the outermost mark wins, so a
//     caller can override a decision made deeper in the stack;
//   - context.Canceled is not transient. Note that a cancellation is a decision of our caller (the
//     invocation ended, the operator pressed ^C), not a fault of the dependency: retrying work that
//     someone abandoned is wrong, and a lost event is recovered by the sweep anyway;
//   - context.DeadlineExceeded is transient: the dependency was too slow this time;
//   - gRPC codes Unavailable, ResourceExhausted, DeadlineExceeded and Aborted are transient, found
//     through status.FromError, so wrapped errors and gax *apierror.APIError (which maps HTTP 429,
//     503 and 504 to those codes) count too;
//   - everything else, including nil, is not.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var m *marked
	if errors.As(err, &m) {
		return m.transient
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
		return true
	default:
		return false
	}
}

// CheckAge returns ErrStale, wrapped with the event's age and the limit, when the event happened more
// than maxAge before now. A zero eventTime (the event carries no time) or a non-positive maxAge
// disables the check, and so does an event from the future (clock skew is not staleness).
func CheckAge(eventTime, now time.Time, maxAge time.Duration) error {
	if eventTime.IsZero() || maxAge <= 0 {
		return nil
	}
	if age := now.Sub(eventTime); age > maxAge {
		return fmt.Errorf("%w: event at %s is %s old, max %s", ErrStale,
			eventTime.UTC().Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	return nil
}

// Policy is an exponential backoff. Zero fields take the values of Default.
type Policy struct {
	// Initial is the wait after the first failed attempt.
	Initial time.Duration
	// Max caps the backoff wait (but not a longer wait that the server asked for with RetryAfter).
	Max time.Duration
	// Multiplier grows the wait after each failed attempt; values below 1 are treated as 1.
	Multiplier float64
	// Attempts is the total number of calls, the first one included.
	Attempts int
	// Jitter spreads each wait uniformly over ±Jitter of itself (0.2 = ±20%), so that the many
	// functions failing on the same outage do not retry in lockstep. Clamped to [0, 1].
	Jitter float64
}

// Default is the policy for a single API call inside a function invocation: five attempts within
// about 6 s, well inside the 540 s budget, leaving room for the redelivery to take over.
var Default = Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Attempts: 5, Jitter: 0.2}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = Default.Initial
	}
	if p.Max <= 0 {
		p.Max = Default.Max
	}
	if p.Multiplier == 0 {
		p.Multiplier = Default.Multiplier
	}
	p.Multiplier = max(p.Multiplier, 1)
	if p.Attempts <= 0 {
		p.Attempts = Default.Attempts
	}
	p.Jitter = min(max(p.Jitter, 0), 1)
	return p
}

// backoff returns the wait after failed attempt n (1-based) before jitter, capped at Max.
func (p Policy) backoff(n int) time.Duration {
	d := float64(p.Initial)
	for i := 1; i < n && d < float64(p.Max); i++ {
		d *= p.Multiplier
	}
	return time.Duration(min(d, float64(p.Max)))
}

// jitter spreads d over ±p.Jitter; r is uniform in [0, 1).
func (p Policy) jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 + p.Jitter*(2*r-1)))
}

// waitFunc blocks for d or until ctx is done, and returns ctx.Err() in the latter case.
type waitFunc func(ctx context.Context, d time.Duration) error

func timerWait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do calls fn until it succeeds, returns an error that is not transient (IsTransient), or p.Attempts
// calls have been made. Between attempts it waits for the jittered exponential backoff, or longer if
// the error asks for it (RetryAfter, gRPC RetryInfo). It gives up early when ctx is done, or when the
// next wait would pass ctx's deadline: the caller then still has time to return the error and have
// the event redelivered.
//
// The returned error wraps the last error of fn (so IsTransient and errors.Is see through it) and says
// how many attempts were made; when ctx ended the retries, it wraps ctx.Err() as well.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	return do(ctx, p, fn, timerWait, rand.Float64)
}

func do(ctx context.Context, p Policy, fn func(context.Context) error, wait waitFunc, rnd func() float64) error {
	p = p.withDefaults()
	var last error
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				return fmt.Errorf("retry stopped before attempt %d: %w", n, err)
			}
			return fmt.Errorf("after %d attempts: %w (retry stopped: %w)", n-1, last, err)
		}
		last = fn(ctx)
		if last == nil {
			return nil
		}
		if !IsTransient(last) || n >= p.Attempts {
			return fmt.Errorf("after %d %s: %w", n, plural(n), last)
		}
		d := p.jitter(p.backoff(n), rnd())
		if ra, ok := After(last); ok && ra > d {
			d = ra
		}
		// Note that waiting past the deadline only to fail would eat the time the caller needs to
		// return the error, so give up now with the transient error and let redelivery retry.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return fmt.Errorf("after %d %s (next attempt in %s would pass the deadline): %w", n, plural(n), d, last)
		}
		if err := wait(ctx, d); err != nil {
			return fmt.Errorf("after %d %s: %w (retry stopped: %w)", n, plural(n), last, err)
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return "attempt"
	}
	return "attempts"
}
