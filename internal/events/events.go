// Package events holds gkedr's event contracts: the backup request published on
// gkedr-backup-requests, the Pub/Sub CloudEvent envelope that carries it to a function, the Backup for
// GKE Eventarc payloads, the report and refusal records published on gkedr-reports, and a Publisher.
//
// Every decoder is strict about what gkedr owns (the request, the report) and lenient about what
// Google owns (the Pub/Sub envelope and the Eventarc payload may grow fields). Every decoding error
// names the field and the fix, and matches ErrMalformed: a malformed event can never become valid by
// redelivery, so adapters acknowledge it (return nil) after logging it, instead of retrying it.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/gkedr/gkedr/internal/problem"
)

// CloudEvent types gkedr's functions receive.
const (
	// TypePubSubPublished is the type of a Pub/Sub message delivered through Eventarc.
	TypePubSubPublished = "google.cloud.pubsub.topic.v1.messagePublished"
	// TypeBackupCreated and TypeBackupUpdated are Backup for GKE direct events for a Backup.
	TypeBackupCreated = "google.cloud.gkebackup.backup.v1.created"
	TypeBackupUpdated = "google.cloud.gkebackup.backup.v1.updated"
	// TypeRestoreCreated and TypeRestoreUpdated are Backup for GKE direct events for a Restore.
	TypeRestoreCreated = "google.cloud.gkebackup.restore.v1.created"
	TypeRestoreUpdated = "google.cloud.gkebackup.restore.v1.updated"
)

// Pub/Sub attributes, so that subscriptions can filter without decoding (e.g.
// attributes.gkedr-kind = "refusal").
const (
	// AttrKind says what a message is: on gkedr-reports KindRefusal or KindReport, on
	// gkedr-backup-requests the request kind (see Request.Attributes).
	AttrKind = "gkedr-kind"
	// AttrVerdict, AttrSource and AttrStandby repeat the report's verdict and policy names.
	AttrVerdict = "gkedr-verdict"
	AttrSource  = "gkedr-source"
	AttrStandby = "gkedr-standby"
)

// Values of AttrKind.
const (
	// KindRefusal marks a report whose verdict is REFUSED: a safety guard stopped a restore.
	KindRefusal = "refusal"
	// KindReport marks the verification report of a restore.
	KindReport = "report"
)

// ErrMalformed matches (errors.Is) every error of this package's decoders: the input can never be
// decoded, however often it is delivered, so the event must be acknowledged, not retried.
var ErrMalformed = errors.New("malformed event")

// FieldError is one problem with one field of an event, and how to fix it. It matches ErrMalformed.
type FieldError struct {
	// Field is the JSON path of the field, e.g. "kind", "standbys[1]" or "message.data"; empty when
	// the problem is with the whole document.
	Field string
	// Problem says what is wrong, Fix what to do about it (may be empty).
	Problem string
	Fix     string
}

// Error returns "field: problem; fix".
func (e *FieldError) Error() string { return problem.Format(e.Field, e.Problem, e.Fix) }

// Is makes errors.Is(err, ErrMalformed) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrMalformed }

func fieldErr(field, problem, fix string) *FieldError {
	return &FieldError{Field: field, Problem: problem, Fix: fix}
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// decodeObject reads data as exactly one JSON object and returns its members unparsed. what names the
// document in errors ("request", "data"). It rejects what encoding/json lets through: duplicate keys
// (which one wins is a guess) and data after the object (a concatenation of two messages).
func decodeObject(data []byte, what, example string) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fieldErr("", what+" is empty", "send a JSON object such as "+example)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON(what, err, example)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldErr("", fmt.Sprintf("%s is %s, not a JSON object", what, tokenKind(tok)),
			"send a JSON object such as "+example)
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON(what, err, example)
		}
		key := tok.(string) // the decoder guarantees a string key inside an object
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notJSON(what, err, example)
		}
		if _, dup := members[key]; dup {
			return nil, fieldErr(key, "appears twice", "keep one")
		}
		members[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notJSON(what, err, example)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("", what+" has data after the JSON object", "send exactly one JSON object")
	}
	return members, nil
}

func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

func notJSON(what string, err error, example string) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fieldErr("", fmt.Sprintf("%s is not valid JSON: %s at byte %d", what, se.Error(), se.Offset),
			"send a JSON object such as "+example)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fieldErr("", what+" is not valid JSON: it ends early", "send a complete JSON object such as "+example)
	}
	return fieldErr("", fmt.Sprintf("%s is not valid JSON: %v", what, err), "send a JSON object such as "+example)
}

// unknownFields returns an error for each member of m not in known, suggesting the known field that
// differs only in case, since encoding/json's case-insensitive matching is not what gkedr does.
func unknownFields(m map[string]json.RawMessage, known []string) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(known, k) {
			continue
		}
		fix := "remove it; the fields are " + strings.Join(known, ", ")
		for _, want := range known {
			if strings.EqualFold(k, want) {
				fix = fmt.Sprintf("field names are case-sensitive: write %q", want)
			}
		}
		errs = append(errs, fieldErr(k, "unknown field", fix))
	}
	return errs
}
