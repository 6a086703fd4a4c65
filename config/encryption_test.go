package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEncryptionKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := bytes.Repeat([]byte{0xa7, '\n', 0}, 11)[:32]
	rawPath := write("raw.key", raw, 0o600)
	passPath := write("pass.key", []byte("correct horse battery staple\n"), 0o644)
	write("empty.key", []byte("\n"), 0o600)
	doc := func(archiveDir, key string) string {
		return fmt.Sprintf("[archive]\ndir = %q\nencryption_key_file = %q\n", archiveDir, key)
	}

	cfg, err := Parse(filepath.Join(dir, "jarchive.toml"), []byte(doc("/srv/archive", "raw.key")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Archive.EncryptionKeyFile != rawPath || cfg.Archive.EncryptionKey.Reveal() != string(raw) {
		t.Errorf("key file %q, key %x; want %q and its 32 bytes", cfg.Archive.EncryptionKeyFile, cfg.Archive.EncryptionKey.Reveal(), rawPath)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q; want none", w)
	}
	if out := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg.Archive); strings.Contains(out, string(raw[:4])) || !strings.Contains(out, "<redacted>") {
		t.Errorf("printed config shows the key: %s", out)
	}

	cfg, err = Parse(filepath.Join(dir, "jarchive.toml"), []byte(doc(dir, passPath)))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Archive.EncryptionKey.Reveal(); got != "correct horse battery staple\n" {
		t.Errorf("passphrase file gives %q; want its content as is", got)
	}
	want := []string{
		fmt.Sprintf("archive.encryption_key_file %q can be read by other users (mode 0644): chmod 600 it", passPath),
		fmt.Sprintf("archive.encryption_key_file %q is inside the archive directory: a backup of the archive would hold its key", passPath),
	}
	if got := cfg.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", got, want)
	}

	cfg, err = Parse("x.toml", []byte("[archive]\ndir = \"/a\"\n"))
	if err != nil || cfg.Archive.EncryptionKeyFile != "" || !cfg.Archive.EncryptionKey.IsZero() {
		t.Errorf("no key file: %+v, %v; want no key", cfg, err)
	}

	for _, tc := range []struct{ key, want string }{
		{"", `x.toml:3:23: archive.encryption_key_file: must not be empty (remove the key to store blobs unencrypted)`},
		{"no-such.key", `x.toml:3:23: archive.encryption_key_file: cannot read key file "no-such.key": no such file or directory`},
		{"empty.key", `x.toml:3:23: archive.encryption_key_file: key file "empty.key" is empty`},
		{".", `x.toml:3:23: archive.encryption_key_file: cannot read key file ".": not a regular file`},
	} {
		_, err := Parse(filepath.Join(dir, "x.toml"), []byte(doc("/a", tc.key)))
		want := strings.Replace(tc.want, "x.toml", filepath.Join(dir, "x.toml"), 1)
		if got := errString(err); got != want {
			t.Errorf("encryption_key_file = %q:\n%s\nwant\n%s", tc.key, got, want)
		}
	}
}
