package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/gkebackupemu/emutest"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/restore"
)

const bpGKE01 = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"

// apiEnv is the environment of a command run against an emulator started by the test. The Pub/Sub
// address is a closed port unless a test serves one: plan and status never publish.
func apiEnv(emu *emutest.Env, pubsubAddr string) map[string]string {
	if pubsubAddr == "" {
		pubsubAddr = "127.0.0.1:9"
	}
	return map[string]string{"GKEBACKUP_EMULATOR_HOST": emu.Server.Addr(), "PUBSUB_EMULATOR_HOST": pubsubAddr}
}

// squeeze joins the fields of each line of a table with single spaces, so that assertions do not
// depend on column widths.
func squeeze(table string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// mutations lists the emulator calls that change something.
func mutations(emu *emutest.Env) []string {
	var out []string
	for _, c := range emu.Server.Calls() {
		if strings.HasPrefix(c.Method, "Create") || strings.HasPrefix(c.Method, "Update") || strings.HasPrefix(c.Method, "Delete") {
			out = append(out, c.Method)
		}
	}
	return out
}

// takeBackup takes a backup of bp-gke01 on the emulator and waits until it SUCCEEDED.
func takeBackup(t *testing.T, emu *emutest.Env, id string) string {
	t.Helper()
	plan := "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-gke01"
	if _, err := emu.Backup.CreateBackup(t.Context(), &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id, Backup: &gkebackuppb.Backup{}}); err != nil {
		t.Fatalf("create backup: %v", err)
	}
	name := plan + "/backups/" + id
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := emu.Backup.GetBackup(t.Context(), &gkebackuppb.GetBackupRequest{Name: name})
		if err != nil {
			t.Fatalf("get backup: %v", err)
		}
		if b.GetState() == gkebackuppb.Backup_SUCCEEDED {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup %s is %s after 20s", id, b.GetState())
		}
		<-tick.C
	}
}

func TestPlanCommand(t *testing.T) {
	t.Parallel()
	skew, err := gkebackupemu.LoadWorld("testdata/skew-world.yaml")
	if err != nil {
		t.Fatalf("load world: %v", err)
	}
	cases := []struct {
		name     string
		world    *gkebackupemu.World
		wantCode int
		// wantLines are substrings of the stdout line of each standby, in order.
		wantLines []string
	}{
		{
			name:     "walkthrough_would_create_both",
			wantCode: exitOK,
			wantLines: []string{
				"gke01 gke02 (next backup) create RestorePlan rp-gke02, then create a Restore in rp-gke02",
				"gke01 gke03 (next backup) create RestorePlan rp-gke03, then create a Restore in rp-gke03",
			},
		},
		{
			name:     "version_skew_names_the_refusal",
			world:    skew,
			wantCode: exitFail,
			wantLines: []string{
				"gke02 (next backup) REFUSED version-skew: standby gke02 runs 1.26.5-gke.1200, more than 3 minor versions newer",
				"gke03 (next backup) create RestorePlan rp-gke03",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := emutest.Start(t, tc.world)
			code, stdout, stderr := runCLI(t.Context(), apiEnv(emu, ""), "plan", "--policy", walkthroughPolicyFile)
			if code != tc.wantCode {
				t.Errorf("exit %d; want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			lines := strings.Split(squeeze(stdout), "\n")
			if len(lines) != len(tc.wantLines)+1 {
				t.Fatalf("stdout has %d lines; want a header and %d:\n%s", len(lines), len(tc.wantLines), stdout)
			}
			for i, want := range tc.wantLines {
				if !strings.Contains(lines[i+1], want) {
					t.Errorf("line %d = %q; want it to contain %q", i+1, lines[i+1], want)
				}
			}
			if got := mutations(emu); len(got) > 0 {
				t.Errorf("plan made mutating calls %v; want none", got)
			}
		})
	}
}

func TestPlanCommandWithABackup(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, nil)
	takeBackup(t, emu, "b1")
	before := len(mutations(emu))
	code, stdout, stderr := runCLI(t.Context(), apiEnv(emu, ""), "plan", "--policy", walkthroughPolicyFile, "--source", "gke01")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(squeeze(stdout), "gke02 b1 create RestorePlan rp-gke02, then create Restore gkedr-") {
		t.Errorf("stdout does not plan a restore of b1 into gke02:\n%s", stdout)
	}
	if got := mutations(emu)[before:]; len(got) > 0 {
		t.Errorf("plan made mutating calls %v; want none", got)
	}
}

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, nil)
	code, stdout, stderr := runCLI(t.Context(), apiEnv(emu, ""), "status", "--policy", walkthroughPolicyFile)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"gke01 - (no backup)", "gke01 gke02 (no restore)", "gke01 gke03 (no restore)"} {
		if !strings.Contains(squeeze(stdout), want) {
			t.Errorf("status before any backup lacks %q:\n%s", want, stdout)
		}
	}
	takeBackup(t, emu, "b1")
	_, stdout, _ = runCLI(t.Context(), apiEnv(emu, ""), "status", "--policy", walkthroughPolicyFile)
	if !strings.Contains(squeeze(stdout), "gke01 - b1 SUCCEEDED") || !strings.Contains(stdout, "current RPO") {
		t.Errorf("status after a backup does not show it:\n%s", stdout)
	}

	// A restore VerifyRestore has reported carries its verdict as a label.
	rp := "projects/gkedr-demo/locations/asia-northeast1/restorePlans/rp-gke02"
	if _, err := emu.Backup.CreateRestorePlan(t.Context(), &gkebackuppb.CreateRestorePlanRequest{
		Parent: "projects/gkedr-demo/locations/asia-northeast1", RestorePlanId: "rp-gke02",
		RestorePlan: &gkebackuppb.RestorePlan{BackupPlan: bpGKE01, Cluster: "projects/gkedr-demo/locations/asia-northeast1/clusters/gke02",
			RestoreConfig: restore.ConfigFor(config.Standby{Standby: true})},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Backup.CreateRestore(t.Context(), &gkebackuppb.CreateRestoreRequest{
		Parent: rp, RestoreId: "r1",
		Restore: &gkebackuppb.Restore{Backup: bpGKE01 + "/backups/b1", Labels: map[string]string{naming.LabelReported: "true", naming.LabelVerdict: "warn"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ = runCLI(t.Context(), apiEnv(emu, ""), "status", "--policy", walkthroughPolicyFile)
	if !strings.Contains(squeeze(stdout), "gke01 gke02 r1") || !strings.Contains(stdout, "verified: WARN") {
		t.Errorf("status does not show the reported restore and its verdict:\n%s", stdout)
	}
}

// pubsubServer starts pstest with the requests topic and a subscription to read what is published.
func pubsubServer(t *testing.T) (addr string, client *pubsub.Client) {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { _ = srv.Close() })
	c, err := pubsub.NewClient(t.Context(), "gkedr-demo", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("pubsub client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/gkedr-demo/topics/gkedr-backup-requests"}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
		Name: "projects/gkedr-demo/subscriptions/test", Topic: "projects/gkedr-demo/topics/gkedr-backup-requests"}); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	return srv.Addr, c
}

// receiveOne returns the first message on the test subscription.
func receiveOne(t *testing.T, c *pubsub.Client) *pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan *pubsub.Message, 1)
	err := c.Subscriber("test").Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
			cancel()
		default:
		}
	})
	select {
	case m := <-got:
		return m
	default:
		t.Fatalf("no message published (receive: %v)", err)
		return nil
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		backup     bool // take a backup first, for --backup latest
		wantCode   int
		wantStderr string
		// wantBackup is the request's backup id, "" for a new backup.
		wantBackup string
	}{
		{name: "new_backup_into_one_standby", args: []string{"--source", "gke01", "--to", "gke03"}, wantCode: exitOK},
		{name: "latest_backup", args: []string{"--source", "gke01", "--to", "gke02,gke03", "--backup", "latest"}, backup: true, wantCode: exitOK, wantBackup: "b1"},
		{name: "latest_without_a_backup", args: []string{"--source", "gke01", "--to", "gke03", "--backup", "latest"}, wantCode: exitFail, wantStderr: "has no SUCCEEDED backup"},
		{name: "unknown_standby", args: []string{"--source", "gke01", "--to", "gke09"}, wantCode: exitUsage, wantStderr: `--to "gke09" is not a standby of source gke01`},
		{name: "unknown_source", args: []string{"--source", "gke09", "--to", "gke02"}, wantCode: exitUsage, wantStderr: `--source "gke09" is not a source`},
		{name: "standbys_required", args: []string{"--source", "gke01"}, wantCode: exitUsage, wantStderr: "--to is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := emutest.Start(t, nil)
			addr, client := pubsubServer(t)
			if tc.backup {
				takeBackup(t, emu, "b1")
			}
			code, stdout, stderr := runCLI(t.Context(), apiEnv(emu, addr), append([]string{"migrate", "--policy", walkthroughPolicyFile}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantStderr)
			}
			if code != exitOK {
				return
			}
			if !strings.Contains(stdout, "migration of gke01") {
				t.Errorf("stdout %q does not confirm the request", stdout)
			}
			m := receiveOne(t, client)
			req, err := events.DecodeRequest(m.Data)
			if err != nil {
				t.Fatalf("published request does not decode: %v", err)
			}
			if err := req.Validate(); err != nil {
				t.Errorf("published request is incomplete: %v", err)
			}
			if req.Kind != events.RequestMigration || req.Source != "gke01" || lastSegment(req.Backup) != tc.wantBackup {
				t.Errorf("request %s; want a migration of gke01 with backup %q", m.Data, tc.wantBackup)
			}
			if diff := cmp.Diff(map[string]string{events.AttrKind: "migration"}, m.Attributes); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}
