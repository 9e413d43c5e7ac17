package functions

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gkedr/gkedr/examples"
)

// TestDeployedRetriesAFailedSetup: a setup that failed (here: the policy file is not there yet) is
// tried again on the next event instead of failing the instance for good.
func TestDeployedRetriesAFailedSetup(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "gkedr-policy.yaml")
	t.Setenv("GKEDR_POLICY_FILE", policy)
	// Unreachable emulator endpoints: clients dial lazily, so setup needs no server and no
	// credentials.
	t.Setenv("GKEBACKUP_EMULATOR_HOST", "127.0.0.1:9")
	t.Setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
	t.Setenv("CHAT_WEBHOOK_URL", "http://127.0.0.1:9/chat")
	t.Setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/slack")

	var l lazyHandlers
	if _, err := l.get(); err == nil {
		t.Fatal("get() without a policy file succeeded")
	}
	if err := os.WriteFile(policy, examples.WalkthroughPolicy, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := l.get()
	if err != nil || h == nil {
		t.Fatalf("get() after the fix = %v, %v; want Handlers", h, err)
	}
	if again, _ := l.get(); again != h {
		t.Error("get() built the Handlers twice")
	}
}
