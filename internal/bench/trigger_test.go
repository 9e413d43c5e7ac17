package bench

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
)

func TestTrigger_redelivers_until_acknowledged(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		failures int
		panics   bool
		want     TriggerStats
	}{
		{name: "acknowledged_at_once", failures: 0, want: TriggerStats{Events: 1, Invocations: 1}},
		{name: "three_errors_then_ok", failures: 3, want: TriggerStats{Events: 1, Invocations: 4, Errors: 3}},
		{name: "a_panic_is_an_error", failures: 1, panics: true, want: TriggerStats{Events: 1, Invocations: 2, Errors: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			tr := NewTrigger(t.Context(), func(context.Context, cloudevents.Event) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls <= tc.failures {
					if tc.panics {
						panic("boom")
					}
					return errors.New("transient")
				}
				return nil
			}, TriggerOptions{Initial: time.Millisecond, Max: 4 * time.Millisecond})
			t.Cleanup(tr.Close)

			tr.Deliver(cloudevents.NewEvent())
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := tr.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tr.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBridge_routes_by_event_type(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	tr := NewTrigger(t.Context(), func(_ context.Context, e cloudevents.Event) error {
		got <- e.ID()
		return nil
	}, TriggerOptions{})
	t.Cleanup(tr.Close)
	b, err := NewBridge(map[string]*Trigger{"dev.gkedr.routed": tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	post := func(id, typ string) int {
		t.Helper()
		body := `{"specversion":"1.0","id":"` + id + `","type":"` + typ + `","source":"//test"}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.URL(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("e1", "dev.gkedr.other"); code/100 != 2 {
		t.Errorf("unrouted event answered %d, want 2xx (Eventarc acknowledges what no trigger takes)", code)
	}
	if code := post("e2", "dev.gkedr.routed"); code/100 != 2 {
		t.Errorf("routed event answered %d, want 2xx", code)
	}
	select {
	case id := <-got:
		if id != "e2" {
			t.Errorf("trigger got event %q, want e2", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("routed event never reached its trigger")
	}
	if d := b.Dropped(); d != 1 {
		t.Errorf("Dropped() = %d, want 1", d)
	}
}
