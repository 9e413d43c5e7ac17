package events

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// goldenData returns the data of every golden CloudEvent whose file name has one of prefixes, to seed
// the fuzz targets.
func goldenData(f *testing.F, prefixes ...string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden events: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		name := filepath.Base(p)
		for _, prefix := range prefixes {
			if strings.HasPrefix(name, prefix) {
				out = append(out, loadEvent(f, name).Data())
				break
			}
		}
	}
	if len(out) == 0 {
		f.Fatalf("no golden events match %v", prefixes)
	}
	return out
}

func checkMalformed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v does not match ErrMalformed: an adapter would retry it forever", err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, data := range goldenData(f, "pubsub_", "malformed_request_") {
		msg, err := decodePubSubData(data)
		if err != nil {
			f.Fatalf("golden envelope: %v", err)
		}
		f.Add(msg.Data)
	}
	f.Add([]byte(`{"schemaVersion":1,"kind":"migration","source":"s","standbys":["a","b"],"requestId":"r","requestedAt":"2026-05-01T09:00:00.5+09:00"}`))
	f.Add([]byte(`{"schemaVersion":1,"kind":"sweep","source":null,"requestedAt":"0001-01-01T00:00:00Z"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			checkMalformed(t, err)
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded request: %v\ninput: %q", err, data)
		}
		back, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("DecodeRequest(Encode()): %v\nencoded: %s", err, enc)
		}
		if diff := cmp.Diff(r, back); diff != "" {
			t.Fatalf("round trip changed the request (-decoded +re-decoded):\n%s", diff)
		}
	})
}

func FuzzDecodePubSub(f *testing.F) {
	for _, data := range goldenData(f, "pubsub_", "malformed_") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodePubSub(pubsubEvent(t, TypePubSubPublished, data))
		if err != nil {
			checkMalformed(t, err)
			return
		}
		if msg.ID == "" || msg.PublishTime.IsZero() {
			t.Fatalf("decoded message without id or publish time: %+v", msg)
		}
	})
}

func FuzzDecodeBackupEvent(f *testing.F) {
	for _, data := range goldenData(f, "backup_", "malformed_backup_", "restore_") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBackupEvent(pubsubEvent(t, TypeBackupUpdated, data))
		if err != nil {
			checkMalformed(t, err)
			return
		}
		enc, err := EncodeBackupEvent(b)
		if err != nil {
			t.Fatalf("EncodeBackupEvent of a decoded backup: %v", err)
		}
		back, err := DecodeBackupEvent(pubsubEvent(t, TypeBackupUpdated, enc))
		if err != nil {
			t.Fatalf("DecodeBackupEvent(EncodeBackupEvent()): %v\nencoded: %s", err, enc)
		}
		if !proto.Equal(b, back) {
			t.Fatalf("round trip changed the backup:\n%v\n%v", b, back)
		}
	})
}

func FuzzDecodeRestoreEvent(f *testing.F) {
	for _, data := range goldenData(f, "restore_", "backup_", "malformed_backup_") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRestoreEvent(pubsubEvent(t, TypeRestoreUpdated, data))
		if err != nil {
			checkMalformed(t, err)
			return
		}
		enc, err := EncodeRestoreEvent(r)
		if err != nil {
			t.Fatalf("EncodeRestoreEvent of a decoded restore: %v", err)
		}
		back, err := DecodeRestoreEvent(pubsubEvent(t, TypeRestoreUpdated, enc))
		if err != nil {
			t.Fatalf("DecodeRestoreEvent(EncodeRestoreEvent()): %v\nencoded: %s", err, enc)
		}
		if !proto.Equal(r, back) {
			t.Fatalf("round trip changed the restore:\n%v\n%v", r, back)
		}
	})
}
