// Package schedule describes the Cloud Scheduler jobs that drive gkedr — one backup job per policy
// source with a schedule, and the sweep — as the API's own Job messages. The local stack runs
// exactly these jobs with a cron parser, and infra/scheduler.tf is cross-checked against them, so
// the drill fires what a deployment fires.
package schedule

import (
	"fmt"
	"time"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
)

// SweepJobID is the id of the sweep job; DefaultSweepSchedule its cron (UTC). Every 30 minutes
// bounds the latency a lost event costs without adding noticeable API traffic.
const (
	SweepJobID           = "gkedr-sweep"
	DefaultSweepSchedule = "*/30 * * * *"
	sweepTimeZone        = "Etc/UTC"
)

// BackupJobID is the id of the job that requests a backup of source.
func BackupJobID(source string) string { return "gkedr-backup-" + source }

// AttemptDeadline bounds one publish of a job: a Pub/Sub target is done once the message is
// accepted.
var AttemptDeadline = durationpb.New(60 * time.Second)

// BackupRetry is the retry of a failed backup tick: a missed tick is a missed backup until the next
// one, so it retries longer than the sweep, which runs again within the hour anyway.
var BackupRetry = &schedulerpb.RetryConfig{
	RetryCount: 5, MinBackoffDuration: durationpb.New(10 * time.Second),
	MaxBackoffDuration: durationpb.New(300 * time.Second), MaxDoublings: 4,
}

// SweepRetry is the retry of a failed sweep tick.
var SweepRetry = &schedulerpb.RetryConfig{
	RetryCount: 3, MinBackoffDuration: durationpb.New(10 * time.Second),
	MaxBackoffDuration: durationpb.New(120 * time.Second), MaxDoublings: 3,
}

// Jobs returns the jobs of policy in location (projects/P/locations/L), publishing to topic (a full
// topic name). Each publishes the static request body Cloud Scheduler can send — the function fills
// the request id and time from the Pub/Sub message — with the kind as an attribute for
// subscription filters.
func Jobs(policy *config.Policy, location, topic, sweepSchedule string) ([]*schedulerpb.Job, error) {
	var jobs []*schedulerpb.Job
	for _, src := range policy.Sources {
		if src.Schedule == "" {
			continue
		}
		j, err := job(location, BackupJobID(src.Name), src.Schedule, src.TimeZone, topic, BackupRetry,
			events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestScheduled, Source: src.Name})
		if err != nil {
			return nil, err
		}
		j.Description = "Requests a backup of " + src.Cluster + " on the gkedr policy's schedule."
		jobs = append(jobs, j)
	}
	sweep, err := job(location, SweepJobID, sweepSchedule, sweepTimeZone, topic, SweepRetry,
		events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestSweep})
	if err != nil {
		return nil, err
	}
	sweep.Description = "Re-derives what should exist, so that a lost event costs latency, never a missed restore."
	return append(jobs, sweep), nil
}

func job(location, id, spec, zone, topic string, retry *schedulerpb.RetryConfig, req events.Request) (*schedulerpb.Job, error) {
	if zone == "" {
		zone = config.DefaultTimeZone
	}
	if _, err := Parse(spec, zone); err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	data, err := req.Encode()
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	return &schedulerpb.Job{
		Name:            location + "/jobs/" + id,
		Schedule:        spec,
		TimeZone:        zone,
		AttemptDeadline: AttemptDeadline,
		RetryConfig:     retry,
		Target: &schedulerpb.Job_PubsubTarget{PubsubTarget: &schedulerpb.PubsubTarget{
			TopicName: topic, Data: data, Attributes: req.Attributes(),
		}},
	}, nil
}

// Parse parses a Cloud Scheduler cron (five fields, unix-cron) in a time zone.
func Parse(spec, zone string) (cron.Schedule, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", zone, err)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return inZone{s, loc}, nil
}

// inZone evaluates a schedule in a time zone, as Cloud Scheduler does with a job's time_zone.
type inZone struct {
	cron.Schedule
	loc *time.Location
}

// Next returns the next activation after t, in t's location.
func (z inZone) Next(t time.Time) time.Time {
	return z.Schedule.Next(t.In(z.loc)).In(t.Location())
}
