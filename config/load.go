package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// DefaultPath is the configuration file used when no other is given.
const DefaultPath = "/etc/jarchive/jarchive.toml"

// Defaults of the account keys that have one.
const (
	DefaultMailbox        = "INBOX"
	DefaultMaxMessageSize = 50 * MB
	DefaultInterval       = Duration(time.Minute)
	// DefaultOAuth2Server and DefaultOAuth2Scope are Exchange Online's,
	// for the oauth2 protocols.
	DefaultOAuth2Server = "outlook.office365.com"
	DefaultOAuth2Scope  = "https://outlook.office365.com/.default"
)

// MinInterval is the smallest accepted account interval.
const MinInterval = Duration(time.Second)

// Find returns the configuration file to use: flagPath (the -config flag)
// if not empty, else $JARCHIVE_CONFIG if set and not empty, else
// ./jarchive.toml if it exists, else /etc/jarchive/jarchive.toml.
func Find(flagPath string) string {
	if flagPath != "" {
		return flagPath
	}
	if p := os.Getenv("JARCHIVE_CONFIG"); p != "" {
		return p
	}
	if _, err := os.Stat("jarchive.toml"); err == nil {
		return "jarchive.toml"
	}
	return DefaultPath
}

// Load reads the file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // an *fs.PathError, which names the file
	}
	return Parse(path, data)
}

// Parse decodes and validates the configuration data read from the file
// name. Name is used in error messages and to resolve relative paths (which
// Parse makes absolute); it becomes Config.Path.
//
// Parse fills in the defaults, reads password_file and password_env into
// Account.Password, and checks every key. The error, if any, is an Errors
// holding every problem found, each naming the file, line, column and key:
//
//	jarchive.toml:14:12: accounts[0].security: "startls" is not one of starttls, tls, none
func Parse(name string, data []byte) (*Config, error) {
	ps := &parseState{name: name, suppressed: map[string]bool{}}
	idx, serr := buildIndex(data)
	ps.idx = idx
	if serr != nil {
		key := idx.syntaxKey(serr.off)
		ps.errAt(serr.off, key, "syntax error: "+serr.msg)
		return nil, ps.errs
	}

	work := bytes.Clone(data)
	blanked := map[int]bool{}
	blank := func(top int) bool {
		if top < 0 || blanked[top] {
			return false
		}
		blanked[top] = true
		t := idx.tops[top]
		for i := t.start; i < t.end; i++ {
			if work[i] != '\n' && work[i] != '\r' {
				work[i] = ' '
			}
		}
		// Nothing under a removed key can be checked any more.
		if kv := idx.keyAtTop(top); kv != nil {
			ps.suppressed[kv.path] = true
		}
		return true
	}

	ps.precheck(blank)
	cfg, ok := ps.decode(work, blank)
	if ok {
		ps.validate(cfg)
	}
	if len(ps.errs) > 0 {
		return nil, ps.errs.sortDedup()
	}
	return cfg, nil
}

// parseState collects the errors of one Parse.
type parseState struct {
	name string
	idx  *docIndex
	errs Errors
	// suppressed are keys whose value could not be decoded: validation
	// errors about them and the keys under them would be noise.
	suppressed map[string]bool
}

// errAt records an error at offset off about key.
func (ps *parseState) errAt(off int, key, msg string) {
	line, col := ps.idx.pos(off)
	ps.errs = append(ps.errs, &Error{File: ps.name, Line: line, Col: col, Key: key, Msg: msg})
}

// badAt records an error found before validation and suppresses
// validation errors about the same key.
func (ps *parseState) badAt(off int, key, msg string) {
	ps.errAt(off, key, msg)
	if key != "" {
		ps.suppressed[key] = true
	}
}

// isSuppressed reports whether key, or a table it is in, is suppressed.
func (ps *parseState) isSuppressed(key string) bool {
	for k := key; k != ""; {
		if ps.suppressed[k] {
			return true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return false
}

// headerOff returns the offset of the opening bracket of the table header
// whose first key part is at off, else off.
func (idx *docIndex) headerOff(off int) int {
	for _, h := range idx.headers {
		if h.keyOff == off {
			return h.off
		}
	}
	return off
}

// keyAtTop returns the key-value of top-level expression top.
func (idx *docIndex) keyAtTop(top int) *keyValue {
	for _, kv := range idx.kvs {
		if kv.top == top {
			return kv
		}
	}
	return nil
}

// precheck finds the problems go-toml's decoder would stop at (it stops at
// the first) or would not see: values of the wrong TOML type, values that
// the fields' UnmarshalText refuse, keys in the wrong case (go-toml would
// accept them). It blanks the expressions holding them so that decoding
// goes on with the rest of the document.
func (ps *parseState) precheck(blank func(top int) bool) {
	idx := ps.idx
	for _, h := range idx.headers {
		if k, ok := foldedSchemaKey(schemaPath(h.path)); ok {
			ps.badAt(h.off, h.path, fmt.Sprintf("unknown table; did you mean %q? (keys are case-sensitive)", k))
			ps.suppressed[k] = true
		}
	}
	for _, kv := range idx.kvs {
		sp := schemaPath(kv.path)
		t, known := schema[sp]
		if !known {
			k, folded := foldedSchemaKey(sp)
			_, prefixKnown := schema[schemaPath(kv.prefix)]
			if folded && (kv.prefix == "" || prefixKnown) {
				ps.badAt(kv.keyOff, kv.path, fmt.Sprintf("unknown key; did you mean %q? (keys are case-sensitive)", k[strings.LastIndexByte(k, '.')+1:]))
				blank(kv.top)
			}
			continue
		}
		kinds, want := expect(t)
		if kinds != nil && !slices.Contains(kinds, kv.kind) {
			ps.badAt(kv.valOff, kv.path, fmt.Sprintf("expected %s, got %s", want, kindName(kv.kind)))
			blank(kv.top)
			continue
		}
		if kv.kind == unstable.Array && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			for i, el := range kv.elems {
				if el.kind != unstable.InlineTable {
					ps.badAt(max(el.off, kv.valOff), fmt.Sprintf("%s[%d]", kv.path, i), "expected a table, got "+kindName(el.kind))
					blank(kv.top)
				}
			}
		}
		if kv.kind == unstable.String && isText(t) {
			u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
			if err := u.UnmarshalText([]byte(kv.text)); err != nil {
				ps.badAt(kv.valOff, kv.path, err.Error())
				blank(kv.top)
			}
		}
	}
}

// decode runs go-toml's strict decoder on work. At each error that sits in
// a top-level key-value it records the error, blanks that key-value and
// decodes again, so that all such errors are reported. It reports false
// when decoding could not complete: the configuration is then not
// validated.
func (ps *parseState) decode(work []byte, blank func(top int) bool) (*Config, bool) {
	for range len(ps.idx.tops) + 2 {
		cfg := &Config{}
		err := toml.NewDecoder(bytes.NewReader(work)).DisallowUnknownFields().Decode(cfg)
		if err == nil {
			return cfg, true
		}
		var sme *toml.StrictMissingError
		if errors.As(err, &sme) {
			for i := range sme.Errors {
				ps.decodeError(&sme.Errors[i], true)
			}
			return cfg, true // strict errors come after a complete decode
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			ps.errAt(0, "", err.Error())
			return nil, false
		}
		off := ps.decodeError(de, false)
		if !blank(ps.idx.topAt(off)) {
			return nil, false
		}
	}
	return nil, false
}

// decodeError records a go-toml error and returns its offset.
func (ps *parseState) decodeError(de *toml.DecodeError, strict bool) int {
	line, col := de.Position()
	off := ps.idx.offset(line, col)
	key, ok := ps.idx.keyFor(off)
	if !ok {
		key = strings.Join(de.Key(), ".")
	}
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	switch {
	case strict && msg == "missing table":
		msg = "unknown table" + suggest(key)
	case strict:
		msg = "unknown key" + suggest(key)
	case strings.HasSuffix(msg, "is already defined"):
		msg = "duplicate key"
		if first := ps.idx.byPath[key]; first != nil && first.keyOff != off {
			l, _ := ps.idx.pos(first.keyOff)
			msg = fmt.Sprintf("duplicate key (first set on line %d)", l)
		}
		// The first value stays and is validated: no suppression.
		ps.errAt(off, key, msg)
		return off
	case strings.HasPrefix(msg, "table ") && strings.HasSuffix(msg, " already exists"):
		msg = "table defined twice"
		if first, ok := ps.idx.tables[key]; ok && first != ps.idx.headerOff(off) {
			l, _ := ps.idx.pos(first)
			msg = fmt.Sprintf("table defined twice (first on line %d)", l)
		}
	}
	ps.badAt(ps.idx.headerOff(off), key, msg)
	return off
}
