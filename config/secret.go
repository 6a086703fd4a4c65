package config

import (
	"fmt"
	"log/slog"
)

// redacted is what every printing path of a Secret gives.
const redacted = "<redacted>"

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return Secret{value: &s} }

// Reveal returns the secret value. Call it only where the value is used (at
// login), never to log or print it.
func (s Secret) Reveal() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// UnmarshalText implements encoding.TextUnmarshaler: it stores the text
// as the secret value.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = NewSecret(string(b))
	return nil
}

// String implements fmt.Stringer; it gives "<redacted>".
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer; it gives "<redacted>".
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb and flag (%v, %+v,
// %#v, %s, %q, %x, %d, ...) prints "<redacted>" (quoted for %q).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", redacted)
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// LogValue implements slog.LogValuer; it gives "<redacted>".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler; it gives "<redacted>", so
// TOML, JSON map keys and other text encodings never see the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON implements json.Marshaler; it gives "<redacted>" as a JSON
// string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
