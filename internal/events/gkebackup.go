package events

import (
	"encoding/json"
	"fmt"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// payloadUnmarshal reads Eventarc's protojson. Note DiscardUnknown: Eventarc may send fields and enum
// values newer than the gkebackuppb this binary was built with, and those must not make a valid event
// malformed. An unknown enum name therefore decodes as the zero value (e.g. STATE_UNSPECIFIED), on
// which no handler acts.
var payloadUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

const payloadExample = `{"payload": {"name": "projects/P/locations/L/...", "state": "SUCCEEDED"}}`

// DecodeBackupEvent returns the Backup carried by a Backup for GKE created or updated event. The
// payload is a snapshot taken when the event was emitted: act on a Backup re-read with GetBackup.
// Errors match ErrMalformed.
func DecodeBackupEvent(e event.Event) (*gkebackuppb.Backup, error) {
	if t := e.Type(); t != TypeBackupCreated && t != TypeBackupUpdated {
		return nil, fmt.Errorf("decode backup event %s: %w", e.ID(), fieldErr("type",
			fmt.Sprintf("%q is not a backup event", t),
			"route only "+TypeBackupCreated+" and "+TypeBackupUpdated+" events to this function"))
	}
	var b gkebackuppb.Backup
	if err := decodePayload(e.Data(), &b, "backup"); err != nil {
		return nil, fmt.Errorf("decode backup event %s: %w", e.ID(), err)
	}
	return &b, nil
}

// DecodeRestoreEvent returns the Restore carried by a Backup for GKE created or updated event. As with
// backups, re-read it with GetRestore before acting. Errors match ErrMalformed.
func DecodeRestoreEvent(e event.Event) (*gkebackuppb.Restore, error) {
	if t := e.Type(); t != TypeRestoreCreated && t != TypeRestoreUpdated {
		return nil, fmt.Errorf("decode restore event %s: %w", e.ID(), fieldErr("type",
			fmt.Sprintf("%q is not a restore event", t),
			"route only "+TypeRestoreCreated+" and "+TypeRestoreUpdated+" events to this function"))
	}
	var r gkebackuppb.Restore
	if err := decodePayload(e.Data(), &r, "restore"); err != nil {
		return nil, fmt.Errorf("decode restore event %s: %w", e.ID(), err)
	}
	return &r, nil
}

// named is what Backup and Restore have in common for decodePayload.
type named interface {
	proto.Message
	GetName() string
}

// decodePayload reads {"payload": <protojson>} into dst. Other top-level members are ignored, like
// unknown fields inside the payload.
func decodePayload(data []byte, dst named, what string) error {
	m, err := decodeObject(data, "data", payloadExample)
	if err != nil {
		return err
	}
	raw, ok := present(m, "payload")
	if !ok {
		return fieldErr("payload", "missing", "send the Eventarc form "+payloadExample)
	}
	if err := payloadUnmarshal.Unmarshal(raw, dst); err != nil {
		return fieldErr("payload", fmt.Sprintf("not a %s: %v", what, err), "send the protojson form of the "+what)
	}
	if dst.GetName() == "" {
		return fieldErr("payload.name", "missing", "send the full resource name of the "+what)
	}
	return nil
}

// EncodeBackupEvent returns the data of a backup event as Eventarc sends it, {"payload": <protojson>}
// with camelCase fields and enum names, for the gkebackup emulator and tests.
func EncodeBackupEvent(b *gkebackuppb.Backup) ([]byte, error) {
	data, err := encodePayload(b, "backup")
	if err != nil {
		return nil, fmt.Errorf("encode backup event: %w", err)
	}
	return data, nil
}

// EncodeRestoreEvent returns the data of a restore event as Eventarc sends it; see EncodeBackupEvent.
func EncodeRestoreEvent(r *gkebackuppb.Restore) ([]byte, error) {
	data, err := encodePayload(r, "restore")
	if err != nil {
		return nil, fmt.Errorf("encode restore event: %w", err)
	}
	return data, nil
}

func encodePayload(m named, what string) ([]byte, error) {
	// Note that a typed nil pointer inside the interface is not == nil; GetName is nil-safe, and proto
	// messages' Reflect reports validity, so check that instead.
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("%s is nil", what)
	}
	if m.GetName() == "" {
		return nil, fmt.Errorf("%s has no name, which every event needs", what)
	}
	payload, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", what, err)
	}
	// json.Marshal compacts the RawMessage: protojson's output deliberately varies its whitespace.
	return json.Marshal(struct {
		Payload json.RawMessage `json:"payload"`
	}{payload})
}
