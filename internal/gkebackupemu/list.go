package gkebackupemu

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// listRequest is what every List request of the API has.
type listRequest interface {
	GetParent() string
	GetPageSize() int32
	GetPageToken() string
	GetFilter() string
	GetOrderBy() string
}

// pageRequest is the part of a list request that paging depends on.
type pageRequest struct {
	parent, filter, orderBy, pageToken string
	pageSize                           int32
}

func pageOf(req listRequest) pageRequest {
	return pageRequest{
		parent: req.GetParent(), filter: req.GetFilter(), orderBy: req.GetOrderBy(),
		pageToken: req.GetPageToken(), pageSize: req.GetPageSize(),
	}
}

// list filters, orders and pages resources (already copied out of the store).
func list[T proto.Message](all []T, req listRequest) ([]T, string, error) {
	var zero T
	desc := zero.ProtoReflect().Descriptor()
	terms, err := parseFilter(req.GetFilter(), desc)
	if err != nil {
		return nil, "", err
	}
	key, err := parseOrderBy(req.GetOrderBy())
	if err != nil {
		return nil, "", err
	}
	var kept []T
	for _, r := range all {
		if matchAll(terms, r.ProtoReflect()) {
			kept = append(kept, r)
		}
	}
	return paginate(kept, pageOf(req), key)
}

// orderKey returns the sort key of a resource; keys compare as strings.
type orderKey struct {
	field string
	desc  bool
}

func (k *orderKey) of(m proto.Message) string {
	name := stringField(m.ProtoReflect(), "name")
	if k == nil || k.field == "name" {
		return name
	}
	ts := m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(k.field)))
	var nanos int64
	if msg := ts.Message(); msg.IsValid() {
		if t, ok := msg.Interface().(*timestamppb.Timestamp); ok {
			nanos = t.AsTime().UnixNano()
		}
	}
	// Fixed-width times sort as strings; the name breaks ties.
	return fmt.Sprintf("%020d|%s", nanos, name)
}

var orderByPattern = regexp.MustCompile(`^\s*(name|create_time|update_time)(?:\s+(asc|desc))?\s*$`)

// parseOrderBy supports one of name, create_time, update_time with an optional asc or desc.
func parseOrderBy(s string) (*orderKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := orderByPattern.FindStringSubmatch(s)
	if m == nil {
		return nil, invalid("order_by %q is not supported: use name, create_time or update_time, optionally followed by asc or desc", s)
	}
	return &orderKey{field: m[1], desc: m[2] == "desc"}, nil
}

// pageToken is the opaque token: where the previous page ended and a hash of the request it
// belongs to.
type pageToken struct {
	After string `json:"a"`
	Hash  uint64 `json:"h"`
}

func requestHash(req pageRequest) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", req.parent, req.filter, req.orderBy)
	return h.Sum64()
}

// paginate orders items by key and returns the page after req.pageToken. Tokens name the last
// item returned rather than an offset, so items created between pages neither repeat nor shift.
func paginate[T proto.Message](items []T, req pageRequest, key *orderKey) ([]T, string, error) {
	if req.pageSize < 0 {
		return nil, "", invalid("page_size must be >= 0, got %d", req.pageSize)
	}
	size := int(req.pageSize)
	if size == 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	desc := key != nil && key.desc
	keys := make(map[string]T, len(items))
	sorted := make([]string, 0, len(items))
	for _, it := range items {
		k := key.of(it)
		keys[k] = it
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, func(a, b string) int {
		if desc {
			return cmp.Compare(b, a)
		}
		return cmp.Compare(a, b)
	})
	hash := requestHash(req)
	start := 0
	if req.pageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.pageToken)
		var tok pageToken
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil {
			return nil, "", invalid("page_token %q is malformed", req.pageToken)
		}
		if tok.Hash != hash {
			return nil, "", invalid("page_token does not belong to this request: parent, filter and order_by must not change between pages")
		}
		start = len(sorted)
		for i, k := range sorted {
			if (!desc && k > tok.After) || (desc && k < tok.After) {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(sorted))
	page := make([]T, 0, end-start)
	for _, k := range sorted[start:end] {
		page = append(page, keys[k])
	}
	next := ""
	if end < len(sorted) {
		raw, _ := json.Marshal(pageToken{After: sorted[end-1], Hash: hash})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return page, next, nil
}

// filterTerm is one comparison of a filter: field[.key] op value.
type filterTerm struct {
	field, key, op, value string
}

var termPattern = regexp.MustCompile(`^([a-z_]+)(?:\.([A-Za-z0-9_./-]+))?\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|[^\s"()]+)$`)

// parseFilter reads the supported subset of the list filter language (AIP-160): comparisons of
// state, name or labels.KEY with =, != or : (labels.KEY:* tests presence), joined by AND.
func parseFilter(s string, desc protoreflect.MessageDescriptor) ([]filterTerm, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var terms []filterTerm
	for _, part := range splitAnd(s) {
		m := termPattern.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return nil, invalid("filter %q: %q is not supported; the emulator supports state, name and labels.KEY compared with =, != or :, joined by AND", s, part)
		}
		t := filterTerm{field: m[1], key: m[2], op: m[3], value: m[4]}
		if strings.HasPrefix(t.value, `"`) {
			v, err := strconv.Unquote(t.value)
			if err != nil {
				return nil, invalid("filter %q: bad string %s", s, t.value)
			}
			t.value = v
		}
		fd := desc.Fields().ByName(protoreflect.Name(t.field))
		switch {
		case t.field == "labels" && fd != nil && fd.IsMap() && t.key != "":
		case t.field == "state" && fd != nil && fd.Enum() != nil && t.key == "":
			if fd.Enum().Values().ByName(protoreflect.Name(t.value)) == nil {
				return nil, invalid("filter %q: %q is not a state of %s", s, t.value, desc.Name())
			}
		case t.field == "name" && t.key == "":
		default:
			return nil, invalid("filter %q: field %q is not supported on %s", s, strings.TrimSuffix(t.field+"."+t.key, "."), desc.Name())
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// splitAnd splits s at AND keywords outside double quotes.
func splitAnd(s string) []string {
	var parts []string
	inQuote := false
	last := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"' && (i == 0 || s[i-1] != '\\'):
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(s[i:], "AND") && i > 0 && isSpace(s[i-1]) && i+3 < len(s) && isSpace(s[i+3]):
			parts = append(parts, s[last:i])
			last = i + 3
		}
	}
	return append(parts, s[last:])
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' }

func matchAll(terms []filterTerm, m protoreflect.Message) bool {
	for _, t := range terms {
		if !t.match(m) {
			return false
		}
	}
	return true
}

func (t filterTerm) match(m protoreflect.Message) bool {
	var got string
	present := true
	switch t.field {
	case "state":
		fd := m.Descriptor().Fields().ByName("state")
		if v := fd.Enum().Values().ByNumber(m.Get(fd).Enum()); v != nil {
			got = string(v.Name())
		}
	case "name":
		got = stringField(m, "name")
	case "labels":
		fd := m.Descriptor().Fields().ByName("labels")
		mk := protoreflect.ValueOfString(t.key).MapKey()
		present = m.Get(fd).Map().Has(mk)
		if present {
			got = m.Get(fd).Map().Get(mk).String()
		}
	}
	switch t.op {
	case "!=":
		return !present || got != t.value
	case ":":
		if t.value == "*" {
			return present
		}
	}
	return present && got == t.value
}

func stringField(m protoreflect.Message, name string) string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return ""
	}
	return m.Get(fd).String()
}
