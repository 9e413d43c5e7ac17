package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/schedule"
)

const (
	location = "projects/gkedr-demo/locations/asia-northeast1"
	topic    = "projects/gkedr-demo/topics/gkedr-backup-requests"
)

func TestJobs_walkthrough(t *testing.T) {
	t.Parallel()
	p, err := config.Parse(examples.WalkthroughPolicy)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := schedule.Jobs(p, location, topic, schedule.DefaultSweepSchedule)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("jobs = %d, want the backup of gke01 and the sweep", len(jobs))
	}
	backup := jobs[0]
	want := &schedulerpb.Job{
		Name: location + "/jobs/gkedr-backup-gke01", Schedule: "0 */6 * * *", TimeZone: "Asia/Tokyo",
		AttemptDeadline: schedule.AttemptDeadline, RetryConfig: schedule.BackupRetry,
		Description: backup.GetDescription(),
		Target: &schedulerpb.Job_PubsubTarget{PubsubTarget: &schedulerpb.PubsubTarget{
			TopicName:  topic,
			Data:       []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`),
			Attributes: map[string]string{events.AttrKind: "scheduled"},
		}},
	}
	if diff := cmp.Diff(want, backup, protocmp.Transform()); diff != "" {
		t.Errorf("backup job (-want +got):\n%s", diff)
	}
	// The body is what BackupTrigger decodes: a request Cloud Scheduler can send unchanged.
	req, err := events.DecodeRequest(backup.GetPubsubTarget().GetData())
	if err != nil || req.Kind != events.RequestScheduled || req.Source != "gke01" {
		t.Errorf("backup job body decodes to %+v, %v", req, err)
	}
	sweep := jobs[1]
	if sweep.GetName() != location+"/jobs/"+schedule.SweepJobID || sweep.GetPubsubTarget().GetAttributes()[events.AttrKind] != "sweep" {
		t.Errorf("sweep job = %v", sweep)
	}
}

func TestJobs_rejects_bad_schedules(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, spec, zone, sweep, want string }{
		{name: "bad_cron", spec: "every hour", zone: "UTC", sweep: schedule.DefaultSweepSchedule, want: `job gkedr-backup-s1: schedule "every hour"`},
		{name: "bad_zone", spec: "0 * * * *", zone: "Mars/Base", sweep: schedule.DefaultSweepSchedule, want: `time zone "Mars/Base"`},
		{name: "bad_sweep", spec: "0 * * * *", zone: "UTC", sweep: "* *", want: "job gkedr-sweep"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &config.Policy{Sources: []config.Source{{Name: "s1", Schedule: tc.spec, TimeZone: tc.zone}}}
			_, err := schedule.Jobs(p, location, topic, tc.sweep)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Jobs() error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParse_runs_in_the_jobs_zone(t *testing.T) {
	t.Parallel()
	s, err := schedule.Parse("0 9 * * *", "Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// 09:00 in Tokyo is 00:00 UTC the next day.
	if got, want := s.Next(from), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Next(%v) = %v, want %v in UTC", from, got, want)
	}
}
