// Command functions serves gkedr's Cloud Functions entry points (BackupTrigger, RestoreOnBackup,
// VerifyRestore) on one HTTP port with the Functions Framework, as the Cloud Functions runtime does
// after the buildpack has built the root package. It is the local runner the framework documents:
// the blank import runs the root package's init(), which registers every entry point.
//
//	PORT=8080 LOCAL_ONLY=true FUNCTION_TARGET=RestoreOnBackup go run ./cmd/functions
//
// With FUNCTION_TARGET set, only that function is served, at "/" (one function per deployment);
// without it, each is served at /<name>. LOCAL_ONLY=true listens on 127.0.0.1 only. The functions
// read their configuration (GKEDR_POLICY_FILE, GKEBACKUP_EMULATOR_HOST, ...) on the first event.
package main

import (
	"log/slog"
	"net"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/gkedr/gkedr"
)

func main() {
	port := "8080"
	if p := os.Getenv("PORT"); p != "" {
		port = p
	}
	// Note that all interfaces is the framework's default, and what a container needs; a
	// developer's machine should not expose the functions, hence LOCAL_ONLY.
	host := ""
	if os.Getenv("LOCAL_ONLY") == "true" {
		host = "127.0.0.1"
	}
	if err := funcframework.StartHostPort(host, port); err != nil {
		slog.Error("functions stopped serving", "addr", net.JoinHostPort(host, port), "error", err)
		os.Exit(1)
	}
}
