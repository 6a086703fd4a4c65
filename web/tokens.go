package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"jarchive/config"
)

// TokensFile is the name of the API token file in the archive directory.
const TokensFile = "web-tokens.json"

// TokenPrefix starts every API token, so that a leaked one is recognised.
const TokenPrefix = "jat_"

// Token is one API token as stored: its SHA-256, never the token.
type Token struct {
	Name    string      `json:"name"`
	Role    config.Role `json:"role"`
	User    string      `json:"user,omitempty"`
	SHA256  string      `json:"sha256"`
	Created time.Time   `json:"created"`
	By      string      `json:"by,omitempty"`
}

type tokenFile struct {
	Tokens []Token `json:"tokens"`
}

// Tokens is the token file of an archive. It reads the file again when it
// changed (a token added or revoked by "jarchive token" while the daemon
// runs). Safe for concurrent use.
type Tokens struct {
	path string

	mu     sync.Mutex
	stamp  string // size and modification time of the file read
	byHash map[string]Token
	list   []Token
}

// OpenTokens returns the token file at path; it need not exist.
func OpenTokens(path string) *Tokens { return &Tokens{path: path} }

// load reads the file if it changed; callers hold t.mu.
func (t *Tokens) load() error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, os.ErrNotExist) {
		t.stamp, t.byHash, t.list = "", map[string]Token{}, nil
		return nil
	} else if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	stamp := fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	if stamp == t.stamp && t.byHash != nil {
		return nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("tokens %s: %w", t.path, err)
	}
	t.byHash = map[string]Token{}
	for _, tok := range f.Tokens {
		t.byHash[tok.SHA256] = tok
	}
	t.list, t.stamp = f.Tokens, stamp
	return nil
}

// Check returns the token whose secret is tok.
func (t *Tokens) Check(tok string) (Token, bool) {
	if !strings.HasPrefix(tok, TokenPrefix) {
		return Token{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return Token{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	found, ok := t.byHash[hex.EncodeToString(sum[:])]
	return found, ok
}

// List returns the tokens, sorted by name.
func (t *Tokens) List() ([]Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return nil, err
	}
	out := slices.Clone(t.list)
	slices.SortFunc(out, func(a, b Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Add makes a token with a new random secret, stores its hash and returns
// the secret (shown once). A token of role user needs a user.
func (t *Tokens) Add(name string, role config.Role, user, by string, now time.Time) (string, error) {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", fmt.Errorf("token name %q: want a non-empty name without spaces", name)
	}
	if user == "" && !role.SeesAll() && !role.IsAdmin() {
		return "", errors.New("a token of role user needs the user it acts as (-user)")
	}
	secret := TokenPrefix + randomToken()
	sum := sha256.Sum256([]byte(secret))
	err := t.update(func(f *tokenFile) error {
		for _, o := range f.Tokens {
			if o.Name == name {
				return fmt.Errorf("a token named %q exists (revoke it first)", name)
			}
		}
		f.Tokens = append(f.Tokens, Token{Name: name, Role: role, User: user, SHA256: hex.EncodeToString(sum[:]), Created: now.UTC(), By: by})
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Revoke removes the token called name.
func (t *Tokens) Revoke(name string) error {
	return t.update(func(f *tokenFile) error {
		i := slices.IndexFunc(f.Tokens, func(o Token) bool { return o.Name == name })
		if i < 0 {
			return fmt.Errorf("no token named %q", name)
		}
		f.Tokens = slices.Delete(f.Tokens, i, i+1)
		return nil
	})
}

// update rewrites the file with fn's change: temp file, fsync, rename.
func (t *Tokens) update(fn func(f *tokenFile) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var f tokenFile
	b, err := os.ReadFile(t.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("tokens: %w", err)
	default:
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("tokens %s: %w", t.path, err)
		}
	}
	if err := fn(&f); err != nil {
		return err
	}
	if f.Tokens == nil {
		f.Tokens = []Token{}
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(t.path), ".tokens-*")
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(out, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), t.path)
	}
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	t.stamp = "" // read it again
	return nil
}
