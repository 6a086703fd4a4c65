package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"jarchive/mailgen"
)

// TestBenchGenImportSearch generates a small journal corpus, imports it and
// times a search: the counts must agree with the corpus summary.
func TestBenchGenImportSearch(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus")
	out, code := runCmd(t, "bench", "gen", "-n", "120", "-seed", "3", "-journal", "-dup", "20", "-o", corpus)
	if code != 0 {
		t.Fatalf("bench gen: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "generated 120 messages") {
		t.Errorf("bench gen output %q; want the count", out)
	}
	var info corpusInfo
	data, err := os.ReadFile(filepath.Join(corpus, "corpus.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Stats.Messages != 120 || info.Stats.Duplicates == 0 || !info.Journal || info.Generator != mailgen.CorpusVersion {
		t.Fatalf("corpus.json = %+v; want 120 journal messages with duplicates", info)
	}
	ents, err := os.ReadDir(filepath.Join(corpus, "maildir", "cur"))
	if err != nil || len(ents) != 120 {
		t.Fatalf("maildir/cur: %d files, %v; want 120", len(ents), err)
	}

	// The same seed gives the same corpus.
	again := filepath.Join(dir, "again")
	if out, code := runCmd(t, "bench", "gen", "-n", "120", "-seed", "3", "-journal", "-dup", "20", "-mbox=false", "-o", again); code != 0 {
		t.Fatalf("bench gen: exit %d: %s", code, out)
	}
	m1, _ := os.ReadFile(filepath.Join(corpus, "manifest.tsv"))
	m2, _ := os.ReadFile(filepath.Join(again, "manifest.tsv"))
	if string(m1) != string(m2) {
		t.Errorf("two corpora of seed 3 differ")
	}

	cfg := writeConfig(t, dir)
	prof := filepath.Join(dir, "cpu.pprof")
	out, code = runCmd(t, "bench", "profile", "-cpu", prof, "-mem", filepath.Join(dir, "mem.pprof"), "--",
		"import", "-config", cfg, filepath.Join(corpus, "maildir"))
	if code != 0 {
		t.Fatalf("bench profile -- import: exit %d: %s", code, out)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("CPU profile: %v", err)
	}
	if st := statsOf(t, cfg); int(st.Messages) != info.Stats.Originals {
		t.Errorf("archived %d messages; want the corpus's %d distinct originals", st.Messages, info.Stats.Originals)
	}

	out, code = runCmd(t, "bench", "search", "-config", cfg, "-n", "5", "from:contoso.com")
	if code != 0 {
		t.Fatalf("bench search: exit %d: %s", code, out)
	}
	m := regexp.MustCompile(`^([0-9.]+) ms median of 5 runs .*; ([0-9]+) hits\n$`).FindStringSubmatch(out)
	if m == nil || m[2] == "0" {
		t.Errorf("bench search output %q; want a median and some hits", out)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "nope"},
		{"bench", "gen", "-o", t.TempDir()},
		{"bench", "gen", "-n", "5"},
		{"bench", "gen", "-n", "5", "-dup", "70", "-o", t.TempDir()},
		{"bench", "search"},
		{"bench", "profile"},
	} {
		if out, code := runCmd(t, args...); code != 2 {
			t.Errorf("jarchive %s: exit %d (%s); want 2", strings.Join(args, " "), code, out)
		}
	}
}
