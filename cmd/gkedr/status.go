package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/api/iterator"

	"github.com/gkedr/gkedr/internal/naming"
)

func runStatus(ctx context.Context, c cli, args []string) int {
	fs := newFlags(c, "status", "[--policy FILE]",
		"Shows, for each source, its last backup and that backup's age (the current RPO), and for each\n"+
			"standby its last restore, its state and whether gkedr has reported it. It reads the local\n"+
			"stack when GKEBACKUP_EMULATOR_HOST is set, the real project with Application Default\n"+
			"Credentials otherwise. Exit 0, or 1 when the API cannot be read.")
	policyPath := fs.String("policy", policyFlagDefault(c), "policy file")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	policy, ok := loadPolicy(c, "status", *policyPath)
	if !ok {
		return exitUsage
	}
	app, code, ok := connect(ctx, c, "status", policy)
	if !ok {
		return code
	}
	defer app.Close()
	now := time.Now()
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTANDBY\tLAST\tSTATE\tAGE\tNOTE")
	for _, src := range policy.Sources {
		var last, good *gkebackuppb.Backup
		err := each(app.BackupForGKE.ListBackups(ctx, &gkebackuppb.ListBackupsRequest{Parent: src.BackupPlan}), func(b *gkebackuppb.Backup) {
			if last == nil || b.GetCreateTime().AsTime().After(last.GetCreateTime().AsTime()) {
				last = b
			}
			if b.GetState() == gkebackuppb.Backup_SUCCEEDED && (good == nil || b.GetCompleteTime().AsTime().After(good.GetCompleteTime().AsTime())) {
				good = b
			}
		})
		if err != nil {
			fmt.Fprintf(c.stderr, "gkedr status: list backups of %s: %v\n", src.BackupPlan, err)
			return exitFail
		}
		switch {
		case good == nil && last == nil:
			fmt.Fprintf(tw, "%s\t-\t(no backup)\t-\t-\tno backup yet: the RPO is unbounded\n", src.Name)
		case good == nil:
			fmt.Fprintf(tw, "%s\t-\t%s\t%s\t-\tno SUCCEEDED backup yet\n", src.Name, lastSegment(last.GetName()), last.GetState())
		default:
			note := "current RPO"
			if last != good {
				note = fmt.Sprintf("current RPO; newest backup %s is %s", lastSegment(last.GetName()), last.GetState())
			}
			fmt.Fprintf(tw, "%s\t-\t%s\t%s\t%s\t%s\n", src.Name, lastSegment(good.GetName()), good.GetState(),
				age(now, good.GetCompleteTime().AsTime()), note)
		}
		for _, sb := range src.Standbys {
			var lastRestore *gkebackuppb.Restore
			err := each(app.BackupForGKE.ListRestores(ctx, &gkebackuppb.ListRestoresRequest{Parent: sb.RestorePlan}), func(r *gkebackuppb.Restore) {
				if lastRestore == nil || r.GetCreateTime().AsTime().After(lastRestore.GetCreateTime().AsTime()) {
					lastRestore = r
				}
			})
			if err != nil && !isNotFound(err) {
				fmt.Fprintf(c.stderr, "gkedr status: list restores of %s: %v\n", sb.RestorePlan, err)
				return exitFail
			}
			if lastRestore == nil {
				fmt.Fprintf(tw, "%s\t%s\t(no restore)\t-\t-\tnot restored yet\n", src.Name, sb.Name)
				continue
			}
			note := "not reported yet (the sweep verifies it)"
			if lastRestore.GetLabels()[naming.LabelReported] == "true" {
				note = "verified: " + strings.ToUpper(lastRestore.GetLabels()[naming.LabelVerdict])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", src.Name, sb.Name, lastSegment(lastRestore.GetName()), lastRestore.GetState(),
				age(now, lastRestore.GetCreateTime().AsTime()), note)
		}
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(c.stderr, "gkedr status: %v\n", err)
		return exitFail
	}
	return exitOK
}

// iter is the shape of the client's list iterators.
type iter[T any] interface{ Next() (T, error) }

// each calls fn for every item of it.
func each[T any](it iter[T], fn func(T)) error {
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(v)
	}
}

// age renders how long ago t was, to the second; a time in the future (the emulator's clock runs
// fast) reads as 0s.
func age(now, t time.Time) string {
	return max(now.Sub(t), 0).Round(time.Second).String()
}
