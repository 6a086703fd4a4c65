package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"jarchive/testcorpus"
)

func runInspectCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, logger: newLogger(&errOut)}
	code = run(context.Background(), a, append([]string{"inspect"}, args...))
	return out.String(), errOut.String(), code
}

// TestInspectJSON: "jarchive inspect -json" over the journal corpus prints
// one object per file that matches expected.json for the keys they share.
func TestInspectJSON(t *testing.T) {
	dir := testcorpus.Dir(t, "journal")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]map[string]any
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	sort.Strings(files)
	if len(files) < 17 {
		t.Fatalf("%d .eml files in %s; want 17+", len(files), dir)
	}
	stdout, stderr, code := runInspectCmd(t, append([]string{"-json"}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
		}
		if got["file"] != files[n] {
			t.Errorf("line %d: file %v; want %s", n+1, got["file"], files[n])
		}
		name := filepath.Base(files[n])
		n++
		want, ok := expected[name]
		if !ok {
			t.Errorf("%s: not in expected.json", name)
			continue
		}
		// Empty values may be omitted: absent means null.
		for _, k := range []string{"journal", "sender", "on_behalf_of", "message_id", "recipients", "original_present"} {
			w := want[k]
			if k == "recipients" {
				w = withoutNulls(w)
			}
			if !reflect.DeepEqual(got[k], w) {
				t.Errorf("%s: %s = %v; want %v", name, k, got[k], w)
			}
		}
		raw, err := os.ReadFile(files[n-1])
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := got["original_sha256"].(string)
		if len(sum) != 64 {
			t.Errorf("%s: original_sha256 %q", name, sum)
		}
		whole := sha256.Sum256(raw)
		stored := want["original_present"] == true && want["sender"] != nil
		if stored == (sum == hex.EncodeToString(whole[:])) {
			t.Errorf("%s: original_sha256 %s; the whole file's is %x (the original should be stored alone: %v)", name, sum, whole, stored)
		}
		problems, ok := got["problems"].([]any)
		if !ok || (len(problems) == 0) != (stored && !strings.HasPrefix(name, "plain-")) {
			t.Errorf("%s: problems %v", name, got["problems"])
		}
		for _, k := range reflect.ValueOf(got).MapKeys() {
			switch k.String() {
			case "file", "journal", "sender", "on_behalf_of", "message_id", "recipients", "original_present", "original_sha256", "problems":
			default:
				t.Errorf("%s: unexpected key %s", name, k)
			}
		}
	}
	if n != len(files) {
		t.Errorf("%d objects; want %d", n, len(files))
	}
}

// withoutNulls drops the null members of expected.json's recipients.
func withoutNulls(v any) any {
	list, _ := v.([]any)
	out := []any{}
	for _, r := range list {
		m := map[string]any{}
		for k, x := range r.(map[string]any) {
			if x != nil {
				m[k] = x
			}
		}
		out = append(out, m)
	}
	return out
}

func TestInspectText(t *testing.T) {
	dir := testcorpus.Dir(t, "journal")
	stdout, stderr, code := runInspectCmd(t, filepath.Join(dir, "jr-forwarded.eml"), filepath.Join(dir, "jr-malformed-no-envelope.eml"), filepath.Join(dir, "jr-irm-decrypted-copy.eml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"status:      ok",
		"pat.assistant@contoso.com  (forwarded from pat.coleman@contoso.com)",
		"status:      failed: journal report: no envelope part (text/plain)",
		"the whole input, 2291 bytes (stored raw)",
		"decrypted:   bytes ",
		"Subject Salary review 2024",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestInspectModes(t *testing.T) {
	file := filepath.Join(testcorpus.Dir(t, "journal"), "plain-multi-delivered-to.eml")
	stdout, stderr, code := runInspectCmd(t, "-json", "-envelope", "Delivered-To", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Recipients []struct{ Addr, Field string }
		Sender     string
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, r := range got.Recipients {
		if r.Field != "header" {
			t.Errorf("field %q; want header", r.Field)
		}
		addrs = append(addrs, r.Addr)
	}
	if strings.Join(addrs, " ") != "archive@contoso.com carol.diaz@contoso.com info@contoso.com" || got.Sender == "" {
		t.Errorf("recipients %q, sender %q", addrs, got.Sender)
	}
}

func TestInspectErrors(t *testing.T) {
	file := filepath.Join(testcorpus.Dir(t, "journal"), "jr-simple-to-cc.eml")
	if _, stderr, code := runInspectCmd(t); code != 2 || !strings.Contains(stderr, "no files") {
		t.Errorf("no files: exit %d, %q; want 2", code, stderr)
	}
	if _, stderr, code := runInspectCmd(t, "-envelope", "x-orignal-to", file); code != 2 || !strings.Contains(stderr, "is not one of") {
		t.Errorf("bad mode: exit %d, %q; want 2", code, stderr)
	}
	stdout, stderr, code := runInspectCmd(t, "-json", filepath.Join(t.TempDir(), "missing.eml"), file)
	if code != 1 || !strings.Contains(stderr, "missing.eml") || !strings.Contains(stderr, "1 of 2 files") || !strings.Contains(stdout, "jr-simple-to-cc.eml") {
		t.Errorf("missing file: exit %d, stderr %q, stdout %q; want 1, the error, the other file inspected", code, stderr, stdout)
	}
}
