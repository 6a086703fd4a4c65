package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"jarchive/archive"
	"jarchive/testcorpus"
)

func runExportCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, logger: slog.New(slog.DiscardHandler)}
	code := run(context.Background(), a, args)
	return out.String(), code
}

func newConfig(t *testing.T) (cfg, dir string) {
	dir = t.TempDir()
	cfg = filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[archive]\ndir = %q\n", filepath.Join(dir, "archive")), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "archive")
}

// envelopes returns each shown message's id and envelope recipients.
func envelopes(t *testing.T, dir string) map[string]string {
	a := archive.TestOpen(t, dir, archive.Options{ReadOnly: true})
	defer a.Close()
	m := map[string]string{}
	err := a.Each(context.Background(), func(rec *archive.Record) error {
		if rec.Shown() {
			m[rec.ID] = fmt.Sprint(rec.Recipients)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExportRoundTrip imports the real corpus, exports everything in each
// format and imports each export into a fresh archive: the same ids with
// the same envelopes. The envelope mode is off: a journal-mode archive
// merges the envelopes of several reports of one message, which no single
// exported copy carries (the manifest lists them).
func TestExportRoundTrip(t *testing.T) {
	corpus := testcorpus.Dir(t, "real")
	cfg1, dir1 := newConfig(t)
	if out, code := runExportCmd(t, "import", "-config", cfg1, "-envelope", "off", corpus); code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	want := envelopes(t, dir1)
	for _, tc := range []struct {
		format string
		input  string // what to import, in the export directory
		file   string // a file to flip a byte in, or "" for a maildir message
	}{
		{"maildir", "Maildir", ""},
		{"mbox", ".", "messages.mbox"}, // the directory: the manifest beside the mbox restores final newlines
		{"eml-zip", "messages.zip", "messages.zip"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "export")
			if o, code := runExportCmd(t, "export", "-config", cfg1, "-query", "", "-format", tc.format, "-o", out); code != 0 || !strings.Contains(o, fmt.Sprintf("exported %d messages", len(want))) {
				t.Fatalf("export: %d %s; want %d messages", code, o, len(want))
			}
			if o, code := runExportCmd(t, "export", "verify", out); code != 0 {
				t.Fatalf("export verify: %d %s", code, o)
			}
			cfg2, dir2 := newConfig(t)
			o, code := runExportCmd(t, "import", "-config", cfg2, "-envelope", "off", filepath.Join(out, tc.input))
			if code != 0 {
				t.Fatalf("re-import: %d %s", code, o)
			}
			t.Logf("re-import: %s", strings.TrimSpace(o))
			got := envelopes(t, dir2)
			if !reflect.DeepEqual(got, want) {
				missing, extra := 0, 0
				for id := range want {
					if _, ok := got[id]; !ok {
						missing++
					}
				}
				for id := range got {
					if _, ok := want[id]; !ok {
						extra++
					}
				}
				t.Fatalf("re-imported archive has %d messages (%d missing, %d not in the original); want the %d exported, with the same envelopes",
					len(got), missing, extra, len(want))
			}
			// A flipped byte is reported with its file name.
			name := tc.file
			if name == "" {
				ents, _ := os.ReadDir(filepath.Join(out, "Maildir", "cur"))
				name = filepath.Join("Maildir", "cur", ents[3].Name())
			}
			p := filepath.Join(out, name)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o640)
			if o, code := runExportCmd(t, "export", "verify", out); code != 3 || !strings.Contains(o, filepath.Base(name)) {
				t.Fatalf("export verify after a flipped byte: %d %s; want exit 3 naming %s", code, o, filepath.Base(name))
			}
		})
	}
}
