// Package testutil holds what gkedr's tests share: the gate for tests that need a service (the
// Pub/Sub emulator, a real kube-apiserver) and the way to reach it.
//
// The rule (STYLE §12): a test whose dependency is absent skips with the command that provides it
// when run by hand, and fails when CI=true, because scripts/test (run by .ci/run) always starts the
// dependencies and a skip there would hide a gap.
package testutil

import (
	"fmt"
	"os"
	"testing"
)

// Environment variables that scripts/test exports after starting the test dependencies.
const (
	// EnvCI is set to "true" by CI; it turns a missing dependency into a failure.
	EnvCI = "CI"
	// EnvPubSubEmulator is the Pub/Sub emulator's host:port, the variable the client library reads.
	EnvPubSubEmulator = "PUBSUB_EMULATOR_HOST"
	// EnvKubeServer is the https URL of the test kube-apiserver.
	EnvKubeServer = "KUBE_TEST_SERVER"
	// EnvKubeCAFile is the PEM file of the CA that signed the test kube-apiserver's certificate.
	EnvKubeCAFile = "KUBE_TEST_CA_FILE"
	// EnvKubeToken is a bearer token of an admin (group system:masters) of the test kube-apiserver.
	EnvKubeToken = "KUBE_TEST_TOKEN"
)

// RequireOrSkip is called when a test's dependency is missing: it skips the test with what is
// missing and how to provide it, or fails the test when CI=true. It does not return.
func RequireOrSkip(t testing.TB, what, hint string) {
	t.Helper()
	requireOrSkip(t, os.Getenv, what, hint)
}

// requireOrSkip is RequireOrSkip with the environment as a lookup function, so that tests can pass
// a map and still run in parallel.
func requireOrSkip(t testing.TB, getenv func(string) string, what, hint string) {
	t.Helper()
	if getenv(EnvCI) == "true" {
		t.Fatalf("%s is required when %s=true but is not available: %s", what, EnvCI, hint)
	}
	t.Skipf("skipping: %s is not available (%s)", what, hint)
}

// PubSubEmulator returns the Pub/Sub emulator's host:port from PUBSUB_EMULATOR_HOST, or skips (fails
// in CI) the test when it is not set.
func PubSubEmulator(t testing.TB) string {
	t.Helper()
	return pubSubEmulator(t, os.Getenv)
}

func pubSubEmulator(t testing.TB, getenv func(string) string) string {
	t.Helper()
	host := getenv(EnvPubSubEmulator)
	if host == "" {
		requireOrSkip(t, getenv, "the Pub/Sub emulator", fmt.Sprintf(
			"run scripts/test, or start 'gcloud beta emulators pubsub start --host-port=127.0.0.1:8085 --project=gkedr-test' and export %s=127.0.0.1:8085",
			EnvPubSubEmulator))
	}
	return host
}

// KubeServer is how a test reaches a real kube-apiserver: its URL, the CA that signed its serving
// certificate, and an admin bearer token.
type KubeServer struct {
	// URL is the server's https URL, e.g. https://127.0.0.1:6443.
	URL string
	// CAData is the PEM of the CA to trust for URL.
	CAData []byte
	// Token is a bearer token of a user in group system:masters.
	Token string
}

// KubeAPIServer returns the test kube-apiserver described by KUBE_TEST_SERVER, KUBE_TEST_CA_FILE and
// KUBE_TEST_TOKEN, or skips (fails in CI) the test when they are not set. A CA file that is set but
// unreadable fails the test everywhere: that is a broken setup, not a missing one.
func KubeAPIServer(t testing.TB) KubeServer {
	t.Helper()
	return kubeAPIServer(t, os.Getenv)
}

func kubeAPIServer(t testing.TB, getenv func(string) string) KubeServer {
	t.Helper()
	url, caFile, token := getenv(EnvKubeServer), getenv(EnvKubeCAFile), getenv(EnvKubeToken)
	if url == "" || caFile == "" || token == "" {
		requireOrSkip(t, getenv, "a kube-apiserver", fmt.Sprintf(
			"run scripts/test, or eval \"$(scripts/kube-apiserver start)\" to export %s, %s and %s (and 'scripts/kube-apiserver stop \"$KUBE_TEST_STATE_DIR\"' afterwards)",
			EnvKubeServer, EnvKubeCAFile, EnvKubeToken))
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read %s=%s: %v", EnvKubeCAFile, caFile, err)
	}
	return KubeServer{URL: url, CAData: ca, Token: token}
}
