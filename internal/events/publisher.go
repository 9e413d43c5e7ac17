package events

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"cloud.google.com/go/pubsub/v2"
)

// ErrPublisherStopped is returned by Publish after Stop.
var ErrPublisherStopped = errors.New("publisher stopped")

// Publisher publishes to Pub/Sub topics and waits for each message's server id. It keeps one
// *pubsub.Publisher per topic, as the client library asks (each starts batching goroutines), and is
// safe for concurrent use.
type Publisher struct {
	client *pubsub.Client

	mu      sync.Mutex
	topics  map[string]*pubsub.Publisher
	stopped bool
}

// NewPublisher returns a Publisher over client. The caller keeps ownership of client (and closes it
// after Stop).
func NewPublisher(client *pubsub.Client) *Publisher {
	return &Publisher{client: client, topics: map[string]*pubsub.Publisher{}}
}

// Publish sends data with attrs to topic (a topic id in the client's project, or a full
// projects/P/topics/T name) and returns the message id once the server has it. Note that it waits
// for the id on purpose: a function that returned before the publish was acknowledged could lose the
// message (and a restore request or report with it) when its instance is frozen.
func (p *Publisher) Publish(ctx context.Context, topic string, data []byte, attrs map[string]string) (string, error) {
	pub, err := p.publisher(topic)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	id, err := pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	return id, nil
}

func (p *Publisher) publisher(topic string) (*pubsub.Publisher, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, ErrPublisherStopped
	}
	pub, ok := p.topics[topic]
	if !ok {
		pub = p.client.Publisher(topic)
		p.topics[topic] = pub
	}
	return pub, nil
}

// Stop flushes every topic's pending messages and stops their goroutines. Publish fails with
// ErrPublisherStopped afterwards. Stop may be called more than once.
func (p *Publisher) Stop() {
	p.mu.Lock()
	p.stopped = true
	pubs := make([]*pubsub.Publisher, 0, len(p.topics))
	for _, pub := range p.topics {
		pubs = append(pubs, pub)
	}
	clear(p.topics)
	p.mu.Unlock()

	// Stop flushes, which takes a round trip per topic: do them together.
	var wg sync.WaitGroup
	for _, pub := range pubs {
		wg.Go(pub.Stop)
	}
	wg.Wait()
}
