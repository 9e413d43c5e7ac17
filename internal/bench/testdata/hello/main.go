//go:build benchhello

// Command hello is the baseline of the cold-start benchmark: the smallest CloudEvent function the
// Functions Framework can serve, started the same way as cmd/functions. It lives under testdata so
// that `go build ./...` and `go vet ./...` leave it alone, and behind the benchhello tag so that
// only the benchmark builds it (with the module's own framework version).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func init() {
	functions.CloudEvent("Hello", func(context.Context, cloudevents.Event) error { return nil })
}

func main() {
	port := "8080"
	if p := os.Getenv("PORT"); p != "" {
		port = p
	}
	host := ""
	if os.Getenv("LOCAL_ONLY") == "true" {
		host = "127.0.0.1"
	}
	if err := funcframework.StartHostPort(host, port); err != nil {
		slog.Error("hello stopped serving", "error", err)
		os.Exit(1)
	}
}
