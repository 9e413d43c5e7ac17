package localstack

import (
	"context"
	"fmt"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"github.com/robfig/cron/v3"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/schedule"
)

// newScheduler returns a cron that runs the Cloud Scheduler jobs of the policy — each in its own
// time zone, as Cloud Scheduler does — by calling fire with the job. It is not started.
func newScheduler(jobs []*schedulerpb.Job, fire func(*schedulerpb.Job)) (*cron.Cron, error) {
	c := cron.New()
	for _, j := range jobs {
		when, err := schedule.Parse(j.GetSchedule(), j.GetTimeZone())
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.GetName(), err)
		}
		c.Schedule(when, cron.FuncJob(func() { fire(j) }))
	}
	return c, nil
}

// run publishes a job's Pub/Sub target, as Cloud Scheduler does on each tick, and returns the
// message id.
func (s *Stack) run(ctx context.Context, j *schedulerpb.Job) (string, error) {
	target := j.GetPubsubTarget()
	id, err := s.pub.Publish(ctx, s.env.RequestsTopic, target.GetData(), target.GetAttributes())
	if err != nil {
		return "", fmt.Errorf("run job %s: %w", j.GetName(), err)
	}
	return id, nil
}

// FireNow runs the source's backup job now, as an operator's "force run" of its Cloud Scheduler
// job does, and returns the message id.
func (s *Stack) FireNow(ctx context.Context, source string) (string, error) {
	for _, j := range s.jobs {
		if j.GetName() == s.jobLocation()+"/jobs/"+schedule.BackupJobID(source) {
			return s.run(ctx, j)
		}
	}
	return "", fmt.Errorf("fire schedule of %q: no such source with a schedule in the policy", source)
}

// Sweep publishes a sweep request for source (empty: every source), as the scheduled sweep does.
func (s *Stack) Sweep(ctx context.Context, source string) (string, error) {
	req := events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestSweep, Source: source}
	data, err := req.Encode()
	if err != nil {
		return "", fmt.Errorf("encode sweep request: %w", err)
	}
	id, err := s.pub.Publish(ctx, s.env.RequestsTopic, data, req.Attributes())
	if err != nil {
		return "", fmt.Errorf("publish sweep request: %w", err)
	}
	return id, nil
}

// jobLocation is where the stack's jobs live: the policy's project, in a location named local.
func (s *Stack) jobLocation() string { return "projects/" + s.policy.Project + "/locations/local" }
