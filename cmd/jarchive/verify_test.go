package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jarchive/archive"
)

// verifyArchive makes an archive of three messages, indexed, and returns
// its configuration file and the messages' ids.
func verifyArchive(t *testing.T) (cfgPath string, ids []string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, "[archive]\ndir = %q\n", filepath.Join(dir, "archive")), 0o600); err != nil {
		t.Fatal(err)
	}
	a := archive.TestOpen(t, filepath.Join(dir, "archive"), archive.Options{})
	for i := range 3 {
		msg := fmt.Sprintf("From: anna@contoso.com\r\nTo: ben@contoso.com\r\nSubject: verify %d\r\nMessage-ID: <v%d@contoso.com>\r\n\r\nbody %d\r\n", i, i, i)
		ids = append(ids, archive.TestPut(t, a, []byte(msg), archive.Source{Account: "t", Path: fmt.Sprint(i)}))
	}
	a.Close()
	withTestStore(t, cfgPath, func(st *store) {
		if n, err := st.catchUp(context.Background()); err != nil || n != 3 {
			t.Fatalf("catchUp = %d, %v; want 3", n, err)
		}
	})
	return cfgPath, ids
}

func withTestStore(t *testing.T, cfgPath string, fn func(st *store)) {
	t.Helper()
	cfg, err := loadConfig(&app{logger: slog.New(slog.DiscardHandler)}, cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	fn(st)
}

func runVerifyCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, logger: slog.New(slog.DiscardHandler)}
	code = run(context.Background(), a, append([]string{"verify"}, args...))
	return out.String(), errOut.String(), code
}

// verifyJSON runs verify -json and returns its problems as "type id".
func verifyJSON(t *testing.T, cfgPath string, args ...string) (problems []string, out verifyOutputJSON, code int) {
	t.Helper()
	stdout, stderr, code := runVerifyCmd(t, append([]string{"-config", cfgPath, "-json"}, args...)...)
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("verify -json: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, p := range out.Problems {
		problems = append(problems, p.Type+" "+p.ID)
	}
	return problems, out, code
}

type verifyOutputJSON struct {
	Records        int  `json:"records"`
	ReadData       bool `json:"read_data"`
	IndexDocuments int  `json:"index_documents"`
	Problems       []struct {
		Type, ID, Detail string
	} `json:"problems"`
	Repaired *repairCount `json:"repaired"`
}

func fakeID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestVerifyCommand(t *testing.T) {
	cfgPath, ids := verifyArchive(t)

	stdout, stderr, code := runVerifyCmd(t, "-config", cfgPath, "-read-data")
	if code != 0 || !strings.Contains(stdout, "no problems found") || !strings.Contains(stdout, "index: 3 documents") {
		t.Fatalf("verify on a clean archive: exit %d\n%s%s", code, stdout, stderr)
	}
	problems, out, code := verifyJSON(t, cfgPath, "-read-data")
	if code != 0 || len(problems) != 0 || out.Records != 3 || !out.ReadData || out.IndexDocuments != 3 {
		t.Fatalf("verify -json on a clean archive: exit %d, %+v", code, out)
	}

	// One document deleted from the index, one added that is no message.
	extra := fakeID("no such message")
	withTestStore(t, cfgPath, func(st *store) {
		mark, err := st.idx.Watermark()
		if err != nil {
			t.Fatal(err)
		}
		b := st.idx.Batch()
		b.Delete(ids[1])
		if err := b.Add(documentOf(&archive.Record{ID: extra}, nil, 0)); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(mark); err != nil {
			t.Fatal(err)
		}
	})
	problems, _, code = verifyJSON(t, cfgPath)
	want := []string{"index-extra " + extra, "index-missing " + ids[1]}
	if code != 1 || strings.Join(problems, ", ") != strings.Join(want, ", ") {
		t.Fatalf("verify with index damage: exit %d, problems %q; want 1, %q", code, problems, want)
	}
	stdout, stderr, code = runVerifyCmd(t, "-config", cfgPath)
	if code != 1 || !strings.Contains(stdout, "index-missing "+ids[1]) || !strings.Contains(stderr, "2 problems found") {
		t.Errorf("verify text output: exit %d\n%s%s", code, stdout, stderr)
	}

	// -repair-index fixes both.
	problems, out, code = verifyJSON(t, cfgPath, "-repair-index")
	if code != 0 || len(problems) != 0 || out.Repaired == nil || *out.Repaired != (repairCount{Indexed: 1, Deleted: 1}) {
		t.Fatalf("verify -repair-index: exit %d, problems %q, repaired %+v; want 0, none, 1 indexed and 1 deleted", code, problems, out.Repaired)
	}
	if problems, _, code = verifyJSON(t, cfgPath); code != 0 || len(problems) != 0 {
		t.Errorf("verify after the repair: exit %d, %q", code, problems)
	}

	// An archive problem: a deleted blob.
	dir := filepath.Join(filepath.Dir(cfgPath), "archive")
	if err := os.Remove(filepath.Join(dir, "blobs", ids[2][:2], ids[2])); err != nil {
		t.Fatal(err)
	}
	problems, _, code = verifyJSON(t, cfgPath, "-repair-index")
	if code != 1 || strings.Join(problems, ", ") != "missing "+ids[2] {
		t.Errorf("verify with a deleted blob: exit %d, %q; want 1, missing %s", code, problems, ids[2])
	}
}

func TestVerifyExitCodes(t *testing.T) {
	_, stderr, code := runVerifyCmd(t, "-h")
	if code != 0 || !strings.Contains(stderr, "Exit status: 0 no problem, 1 problems found") {
		t.Errorf("verify -h: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runVerifyCmd(t, "-config", filepath.Join(t.TempDir(), "missing.toml"))
	if code != 2 {
		t.Errorf("verify with a missing configuration: exit %d; want 2\n%s", code, stderr)
	}
	_, _, code = runVerifyCmd(t, "-bogus")
	if code != 2 {
		t.Errorf("verify -bogus: exit %d; want 2", code)
	}
	cfgPath, _ := verifyArchive(t)
	_, _, code = runVerifyCmd(t, "-config", cfgPath, "extra-arg")
	if code != 2 {
		t.Errorf("verify with an argument: exit %d; want 2", code)
	}
}
