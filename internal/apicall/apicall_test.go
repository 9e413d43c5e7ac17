package apicall_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/retry"
)

var fast = retry.Policy{Initial: time.Microsecond, Max: time.Microsecond, Attempts: 3}

func TestGet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		failures  []codes.Code
		wantCalls int
		wantErr   string
	}{
		{name: "first_try", wantCalls: 1},
		{name: "transient_then_ok", failures: []codes.Code{codes.Unavailable, codes.ResourceExhausted}, wantCalls: 3},
		{name: "permanent_not_retried", failures: []codes.Code{codes.NotFound}, wantCalls: 1, wantErr: "get backup b1: "},
		{name: "gives_up_after_attempts", failures: []codes.Code{codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable},
			wantCalls: 3, wantErr: "get backup b1: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			got, err := apicall.Get(t.Context(), apicall.Caller{Retry: fast}, "get backup b1", func(context.Context) (string, error) {
				calls++
				if calls <= len(tc.failures) {
					return "", status.Error(tc.failures[calls-1], "injected")
				}
				return "b1", nil
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil || got != "b1" {
					t.Errorf("Get() = %q, %v; want b1", got, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || got != "" {
				t.Errorf("Get() = %q, %v; want an error starting %q and no value", got, err, tc.wantErr)
			}
		})
	}
}

func TestDo_waits_for_the_rate_limit(t *testing.T) {
	t.Parallel()
	c := apicall.Caller{Limiter: rate.NewLimiter(rate.Limit(1), 1), Retry: fast}
	if err := c.Do(t.Context(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The bucket is empty now: a call whose deadline is before the next token fails as transient,
	// so the event is redelivered instead of acknowledged.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	called := false
	err := c.Do(ctx, func(context.Context) error { called = true; return nil })
	if called || !retry.IsTransient(err) {
		t.Errorf("Do() past the rate limit: called=%v err=%v; want not called and a transient error", called, err)
	}
}

func TestListAll_reads_every_page_and_retries_one(t *testing.T) {
	t.Parallel()
	pages := map[string]struct {
		items []int
		next  string
	}{"": {[]int{1, 2}, "p2"}, "p2": {[]int{3}, "p3"}, "p3": {[]int{4, 5}, ""}}
	failedP2 := false
	var tokens []string
	got, err := apicall.ListAll(t.Context(), apicall.Caller{Retry: fast}, func(_ context.Context, token string, out *[]int) (string, error) {
		tokens = append(tokens, token)
		if token == "p2" && !failedP2 {
			failedP2 = true
			*out = append(*out, 99) // a partial page must not leak into the result
			return "", status.Error(codes.Unavailable, "injected")
		}
		*out = append(*out, pages[token].items...)
		return pages[token].next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 4, 5}, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "p2", "p2", "p3"}, tokens); diff != "" {
		t.Errorf("page tokens (-want +got):\n%s; a failed page is retried alone", diff)
	}
	_, err = apicall.ListAll(t.Context(), apicall.Caller{Retry: fast}, func(context.Context, string, *[]int) (string, error) {
		return "", status.Error(codes.PermissionDenied, "no")
	})
	if status.Code(err) != codes.PermissionDenied || retry.IsTransient(err) {
		t.Errorf("ListAll() error = %v, want PermissionDenied", err)
	}
}
