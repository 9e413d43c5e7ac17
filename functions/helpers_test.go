package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/functions"
	"github.com/gkedr/gkedr/internal/logging"
)

// registerMu serialises use of funcframework's process-wide function registry.
var registerMu sync.Mutex

// serve registers fn under a path unique to the test and starts a funcframework server for it on
// a free loopback port. It returns the function's base URL; Pub/Sub push endpoints append
// /projects/P/topics/T to it. Note that funcframework servers cannot be stopped: each lives until
// the test binary exits.
func serve(t *testing.T, name string, fn func(context.Context, cloudevents.Event) error) string {
	t.Helper()
	path := "/" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "/" + name
	registerMu.Lock()
	defer registerMu.Unlock()
	if err := funcframework.RegisterCloudEventFunctionContext(t.Context(), path+"/", fn); err != nil {
		t.Fatalf("register %s: %v", path, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(lis.Addr().(*net.TCPAddr).Port)
	lis.Close()
	go func() { _ = funcframework.StartHostPort("127.0.0.1", port) }()
	base := "http://127.0.0.1:" + port + path
	waitFor(t, "funcframework to listen", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return base
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer collects the JSON log lines of handlers; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines parses every line as a JSON object with severity and message, failing the test otherwise.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if _, ok := m["severity"].(string); !ok {
			t.Errorf("log line without severity: %s", line)
		}
		if _, ok := m["message"].(string); !ok {
			t.Errorf("log line without message: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// text is everything logged, for substring checks.
func (b *logBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withSeverity returns the lines of one severity.
func withSeverity(lines []map[string]any, severity string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["severity"] == severity {
			out = append(out, l)
		}
	}
	return out
}

// newLogger returns a Cloud Logging JSON logger writing to a fresh buffer.
func newLogger() (*logBuffer, functions.Deps) {
	b := &logBuffer{}
	return b, functions.Deps{Logger: logging.New(b, logging.WithLevel(slog.LevelDebug))}
}

// post delivers a CloudEvent to url in binary mode, as Eventarc does, and returns the HTTP status.
func post(t *testing.T, url string, e cloudevents.Event) int {
	t.Helper()
	// Eventarc's binary mode: the attributes in ce- headers, the data as the body.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(e.Data()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-id", e.ID())
	req.Header.Set("ce-type", e.Type())
	req.Header.Set("ce-source", e.Source())
	if !e.Time().IsZero() {
		req.Header.Set("ce-time", e.Time().Format(time.RFC3339Nano))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post event: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
