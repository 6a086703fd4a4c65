package archive

import (
	"testing"
)

// TestArchive opens a new archive in a temporary directory for a test and
// closes it at the end of the test.
func TestArchive(t testing.TB) *Archive {
	t.Helper()
	a, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("open archive: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close archive: %v", err)
		}
	})
	return a
}
