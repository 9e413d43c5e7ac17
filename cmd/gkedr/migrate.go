package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/api/iterator"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/setup"
)

func runMigrate(ctx context.Context, c cli, args []string) int {
	fs := newFlags(c, "migrate", "--source NAME --to STANDBY[,...] [--backup NAME|latest] [--policy FILE] [--project ID]",
		"Publishes a migration request to the requests topic: without --backup, a new backup of the source\n"+
			"restored into the named standbys only; with --backup, that existing backup (\"latest\": the\n"+
			"source's newest SUCCEEDED one). It talks to the Pub/Sub emulator when PUBSUB_EMULATOR_HOST is\n"+
			"set (and to the gkebackup emulator for --backup latest when GKEBACKUP_EMULATOR_HOST is set),\n"+
			"to the real project with Application Default Credentials otherwise.")
	source := fs.String("source", "", "policy name of the source to migrate (required)")
	to := fs.String("to", "", "comma-separated policy names of the standbys to restore into (required)")
	backupFlag := fs.String("backup", "", "an existing backup's full name, or latest (default: take a new backup)")
	policyPath := fs.String("policy", policyFlagDefault(c), "policy file: the request is checked against it before it is published")
	project := fs.String("project", "", "project of the requests topic (default: the policy's project)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	standbys := splitList(*to)
	switch {
	case *source == "":
		return usageError(c, "migrate", "--source is required: name the policy source to migrate, e.g. --source gke01")
	case len(standbys) == 0:
		return usageError(c, "migrate", "--to is required: name one or more standbys of %s, e.g. --to gke03", *source)
	}
	policy, ok := loadPolicy(c, "migrate", *policyPath)
	if !ok {
		return exitUsage
	}
	src, ok := policy.Source(*source)
	if !ok {
		return usageError(c, "migrate", "--source %q is not a source of %s; use one of %v", *source, *policyPath, sourceNames(policy))
	}
	for _, name := range standbys {
		if _, ok := src.Standby(name); !ok {
			return usageError(c, "migrate", "--to %q is not a standby of source %s; use some of %v (or declare it in the policy)", name, src.Name, standbyNamesOf(src))
		}
	}
	app, code, ok := connect(ctx, c, "migrate", policy)
	if !ok {
		return code
	}
	defer app.Close()

	req := events.Request{
		SchemaVersion: events.RequestSchemaVersion,
		Kind:          events.RequestMigration,
		Source:        src.Name,
		Standbys:      standbys,
		Backup:        *backupFlag,
		RequestID:     newRequestID(),
		RequestedAt:   time.Now().UTC(),
	}
	if *backupFlag == "latest" {
		name, err := latestBackup(ctx, app, src)
		if err != nil {
			fmt.Fprintf(c.stderr, "gkedr migrate: %v\n", err)
			return exitFail
		}
		req.Backup = name
	}
	data, err := req.Encode()
	if err != nil {
		return usageError(c, "migrate", "%v", err)
	}
	topic := app.Env.RequestsTopic
	if *project != "" {
		topic = "projects/" + *project + "/topics/" + topic
	}
	id, err := app.Publisher.Publish(ctx, topic, data, map[string]string{events.AttrKind: string(events.RequestMigration)})
	if err != nil {
		fmt.Fprintf(c.stderr, "gkedr migrate: %v\n", err)
		return exitFail
	}
	what := "a new backup"
	if req.Backup != "" {
		what = "backup " + lastSegment(req.Backup)
	}
	fmt.Fprintf(c.stdout, "migration of %s into %v requested (%s): request %s, message %s\n", src.Name, standbys, what, req.RequestID, id)
	return exitOK
}

// latestBackup returns the newest SUCCEEDED backup of the source's BackupPlan.
func latestBackup(ctx context.Context, app *setup.App, src *config.Source) (string, error) {
	var newest *gkebackuppb.Backup
	it := app.BackupForGKE.ListBackups(ctx, &gkebackuppb.ListBackupsRequest{Parent: src.BackupPlan})
	for {
		b, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("list backups of %s: %w", src.BackupPlan, err)
		}
		if b.GetState() == gkebackuppb.Backup_SUCCEEDED &&
			(newest == nil || b.GetCompleteTime().AsTime().After(newest.GetCompleteTime().AsTime())) {
			newest = b
		}
	}
	if newest == nil {
		return "", fmt.Errorf("source %s has no SUCCEEDED backup in %s; leave out --backup to take a new one", src.Name, src.BackupPlan)
	}
	return newest.GetName(), nil
}

// newRequestID is a random idempotency key: publishing the same request again (after a timeout)
// must reuse it, which is why it is printed.
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}

func sourceNames(p *config.Policy) []string {
	var out []string
	for _, s := range p.Sources {
		out = append(out, s.Name)
	}
	return out
}

func standbyNamesOf(src *config.Source) []string {
	var out []string
	for _, sb := range src.Standbys {
		out = append(out, sb.Name)
	}
	return out
}
