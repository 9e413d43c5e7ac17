package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
)

// redacted replaces every secret in the output.
const redacted = "[REDACTED]"

// minSecretLen is the shortest string RegisterSecret accepts. Note that scrubbing a very short string
// would mangle unrelated text everywhere it happens to occur (a secret "gke" would eat every cluster
// name) while hiding little: the secrets gkedr handles are webhook URLs and tokens.
const minSecretLen = 8

var secrets struct {
	sync.RWMutex
	// list is sorted longest first so that a secret containing another is replaced whole.
	list []string
}

// RegisterSecret makes every logger of this package replace s with [REDACTED] wherever it appears:
// in messages, string attributes, error texts and nested values. It is process-wide and safe for
// concurrent use; notify registers every webhook URL it reads from the environment. Strings shorter
// than 8 bytes are ignored (see minSecretLen).
func RegisterSecret(s string) {
	s = strings.TrimSpace(s)
	if len(s) < minSecretLen {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	if slices.Contains(secrets.list, s) {
		return
	}
	secrets.list = append(secrets.list, s)
	slices.SortFunc(secrets.list, func(a, b string) int { return len(b) - len(a) })
}

// rules are the built-in redactions, for credentials nobody registered: a webhook URL pasted into an
// error by an HTTP client, a token in a query string.
var rules = []struct {
	re   *regexp.Regexp
	repl string
}{
	// A Slack incoming webhook is a bearer credential in its path.
	{regexp.MustCompile(`(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s"'<>:]+`), "${1}" + redacted},
	// A Google Chat webhook authenticates with key and token in the query; the whole query goes.
	{regexp.MustCompile(`(chat\.googleapis\.com/v1/spaces/[^/\s?"']+/messages)\?[^\s"'<>]*`), "${1}?" + redacted},
	// user:password@ in any URL.
	{regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@"']+:[^/\s@"']+@`), "${1}" + redacted + "@"},
	// key=, token=, sig=, access_token= and their kin, in a query string or free text. Note that \b
	// keeps compound names such as backup_key= or ordering_key= visible: "_" is a word character.
	{regexp.MustCompile(`(?i)\b((?:access_|refresh_|id_|api_|api-|client_|private_|x-goog-|x-amz-)?(?:token|key|apikey|sig|signature|secret|password|passwd|credential))=[^&\s"'#<>]+`), "${1}=" + redacted},
	// Authorization header values.
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{8,}`), "${1} " + redacted},
}

// scrub removes registered secrets and credential-looking substrings from s.
func scrub(s string) string {
	if s == "" {
		return s
	}
	secrets.RLock()
	for _, secret := range secrets.list {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	secrets.RUnlock()
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// cleanAttr normalises a's key to snake_case and redacts its value: all of it when the key names a
// secret, else every string within it. Group members are cleaned recursively.
func cleanAttr(a slog.Attr) slog.Attr {
	if a.Key != "" && !strings.HasPrefix(a.Key, specialPrefix) {
		a.Key = normalizeKey(a.Key)
	}
	a.Value = a.Value.Resolve()
	if a.Key != "" && !strings.HasPrefix(a.Key, specialPrefix) && sensitiveKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(scrub(a.Value.String()))
	case slog.KindGroup:
		members := a.Value.Group()
		cleaned := make([]slog.Attr, len(members))
		for i, m := range members {
			cleaned[i] = cleanAttr(m)
		}
		a.Value = slog.GroupValue(cleaned...)
	case slog.KindAny:
		a.Value = cleanAny(a.Value.Any())
	}
	return a
}

// cleanAny redacts an arbitrary value. An error becomes its scrubbed text (what the JSON handler
// would print anyway). Anything else is rendered to JSON, as the JSON handler would, and every string
// and every value under a sensitive key in that JSON is redacted, so a struct with a webhook URL field
// cannot leak it either.
func cleanAny(v any) slog.Value {
	if err, ok := v.(error); ok {
		return slog.StringValue(scrub(err.Error()))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Note that HTML escaping would turn & into \u0026 and hide a URL with a query from the rules.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return slog.AnyValue(v) // the JSON handler reports the marshalling error in place of the value
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return slog.AnyValue(v)
	}
	out, err := json.Marshal(redactTree(tree))
	if err != nil {
		return slog.AnyValue(v)
	}
	return slog.AnyValue(json.RawMessage(out))
}

func redactTree(v any) any {
	switch t := v.(type) {
	case string:
		return scrub(t)
	case []any:
		for i := range t {
			t[i] = redactTree(t[i])
		}
		return t
	case map[string]any:
		for k, e := range t {
			if sensitiveKey(toSnake(k)) {
				t[k] = redacted
			} else {
				t[k] = redactTree(e)
			}
		}
		return t
	default:
		return v
	}
}

// Words that make an attribute key sensitive wherever they appear in it (webhook_url, slack_token).
var sensitiveWords = map[string]bool{
	"webhook": true, "webhooks": true, "token": true, "tokens": true, "secret": true, "secrets": true,
	"password": true, "passwd": true, "credential": true, "credentials": true, "apikey": true,
	"authorization": true, "cookie": true, "signature": true,
}

// publicKeyQualifiers are the words before "key" that name an identifier rather than a credential.
// Note the deliberate asymmetry: a key ending in "key" is redacted unless its qualifier is listed
// here, because a false redaction costs a log detail while a false pass costs a credential. So
// backup_key, ordering_key and thread_key stay visible; api_key, access_key and a bare key do not.
var publicKeyQualifiers = map[string]bool{
	"backup": true, "ordering": true, "thread": true, "idempotency": true, "dedup": true, "request": true,
	"cache": true, "sort": true, "partition": true, "label": true, "annotation": true, "map": true,
	"lookup": true, "primary": true, "foreign": true, "object": true, "resource": true, "group": true,
	"field": true, "config": true, "hash": true,
}

// publicURLQualifiers are the words before "url" that name a URL built from public parts: the
// Console link in a report, a policy probe (the policy file holds no secrets, DESIGN §6). Every other
// URL is redacted, since a webhook URL is itself the credential.
var publicURLQualifiers = map[string]bool{"console": true, "probe": true, "docs": true, "help": true}

// metadataSuffixes end keys that describe a secret without holding it: webhook_url_env names the
// environment variable, secret_name a Secret Manager resource, token_count a number.
var metadataSuffixes = map[string]bool{
	"env": true, "name": true, "names": true, "id": true, "ref": true, "count": true, "len": true,
	"set": true, "present": true, "configured": true, "version": true,
}

// sensitiveKey reports whether the value under the snake_case key k must be redacted whole.
func sensitiveKey(k string) bool {
	words := strings.Split(toSnake(k), "_")
	if len(words) > 1 && metadataSuffixes[words[len(words)-1]] {
		return false
	}
	for i, w := range words {
		switch {
		case sensitiveWords[w]:
			return true
		case w == "key" || w == "keys":
			if i == 0 || !publicKeyQualifiers[words[i-1]] {
				return true
			}
		case w == "url" || w == "urls" || w == "uri":
			if i == 0 || !publicURLQualifiers[words[i-1]] {
				return true
			}
		}
	}
	return false
}

// keyCache memoises normalizeKey: attribute keys repeat on every line. It stops growing at
// maxCachedKeys so that keys built from data cannot grow it without bound.
var keyCache struct {
	sync.Map // string → string
	n        atomic.Int64
}

const maxCachedKeys = 4096

// normalizeKey converts an attribute key to snake_case (see toSnake), leaving Cloud Logging special
// keys unchanged.
func normalizeKey(k string) string {
	if strings.HasPrefix(k, specialPrefix) {
		return k
	}
	if v, ok := keyCache.Load(k); ok {
		return v.(string)
	}
	out := toSnake(k)
	if keyCache.n.Load() < maxCachedKeys {
		if _, loaded := keyCache.LoadOrStore(k, out); !loaded {
			keyCache.n.Add(1)
		}
	}
	return out
}

// toSnake converts camelCase, PascalCase, kebab-case, dotted and spaced keys to snake_case:
// backupPlan → backup_plan, "standby cluster" → standby_cluster, webhookURL → webhook_url,
// HTTPStatus → http_status.
func toSnake(k string) string {
	rs := []rune(k)
	var b strings.Builder
	pendingSep := false
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			pendingSep = b.Len() > 0
			continue
		}
		if unicode.IsUpper(r) && i > 0 && b.Len() > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			// A word starts at an upper-case letter after a lower-case letter or digit (backupPlan),
			// or at the last capital of an acronym followed by lower case (HTTPStatus → HTTP|Status).
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				pendingSep = true
			}
		}
		if pendingSep {
			b.WriteByte('_')
			pendingSep = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
