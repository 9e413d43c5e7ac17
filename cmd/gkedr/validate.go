package main

import (
	"context"
	"fmt"
)

func runValidate(_ context.Context, c cli, args []string) int {
	fs := newFlags(c, "validate", "--policy FILE",
		"Checks a policy file as the functions do at cold start and lists every problem, each with its\n"+
			"path and the fix. Exit 0 when the policy is valid, 2 otherwise.")
	policyPath := fs.String("policy", "", "policy file to check (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *policyPath == "" {
		return usageError(c, "validate", "--policy is required: name the policy file to check, e.g. --policy gkedr-policy.yaml")
	}
	p, ok := loadPolicy(c, "validate", *policyPath)
	if !ok {
		return exitUsage
	}
	standbys := 0
	for _, src := range p.Sources {
		standbys += len(src.Standbys)
	}
	fmt.Fprintf(c.stdout, "%s is valid: project %s, %d %s, %d %s, %d notify %s\n", *policyPath, p.Project,
		len(p.Sources), plural(len(p.Sources), "source", "sources"), standbys, plural(standbys, "standby", "standbys"),
		len(p.Notify), plural(len(p.Notify), "channel", "channels"))
	return exitOK
}
