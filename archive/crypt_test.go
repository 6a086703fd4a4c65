package archive

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestEncryption(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	dir := t.TempDir()
	a := TestOpen(t, dir, Options{Key: key})
	id := TestPut(t, a, []byte(original), Source{Account: "x", Path: "a"})
	raw, err := os.ReadFile(a.BlobPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte(ageMagic)) || bytes.Contains(raw, []byte("contoso")) {
		t.Errorf("blob is not an age file without the plaintext: %q", raw[:min(len(raw), 80)])
	}
	if got := readAll(t, a, id); string(got) != original {
		t.Errorf("read back %q", got)
	}
	// The same message again is recognised by its plaintext hash.
	if got := TestPut(t, a, []byte(original), Source{Account: "y", Path: "b"}); got != id {
		t.Errorf("second Put id %s; want %s", got, id)
	}
	if s := stats(t, a); !s.Encrypted || s.Blobs != 1 || s.Merged != 1 {
		t.Errorf("stats %+v; want encrypted, 1 blob, 1 merged", s)
	}
	checkClean(t, a)
	a.Close()

	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"other key", bytes.Repeat([]byte{1}, 32), "wrong encryption key: the key file gives key id"},
		{"passphrase instead", []byte("a passphrase\n"), "wrong encryption key: the archive uses a 32-byte raw key; the key file has 13 bytes"},
		{"no key", nil, "set [archive] encryption_key_file"},
	} {
		_, err := Open(dir, Options{Key: tc.key})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v; want an error containing %q", tc.name, err, tc.want)
		}
		if tc.key != nil && !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: Open = %v; want ErrWrongKey", tc.name, err)
		}
	}
}

func TestEncryptionPassphrase(t *testing.T) {
	dir := t.TempDir()
	a := TestOpen(t, dir, Options{Key: []byte("correct horse battery staple\n")})
	id := TestPut(t, a, []byte(original), Source{Account: "x", Path: "a"})
	a.Close()
	// One trailing newline is not part of the passphrase.
	a = TestOpen(t, dir, Options{Key: []byte("correct horse battery staple")})
	if got := readAll(t, a, id); string(got) != original {
		t.Errorf("read back %q", got)
	}
	a.Close()
	if _, err := Open(dir, Options{Key: []byte("correct horse battery stable")}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong passphrase: Open = %v; want ErrWrongKey", err)
	}
	if _, err := Open(t.TempDir(), Options{Key: []byte("\n")}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty passphrase: Open = %v; want an error", err)
	}
}

// TestEncryptionEnabledLater: blobs written before encryption was enabled
// stay readable, new ones are encrypted.
func TestEncryptionEnabledLater(t *testing.T) {
	dir := t.TempDir()
	a := TestOpen(t, dir, Options{})
	old := TestPut(t, a, []byte(original), Source{Account: "x", Path: "a"})
	a.Close()
	a = TestOpen(t, dir, Options{Key: bytes.Repeat([]byte{3}, 32)})
	msg := strings.Replace(original, "hello", "hello again", 1)
	id := TestPut(t, a, []byte(msg), Source{Account: "x", Path: "b"})
	if got := readAll(t, a, old); string(got) != original {
		t.Errorf("old blob reads %q", got)
	}
	if raw, _ := os.ReadFile(a.BlobPath(id)); !bytes.HasPrefix(raw, []byte(ageMagic)) {
		t.Errorf("new blob is not encrypted")
	}
	checkClean(t, a)
}
