package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"

	"github.com/gkedr/gkedr/internal/config"
)

func TestLoadEnv(t *testing.T) {
	t.Parallel()
	defaults := config.Env{
		PolicyFile:         "gkedr-policy.yaml",
		RequestsTopic:      "gkedr-backup-requests",
		ReportsTopic:       "gkedr-reports",
		MaxEventAge:        time.Hour,
		SweepWindow:        24 * time.Hour,
		RestoreConcurrency: 8,
		RestoreQPS:         5,
		NotifyTimeout:      30 * time.Second,
	}
	cases := []struct {
		name string
		env  map[string]string
		want config.Env
	}{
		{name: "defaults", env: map[string]string{}, want: defaults},
		{
			name: "every_variable_set",
			env: map[string]string{
				"GKEDR_POLICY_FILE":         "/srv/policy.yaml",
				"GKEDR_REQUESTS_TOPIC":      "dr-requests",
				"GKEDR_REPORTS_TOPIC":       "dr-reports",
				"GKEDR_MAX_EVENT_AGE":       "30m",
				"GKEDR_SWEEP_WINDOW":        "12h",
				"GKEDR_RESTORE_CONCURRENCY": "3",
				"GKEDR_RESTORE_QPS":         "0.5",
				"GKEDR_NOTIFY_TIMEOUT":      "10s",
				"GKEBACKUP_EMULATOR_HOST":   "127.0.0.1:8086",
			},
			want: config.Env{
				PolicyFile:            "/srv/policy.yaml",
				RequestsTopic:         "dr-requests",
				ReportsTopic:          "dr-reports",
				MaxEventAge:           30 * time.Minute,
				SweepWindow:           12 * time.Hour,
				RestoreConcurrency:    3,
				RestoreQPS:            0.5,
				NotifyTimeout:         10 * time.Second,
				GKEBackupEmulatorHost: "127.0.0.1:8086",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.LoadEnv(t.Context(), envconfig.MapLookuper(tc.env))
			if err != nil {
				t.Fatalf("LoadEnv: %v", err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("LoadEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadEnv_errors(t *testing.T) {
	t.Parallel()
	type problem struct{ Path, Substr string }
	cases := []struct {
		name string
		env  map[string]string
		want []problem
	}{
		{
			name: "malformed_values_all_named",
			env: map[string]string{
				"GKEDR_MAX_EVENT_AGE":       "an hour",
				"GKEDR_RESTORE_CONCURRENCY": "eight",
				"GKEDR_RESTORE_QPS":         "fast",
			},
			want: []problem{
				{"GKEDR_MAX_EVENT_AGE", `"an hour" is not a duration; use a Go duration`},
				{"GKEDR_RESTORE_CONCURRENCY", `"eight" is not an integer`},
				{"GKEDR_RESTORE_QPS", `"fast" is not a number`},
			},
		},
		{
			name: "empty_values_ask_to_unset",
			env:  map[string]string{"GKEDR_POLICY_FILE": "", "GKEDR_REQUESTS_TOPIC": "", "GKEDR_RESTORE_CONCURRENCY": ""},
			want: []problem{
				{"GKEDR_POLICY_FILE", "unset it to use gkedr-policy.yaml"},
				{"GKEDR_REQUESTS_TOPIC", "unset it to use gkedr-backup-requests"},
				{"GKEDR_RESTORE_CONCURRENCY", "unset it for 8"},
			},
		},
		{
			name: "invalid_values_all_named",
			env: map[string]string{
				"GKEDR_REQUESTS_TOPIC":      "projects/p/topics/requests",
				"GKEDR_REPORTS_TOPIC":       "goog-reports",
				"GKEDR_MAX_EVENT_AGE":       "10s",
				"GKEDR_RESTORE_CONCURRENCY": "0",
				"GKEDR_RESTORE_QPS":         "-1",
				"GKEDR_NOTIFY_TIMEOUT":      "10m",
				"GKEBACKUP_EMULATOR_HOST":   "http://127.0.0.1:8086",
			},
			want: []problem{
				{"GKEDR_REQUESTS_TOPIC", "use the topic id only"},
				{"GKEDR_REPORTS_TOPIC", "not with goog"},
				{"GKEDR_MAX_EVENT_AGE", "use at least 1m"},
				{"GKEDR_RESTORE_CONCURRENCY", "0 is less than 1"},
				{"GKEDR_RESTORE_QPS", "-1 is not a positive rate"},
				{"GKEDR_NOTIFY_TIMEOUT", "well under the function timeout"},
				{"GKEBACKUP_EMULATOR_HOST", "host:port without a scheme"},
			},
		},
		{
			name: "sweep_shorter_than_max_age",
			env:  map[string]string{"GKEDR_MAX_EVENT_AGE": "6h", "GKEDR_SWEEP_WINDOW": "1h"},
			want: []problem{{"GKEDR_SWEEP_WINDOW", "make it at least GKEDR_MAX_EVENT_AGE"}},
		},
		{
			name: "same_topic_twice",
			env:  map[string]string{"GKEDR_REQUESTS_TOPIC": "gkedr", "GKEDR_REPORTS_TOPIC": "gkedr"},
			want: []problem{{"GKEDR_REPORTS_TOPIC", "read back as backup requests"}},
		},
		{
			name: "not_a_number_rate",
			env:  map[string]string{"GKEDR_RESTORE_QPS": "NaN"},
			want: []problem{{"GKEDR_RESTORE_QPS", "not a positive rate"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, err := config.LoadEnv(t.Context(), envconfig.MapLookuper(tc.env))
			if err == nil {
				t.Fatalf("LoadEnv = %+v, want an error", env)
			}
			got := problemsOf(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				if got[i].Path != w.Path || !strings.Contains(got[i].Error(), w.Substr) {
					t.Errorf("problem %d = %q, want %q at %s", i, got[i].Error(), w.Substr, w.Path)
				}
			}
		})
	}
}

func TestEnvVarNames(t *testing.T) {
	t.Parallel()
	want := []string{
		"GKEDR_POLICY_FILE", "GKEDR_REQUESTS_TOPIC", "GKEDR_REPORTS_TOPIC", "GKEDR_MAX_EVENT_AGE",
		"GKEDR_SWEEP_WINDOW", "GKEDR_RESTORE_CONCURRENCY", "GKEDR_RESTORE_QPS", "GKEDR_NOTIFY_TIMEOUT",
		"GKEBACKUP_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST",
	}
	if diff := cmp.Diff(want, config.EnvVarNames()); diff != "" {
		t.Errorf("EnvVarNames (-want +got):\n%s", diff)
	}
}
