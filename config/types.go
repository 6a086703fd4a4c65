package config

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// enumParse returns the index of s in names, compared case-insensitively, or
// an error listing the accepted names:
//
//	"startls" is not one of starttls, tls, none
func enumParse(names []string, s string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(names, ", "))
}

// envelopeHeaders are the shorthands of the envelope key that read a header.
var envelopeHeaders = []struct{ name, header string }{
	{"x-envelope-to", "X-Envelope-To"},
	{"x-original-to", "X-Original-To"},
	{"delivered-to", "Delivered-To"},
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts, in any
// case, journal, off, x-envelope-to, x-original-to, delivered-to,
// header:NAME and smtp (valid in [smtp] only), where NAME is an RFC 5322
// field name (canonicalised, so "header:x-rcpt" gives Header "X-Rcpt").
func (m *EnvelopeMode) UnmarshalText(b []byte) error {
	s := string(b)
	switch {
	case strings.EqualFold(s, "journal"):
		*m = EnvelopeMode{Kind: EnvelopeJournal}
		return nil
	case strings.EqualFold(s, "off"):
		*m = EnvelopeMode{Kind: EnvelopeOff}
		return nil
	case strings.EqualFold(s, "smtp"): // [smtp] only (validator.smtp)
		*m = EnvelopeMode{Kind: EnvelopeSMTP}
		return nil
	}
	for _, h := range envelopeHeaders {
		if strings.EqualFold(s, h.name) {
			*m = EnvelopeMode{Kind: EnvelopeHeader, Header: h.header}
			return nil
		}
	}
	const prefix = "header:"
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		name := s[len(prefix):]
		if name == "" {
			return fmt.Errorf("%q needs a header name, e.g. \"header:X-Envelope-To\"", s)
		}
		if !validFieldName(name) {
			return fmt.Errorf("%q: %q is not a valid header field name", s, name)
		}
		*m = EnvelopeMode{Kind: EnvelopeHeader, Header: textproto.CanonicalMIMEHeaderKey(name)}
		return nil
	}
	return fmt.Errorf("%q is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME", s)
}

// validFieldName reports whether s is an RFC 5322 field name: one or more
// printable US-ASCII characters other than colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// Size units. The SI units (KB, MB, GB, TB) are powers of 1000, the IEC units
// (KiB, MiB, GiB, TiB) powers of 1024.
const (
	B   ByteSize = 1
	KB  ByteSize = 1000
	MB  ByteSize = 1000 * KB
	GB  ByteSize = 1000 * MB
	TB  ByteSize = 1000 * GB
	KiB ByteSize = 1024
	MiB ByteSize = 1024 * KiB
	GiB ByteSize = 1024 * MiB
	TiB ByteSize = 1024 * GiB
)

// byteUnits maps the accepted unit spellings (lower case) to their size.
// The bare letters K, M, G and T are the IEC (1024-based) units, as in
// nginx, Java's -Xmx and GNU tools: "512K" is 512KiB.
var byteUnits = map[string]ByteSize{
	"": B, "b": B,
	"kb": KB, "mb": MB, "gb": GB, "tb": TB,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
	"k": KiB, "m": MiB, "g": GiB, "t": TiB,
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts a number,
// optionally with a fraction, followed by an optional unit, optionally
// separated by spaces: "50MB", "50 MB", "512KiB", "1.5GB", "1048576" (a
// plain number is bytes). Units are case-insensitive: B; KB, MB, GB, TB
// (powers of 1000); KiB, MiB, GiB, TiB (powers of 1024); K, M, G, T (the
// same as KiB, MiB, GiB, TiB). The size must be greater than 0.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := parseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func parseByteSize(text string) (ByteSize, error) {
	bad := fmt.Errorf("%q is not a size (write e.g. \"50MB\", \"512KiB\", \"1GB\" or a number of bytes)", text)
	s := strings.TrimSpace(text)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := byteUnits[unit]
	if !ok || num == "" || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, bad
	}
	var v float64
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("%q: size is too large", text)
		}
		if n == 0 {
			return 0, fmt.Errorf("%q: size must be greater than 0", text)
		}
		return ByteSize(n) * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q: size is too large", text)
		}
		return 0, bad
	}
	v = f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: size is too large", text)
	}
	if v < 1 {
		return 0, fmt.Errorf("%q: size must be greater than 0", text)
	}
	return ByteSize(v), nil
}

// String gives the size in the largest unit that divides it exactly, SI
// units first: "50MB", "512KiB", "1GiB", "1234B". UnmarshalText reads it
// back.
func (s ByteSize) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10) + "B"
	}
	for _, u := range []struct {
		name string
		size ByteSize
	}{
		{"TB", TB}, {"TiB", TiB}, {"GB", GB}, {"GiB", GiB},
		{"MB", MB}, {"MiB", MiB}, {"KB", KB}, {"KiB", KiB},
	} {
		if s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (s ByteSize) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with
// time.ParseDuration: "30s", "1m", "1h30m". Range checks (such as the 1s
// minimum of interval) are done by the validation of the key.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. \"30s\", \"1m\", \"1h30m\")", string(b))
	}
	*d = Duration(v)
	return nil
}

// String is like time.Duration's without zero trailing units: "1m" rather
// than "1m0s", "1h" rather than "1h0m0s", "1h30m", "1m30s", "500ms".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
