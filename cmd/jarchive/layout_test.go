package main

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedImports is the dependency direction of the pipeline
// (fetch -> journal -> archive -> index): which jarchive packages each
// package may import. No stage imports a later one; only cmd/jarchive
// imports them all.
var allowedImports = map[string][]string{
	"jarchive/config":              nil,
	"jarchive/systemd":             nil,
	"jarchive/testcorpus":          nil,
	"jarchive/mailgen":             nil,
	"jarchive/fetch":               {"jarchive/config"},
	"jarchive/fetch/dovecottest":   {"jarchive/config", "jarchive/certgen"},
	"jarchive/bench/dovecot":       {"jarchive/fetch/dovecottest"},
	"jarchive/journal":             {"jarchive/config"},
	"jarchive/archive":             {"jarchive/journal", "jarchive/config"},
	"jarchive/index":               {"jarchive/archive", "jarchive/journal", "jarchive/config", "jarchive/index/pdftext"},
	"jarchive/index/pdftext":       nil,
	"jarchive/directory":           {"jarchive/config", "jarchive/journal"},
	"jarchive/directory/slapdtest": {"jarchive/certgen"},
	"jarchive/certgen":             nil,
	"jarchive/export":              {"jarchive/archive", "jarchive/journal", "jarchive/config"},
	"jarchive/retention":           {"jarchive/archive", "jarchive/index", "jarchive/journal", "jarchive/config", "jarchive/directory"},
	"jarchive/audit":               nil,
	"jarchive/web": {"jarchive/archive", "jarchive/index", "jarchive/journal", "jarchive/config",
		"jarchive/directory", "jarchive/export", "jarchive/audit"},

	// The SMTP receiver hands messages to a fetch.Sink.
	"jarchive/smtpserver":             {"jarchive/fetch", "jarchive/config"},
	"jarchive/smtpserver/postfixtest": nil,
}

func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "jarchive/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		if pkg == "jarchive/cmd/jarchive" {
			continue
		}
		seen++
		allowed, ok := allowedImports[pkg]
		if !ok {
			t.Errorf("package %s is not in the layout table: add it with the packages it may import", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, "jarchive/") {
				continue
			}
			if !contains(allowed, imp) {
				t.Errorf("%s imports %s; allowed: %v", pkg, imp, allowed)
			}
		}
		for _, bad := range []string{"util", "common"} {
			if strings.HasSuffix(pkg, "/"+bad) {
				t.Errorf("package %s: no util or common packages", pkg)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw %d packages; want the whole module", seen)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
