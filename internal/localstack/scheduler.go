package localstack

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
)

// scheduledRequest is the static body Cloud Scheduler publishes for a source, and its attributes:
// Terraform sets gkedr-kind on the job so that subscription filters can see the kind.
func scheduledRequest(source string) ([]byte, map[string]string, error) {
	data, err := events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestScheduled, Source: source}.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("encode scheduled request for %s: %w", source, err)
	}
	return data, map[string]string{events.AttrKind: string(events.RequestScheduled)}, nil
}

// newSchedulers returns one cron per source that has a schedule, running in the source's time zone
// (cron.WithLocation) as its Cloud Scheduler job does, and calling fire with the source's name. They
// are not started.
func newSchedulers(policy *config.Policy, fire func(source string)) ([]*cron.Cron, error) {
	var out []*cron.Cron
	for _, src := range policy.Sources {
		if src.Schedule == "" {
			continue
		}
		loc, err := time.LoadLocation(src.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("schedule of source %s: time zone %q: %w", src.Name, src.TimeZone, err)
		}
		c := cron.New(cron.WithLocation(loc))
		name := src.Name
		if _, err := c.AddFunc(src.Schedule, func() { fire(name) }); err != nil {
			return nil, fmt.Errorf("schedule of source %s: %q: %w", src.Name, src.Schedule, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// FireNow publishes the source's scheduled request now, as its Cloud Scheduler job does when an
// operator forces a run, and returns the message id.
func (s *Stack) FireNow(ctx context.Context, source string) (string, error) {
	if _, ok := s.policy.Source(source); !ok {
		return "", fmt.Errorf("fire schedule of %q: no such source in the policy", source)
	}
	data, attrs, err := scheduledRequest(source)
	if err != nil {
		return "", err
	}
	id, err := s.pub.Publish(ctx, s.env.RequestsTopic, data, attrs)
	if err != nil {
		return "", fmt.Errorf("fire schedule of %s: %w", source, err)
	}
	return id, nil
}

// Sweep publishes a sweep request for source (empty: every source), as the scheduled sweep does.
func (s *Stack) Sweep(ctx context.Context, source string) (string, error) {
	data, err := events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestSweep, Source: source}.Encode()
	if err != nil {
		return "", fmt.Errorf("encode sweep request: %w", err)
	}
	id, err := s.pub.Publish(ctx, s.env.RequestsTopic, data, map[string]string{events.AttrKind: string(events.RequestSweep)})
	if err != nil {
		return "", fmt.Errorf("publish sweep request: %w", err)
	}
	return id, nil
}
