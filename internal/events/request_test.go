package events

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var at = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// sendObject is the fix of every error about the shape of a request.
const sendObject = `; send a JSON object such as {"schemaVersion": 1, "kind": "scheduled", "source": "gke01"}`

func TestDecodeRequest(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		data    string
		want    Request
		wantErr string
	}{
		{name: "scheduled_static_body", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`,
			want: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01"}},
		{name: "scheduled_full", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01","requestId":"r1","requestedAt":"2026-05-01T18:00:00+09:00"}`,
			want: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01", RequestID: "r1", RequestedAt: at}},
		{name: "sweep_all_sources", data: `{"schemaVersion":1,"kind":"sweep"}`,
			want: Request{SchemaVersion: 1, Kind: RequestSweep}},
		{name: "sweep_one_source_nulls_are_unset", data: `{"schemaVersion":1,"kind":"sweep","source":"gke01","requestId":null,"requestedAt":null,"standbys":null}`,
			want: Request{SchemaVersion: 1, Kind: RequestSweep, Source: "gke01"}},
		{name: "migration", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03"],"requestId":"m1","requestedAt":"2026-05-01T09:00:00Z"}`,
			want: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke03"}, RequestID: "m1", RequestedAt: at}},
		{name: "migration_existing_backup", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke02","gke03"],` +
			`"backup":"projects/p/locations/asia-northeast1/backupPlans/bp/backups/b1","requestId":"m1","requestedAt":"2026-05-01T09:00:00.000Z"}`,
			want: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke02", "gke03"},
				Backup: "projects/p/locations/asia-northeast1/backupPlans/bp/backups/b1", RequestID: "m1", RequestedAt: at}},
		{name: "migration_latest_backup", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03"],"backup":"latest","requestId":"m1","requestedAt":"2026-05-01T09:00:00Z"}`,
			want: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke03"}, Backup: LatestBackup, RequestID: "m1", RequestedAt: at}},
		{name: "manual", data: ` {"schemaVersion":1,"kind":"manual","source":"gke01","requestId":"cli-1","requestedAt":"2026-05-01T09:00:00Z"} ` + "\n",
			want: Request{SchemaVersion: 1, Kind: RequestManual, Source: "gke01", RequestID: "cli-1", RequestedAt: at}},

		{name: "empty", data: "",
			wantErr: `decode request: request is empty; send a JSON object such as {"schemaVersion": 1, "kind": "scheduled", "source": "gke01"}`},
		{name: "not_json", data: "kind=scheduled",
			wantErr: "decode request: request is not valid JSON: invalid character 'k' looking for beginning of value at byte 1" + sendObject},
		{name: "truncated", data: `{"schemaVersion":1,"kind":"sched`,
			wantErr: `decode request: request is not valid JSON: it ends early; send a complete JSON object such as {"schemaVersion": 1, "kind": "scheduled", "source": "gke01"}`},
		{name: "array", data: `[{"kind":"scheduled"}]`,
			wantErr: "decode request: request is an array, not a JSON object" + sendObject},
		{name: "null", data: `null`,
			wantErr: "decode request: request is null, not a JSON object" + sendObject},
		{name: "trailing_object", data: `{"schemaVersion":1,"kind":"sweep"}{"schemaVersion":1,"kind":"sweep"}`,
			wantErr: "decode request: request has data after the JSON object; send exactly one JSON object"},
		{name: "trailing_garbage", data: `{"schemaVersion":1,"kind":"sweep"} x`,
			wantErr: "decode request: request has data after the JSON object; send exactly one JSON object"},
		{name: "duplicate_field", data: `{"schemaVersion":1,"kind":"sweep","kind":"manual"}`,
			wantErr: "decode request: kind: appears twice; keep one"},
		{name: "unknown_field", data: `{"schemaVersion":1,"kind":"sweep","priority":"high"}`,
			wantErr: "decode request: priority: unknown field; remove it; the fields are schemaVersion, kind, source, standbys, backup, requestId, requestedAt"},
		{name: "wrong_case_field", data: `{"schemaVersion":1,"Kind":"sweep"}`,
			wantErr: "decode request: Kind: unknown field; field names are case-sensitive: write \"kind\"\nkind: missing; set it to one of scheduled, migration, sweep, manual"},
		{name: "unknown_kind", data: `{"schemaVersion":1,"kind":"hourly","source":"gke01"}`,
			wantErr: `decode request: kind: "hourly" is not a request kind; use one of scheduled, migration, sweep, manual`},
		{name: "kind_wrong_type", data: `{"schemaVersion":1,"kind":3,"source":"gke01"}`,
			wantErr: `decode request: kind: want a string, got a number; write "kind": "…"`},
		{name: "schema_version_missing", data: `{"kind":"sweep"}`,
			wantErr: `decode request: schemaVersion: missing; set "schemaVersion": 1`},
		{name: "schema_version_string", data: `{"schemaVersion":"1","kind":"sweep"}`,
			wantErr: `decode request: schemaVersion: want an integer, got a string; write "schemaVersion": 1, without quotes`},
		{name: "schema_version_fraction", data: `{"schemaVersion":1.5,"kind":"sweep"}`,
			wantErr: `decode request: schemaVersion: want an integer, got a number; write "schemaVersion": 1, without quotes`},
		{name: "schema_version_unknown", data: `{"schemaVersion":2,"kind":"sweep"}`,
			wantErr: "decode request: schemaVersion: version 2 is not supported; this gkedr reads version 1: publish that, or upgrade gkedr"},
		{name: "source_missing", data: `{"schemaVersion":1,"kind":"scheduled"}`,
			wantErr: "decode request: source: missing; a scheduled request names the policy source to back up"},
		{name: "standbys_on_scheduled", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01","standbys":["gke03"]}`,
			wantErr: `decode request: standbys: a scheduled request restores into every standby of the source; remove "standbys", or set "kind": "migration"`},
		{name: "empty_standbys_on_sweep", data: `{"schemaVersion":1,"kind":"sweep","standbys":[]}`,
			wantErr: `decode request: standbys: a sweep request restores into every standby of the source; remove "standbys", or set "kind": "migration"`},
		{name: "backup_on_manual", data: `{"schemaVersion":1,"kind":"manual","source":"gke01","backup":"projects/p/locations/l/backupPlans/bp/backups/b","requestId":"r","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: `decode request: backup: a manual request takes a new backup; remove "backup", or set "kind": "migration" to restore an existing backup`},
		{name: "migration_without_standbys", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","requestId":"m","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: `decode request: standbys: missing; a migration request lists the standbys to restore into, e.g. ["gke03"]`},
		{name: "migration_bad_standbys", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03","","gke03"],"requestId":"m","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: "decode request: standbys[1]: empty; write the standby's policy name\nstandbys[2]: \"gke03\" is listed twice; list each standby once"},
		{name: "standbys_not_strings", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03",7,null],"requestId":"m","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: "decode request: standbys[1]: want a standby name, got a number; write the standby's policy name as a string\nstandbys[2]: want a standby name, got null; write the standby's policy name as a string"},
		{name: "standbys_not_array", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":"gke03","requestId":"m","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: `decode request: standbys: want an array of standby names, got a string; write e.g. "standbys": ["gke03"]`},
		{name: "migration_short_backup_name", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03"],"backup":"b1","requestId":"m","requestedAt":"2026-05-01T09:00:00Z"}`,
			wantErr: `decode request: backup: "b1" is not a full backup name; write projects/PROJECT/locations/LOCATION/backupPlans/PLAN/backups/BACKUP, or "latest"`},
		{name: "migration_without_id_and_time", data: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03"]}`,
			wantErr: "decode request: requestId: missing; set a unique id, so that publishing the request again does not take a second backup\n" +
				`requestedAt: missing; set the time of the request, e.g. "2026-05-01T09:00:00Z"`},
		{name: "manual_zero_time_is_missing", data: `{"schemaVersion":1,"kind":"manual","source":"gke01","requestId":"r","requestedAt":"0001-01-01T00:00:00Z"}`,
			wantErr: `decode request: requestedAt: missing; set the time of the request, e.g. "2026-05-01T09:00:00Z"`},
		{name: "requested_at_not_rfc3339", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01","requestedAt":"2026-05-01 09:00"}`,
			wantErr: `decode request: requestedAt: "2026-05-01 09:00" is not an RFC 3339 time; write e.g. "2026-05-01T09:00:00Z"`},
		{name: "requested_at_past_year_9999_in_utc", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01","requestedAt":"9999-12-31T23:00:00-02:00"}`,
			wantErr: `decode request: requestedAt: "9999-12-31T23:00:00-02:00" is not an RFC 3339 time; write e.g. "2026-05-01T09:00:00Z"`},
		{name: "request_id_wrong_type", data: `{"schemaVersion":1,"kind":"scheduled","source":"gke01","requestId":42}`,
			wantErr: `decode request: requestId: want a string, got a number; write "requestId": "…"`},
		{name: "several_problems_at_once", data: `{"schemaVersion":1,"kind":"hourly","extra":1,"standbys":["x"]}`,
			wantErr: "decode request: extra: unknown field; remove it; the fields are schemaVersion, kind, source, standbys, backup, requestId, requestedAt\n" +
				`kind: "hourly" is not a request kind; use one of scheduled, migration, sweep, manual`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest([]byte(tc.data))
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Fatalf("DecodeRequest error (-want +got):\n%s", diff)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRequestSizeLimit(t *testing.T) {
	t.Parallel()

	prefix := `{"schemaVersion":1,"kind":"scheduled","source":"`
	suffix := `"}`
	atLimit := prefix + strings.Repeat("a", MaxRequestBytes-len(prefix)-len(suffix)) + suffix
	if _, err := DecodeRequest([]byte(atLimit)); err != nil {
		t.Errorf("DecodeRequest of exactly MaxRequestBytes: %v", err)
	}
	over := prefix + strings.Repeat("a", MaxRequestBytes-len(prefix)-len(suffix)+1) + suffix
	_, err := DecodeRequest([]byte(over))
	want := "decode request: request is 65537 bytes, over the limit of 65536; send only the request fields; large inputs belong in the policy file"
	if diff := cmp.Diff(want, errString(err)); diff != "" {
		t.Errorf("DecodeRequest error (-want +got):\n%s", diff)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
	}
}

func TestRequestEncode(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name     string
		req      Request
		wantJSON string
		wantErr  string
	}{
		{name: "scheduled_static_body", req: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01"},
			wantJSON: `{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`},
		{name: "sweep_all", req: Request{SchemaVersion: 1, Kind: RequestSweep},
			wantJSON: `{"schemaVersion":1,"kind":"sweep"}`},
		{name: "migration_time_in_utc", req: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke03"},
			RequestID: "m1", RequestedAt: at.In(time.FixedZone("JST", 9*3600))},
			wantJSON: `{"schemaVersion":1,"kind":"migration","source":"gke01","standbys":["gke03"],"requestId":"m1","requestedAt":"2026-05-01T09:00:00Z"}`},
		{name: "invalid_is_refused", req: Request{SchemaVersion: 1, Kind: "hourly"},
			wantErr: `encode request: kind: "hourly" is not a request kind; use one of scheduled, migration, sweep, manual`},
		{name: "zero_request", req: Request{},
			wantErr: "encode request: schemaVersion: version 0 is not supported; this gkedr reads version 1: publish that, or upgrade gkedr\n" +
				"kind: missing; set it to one of scheduled, migration, sweep, manual"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, err := tc.req.Encode()
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Fatalf("Encode error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.wantJSON, string(data)); diff != "" {
				t.Errorf("Encode (-want +got):\n%s", diff)
			}
			back, err := DecodeRequest(data)
			if err != nil {
				t.Fatalf("DecodeRequest(Encode()): %v", err)
			}
			if diff := cmp.Diff(tc.req, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestFillFromAndValidate(t *testing.T) {
	t.Parallel()

	msg := Message{ID: "17501234567890", PublishTime: at.Add(time.Second)}
	cases := []struct {
		name    string
		req     Request
		msg     Message
		want    Request
		wantErr string
	}{
		{name: "scheduled_filled_from_message", req: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01"}, msg: msg,
			want: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01", RequestID: "17501234567890", RequestedAt: at.Add(time.Second)}},
		{name: "own_values_kept", req: Request{SchemaVersion: 1, Kind: RequestSweep, RequestID: "mine", RequestedAt: at}, msg: msg,
			want: Request{SchemaVersion: 1, Kind: RequestSweep, RequestID: "mine", RequestedAt: at}},
		{name: "empty_message_leaves_gaps", req: Request{SchemaVersion: 1, Kind: RequestSweep}, msg: Message{},
			want: Request{SchemaVersion: 1, Kind: RequestSweep},
			wantErr: "validate request: requestId: missing; set a unique id, so that publishing the request again does not take a second backup\n" +
				`requestedAt: missing; set the time of the request, e.g. "2026-05-01T09:00:00Z"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.req
			got.FillFrom(tc.msg)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FillFrom (-want +got):\n%s", diff)
			}
			err := got.Validate()
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Errorf("Validate error (-want +got):\n%s", diff)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
			}
		})
	}
}

func TestFieldErrorAs(t *testing.T) {
	t.Parallel()

	_, err := DecodeRequest([]byte(`{"schemaVersion":1,"kind":"hourly","source":"gke01"}`))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(%v, *FieldError) = false, want true", err)
	}
	want := &FieldError{Field: "kind", Problem: `"hourly" is not a request kind`, Fix: "use one of scheduled, migration, sweep, manual"}
	if diff := cmp.Diff(want, fe); diff != "" {
		t.Errorf("FieldError (-want +got):\n%s", diff)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRequestAttributes(t *testing.T) {
	t.Parallel()
	for _, k := range []RequestKind{RequestScheduled, RequestMigration, RequestSweep, RequestManual} {
		got := Request{Kind: k}.Attributes()
		if len(got) != 1 || got[AttrKind] != string(k) {
			t.Errorf("Attributes() of a %s request = %v, want {%s: %s}", k, got, AttrKind, k)
		}
	}
}
