package archive

// TODO(journal): this file bridges the Envelope fields that the envelope
// parser rewrite (issue 4) adds: ContentKey, DecryptedContentKey, Problems,
// the decrypted copy (Decrypted) and journal.NormalizeAddr. It reads them by reflection so that
// this package builds before and after they land. Once they exist, replace
// extOf by direct field access and normalizeAddr by journal.NormalizeAddr,
// and delete this file (and the ext seam of Incoming).

import (
	"io"
	"reflect"
	"strings"

	"golang.org/x/net/idna"

	"jarchive/journal"
)

// envExt is what Put needs from an Envelope beyond the fields of the
// current journal package.
type envExt struct {
	contentKey string   // hex SHA-256 of the original without transport headers
	decKey     string   // the same of the decrypted copy
	problems   []string // the parser's problems
	// decrypted returns the decrypted copy of a journal report with
	// report decryption, or nil.
	decrypted func(io.ReaderAt) io.Reader
}

// extOf reads the extension fields of env, when the journal package has
// them.
func extOf(env *journal.Envelope) envExt {
	var x envExt
	if env == nil {
		return x
	}
	v := reflect.ValueOf(env).Elem()
	if f := v.FieldByName("ContentKey"); f.IsValid() && f.Kind() == reflect.String {
		x.contentKey = f.String()
	}
	if f := v.FieldByName("DecryptedContentKey"); f.IsValid() && f.Kind() == reflect.String {
		x.decKey = f.String()
	}
	if f := v.FieldByName("Problems"); f.IsValid() && f.CanInterface() {
		if p, ok := f.Interface().([]string); ok {
			x.problems = p
		}
	}
	if d, ok := any(env).(interface{ Decrypted(io.ReaderAt) io.Reader }); ok {
		x.decrypted = d.Decrypted
	}
	return x
}

// normalizeAddr is the normal form of an address for comparisons: display
// name, angle brackets and an smtp: prefix removed, domain lower-cased and
// in punycode. ok is false for something that is not an address (then the
// trimmed, lower-cased input is returned).
func normalizeAddr(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = strings.TrimSpace(s[i+1 : i+j])
		}
	}
	if len(s) >= 5 && strings.EqualFold(s[:5], "smtp:") {
		s = s[5:]
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return strings.ToLower(s), false
	}
	local, domain := s[:at], strings.ToLower(strings.TrimSuffix(s[at+1:], "."))
	if a, err := idna.Lookup.ToASCII(domain); err == nil {
		domain = a
	}
	return local + "@" + domain, true
}
