package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gkedr/gkedr/internal/restore"
)

func runPlan(ctx context.Context, c cli, args []string) int {
	fs := newFlags(c, "plan", "[--policy FILE] [--source NAME]",
		"Dry run: for each source and standby, says what a restore of the source's newest backup (or of\n"+
			"the next one, when there is none) would create, or which safety guard would refuse it and why.\n"+
			"It only reads the API: nothing is created and nothing is published. It reads the local stack\n"+
			"when GKEBACKUP_EMULATOR_HOST is set, the real project with Application Default Credentials\n"+
			"otherwise. Exit 0 when every standby would be restored, 1 when one would be refused or could\n"+
			"not be evaluated, 2 for bad usage or configuration.")
	policyPath := fs.String("policy", policyFlagDefault(c), "policy file")
	source := fs.String("source", "", "plan only this source (default: every source)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	policy, ok := loadPolicy(c, "plan", *policyPath)
	if !ok {
		return exitUsage
	}
	app, code, ok := connect(ctx, c, "plan", policy)
	if !ok {
		return code
	}
	defer app.Close()
	items, err := app.Restores.Plan(ctx, *source)
	if err != nil {
		fmt.Fprintf(c.stderr, "gkedr plan: %v\n", err)
		return exitFail
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTANDBY\tBACKUP\tPLAN")
	code = exitOK
	for _, it := range items {
		backup := lastSegment(it.Backup)
		if it.Prospective {
			backup = "(next backup)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Source, it.Standby, backup, planAction(it))
		if it.Refusal != nil || it.Err != nil {
			code = exitFail
		}
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(c.stderr, "gkedr plan: %v\n", err)
		return exitFail
	}
	return code
}

// planAction says in one line what would happen for one standby.
func planAction(it restore.PlanItem) string {
	switch {
	case it.Err != nil:
		return "cannot evaluate: " + it.Err.Error()
	case it.Refusal != nil:
		return fmt.Sprintf("REFUSED %s: %s", it.Refusal.Reason, it.Refusal.Message)
	case it.Exists:
		return "nothing to do: restore " + lastSegment(it.Restore) + " exists"
	}
	var steps []string
	if it.CreatePlan {
		steps = append(steps, "create RestorePlan "+lastSegment(it.RestorePlan))
	}
	restoreStep := "create a Restore in " + lastSegment(it.RestorePlan)
	if it.Restore != "" {
		restoreStep = "create Restore " + lastSegment(it.Restore)
	}
	steps = append(steps, restoreStep)
	out := strings.Join(steps, ", then ")
	if len(it.Drift) > 0 {
		out += fmt.Sprintf(" (the existing plan differs from the policy: %s)", strings.Join(it.Drift, "; "))
	}
	return out
}
