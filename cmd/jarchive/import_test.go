package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jarchive/archive"
)

// TestImportAccount imports with -account: the sources name the account,
// and a configured account's envelope mode applies unless -envelope says
// otherwise.
func TestImportAccount(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	conf := fmt.Sprintf(`[archive]
dir = %q

[[accounts]]
name = "old-journal"
protocol = "imap"
server = "imap.example.com:143"
username = "journal"
password = "secret"
envelope = "x-original-to"
`, filepath.Join(dir, "archive"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	mails := t.TempDir()
	msg := "X-Original-To: carol@example.com\nFrom: a@example.com\nTo: b@example.com\nSubject: hi\n\nbody\n"
	if err := os.WriteFile(filepath.Join(mails, "1.eml"), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	msg2 := strings.Replace(msg, "Subject: hi", "Subject: other", 1)
	if err := os.WriteFile(filepath.Join(mails, "2.eml"), []byte(msg2), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runExportCmd(t, "import", "-config", cfg, "-account", "old-journal", filepath.Join(mails, "1.eml")); code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	if out, code := runExportCmd(t, "import", "-config", cfg, "-account", "migrated", filepath.Join(mails, "2.eml")); code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	if out, code := runExportCmd(t, "import", "-config", cfg, "-account", "../x", mails); code != 2 {
		t.Fatalf("import -account ../x: %d %s; want a usage error", code, out)
	}

	a := archive.TestOpen(t, filepath.Join(dir, "archive"), archive.Options{ReadOnly: true})
	defer a.Close()
	got := map[string]string{}
	err := a.Each(context.Background(), func(rec *archive.Record) error {
		got[rec.Header.Subject] = fmt.Sprintf("%s %v", rec.Sources[0].Account, rec.Recipients)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// old-journal's x-original-to mode: carol is the envelope recipient;
	// "migrated" is no configured account: the default journal mode, whose
	// fallback for a message that is no journal report is its own headers.
	if s := got["hi"]; !strings.HasPrefix(s, "old-journal ") || !strings.Contains(s, "carol@example.com") || strings.Contains(s, "b@example.com") {
		t.Errorf("message imported with -account old-journal: %s; want account old-journal, recipient carol only", s)
	}
	if s := got["other"]; !strings.HasPrefix(s, "migrated ") || !strings.Contains(s, "b@example.com") {
		t.Errorf("message imported with -account migrated: %s; want account migrated, recipient b", s)
	}
}
