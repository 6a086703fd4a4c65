// Package testcorpus finds the shared real-world test mail for tests: the
// corpus directory beside the repository (../shared/corpus, see its
// README.md), with real/ (mail from other projects' test suites) and
// journal/ (journal reports with their expected envelopes).
//
// $JARCHIVE_CORPUS names the corpus directory explicitly; otherwise every
// parent of the working directory is tried for shared/corpus. A test that
// needs the corpus is skipped when it is missing, and fails when CI=true.
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the corpus directory and whether it was found.
func Root() (string, bool) {
	if dir := os.Getenv("JARCHIVE_CORPUS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
			return dir, true
		}
		return dir, false
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpus")
		if _, err := os.Stat(filepath.Join(c, "README.md")); err == nil {
			return c, true
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

// Dir returns the corpus directory joined with elem, or ends the test: a
// skip locally, a failure when CI=true.
func Dir(t testing.TB, elem ...string) string {
	t.Helper()
	root, ok := Root()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test corpus not found (set JARCHIVE_CORPUS; CI=true)")
		}
		t.Skip("test corpus not found (set JARCHIVE_CORPUS)")
	}
	return filepath.Join(append([]string{root}, elem...)...)
}
