package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gkedr/gkedr/internal/report"
)

var verdicts = []report.Verdict{report.Pass, report.Warn, report.Pending, report.Fail, report.Refused}

func verdictList() string {
	s := make([]string, len(verdicts))
	for i, v := range verdicts {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// EncodeReport returns the JSON of r for topic gkedr-reports and its Pub/Sub attributes: AttrKind
// (KindRefusal for a REFUSED verdict, else KindReport), AttrVerdict, and AttrSource and AttrStandby
// when set. A zero SchemaVersion is set to report.SchemaVersion; another version, an unknown verdict,
// or a refusal without a reason is an error, since a subscriber could not read the record.
func EncodeReport(r report.Report) ([]byte, map[string]string, error) {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = report.SchemaVersion
	}
	if err := checkReport(r); err != nil {
		return nil, nil, fmt.Errorf("encode report: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("encode report: %w", err)
	}
	attrs := map[string]string{AttrKind: KindReport, AttrVerdict: string(r.Verdict)}
	if r.Verdict == report.Refused {
		attrs[AttrKind] = KindRefusal
	}
	if r.Source != "" {
		attrs[AttrSource] = r.Source
	}
	if r.Standby != "" {
		attrs[AttrStandby] = r.Standby
	}
	return data, attrs, nil
}

const reportExample = `{"schemaVersion": 1, "verdict": "PASS", ...}`

// DecodeReport decodes a record of gkedr-reports strictly: one JSON object, a schemaVersion this gkedr
// knows (checked first, so that a newer record is reported as such rather than as unknown fields),
// no unknown fields, a known verdict. Errors match ErrMalformed.
func DecodeReport(data []byte) (report.Report, error) {
	m, err := decodeObject(data, "report", reportExample)
	if err != nil {
		return report.Report{}, fmt.Errorf("decode report: %w", err)
	}
	var version int
	if raw, ok := present(m, "schemaVersion"); !ok {
		return report.Report{}, fmt.Errorf("decode report: %w", fieldErr("schemaVersion", "missing",
			fmt.Sprintf(`set "schemaVersion": %d`, report.SchemaVersion)))
	} else if err := json.Unmarshal(raw, &version); err != nil {
		return report.Report{}, fmt.Errorf("decode report: %w", fieldErr("schemaVersion",
			"want an integer, got "+jsonKind(raw), fmt.Sprintf(`write "schemaVersion": %d`, report.SchemaVersion)))
	}
	if version != report.SchemaVersion {
		return report.Report{}, fmt.Errorf("decode report: %w", fieldErr("schemaVersion",
			fmt.Sprintf("version %d is not supported", version),
			fmt.Sprintf("this gkedr reads version %d: upgrade the subscriber", report.SchemaVersion)))
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r report.Report
	if err := dec.Decode(&r); err != nil {
		return report.Report{}, fmt.Errorf("decode report: %w", reportFieldErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		// decodeObject already rejected trailing data; this guards the two readers agreeing.
		return report.Report{}, fmt.Errorf("decode report: %w", fieldErr("", "report has data after the JSON object", "send one object"))
	}
	if err := checkReport(r); err != nil {
		return report.Report{}, fmt.Errorf("decode report: %w", err)
	}
	return r, nil
}

// reportFieldErr turns an encoding/json error into a FieldError.
func reportFieldErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErr(te.Field, fmt.Sprintf("want %s, got %s", te.Type, te.Value), "write the report as EncodeReport does")
	}
	// encoding/json has no error type for unknown fields; its message is `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field", "remove it, or upgrade the subscriber if a newer gkedr wrote it")
	}
	return fieldErr("", strings.TrimPrefix(err.Error(), "json: "), "write the report as EncodeReport does")
}

func checkReport(r report.Report) error {
	var errs []error
	if r.SchemaVersion != report.SchemaVersion {
		errs = append(errs, fieldErr("schemaVersion", fmt.Sprintf("version %d is not supported", r.SchemaVersion),
			fmt.Sprintf("write version %d", report.SchemaVersion)))
	}
	known := false
	for _, v := range verdicts {
		known = known || r.Verdict == v
	}
	if !known {
		errs = append(errs, fieldErr("verdict", fmt.Sprintf("%q is not a verdict", r.Verdict), "use one of "+verdictList()))
	}
	if r.Verdict == report.Refused && (r.Refusal == nil || r.Refusal.Reason == "") {
		errs = append(errs, fieldErr("refusal.reason", "missing", "a REFUSED report says which guard refused, e.g. same-cluster"))
	}
	return errors.Join(errs...)
}
