package journal

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// NormalizeAddr returns the normal form of an e-mail address, the one every
// comparison uses (de-duplication, ownership, search), and whether s is an
// address at all.
//
// The normal form is local@domain where
//   - a display name, angle brackets, a trailing (comment) and an "smtp:"
//     type prefix (any case, as in Exchange envelopes) are removed:
//     `"Kim Akers" <SMTP:Kim@Contoso.COM>` gives "Kim@contoso.com";
//   - the local part is kept as written, only surrounding white space is
//     removed (RFC 5321 leaves its case to the receiving host);
//   - the domain is lower-cased, a final dot is removed, and an
//     internationalised domain is in its ASCII form (IDNA 2008 / UTS #46
//     lookup mapping, then punycode): "info@MÜNCHEN.example.org" and
//     "info@xn--mnchen-3ya.example.org" both give
//     "info@xn--mnchen-3ya.example.org". A domain literal such as
//     [192.0.2.1] is kept, lower-cased.
//
// For garbage (no @, an empty local part or domain, white space or
// specials where they cannot be, invalid UTF-8, a domain IDNA rejects) it
// returns the cleaned input lower-cased and false. It never panics.
func NormalizeAddr(s string) (string, bool) {
	a := cleanAddr(s)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || !utf8.ValidString(a) {
		return strings.ToLower(a), false
	}
	local, domain := strings.TrimSpace(a[:at]), strings.TrimSpace(a[at+1:])
	d, ok := normalizeDomain(domain)
	if !ok || !validLocal(local) {
		return strings.ToLower(a), false
	}
	return local + "@" + d, true
}

// idnaProfile is the UTS #46 lookup profile without the STD3 rules, which
// would refuse the underscores some real mail domains have; what STD3
// guards against is checked by normalizeDomain before.
var idnaProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(false), idna.BidiRule(), idna.Transitional(false))

func normalizeDomain(d string) (string, bool) {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", false
	}
	if d[0] == '[' {
		if d[len(d)-1] != ']' || strings.ContainsAny(d[1:len(d)-1], "[]\\ \t\r\n") {
			return "", false
		}
		return strings.ToLower(d), true
	}
	ascii, ok := domainChars(d)
	if !ok {
		return "", false
	}
	if ascii {
		d = strings.ToLower(d)
		if !strings.Contains(d, "xn--") {
			return d, true
		}
	}
	a, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", false
	}
	// The result must be a plain ASCII domain that converts to itself
	// ("xn--" alone decodes to an empty label, for one).
	if ascii, ok := domainChars(a); !ok || !ascii {
		return "", false
	}
	if b, err := idnaProfile.ToASCII(a); err != nil || b != a {
		return "", false
	}
	return a, true
}

// domainChars checks that d is labels of letters, digits, '-' and '_' (or
// non-ASCII) separated by single dots, and reports whether it is ASCII.
func domainChars(d string) (ascii, ok bool) {
	if d == "" || d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return false, false
	}
	ascii = true
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false, false
		}
	}
	return ascii, true
}

// validLocal accepts a quoted string or a dot-atom-like local part; UTF-8
// is allowed (RFC 6531), white space, controls and specials are not.
func validLocal(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '"' && l[len(l)-1] == '"' {
		for i := 1; i < len(l)-1; i++ {
			if c := l[i]; c < 0x20 && c != '\t' || c == 0x7f {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(`"(),:;<>@[\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// cleanAddr removes a display name, angle brackets, a trailing comment and
// an "smtp:" type prefix from one address, keeping it otherwise as written:
// `"Kim Akers" <smtp:kim@contoso.com>` gives kim@contoso.com.
func cleanAddr(s string) string {
	s = strings.TrimSpace(s)
	if i := lastTopLevel(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		} else {
			s = s[i+1:]
		}
	} else if strings.HasSuffix(s, ")") {
		if i := strings.LastIndexByte(s, '('); i > 0 {
			s = s[:i]
		}
	}
	s = strings.TrimSpace(s)
	if len(s) > 5 && strings.EqualFold(s[:5], "smtp:") {
		s = strings.TrimSpace(s[5:])
	}
	return s
}

// lastTopLevel returns the index of the last c outside a quoted string, or
// -1.
func lastTopLevel(s string, c byte) int {
	last, quoted := -1, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case c:
			if !quoted {
				last = i
			}
		}
	}
	return last
}

// splitList splits s at the commas (and, with semicolons, at the
// semicolons) that are outside quoted strings, angle brackets, comments and
// domain literals. Empty items are dropped; items are trimmed.
func splitList(s string, semicolons bool) []string {
	var out []string
	quoted, angle, paren, square := false, false, 0, false
	start := 0
	add := func(item string) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || paren > 0):
			i++
		case quoted:
			if c == '"' {
				quoted = false
			}
		case paren > 0:
			switch c {
			case '(':
				paren++
			case ')':
				paren--
			}
		case c == '"':
			quoted = true
		case c == '(':
			paren = 1
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == '[':
			square = true
		case c == ']':
			square = false
		case !angle && !square && (c == ',' || semicolons && c == ';'):
			add(s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		add(s[start:])
	}
	return out
}

// parseAddrList returns the bare addresses of a header value (To, Cc,
// Delivered-To, ...): each item of the comma-separated list, group syntax
// ("team: a@x, b@y;") flattened, with cleanAddr applied, as written
// otherwise (raw 8-bit bytes read as in toUTF8). Items that are empty after
// cleaning are dropped.
func parseAddrList(v string) []string {
	var out []string
	for _, item := range splitList(v, true) {
		// A group's name ends at the first colon outside quotes and
		// angle brackets, before any @: "team: a@x". It also removes
		// an unbracketed "smtp:" prefix, which cleanAddr would.
		if i := groupColon(item); i >= 0 {
			item = item[i+1:]
		}
		if a := cleanAddr(item); a != "" {
			out = append(out, toUTF8String(a))
		}
	}
	return out
}

func groupColon(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<', c == '@':
			return -1
		case c == ':':
			return i
		}
	}
	return -1
}

// sameAddr reports whether a and b are the same address in normal form.
func sameAddr(a, b string) bool {
	na, _ := NormalizeAddr(a)
	nb, _ := NormalizeAddr(b)
	return na == nb
}

// MergeRecipients returns a followed by the recipients of b that a does not
// have, comparing addresses (Addr, ExpandedFrom, ForwardedFrom) in normal
// form and Field exactly: the union of the envelopes of forked reports of
// one message, whatever their order. a is not modified.
func MergeRecipients(a, b []Recipient) []Recipient {
	key := func(r Recipient) [4]string {
		n, _ := NormalizeAddr(r.Addr)
		x, _ := NormalizeAddr(r.ExpandedFrom)
		f, _ := NormalizeAddr(r.ForwardedFrom)
		return [4]string{n, r.Field, x, f}
	}
	out := make([]Recipient, len(a), len(a)+len(b))
	copy(out, a)
	seen := make(map[[4]string]bool, len(a)+len(b))
	for _, r := range a {
		seen[key(r)] = true
	}
	for _, r := range b {
		if k := key(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}
