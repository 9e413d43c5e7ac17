package main

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/setup"
)

// connect builds the services of policy against the API the environment names: the local stack's
// emulators when GKEBACKUP_EMULATOR_HOST (and PUBSUB_EMULATOR_HOST) are set, the real project with
// Application Default Credentials otherwise. ok is false when the command should end with code.
func connect(ctx context.Context, c cli, name string, policy *config.Policy) (app *setup.App, code int, ok bool) {
	env, err := config.LoadEnv(ctx, c.lookup)
	if err != nil {
		printProblems(c.stderr, "gkedr "+name+": the environment is not usable", err)
		return nil, exitUsage, false
	}
	// Note that the CLI posts nothing, so the functions' complaint about unset webhook variables
	// is noise here: setup logs to a discarded logger.
	quiet := logging.WithContext(ctx, slog.New(slog.DiscardHandler))
	app, err = setup.New(quiet, env, policy, c.lookup)
	if err != nil {
		fmt.Fprintf(c.stderr, "gkedr %s: connect to the API: %v\n", name, err)
		return nil, exitFail, false
	}
	return app, exitOK, true
}

// policyFlagDefault is the policy path when --policy is not given: GKEDR_POLICY_FILE, as the
// functions read it, or its default.
func policyFlagDefault(c cli) string {
	if p, ok := c.lookup.Lookup("GKEDR_POLICY_FILE"); ok && p != "" {
		return p
	}
	return "gkedr-policy.yaml"
}

// isNotFound reports a NotFound API error, e.g. a RestorePlan gkedr has not created yet.
func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
