package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RequestSchemaVersion is the only version of Request this gkedr reads and writes. A consumer that
// meets another version refuses it rather than guess at its meaning.
const RequestSchemaVersion = 1

// LatestBackup, as a migration request's backup, selects the source's newest SUCCEEDED backup.
const LatestBackup = "latest"

// MaxRequestBytes bounds the encoded size of a Request. Real requests are a few hundred bytes; the
// limit keeps a runaway publisher from making every function parse megabytes.
const MaxRequestBytes = 64 << 10

// RequestKind says why a backup (and the restores after it) is requested.
type RequestKind string

// Request kinds.
const (
	// RequestScheduled is a Cloud Scheduler tick for one source.
	RequestScheduled RequestKind = "scheduled"
	// RequestMigration asks for a backup of one source restored into a chosen subset of its standbys,
	// or, with Backup set, for an existing backup restored into them.
	RequestMigration RequestKind = "migration"
	// RequestSweep asks every function to re-derive what should exist from the API (DESIGN §1), for
	// one source or, with Source empty, for all of them.
	RequestSweep RequestKind = "sweep"
	// RequestManual is an operator's backup-now for one source.
	RequestManual RequestKind = "manual"
)

var requestKinds = []RequestKind{RequestScheduled, RequestMigration, RequestSweep, RequestManual}

func (k RequestKind) valid() bool {
	for _, v := range requestKinds {
		if k == v {
			return true
		}
	}
	return false
}

// staticBody reports whether requests of kind k may come from Cloud Scheduler, which can only send a
// fixed body: such requests cannot carry a fresh requestId or requestedAt.
func (k RequestKind) staticBody() bool { return k == RequestScheduled || k == RequestSweep }

// Request is the message on topic gkedr-backup-requests: a scheduler tick, a migration, a sweep or an
// operator's backup-now.
type Request struct {
	// SchemaVersion must be RequestSchemaVersion.
	SchemaVersion int `json:"schemaVersion"`
	// Kind is scheduled, migration, sweep or manual.
	Kind RequestKind `json:"kind"`
	// Source is the policy name of the source cluster. Required, except for a sweep, where empty
	// means every source.
	Source string `json:"source"`
	// Standbys is the subset of the source's standbys to restore into; migration only, and required
	// there.
	Standbys []string `json:"standbys,omitempty"`
	// Backup is the full name of an existing backup to restore instead of taking a new one, or
	// LatestBackup for the source's newest SUCCEEDED backup; migration only. Empty means: take a new
	// backup (BackupTrigger) and restore it when it succeeds (RestoreOnBackup, by its labels).
	Backup string `json:"backup,omitempty"`
	// RequestID is the idempotency key: the backup id derives from it, so the same request delivered
	// twice takes one backup.
	RequestID string `json:"requestId"`
	// RequestedAt is when the request was made, for the event max age and the RPO.
	RequestedAt time.Time `json:"requestedAt"`
}

// requestFields lists Request's JSON fields in the order errors are reported.
var requestFields = []string{"schemaVersion", "kind", "source", "standbys", "backup", "requestId", "requestedAt"}

const requestExample = `{"schemaVersion": 1, "kind": "scheduled", "source": "gke01"}`

// DecodeRequest decodes and validates a Request strictly: one JSON object of at most MaxRequestBytes,
// no unknown or duplicate fields, every value of the right type and meaning. The error joins one
// *FieldError per problem, each naming the field and the fix, and matches ErrMalformed.
//
// Note that requestId and requestedAt may be absent from a scheduled or sweep request: Cloud Scheduler
// publishes the same static body on every tick, so it cannot put a fresh id or time in it. The caller
// fills them from the Pub/Sub message with FillFrom, which is also correct: Pub/Sub keeps the
// messageId across redeliveries, so a redelivered tick keeps its idempotency key, and publishTime is
// when the tick fired. A migration or manual request must carry both, because an operator who
// republishes after a timeout creates a new message: only a requestId of their own makes that
// second publish take no second backup.
func DecodeRequest(data []byte) (Request, error) {
	if len(data) > MaxRequestBytes {
		return Request{}, fmt.Errorf("decode request: %w", fieldErr("",
			fmt.Sprintf("request is %d bytes, over the limit of %d", len(data), MaxRequestBytes),
			"send only the request fields; large inputs belong in the policy file"))
	}
	m, err := decodeObject(data, "request", requestExample)
	if err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	var r Request
	errs := unknownFields(m, requestFields)
	// Note that meaning is checked only once every field has its type: "kind: missing" would be a
	// misleading second error for a kind sent as a number.
	if typeErrs := r.decodeFields(m); len(typeErrs) > 0 {
		errs = append(errs, typeErrs...)
	} else {
		errs = append(errs, r.problems(false)...)
	}
	if len(errs) > 0 {
		return Request{}, fmt.Errorf("decode request: %w", errors.Join(errs...))
	}
	return r, nil
}

// decodeFields sets r's fields from m and returns the type errors; meaning is checked by problems.
func (r *Request) decodeFields(m map[string]json.RawMessage) []error {
	var errs []error
	if raw, ok := present(m, "schemaVersion"); !ok {
		errs = append(errs, fieldErr("schemaVersion", "missing", fmt.Sprintf(`set "schemaVersion": %d`, RequestSchemaVersion)))
	} else if err := json.Unmarshal(raw, &r.SchemaVersion); err != nil {
		errs = append(errs, fieldErr("schemaVersion", "want an integer, got "+jsonKind(raw),
			fmt.Sprintf(`write "schemaVersion": %d, without quotes`, RequestSchemaVersion)))
	}
	var kind string
	errs = appendErr(errs, decodeString(m, "kind", &kind))
	r.Kind = RequestKind(kind)
	errs = appendErr(errs, decodeString(m, "source", &r.Source))
	if raw, ok := present(m, "standbys"); ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			errs = append(errs, fieldErr("standbys", "want an array of standby names, got "+jsonKind(raw),
				`write e.g. "standbys": ["gke03"]`))
		} else {
			r.Standbys = make([]string, len(list))
			for i, item := range list {
				if err := json.Unmarshal(item, &r.Standbys[i]); err != nil || isNull(item) {
					errs = append(errs, fieldErr(fmt.Sprintf("standbys[%d]", i),
						"want a standby name, got "+jsonKind(item), "write the standby's policy name as a string"))
				}
			}
		}
	}
	errs = appendErr(errs, decodeString(m, "backup", &r.Backup))
	errs = appendErr(errs, decodeString(m, "requestId", &r.RequestID))
	var at string
	if err := decodeString(m, "requestedAt", &at); err != nil {
		errs = append(errs, err)
	} else if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		// Note that an offset can push a time of year 9999, or of year 0, past what RFC 3339 (and
		// Encode) can write.
		if y := t.UTC().Year(); err != nil || y < 0 || y > 9999 {
			errs = append(errs, fieldErr("requestedAt", fmt.Sprintf("%q is not an RFC 3339 time", at),
				`write e.g. "2026-05-01T09:00:00Z"`))
		}
		r.RequestedAt = t.UTC()
	}
	return errs
}

// present returns m[name] unless it is absent or null: null means "not set", as in omitempty output.
func present(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func decodeString(m map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := present(m, name)
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fieldErr(name, "want a string, got "+jsonKind(raw), fmt.Sprintf(`write "%s": "…"`, name))
	}
	return nil
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// problems validates the meaning of r. complete requires requestId and requestedAt for every kind,
// as after FillFrom; otherwise scheduled and sweep requests may lack them.
func (r Request) problems(complete bool) []error {
	var errs []error
	if r.SchemaVersion != RequestSchemaVersion {
		errs = append(errs, fieldErr("schemaVersion", fmt.Sprintf("version %d is not supported", r.SchemaVersion),
			fmt.Sprintf("this gkedr reads version %d: publish that, or upgrade gkedr", RequestSchemaVersion)))
	}
	kinds := make([]string, len(requestKinds))
	for i, k := range requestKinds {
		kinds[i] = string(k)
	}
	switch {
	case r.Kind == "":
		errs = append(errs, fieldErr("kind", "missing", "set it to one of "+strings.Join(kinds, ", ")))
	case !r.Kind.valid():
		errs = append(errs, fieldErr("kind", fmt.Sprintf("%q is not a request kind", r.Kind), "use one of "+strings.Join(kinds, ", ")))
	}
	if r.Source == "" && r.Kind != RequestSweep && r.Kind.valid() {
		errs = append(errs, fieldErr("source", "missing", fmt.Sprintf("a %s request names the policy source to back up", r.Kind)))
	}
	if r.Kind == RequestMigration {
		if len(r.Standbys) == 0 {
			errs = append(errs, fieldErr("standbys", "missing", "a migration request lists the standbys to restore into, e.g. [\"gke03\"]"))
		}
		seen := map[string]bool{}
		for i, s := range r.Standbys {
			switch {
			case s == "":
				errs = append(errs, fieldErr(fmt.Sprintf("standbys[%d]", i), "empty", "write the standby's policy name"))
			case seen[s]:
				errs = append(errs, fieldErr(fmt.Sprintf("standbys[%d]", i), fmt.Sprintf("%q is listed twice", s), "list each standby once"))
			}
			seen[s] = true
		}
		if r.Backup != "" && r.Backup != LatestBackup && !isBackupName(r.Backup) {
			errs = append(errs, fieldErr("backup", fmt.Sprintf("%q is not a full backup name", r.Backup),
				`write projects/PROJECT/locations/LOCATION/backupPlans/PLAN/backups/BACKUP, or "latest"`))
		}
	} else if r.Kind.valid() {
		if r.Standbys != nil {
			errs = append(errs, fieldErr("standbys", fmt.Sprintf("a %s request restores into every standby of the source", r.Kind),
				`remove "standbys", or set "kind": "migration"`))
		}
		if r.Backup != "" {
			errs = append(errs, fieldErr("backup", fmt.Sprintf("a %s request takes a new backup", r.Kind),
				`remove "backup", or set "kind": "migration" to restore an existing backup`))
		}
	}
	// Note that an unknown kind says nothing about whether the id and time could be absent: the kind
	// error alone is the useful one.
	if complete || (r.Kind.valid() && !r.Kind.staticBody()) {
		if r.RequestID == "" {
			errs = append(errs, fieldErr("requestId", "missing",
				"set a unique id, so that publishing the request again does not take a second backup"))
		}
		if r.RequestedAt.IsZero() {
			errs = append(errs, fieldErr("requestedAt", "missing", `set the time of the request, e.g. "2026-05-01T09:00:00Z"`))
		}
	}
	return errs
}

// isBackupName reports whether s has the shape projects/*/locations/*/backupPlans/*/backups/*.
func isBackupName(s string) bool {
	p := strings.Split(s, "/")
	if len(p) != 8 || p[0] != "projects" || p[2] != "locations" || p[4] != "backupPlans" || p[6] != "backups" {
		return false
	}
	for i := 1; i < len(p); i += 2 {
		if p[i] == "" {
			return false
		}
	}
	return true
}

// Validate checks r as a handler is about to act on it: everything DecodeRequest checks, and a
// requestId and requestedAt for every kind (after FillFrom). Its error matches ErrMalformed.
func (r Request) Validate() error {
	if errs := r.problems(true); len(errs) > 0 {
		return fmt.Errorf("validate request: %w", errors.Join(errs...))
	}
	return nil
}

// FillFrom sets the requestId and requestedAt that a scheduled or sweep request could not carry (see
// DecodeRequest) from the Pub/Sub message that delivered it: the messageId, stable across
// redeliveries, and the publishTime. Fields already set are kept.
func (r *Request) FillFrom(msg Message) {
	if r.RequestID == "" {
		r.RequestID = msg.ID
	}
	if r.RequestedAt.IsZero() && !msg.PublishTime.IsZero() {
		r.RequestedAt = msg.PublishTime.UTC()
	}
}

// Attributes are the Pub/Sub message attributes a request is published with. Subscriptions filter
// on them (a filter cannot read the body): gkedr-kind is the request kind, so that, for example,
// VerifyRestore's subscription receives sweeps but not scheduler ticks.
func (r Request) Attributes() map[string]string {
	return map[string]string{AttrKind: string(r.Kind)}
}

// Encode returns the JSON form of r after checking it as DecodeRequest would, so that whatever Encode
// writes, DecodeRequest reads back to the same value. An unset requestId or requestedAt is left out
// rather than written as "" or year 1.
func (r Request) Encode() ([]byte, error) {
	if errs := r.problems(false); len(errs) > 0 {
		return nil, fmt.Errorf("encode request: %w", errors.Join(errs...))
	}
	wire := struct {
		SchemaVersion int         `json:"schemaVersion"`
		Kind          RequestKind `json:"kind"`
		Source        string      `json:"source,omitempty"`
		Standbys      []string    `json:"standbys,omitempty"`
		Backup        string      `json:"backup,omitempty"`
		RequestID     string      `json:"requestId,omitempty"`
		RequestedAt   *time.Time  `json:"requestedAt,omitempty"`
	}{r.SchemaVersion, r.Kind, r.Source, r.Standbys, r.Backup, r.RequestID, nil}
	if !r.RequestedAt.IsZero() {
		at := r.RequestedAt.UTC()
		wire.RequestedAt = &at
	}
	data, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return nil, fmt.Errorf("encode request: %w", fieldErr("", fmt.Sprintf("request is %d bytes, over the limit of %d",
			len(data), MaxRequestBytes), "send only the request fields"))
	}
	return data, nil
}
