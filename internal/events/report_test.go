package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/report"
)

func refusalReport() report.Report {
	return report.Report{
		SchemaVersion: report.SchemaVersion,
		Verdict:       report.Refused,
		Source:        "gke01",
		Standby:       "gke01-self",
		Cluster:       "projects/my-project/locations/asia-northeast1/clusters/gke01",
		Backup:        "projects/my-project/locations/asia-northeast1/backupPlans/bp-gke01/backups/gkedr-20260501-090000-1a2b3c",
		Resources:     report.ResourceCounts{InBackup: 27},
		Volumes:       report.VolumeCounts{InBackup: 2},
		Refusal: &report.Refusal{
			Reason:  report.ReasonSameCluster,
			Message: "the target is the backup's source cluster projects/my-project/locations/asia-northeast1/clusters/gke01; point the standby at another cluster",
		},
		GeneratedAt: time.Date(2026, 5, 1, 9, 1, 45, 0, time.UTC),
	}
}

func TestReportGolden(t *testing.T) {
	t.Parallel()

	golden, err := os.ReadFile(filepath.Join("testdata", "report_refusal.json"))
	if err != nil {
		t.Fatalf("read golden report: %v", err)
	}
	got, err := DecodeReport(golden)
	if err != nil {
		t.Fatalf("DecodeReport: %v", err)
	}
	if diff := cmp.Diff(refusalReport(), got); diff != "" {
		t.Errorf("DecodeReport (-want +got):\n%s", diff)
	}

	data, attrs, err := EncodeReport(refusalReport())
	if err != nil {
		t.Fatalf("EncodeReport: %v", err)
	}
	if diff := cmp.Diff(jsonValue(t, golden), jsonValue(t, data)); diff != "" {
		t.Errorf("EncodeReport JSON vs golden (-want +got):\n%s", diff)
	}
	wantAttrs := map[string]string{AttrKind: KindRefusal, AttrVerdict: "REFUSED", AttrSource: "gke01", AttrStandby: "gke01-self"}
	if diff := cmp.Diff(wantAttrs, attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	return v
}

func TestEncodeReport(t *testing.T) {
	t.Parallel()

	pass := report.Report{Verdict: report.Pass, Source: "gke01", Standby: "gke03"}
	cases := []struct {
		name      string
		r         report.Report
		wantAttrs map[string]string
		wantErr   string
	}{
		{name: "pass_is_a_report_and_gets_the_version", r: pass,
			wantAttrs: map[string]string{AttrKind: KindReport, AttrVerdict: "PASS", AttrSource: "gke01", AttrStandby: "gke03"}},
		{name: "no_names_no_name_attributes", r: report.Report{Verdict: report.Fail},
			wantAttrs: map[string]string{AttrKind: KindReport, AttrVerdict: "FAIL"}},
		{name: "refusal_without_reason", r: report.Report{Verdict: report.Refused},
			wantErr: "encode report: refusal.reason: missing; a REFUSED report says which guard refused, e.g. same-cluster"},
		{name: "unknown_verdict_and_version", r: report.Report{SchemaVersion: 2, Verdict: "OK"},
			wantErr: "encode report: schemaVersion: version 2 is not supported; write version 1\n" +
				`verdict: "OK" is not a verdict; use one of PASS, WARN, PENDING, FAIL, REFUSED`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, attrs, err := EncodeReport(tc.r)
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Fatalf("EncodeReport error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.wantAttrs, attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			back, err := DecodeReport(data)
			if err != nil {
				t.Fatalf("DecodeReport(EncodeReport()): %v", err)
			}
			want := tc.r
			want.SchemaVersion = report.SchemaVersion
			if diff := cmp.Diff(want, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeReportErrors(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "newer_version_before_unknown_fields", data: `{"schemaVersion":2,"verdict":"PASS","newField":true}`,
			wantErr: "decode report: schemaVersion: version 2 is not supported; this gkedr reads version 1: upgrade the subscriber"},
		{name: "missing_version", data: `{"verdict":"PASS"}`,
			wantErr: `decode report: schemaVersion: missing; set "schemaVersion": 1`},
		{name: "version_wrong_type", data: `{"schemaVersion":"1","verdict":"PASS"}`,
			wantErr: `decode report: schemaVersion: want an integer, got a string; write "schemaVersion": 1`},
		{name: "unknown_field", data: `{"schemaVersion":1,"verdict":"PASS","color":"green"}`,
			wantErr: "decode report: color: unknown field; remove it, or upgrade the subscriber if a newer gkedr wrote it"},
		{name: "wrong_type", data: `{"schemaVersion":1,"verdict":"PASS","resources":{"inBackup":"27"}}`,
			wantErr: "decode report: resources.inBackup: want int, got string; write the report as EncodeReport does"},
		{name: "unknown_verdict", data: `{"schemaVersion":1,"verdict":"MAYBE"}`,
			wantErr: `decode report: verdict: "MAYBE" is not a verdict; use one of PASS, WARN, PENDING, FAIL, REFUSED`},
		{name: "trailing_data", data: `{"schemaVersion":1,"verdict":"PASS"} {}`,
			wantErr: "decode report: report has data after the JSON object; send exactly one JSON object"},
		{name: "not_json", data: `PASS`,
			wantErr: "decode report: report is not valid JSON: invalid character 'P' looking for beginning of value at byte 1; " +
				`send a JSON object such as {"schemaVersion": 1, "verdict": "PASS", ...}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeReport([]byte(tc.data))
			if diff := cmp.Diff(tc.wantErr, errString(err)); diff != "" {
				t.Errorf("DecodeReport error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
			}
		})
	}
}
