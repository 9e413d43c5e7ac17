package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/gkedr/gkedr/internal/problem"
)

// FieldError is one problem of a policy (or of the environment): where it is, what is wrong, and
// how to fix it. Validation returns every FieldError joined, so use errors.As to get the first, or
// walk the joined errors to get them all.
type FieldError struct {
	// Path is the field's path in the policy, e.g. sources[0].standbys[1].cluster, or an env var name.
	Path string
	// Problem says what is wrong, quoting the value unless it may be a secret.
	Problem string
	// Fix says what to write instead.
	Fix string
}

// Error reads "path: problem; fix".
func (e *FieldError) Error() string { return problem.Format(e.Path, e.Problem, e.Fix) }

var (
	durationType    = reflect.TypeFor[Duration]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// decodeStrict turns YAML into a Policy. It first walks the document against the Policy type, so
// that every unknown field and wrong type is reported at once with its indexed path (the json
// package reports only the first, without list indexes), then decodes with unknown fields
// disallowed as a safety net.
func decodeStrict(data []byte) (*Policy, error) {
	// Note that the strict conversion rejects duplicate keys: with the lenient one, the last of two
	// "standby:" keys would silently win.
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		// Note that the YAML error is flattened onto one line: one problem, one log line.
		return nil, &FieldError{Problem: "not valid YAML: " + strings.Join(strings.Fields(err.Error()), " "), Fix: "fix the YAML at the line shown; every key may appear once per mapping"}
	}
	var doc any
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("read converted YAML: %w", err)
	}
	if errs := checkShape("", doc, reflect.TypeFor[Policy]()); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode policy fields: %w", err)
	}
	return &p, nil
}

// checkShape reports every place where the generic JSON value v does not fit type t. It handles the
// kinds Policy uses: structs, slices, pointers, strings, bools and Duration.
func checkShape(path string, v any, t reflect.Type) []error {
	if v == nil {
		return nil // null leaves the zero value, as with the json package
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		s, ok := v.(string)
		if !ok {
			return []error{&FieldError{Path: path, Problem: "got " + describe(v) + ", want a duration string", Fix: `write a Go duration such as "30m" or "90s"`}}
		}
		if _, err := time.ParseDuration(s); err != nil {
			return []error{&FieldError{Path: path, Problem: strconv.Quote(s) + " is not a duration", Fix: `write a number with a unit, such as "30m", "1h30m" or "90s"`}}
		}
		return nil
	case reflect.PointerTo(t).Implements(unmarshalerType):
		// A custom type this walker does not know: let the strict decoder judge it.
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return []error{&FieldError{Path: orRoot(path), Problem: "got " + describe(v) + ", want a mapping", Fix: "write the fields as key: value lines"}}
		}
		var errs []error
		for _, key := range sortedKeys(m) {
			sub := joinPath(path, key)
			f, ok := fieldByJSONName(t, key)
			if !ok {
				errs = append(errs, &FieldError{Path: sub, Problem: "unknown field", Fix: suggestField(t, key)})
				continue
			}
			errs = append(errs, checkShape(sub, m[key], f.Type)...)
		}
		return errs
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return []error{&FieldError{Path: path, Problem: "got " + describe(v) + ", want a list", Fix: "write the items as \"- item\" lines or [a, b]"}}
		}
		var errs []error
		for i, item := range list {
			errs = append(errs, checkShape(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())...)
		}
		return errs
	case reflect.String:
		if _, ok := v.(string); !ok {
			return []error{&FieldError{Path: path, Problem: "got " + describe(v) + ", want a string", Fix: "quote the value"}}
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return []error{&FieldError{Path: path, Problem: "got " + describe(v) + ", want true or false", Fix: "write true or false without quotes"}}
		}
	}
	return nil
}

// describe names the JSON kind of v. Note that it never quotes a string: a misplaced value may be a
// secret (a webhook URL), and these errors end up in logs.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return "the number " + strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func orRoot(path string) string {
	if path == "" {
		return "(policy)"
	}
	return path
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonName is the key a struct field is written as.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// fieldByJSONName finds the field written as key. Note that, unlike the json package, it matches
// case-sensitively: "Cluster:" is an error with a suggestion, not silently accepted.
func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if f.IsExported() && jsonName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggestField proposes the known field closest to key, or lists the known fields.
func suggestField(t reflect.Type, key string) string {
	var names []string
	for f := range t.Fields() {
		if f.IsExported() {
			names = append(names, jsonName(f))
		}
	}
	best, bestDist := "", 3 // suggest only within two edits
	for _, n := range names {
		d := editDistance(strings.ToLower(key), strings.ToLower(n))
		if d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "known fields here: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance of a and b, for "did you mean" suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
