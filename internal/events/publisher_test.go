package events

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const emulatorProject = "gkedr-test"

// emulatorClient returns a client of the Pub/Sub emulator named by PUBSUB_EMULATOR_HOST. Without it the
// test is skipped locally, but fails when CI=true: CI starts the emulator, so its absence is a bug.
func emulatorClient(t *testing.T) *pubsub.Client {
	t.Helper()
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		const how = "start it with `gcloud beta emulators pubsub start --host-port=127.0.0.1:8085 --project=test` " +
			"and export PUBSUB_EMULATOR_HOST=127.0.0.1:8085"
		if os.Getenv("CI") == "true" {
			t.Fatal("PUBSUB_EMULATOR_HOST is not set and CI=true: the Pub/Sub emulator must run in CI; " + how)
		}
		t.Skip("PUBSUB_EMULATOR_HOST is not set, skipping the Pub/Sub emulator test; " + how)
	}
	// Note that a fresh context: t.Context() is canceled before Cleanup runs, and the client outlives it.
	client, err := pubsub.NewClient(context.Background(), emulatorProject)
	if err != nil {
		t.Fatalf("pubsub.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// topicWithSubscription creates a topic and a subscription to it with names unique to this run (the
// emulator is shared by every test of the run) and returns the topic id and subscription name.
func topicWithSubscription(t *testing.T, client *pubsub.Client, prefix string) (string, string) {
	t.Helper()
	id := prefix + "-" + strings.ToLower(rand.Text()[:10])
	topic := "projects/" + emulatorProject + "/topics/" + id
	sub := "projects/" + emulatorProject + "/subscriptions/" + id
	if _, err := client.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	if _, err := client.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
		Name: sub, Topic: topic, AckDeadlineSeconds: 10,
	}); err != nil {
		t.Fatalf("CreateSubscription %s: %v", sub, err)
	}
	return id, sub
}

type received struct {
	ID    string
	Data  string
	Attrs map[string]string
}

// receive pulls n messages from sub, acking each, or fails after a deadline.
func receive(t *testing.T, client *pubsub.Client, sub string, n int) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		got []received
	)
	err := client.Subscriber(sub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		defer mu.Unlock()
		got = append(got, received{ID: m.ID, Data: string(m.Data), Attrs: m.Attributes})
		if len(got) == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatalf("Receive from %s: %v", sub, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < n {
		t.Fatalf("received %d messages from %s within the deadline, want %d", len(got), sub, n)
	}
	return got
}

func TestPublisherEmulator(t *testing.T) {
	t.Parallel()

	client := emulatorClient(t)
	requests, requestsSub := topicWithSubscription(t, client, "gkedr-backup-requests")
	reports, reportsSub := topicWithSubscription(t, client, "gkedr-reports")

	p := NewPublisher(client)
	defer p.Stop()

	req, err := Request{SchemaVersion: 1, Kind: RequestSweep}.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	rep, attrs, err := EncodeReport(refusalReport())
	if err != nil {
		t.Fatalf("EncodeReport: %v", err)
	}

	var want []received
	for i := 0; i < 2; i++ {
		// The topic is named by id the first time and by full name the second: both reach it.
		topic := requests
		if i == 1 {
			topic = "projects/" + emulatorProject + "/topics/" + requests
		}
		id, err := p.Publish(t.Context(), topic, req, nil)
		if err != nil {
			t.Fatalf("Publish to %s: %v", topic, err)
		}
		want = append(want, received{ID: id, Data: string(req)})
	}
	repID, err := p.Publish(t.Context(), reports, rep, attrs)
	if err != nil {
		t.Fatalf("Publish report: %v", err)
	}

	byID := cmpopts.SortSlices(func(a, b received) bool { return a.ID < b.ID })
	emptyMapIsNil := cmpopts.EquateEmpty()
	if diff := cmp.Diff(want, receive(t, client, requestsSub, 2), byID, emptyMapIsNil); diff != "" {
		t.Errorf("requests received (-want +got):\n%s", diff)
	}
	wantReport := []received{{ID: repID, Data: string(rep), Attrs: attrs}}
	gotReport := receive(t, client, reportsSub, 1)
	if diff := cmp.Diff(wantReport, gotReport); diff != "" {
		t.Errorf("report received (-want +got):\n%s", diff)
	}
	if got, err := DecodeReport([]byte(gotReport[0].Data)); err != nil || got.Verdict != "REFUSED" {
		t.Errorf("DecodeReport of the received report = %v, %v; want a REFUSED report", got.Verdict, err)
	}
}

func TestPublisherEmulatorMissingTopic(t *testing.T) {
	t.Parallel()

	client := emulatorClient(t)
	p := NewPublisher(client)
	defer p.Stop()

	_, err := p.Publish(t.Context(), "gkedr-no-such-topic", []byte("x"), nil)
	if status.Code(err) != codes.NotFound {
		t.Errorf("Publish to a missing topic: error %v, want code NotFound", err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "publish to gkedr-no-such-topic: ") {
		t.Errorf("Publish error = %v, want it to name the topic", err)
	}
}

func TestPublisherStop(t *testing.T) {
	t.Parallel()

	// No client is needed: after Stop, Publish fails before any network call.
	p := NewPublisher(nil)
	p.Stop()
	p.Stop() // idempotent
	_, err := p.Publish(t.Context(), "gkedr-reports", []byte("{}"), nil)
	if !errors.Is(err, ErrPublisherStopped) {
		t.Errorf("Publish after Stop: error %v, want ErrPublisherStopped", err)
	}
}
