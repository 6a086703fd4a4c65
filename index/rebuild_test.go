package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func addN(t *testing.T, b *Batch, from, to int, word string, wm uint64) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := b.Add(&Document{ID: fmt.Sprintf("%064x", i+1), Subject: word}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(wm); err != nil {
		t.Fatal(err)
	}
}

func currentGen(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestRebuild builds a new generation while searches run on the old one,
// swaps it in, and checks that the swap survives a reopen.
func TestRebuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ix.Close() }()
	addN(t, ix.Batch(), 0, 50, "old", 50)

	r, err := ix.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.StartRebuild(); !errors.Is(err, ErrRebuilding) {
		t.Errorf("second StartRebuild = %v; want ErrRebuilding", err)
	}

	// Searches run all the time; each must see one whole generation.
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var searches, bad atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := ix.Search(ctx, Query{Text: "old OR new", Scope: all})
				searches.Add(1)
				if err != nil || (res.Total != 50 && res.Total != 60) {
					bad.Add(1)
				}
			}
		}()
	}
	addN(t, r.Batch(), 0, 60, "new", 60)
	if wm, _ := r.Watermark(); wm != 60 {
		t.Errorf("rebuild watermark %d; want 60", wm)
	}
	if res := searchAll(t, ix, "new"); res.Total != 0 {
		t.Errorf("the rebuild is visible before Finish: %d hits", res.Total)
	}
	oldDir := ix.Dir()
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of %d searches during the rebuild failed or saw a mix", bad.Load(), searches.Load())
	}
	if res := searchAll(t, ix, "new"); res.Total != 60 {
		t.Errorf("after Finish: %d hits for new; want 60", res.Total)
	}
	if wm, _ := ix.Watermark(); wm != 60 {
		t.Errorf("after Finish: watermark %d; want 60", wm)
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old generation %s still there: %v", oldDir, err)
	}
	if got := currentGen(t, dir); got != "gen-000002" {
		t.Errorf("CURRENT = %q; want gen-000002", got)
	}
	if err := r.Finish(); err == nil {
		t.Errorf("second Finish = nil; want error")
	}
	// Batches of the live index go to the new generation.
	addN(t, ix.Batch(), 60, 61, "new", 61)
	ix.Close()

	ix, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := searchAll(t, ix, "new"); res.Total != 61 {
		t.Errorf("after reopen: %d hits for new; want 61", res.Total)
	}
}

// TestRebuildInterrupted: a rebuild that never finished (abort, or a crash:
// Close) leaves the live index as it was, and its directory is removed.
func TestRebuildInterrupted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	addN(t, ix.Batch(), 0, 5, "old", 5)

	r, err := ix.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	addN(t, r.Batch(), 0, 3, "new", 3)
	if err := r.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gen-000002")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("aborted generation still there: %v", err)
	}

	// A crash in the middle of a rebuild.
	r, err = ix.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	addN(t, r.Batch(), 0, 3, "new", 3)
	ix.Close()
	if err := os.WriteFile(filepath.Join(dir, currentFile+".tmp"), []byte("gen-000002\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if res := searchAll(t, ix, "old"); res.Total != 5 {
		t.Errorf("after an interrupted rebuild: %d hits; want 5", res.Total)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "CURRENT gen-000001" {
		t.Errorf("index directory holds %v; want CURRENT gen-000001", names)
	}
}

// TestOpenOldLayout: the bleve index directly in the directory (schema 1)
// needs a rebuild.
func TestOpenOldLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrSchema) {
		t.Errorf("Open(old layout) = %v; want ErrSchema", err)
	}
}

// TestMissingGeneration: CURRENT naming a generation that is gone needs a
// rebuild, and a closed index fails instead of panicking.
func TestMissingGeneration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if err := ix.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := ix.Count(); err == nil {
		t.Errorf("Count after Close = nil error")
	}
	if _, err := ix.Search(context.Background(), Query{Scope: all}); err == nil {
		t.Errorf("Search after Close = nil error")
	}
	if _, err := ix.StartRebuild(); err == nil {
		t.Errorf("StartRebuild after Close = nil error")
	}
	if err := os.RemoveAll(filepath.Join(dir, "gen-000001")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrSchema) {
		t.Errorf("Open with the generation gone = %v; want ErrSchema", err)
	}
}
