package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// loadEvent reads a golden CloudEvent (structured JSON mode) from testdata/events.
func loadEvent(t testing.TB, name string) event.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatalf("read golden event: %v", err)
	}
	var e event.Event
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("unmarshal golden event %s: %v", name, err)
	}
	return e
}

// pubsubEvent wraps raw data in a messagePublished CloudEvent, as the fuzz targets and tests need.
func pubsubEvent(t testing.TB, typ string, data []byte) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("e1")
	e.SetSource("//pubsub.test")
	e.SetType(typ)
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatalf("SetData: %v", err)
	}
	return e
}

var publishTime = time.Date(2026, 5, 1, 9, 0, 0, 123_000_000, time.UTC)

func TestDecodePubSubGolden(t *testing.T) {
	t.Parallel()

	cases := []struct {
		file    string
		wantMsg Message
		wantErr string
		// wantReq is the request after FillFrom; wantReqErr is DecodeRequest's error.
		wantReq    Request
		wantReqErr string
	}{
		{file: "pubsub_scheduler_tick.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`),
				Attributes: map[string]string{"origin": "cloud-scheduler"}, ID: "17501234567890", PublishTime: publishTime},
			wantReq: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01", RequestID: "17501234567890", RequestedAt: publishTime}},
		{file: "pubsub_snake_case.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01"}`),
				Attributes: map[string]string{"origin": "cloud-scheduler"}, ID: "17501234567890", PublishTime: publishTime, OrderingKey: "gke01"},
			wantReq: Request{SchemaVersion: 1, Kind: RequestScheduled, Source: "gke01", RequestID: "17501234567890", RequestedAt: publishTime}},
		{file: "pubsub_migration.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion": 1, "kind": "migration", "source": "gke01", "standbys": ["gke03"], "requestId": "migrate-gke01-to-gke03-20260501", "requestedAt": "2026-05-01T08:59:58Z"}`),
				Attributes: map[string]string{"origin": "gkedr-cli"}, ID: "17501234567891", PublishTime: publishTime},
			wantReq: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke03"},
				RequestID: "migrate-gke01-to-gke03-20260501", RequestedAt: time.Date(2026, 5, 1, 8, 59, 58, 0, time.UTC)}},
		{file: "pubsub_migration_existing_backup.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion": 1, "kind": "migration", "source": "gke01", "standbys": ["gke02", "gke03"], "backup": "projects/my-project/locations/asia-northeast1/backupPlans/bp-gke01/backups/gkedr-20260501-090000-1a2b3c", "requestId": "migrate-again", "requestedAt": "2026-05-01T08:59:58+09:00"}`),
				Attributes: map[string]string{"origin": "gkedr-cli"}, ID: "17501234567892", PublishTime: publishTime},
			wantReq: Request{SchemaVersion: 1, Kind: RequestMigration, Source: "gke01", Standbys: []string{"gke02", "gke03"},
				Backup:    "projects/my-project/locations/asia-northeast1/backupPlans/bp-gke01/backups/gkedr-20260501-090000-1a2b3c",
				RequestID: "migrate-again", RequestedAt: time.Date(2026, 4, 30, 23, 59, 58, 0, time.UTC)}},
		{file: "pubsub_sweep.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":1,"kind":"sweep"}`),
				Attributes: map[string]string{"origin": "cloud-scheduler"}, ID: "17501234567893", PublishTime: publishTime},
			wantReq: Request{SchemaVersion: 1, Kind: RequestSweep, RequestID: "17501234567893", RequestedAt: publishTime}},
		{file: "malformed_request_kind.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":1,"kind":"hourly","source":"gke01"}`),
				Attributes: map[string]string{"origin": "gkedr-cli"}, ID: "17501234567894", PublishTime: publishTime},
			wantReqErr: `decode request: kind: "hourly" is not a request kind; use one of scheduled, migration, sweep, manual`},
		{file: "malformed_request_not_json.json",
			wantMsg: Message{Data: []byte(`kind=scheduled source=gke01`),
				Attributes: map[string]string{"origin": "gkedr-cli"}, ID: "17501234567895", PublishTime: publishTime},
			wantReqErr: "decode request: request is not valid JSON: invalid character 'k' looking for beginning of value at byte 1" + sendObject},
		{file: "malformed_request_standbys_on_scheduled.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":1,"kind":"scheduled","source":"gke01","standbys":["gke03"]}`),
				Attributes: map[string]string{"origin": "cloud-scheduler"}, ID: "17501234567896", PublishTime: publishTime},
			wantReqErr: `decode request: standbys: a scheduled request restores into every standby of the source; remove "standbys", or set "kind": "migration"`},
		{file: "malformed_request_schema_v2.json",
			wantMsg: Message{Data: []byte(`{"schemaVersion":2,"kind":"scheduled","source":"gke01","priority":"high"}`),
				Attributes: map[string]string{"origin": "cloud-scheduler"}, ID: "17501234567897", PublishTime: publishTime},
			wantReqErr: "decode request: priority: unknown field; remove it; the fields are schemaVersion, kind, source, standbys, backup, requestId, requestedAt\n" +
				"schemaVersion: version 2 is not supported; this gkedr reads version 1: publish that, or upgrade gkedr"},
		{file: "malformed_pubsub_bad_base64.json",
			wantErr: "decode pubsub event 17501234567898: message.data: not base64: illegal base64 data at input byte 3; encode the payload with standard base64"},
		{file: "malformed_pubsub_no_message_id.json",
			wantErr: "decode pubsub event 17501234567899: message.messageId: missing; deliver the message through Pub/Sub, which sets it"},
		{file: "malformed_pubsub_wrong_type.json",
			wantErr: `decode pubsub event 17501234567900: type: "google.cloud.storage.object.v1.finalized" is not a Pub/Sub event; route only google.cloud.pubsub.topic.v1.messagePublished events to this function`},
		{file: "backup_succeeded.json",
			wantErr: `decode pubsub event ev-backup_succeeded: type: "google.cloud.gkebackup.backup.v1.updated" is not a Pub/Sub event; route only google.cloud.pubsub.topic.v1.messagePublished events to this function`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			msg, err := DecodePubSub(loadEvent(t, tc.file))
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Fatalf("DecodePubSub error (-want +got):\n%s", diff)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
				}
				return
			}
			if diff := cmp.Diff(tc.wantMsg, msg); diff != "" {
				t.Errorf("DecodePubSub (-want +got):\n%s", diff)
			}

			req, err := DecodeRequest(msg.Data)
			if diff := cmp.Diff(tc.wantReqErr, errString(err)); diff != "" {
				t.Fatalf("DecodeRequest error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			req.FillFrom(msg)
			if err := req.Validate(); err != nil {
				t.Errorf("Validate after FillFrom: %v", err)
			}
			if diff := cmp.Diff(tc.wantReq, req); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodePubSubData(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		data    string
		want    Message
		wantErr string
	}{
		{name: "camel_case_wins_over_snake_case", data: `{"message":{"data":"e30=","messageId":"1","message_id":"2","publishTime":"2026-05-01T09:00:00.123Z"}}`,
			want: Message{Data: []byte("{}"), ID: "1", PublishTime: publishTime}},
		{name: "no_data_no_attributes", data: `{"message":{"messageId":"1","publishTime":"2026-05-01T09:00:00.123Z"},"subscription":"s","deliveryAttempt":3}`,
			want: Message{ID: "1", PublishTime: publishTime}},
		{name: "empty", data: ``,
			wantErr: `data is empty; send a JSON object such as {"message": {"data": "<base64>", "messageId": "1", "publishTime": "2026-05-01T09:00:00Z"}}`},
		{name: "no_message", data: `{"subscription":"s"}`,
			wantErr: `message: missing; send a Pub/Sub push envelope such as {"message": {"data": "<base64>", "messageId": "1", "publishTime": "2026-05-01T09:00:00Z"}}`},
		{name: "attributes_wrong_type", data: `{"message":{"attributes":{"a":1},"messageId":"1","publishTime":"2026-05-01T09:00:00Z"}}`,
			wantErr: `message.attributes: want string, got number; send a Pub/Sub push envelope such as {"message": {"data": "<base64>", "messageId": "1", "publishTime": "2026-05-01T09:00:00Z"}}`},
		{name: "bad_publish_time", data: `{"message":{"messageId":"1","publishTime":"yesterday"}}`,
			wantErr: `message.publishTime: "yesterday" is not an RFC 3339 time; Pub/Sub writes e.g. "2026-05-01T09:00:00.123Z"`},
		{name: "everything_missing", data: `{"message":{}}`,
			wantErr: "message.messageId: missing; deliver the message through Pub/Sub, which sets it\n" +
				"message.publishTime: missing; deliver the message through Pub/Sub, which sets it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodePubSub(pubsubEvent(t, TypePubSubPublished, []byte(tc.data)))
			wantErr := tc.wantErr
			if wantErr != "" {
				wantErr = "decode pubsub event e1: " + wantErr
			}
			if diff := cmp.Diff(wantErr, errString(err)); diff != "" {
				t.Fatalf("DecodePubSub error (-want +got):\n%s", diff)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodePubSub (-want +got):\n%s", diff)
			}
		})
	}
}

func goldenBackup() *gkebackuppb.Backup {
	return &gkebackuppb.Backup{
		Name:         "projects/my-project/locations/asia-northeast1/backupPlans/bp-gke01/backups/gkedr-20260501-090000-1a2b3c",
		Uid:          "4f0c5c2e-8d1b-4f3a-9c55-1b2a3c4d5e6f",
		CreateTime:   timestamppb.New(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)),
		UpdateTime:   timestamppb.New(time.Date(2026, 5, 1, 9, 1, 40, 0, time.UTC)),
		CompleteTime: timestamppb.New(time.Date(2026, 5, 1, 9, 1, 40, 0, time.UTC)),
		Labels:       map[string]string{"gkedr-managed": "true", "gkedr-request": "17501234567890", "gkedr-reason": "schedule"},
		Manual:       true,
		State:        gkebackuppb.Backup_SUCCEEDED,
		ClusterMetadata: &gkebackuppb.Backup_ClusterMetadata{
			Cluster:         "projects/my-project/locations/asia-northeast1/clusters/gke01",
			K8SVersion:      "1.22.12",
			PlatformVersion: &gkebackuppb.Backup_ClusterMetadata_GkeVersion{GkeVersion: "v1.22.12-gke.300"},
		},
		BackupScope:        &gkebackuppb.Backup_AllNamespaces{AllNamespaces: true},
		ContainsVolumeData: true,
		ContainsSecrets:    true,
		ResourceCount:      27,
		VolumeCount:        2,
		SizeBytes:          10 << 30,
		PodCount:           3,
	}
}

func TestDecodeBackupEvent(t *testing.T) {
	t.Parallel()

	inProgress := goldenBackup()
	inProgress.State = gkebackuppb.Backup_IN_PROGRESS
	futureState := goldenBackup()
	futureState.State = gkebackuppb.Backup_STATE_UNSPECIFIED
	cases := []struct {
		file    string
		want    *gkebackuppb.Backup
		wantErr string
	}{
		{file: "backup_succeeded.json", want: goldenBackup()},
		// An enum as a number, an unknown payload field and an unknown top-level member are all accepted.
		{file: "backup_in_progress_enum_number.json", want: inProgress},
		{file: "malformed_backup_no_payload.json",
			wantErr: `decode backup event ev-malformed_backup_no_payload: payload: missing; send the Eventarc form {"payload": {"name": "projects/P/locations/L/...", "state": "SUCCEEDED"}}`},
		{file: "malformed_backup_no_name.json",
			wantErr: "decode backup event ev-malformed_backup_no_name: payload.name: missing; send the full resource name of the backup"},
		// A state newer than this binary's gkebackuppb decodes as unspecified, not as an error: the
		// handler re-reads the backup and will not act on a state it does not know.
		{file: "backup_future_state.json", want: futureState},
		{file: "malformed_backup_wrong_type.json",
			wantErr: "decode backup event ev-malformed_backup_wrong_type: payload: not a backup: proto:"},
		{file: "restore_failed.json",
			wantErr: `decode backup event ev-restore_failed: type: "google.cloud.gkebackup.restore.v1.updated" is not a backup event; route only google.cloud.gkebackup.backup.v1.created and google.cloud.gkebackup.backup.v1.updated events to this function`},
		{file: "pubsub_sweep.json",
			wantErr: `decode backup event 17501234567893: type: "google.cloud.pubsub.topic.v1.messagePublished" is not a backup event; route only google.cloud.gkebackup.backup.v1.created and google.cloud.gkebackup.backup.v1.updated events to this function`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeBackupEvent(loadEvent(t, tc.file))
			checkErrPrefix(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("DecodeBackupEvent (-want +got):\n%s", diff)
			}
		})
	}
}

func goldenRestore() *gkebackuppb.Restore {
	return &gkebackuppb.Restore{
		Name:         "projects/my-project/locations/asia-northeast2/restorePlans/rp-gke03/restores/gkedr-5d6e7f8a9b0c",
		Uid:          "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
		CreateTime:   timestamppb.New(time.Date(2026, 5, 1, 9, 2, 0, 0, time.UTC)),
		UpdateTime:   timestamppb.New(time.Date(2026, 5, 1, 10, 10, 0, 0, time.UTC)),
		CompleteTime: timestamppb.New(time.Date(2026, 5, 1, 10, 10, 0, 0, time.UTC)),
		Labels:       map[string]string{"gkedr-managed": "true", "gkedr-request": "17501234567890", "gkedr-reason": "schedule"},
		Backup:       goldenBackup().GetName(),
		Cluster:      "projects/my-project/locations/asia-northeast2/clusters/gke03",
		RestoreConfig: &gkebackuppb.RestoreConfig{
			VolumeDataRestorePolicy:       gkebackuppb.RestoreConfig_RESTORE_VOLUME_DATA_FROM_BACKUP,
			ClusterResourceConflictPolicy: gkebackuppb.RestoreConfig_USE_BACKUP_VERSION,
			NamespacedResourceRestoreMode: gkebackuppb.RestoreConfig_DELETE_AND_RESTORE,
			ClusterResourceRestoreScope: &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{
				SelectedGroupKinds: []*gkebackuppb.RestoreConfig_GroupKind{
					{ResourceGroup: "storage.k8s.io", ResourceKind: "StorageClass"},
					{ResourceGroup: "apiextensions.k8s.io", ResourceKind: "CustomResourceDefinition"},
				},
			},
			NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_AllNamespaces{AllNamespaces: true},
		},
		State:                  gkebackuppb.Restore_FAILED,
		StateReason:            "Failed to restore 5 resources: volume restore for default/redis-leader-pvc failed",
		ResourcesRestoredCount: 20,
		ResourcesExcludedCount: 2,
		ResourcesFailedCount:   5,
		VolumesRestoredCount:   1,
	}
}

func TestDecodeRestoreEvent(t *testing.T) {
	t.Parallel()

	cases := []struct {
		file    string
		want    *gkebackuppb.Restore
		wantErr string
	}{
		{file: "restore_failed.json", want: goldenRestore()},
		{file: "backup_succeeded.json",
			wantErr: `decode restore event ev-backup_succeeded: type: "google.cloud.gkebackup.backup.v1.updated" is not a restore event; route only google.cloud.gkebackup.restore.v1.created and google.cloud.gkebackup.restore.v1.updated events to this function`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRestoreEvent(loadEvent(t, tc.file))
			checkErrPrefix(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("DecodeRestoreEvent (-want +got):\n%s", diff)
			}
		})
	}
}

// checkErrPrefix fails unless err's text starts with want (protojson's own messages are deliberately
// unstable, so its part of an error is not compared) and err matches ErrMalformed; or both are empty.
func checkErrPrefix(t *testing.T, err error, want string) {
	t.Helper()
	got := errString(err)
	if want == "" || got == "" {
		if got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
		return
	}
	if len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("error = %q, want prefix %q", got, want)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
	}
}

func TestEncodeGkebackupEvents(t *testing.T) {
	t.Parallel()

	t.Run("backup_round_trip", func(t *testing.T) {
		t.Parallel()
		data, err := EncodeBackupEvent(goldenBackup())
		if err != nil {
			t.Fatalf("EncodeBackupEvent: %v", err)
		}
		e := pubsubEvent(t, TypeBackupUpdated, data)
		got, err := DecodeBackupEvent(e)
		if err != nil {
			t.Fatalf("DecodeBackupEvent: %v", err)
		}
		if diff := cmp.Diff(goldenBackup(), got, protocmp.Transform()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		// Eventarc's form: camelCase names and enum names, under "payload".
		var m struct {
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if m.Payload["state"] != "SUCCEEDED" || m.Payload["resourceCount"] != float64(27) {
			t.Errorf("payload = %v, want state SUCCEEDED and resourceCount 27", m.Payload)
		}
	})

	t.Run("restore_round_trip", func(t *testing.T) {
		t.Parallel()
		data, err := EncodeRestoreEvent(goldenRestore())
		if err != nil {
			t.Fatalf("EncodeRestoreEvent: %v", err)
		}
		got, err := DecodeRestoreEvent(pubsubEvent(t, TypeRestoreUpdated, data))
		if err != nil {
			t.Fatalf("DecodeRestoreEvent: %v", err)
		}
		if diff := cmp.Diff(goldenRestore(), got, protocmp.Transform()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})

	cases := []struct {
		name    string
		encode  func() ([]byte, error)
		wantErr string
	}{
		{name: "nil_backup", encode: func() ([]byte, error) { return EncodeBackupEvent(nil) }, wantErr: "encode backup event: backup is nil"},
		{name: "nil_restore", encode: func() ([]byte, error) { return EncodeRestoreEvent(nil) }, wantErr: "encode restore event: restore is nil"},
		{name: "unnamed_backup", encode: func() ([]byte, error) {
			return EncodeBackupEvent(&gkebackuppb.Backup{State: gkebackuppb.Backup_FAILED})
		},
			wantErr: "encode backup event: backup has no name, which every event needs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.encode()
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Errorf("encode error (-want +got):\n%s", diff)
			}
		})
	}
}
