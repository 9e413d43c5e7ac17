package events

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Message is a Pub/Sub message as delivered in a CloudEvent.
type Message struct {
	// Data is the decoded message payload.
	Data []byte
	// Attributes are the message attributes; nil when there are none.
	Attributes map[string]string
	// ID is the messageId, which Pub/Sub keeps across redeliveries of the same message.
	ID string
	// PublishTime is when Pub/Sub received the message.
	PublishTime time.Time
	// OrderingKey is the message's ordering key, if any.
	OrderingKey string
}

// pushEnvelope is the data of a messagePublished CloudEvent, the same as a push subscription's body.
// Push subscriptions write both spellings of some fields, camelCase and snake_case; either is read.
type pushEnvelope struct {
	Message *struct {
		Data             *string           `json:"data"`
		Attributes       map[string]string `json:"attributes"`
		MessageID        string            `json:"messageId"`
		MessageIDSnake   string            `json:"message_id"`
		PublishTime      string            `json:"publishTime"`
		PublishTimeSnake string            `json:"publish_time"`
		OrderingKey      string            `json:"orderingKey"`
		OrderingKeySnake string            `json:"ordering_key"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

const pubsubExample = `{"message": {"data": "<base64>", "messageId": "1", "publishTime": "2026-05-01T09:00:00Z"}}`

// DecodePubSub returns the Pub/Sub message carried by a messagePublished CloudEvent. It checks the
// event type and requires a messageId and publishTime (gkedr's idempotency key and event age of last
// resort); unknown envelope fields are ignored, since Google may add some. Errors match ErrMalformed.
func DecodePubSub(e event.Event) (Message, error) {
	if t := e.Type(); t != TypePubSubPublished {
		return Message{}, fmt.Errorf("decode pubsub event %s: %w", e.ID(), fieldErr("type",
			fmt.Sprintf("%q is not a Pub/Sub event", t),
			"route only "+TypePubSubPublished+" events to this function"))
	}
	msg, err := decodePubSubData(e.Data())
	if err != nil {
		return Message{}, fmt.Errorf("decode pubsub event %s: %w", e.ID(), err)
	}
	return msg, nil
}

func decodePubSubData(data []byte) (Message, error) {
	// decodeObject first, for its errors on empty input, syntax, duplicate keys and trailing data.
	if _, err := decodeObject(data, "data", pubsubExample); err != nil {
		return Message{}, err
	}
	var env pushEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Message{}, fieldErr(te.Field, fmt.Sprintf("want %s, got %s", te.Type, te.Value),
				"send a Pub/Sub push envelope such as "+pubsubExample)
		}
		return Message{}, fieldErr("", err.Error(), "send a Pub/Sub push envelope such as "+pubsubExample)
	}
	if env.Message == nil {
		return Message{}, fieldErr("message", "missing", "send a Pub/Sub push envelope such as "+pubsubExample)
	}
	m := env.Message
	var errs []error
	msg := Message{
		Attributes:  m.Attributes,
		ID:          first(m.MessageID, m.MessageIDSnake),
		OrderingKey: first(m.OrderingKey, m.OrderingKeySnake),
	}
	if m.Data != nil {
		d, err := base64.StdEncoding.DecodeString(*m.Data)
		if err != nil {
			errs = append(errs, fieldErr("message.data", "not base64: "+err.Error(), "encode the payload with standard base64"))
		}
		msg.Data = d
	}
	if msg.ID == "" {
		errs = append(errs, fieldErr("message.messageId", "missing", "deliver the message through Pub/Sub, which sets it"))
	}
	if pt := first(m.PublishTime, m.PublishTimeSnake); pt == "" {
		errs = append(errs, fieldErr("message.publishTime", "missing", "deliver the message through Pub/Sub, which sets it"))
	} else if t, err := time.Parse(time.RFC3339Nano, pt); err != nil {
		errs = append(errs, fieldErr("message.publishTime", fmt.Sprintf("%q is not an RFC 3339 time", pt),
			`Pub/Sub writes e.g. "2026-05-01T09:00:00.123Z"`))
	} else {
		msg.PublishTime = t.UTC()
	}
	if len(errs) > 0 {
		return Message{}, errors.Join(errs...)
	}
	return msg, nil
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
