// Package apicall runs Backup for GKE and container API calls the way every gkedr service must: under
// a client-side rate limit shared by the whole service and with in-process retries of transient
// errors, a page at a time for lists.
package apicall

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/gkedr/gkedr/internal/retry"
)

// Caller runs calls. The zero value retries with retry.Default and has no rate limit.
type Caller struct {
	// Limiter, when set, is waited on before every attempt: the API's quota counts reads too, and a
	// sweep or a wide fan-out is mostly reads.
	Limiter *rate.Limiter
	// Retry is the in-process retry of each call.
	Retry retry.Policy
}

// Do runs fn under the rate limit and the retry policy.
func (c Caller) Do(ctx context.Context, fn func(context.Context) error) error {
	return retry.Do(ctx, c.Retry, func(ctx context.Context) error {
		if c.Limiter != nil {
			if err := c.Limiter.Wait(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Note that rate.Limiter fails at once when the wait would pass the deadline. That
				// is running out of time, a transient condition: report it as such so the event is
				// redelivered rather than acknowledged.
				return fmt.Errorf("wait for the client rate limit: %v: %w", err, context.DeadlineExceeded)
			}
		}
		return fn(ctx)
	})
}

// Get runs one call that returns a resource, wrapping its error with what was asked for
// (e.g. "get backup NAME").
func Get[T any](ctx context.Context, c Caller, what string, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := c.Do(ctx, func(ctx context.Context) (err error) {
		out, err = fn(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// PageSize is the page size of list calls: a plan gets a few backups or restores a day, so one
// page usually holds a whole sweep window.
const PageSize = 100

// ListAll reads every page of a list. page fetches the page at token into out and returns the next
// token ("" at the end), e.g. with iterator.NewPager(it, PageSize, token).NextPage(out). Each page
// is its own retried call, so a transient error on page 3 does not restart the listing.
func ListAll[T any](ctx context.Context, c Caller, page func(ctx context.Context, token string, out *[]T) (string, error)) ([]T, error) {
	var (
		all   []T
		token string
	)
	for {
		var (
			items []T
			next  string
		)
		err := c.Do(ctx, func(ctx context.Context) (err error) {
			items = items[:0]
			next, err = page(ctx, token, &items)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}
