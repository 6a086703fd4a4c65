package archive

import (
	"bytes"
	"encoding/json"

	"jarchive/journal"
)

// recipientKey is what makes two envelope recipients the same: the field,
// and the normalised address and annotations (journal.NormalizeAddr), so
// that "Ben <BEN@Contoso.com>" and "ben@contoso.com" are one recipient.
type recipientKey struct{ addr, field, expanded, forwarded string }

func keyOf(r *journal.Recipient) recipientKey {
	norm := func(s string) string {
		if s == "" {
			return ""
		}
		n, _ := normalizeAddr(s)
		return n
	}
	return recipientKey{norm(r.Addr), r.Field, norm(r.ExpandedFrom), norm(r.ForwardedFrom)}
}

// unionRecipients returns a with the recipients of b that it lacks
// appended, in order of first appearance. Addresses stay as first written.
func unionRecipients(a, b []journal.Recipient) []journal.Recipient {
	if len(b) == 0 {
		return a
	}
	seen := make(map[recipientKey]bool, len(a)+len(b))
	out := make([]journal.Recipient, 0, len(a)+len(b))
	for _, r := range a {
		if k := keyOf(&r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for _, r := range b {
		if k := keyOf(&r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// marshalRecord encodes a record as stored: JSON without HTML escaping.
func marshalRecord(rec *Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
