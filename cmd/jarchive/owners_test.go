package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/directory/slapdtest"
	"jarchive/testcorpus"
)

// journalReport is a minimal Exchange journal report of a message with a
// unique subject (which names it in these tests), from sender to the
// envelope lines given ("To: a@x", "Bcc: b@y").
func journalReport(subject, sender string, envelope ...string) []byte {
	orig := fmt.Sprintf("From: %s\r\nTo: undisclosed-recipients:;\r\nSubject: %s\r\nMessage-ID: <%s@test.example>\r\nDate: Tue, 14 May 2024 07:12:04 +0000\r\n\r\nThe body of %s.\r\n",
		sender, subject, subject, subject)
	env := fmt.Sprintf("Sender: %s\r\nSubject: %s\r\nMessage-Id: <%s@test.example>\r\n", sender, subject, subject)
	for _, e := range envelope {
		env += e + "\r\n"
	}
	return []byte("X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\n" + env +
		"--B\r\nContent-Type: message/rfc822\r\n\r\n" + orig + "\r\n--B--\r\n")
}

// writeInbox writes reports (name -> bytes) and copies of journal corpus
// files into a new directory.
func writeInbox(t *testing.T, reports map[string][]byte, corpus ...string) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range reports {
		if err := os.WriteFile(filepath.Join(dir, name+".eml"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range corpus {
		b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// subjectsAs returns the sorted subjects of every message a search with
// the flags finds (e.g. "-as", "anna").
func subjectsAs(t *testing.T, cfg string, flags ...string) []string {
	t.Helper()
	out, code := runCmd(t, append(append([]string{"search", "-config", cfg, "-json", "-limit", "1000"}, flags...), "")...)
	if code != 0 {
		t.Fatalf("search %v: exit %d:\n%s", flags, code, out)
	}
	var res struct {
		Total uint64
		Hits  []searchHit
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("search %v: %v\n%s", flags, err, out)
	}
	var subjects []string
	for _, h := range res.Hits {
		subjects = append(subjects, h.Subject)
	}
	slices.Sort(subjects)
	return subjects
}

// checkViews checks that searching as each user finds exactly the
// messages (subjects) want gives, and the unassigned view those of "".
func checkViews(t *testing.T, cfg string, want map[string][]string) {
	t.Helper()
	for as, subjects := range want {
		flags := []string{"-as", as}
		if as == "" {
			flags = []string{"-unassigned"}
		}
		slices.Sort(subjects)
		if got := subjectsAs(t, cfg, flags...); !slices.Equal(got, subjects) {
			t.Errorf("search %s: %q; want %q", strings.Join(flags, " "), got, subjects)
		}
	}
}

// waitViews is checkViews for the daemon, whose indexer applies a
// reassignment to the index after the reassignment is logged and
// answered: it searches again until the views are as wanted, for at most
// ten seconds.
func waitViews(t *testing.T, cfg string, want map[string][]string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		same := true
		for as, subjects := range want {
			flags := []string{"-as", as}
			if as == "" {
				flags = []string{"-unassigned"}
			}
			slices.Sort(subjects)
			if !slices.Equal(subjectsAs(t, cfg, flags...), subjects) {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	checkViews(t, cfg, want)
}

const corpusSimple, corpusExpanded = "Q2 pipeline review", "New discount matrix"

// TestOwnersLDAP: an Active-Directory-shaped directory on a real slapd,
// messages imported and assigned, a group changed, synced and
// reassigned; search as each user shows exactly their mail, also while
// the directory is down, and through the daemon.
func TestOwnersLDAP(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{ActiveDirectory: true, LDIF: slapdtest.ContosoAD(1200)})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	conf := fmt.Sprintf("[archive]\ndir = %q\ntime_zone = \"UTC\"\n\n[[accounts]]\nname = \"offline\"\nserver = \"127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\nsecurity = \"none\"\ninterval = \"1h\"\n\n"+
		"[directory]\nsync_interval = \"1h\"\n\n%sauditor_group = \"Archive Auditors\"\n\n"+
		"[[users]]\nname = \"auditor\"\naddresses = [\"audit@contoso.com\"]\nrole = \"auditor\"\n\n"+
		"[[shared_mailboxes]]\naddress = \"info@contoso.com\"\nmembers = [\"ben\"]\n", filepath.Join(dir, "archive"), srv.TOML())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out, code := runCmd(t, "users", "sync", "-config", cfg)
	if code != 0 || !strings.Contains(out, "directory: 1207 users, 4 groups read from "+srv.LDAPSURL) || !strings.Contains(out, "+ user anna: anna.berg@contoso.com, a.berg@contoso.com") {
		t.Fatalf("users sync: exit %d:\n%s", code, tail(out, 3000))
	}
	t.Logf("users sync of %d users (paged) and the first assignment: %s", 1207, time.Since(start).Round(time.Millisecond))

	inbox := writeInbox(t, map[string][]byte{
		"m1": journalReport("m1 group", "anna.berg@contoso.com", "To: sales-team@contoso.com"),
		"m2": journalReport("m2 alias", "ben.okafor@contoso.com", "Bcc: JW@Contoso.com"),
		"m3": journalReport("m3 shared", "partner@fabrikam.com", "To: info@contoso.com"),
		"m4": journalReport("m4 nobody", "spam@example.org", "To: nobody@contoso.com"),
		"m5": journalReport("m5 plus", "news@example.org", "To: user0042+news@contoso.com"),
		"m6": journalReport("m6 all staff", "kim.akers@contoso.com", "To: all-staff@contoso.com"),
	}, "jr-simple-to-cc.eml", "jr-dl-expanded.eml")
	if out, code := runCmd(t, "import", "-config", cfg, inbox); code != 0 || !strings.Contains(out, "imported 8 messages") {
		t.Fatalf("import: exit %d:\n%s", code, out)
	}
	all := []string{"m1 group", "m2 alias", "m3 shared", "m4 nobody", "m5 plus", "m6 all staff", corpusSimple, corpusExpanded}
	views := map[string][]string{
		"anna":                   {"m1 group", corpusSimple, corpusExpanded},
		"anna@contoso.com":       {"m1 group", corpusSimple, corpusExpanded}, // the UPN
		"ben":                    {"m2 alias", "m3 shared", corpusSimple},
		"hugo":                   {"m1 group", corpusExpanded},
		"ivan":                   {"m1 group", corpusExpanded},
		"jw@contoso.com":         {"m1 group", "m2 alias", corpusExpanded}, // julia, by an alias
		"info":                   {"m3 shared"},
		"user0042@contoso.com":   {"m5 plus", "m6 all staff"},
		"User0001":               {"m6 all staff"},
		"kim":                    all, // Archive Auditors
		"auditor":                all, // an auditor of the configuration file
		"":                       {"m4 nobody"},
		"user0042+x@contoso.com": {"m5 plus", "m6 all staff"},
	}
	checkViews(t, cfg, views)
	if out, code := runCmd(t, "search", "-config", cfg, "-as", "ivan", "-unassigned", ""); code != 2 || !strings.Contains(out, "only auditors") {
		t.Errorf("-unassigned as a user: exit %d:\n%s", code, out)
	}
	if out, code := runCmd(t, "search", "-config", cfg, "-as", "stranger@example.org", ""); code != 2 || !strings.Contains(out, `-as "stranger@example.org": no such user`) {
		t.Errorf("-as a stranger: exit %d:\n%s", code, out)
	}
	out, _ = runCmd(t, "users", "list", "-config", cfg, "julia", "kim")
	if !strings.Contains(out, "julia                user    julia.weiss@contoso.com, jw@contoso.com  groups: emea, sales-team") || !strings.Contains(out, "kim                  auditor kim.akers@contoso.com  groups: archive-auditors") {
		t.Errorf("users list:\n%s", out)
	}

	// A group changes: Ivan leaves Sales Team, Ben joins.
	srv.Modify(t, `dn: CN=Sales Team,OU=Groups,DC=contoso,DC=com
changetype: modify
delete: member
member: CN=Ivan Petrov,OU=Users,DC=contoso,DC=com
-
add: member
member: CN=Ben Okafor,OU=Users,DC=contoso,DC=com

dn: CN=Ivan Petrov,OU=Users,DC=contoso,DC=com
changetype: modify
delete: memberOf

dn: CN=Ben Okafor,OU=Users,DC=contoso,DC=com
changetype: modify
add: memberOf
memberOf: CN=Sales Team,OU=Groups,DC=contoso,DC=com
`)
	out, code = runCmd(t, "users", "sync", "-config", cfg)
	if code != 0 || !strings.Contains(out, "~ group sales-team: +ben, -ivan\nowners changed for 1 address\nowners: 8 stored copies checked, 1 changed; 1 index documents updated") {
		t.Errorf("users sync after a change: exit %d:\n%s", code, out)
	}
	views["ivan"] = []string{corpusExpanded}
	views["ben"] = []string{"m1 group", "m2 alias", "m3 shared", corpusSimple}
	checkViews(t, cfg, views)
	if out, code := runCmd(t, "reassign", "-config", cfg); code != 0 || !strings.Contains(out, "owners: 8 stored copies checked, 0 changed") {
		t.Errorf("reassign: exit %d:\n%s", code, out)
	}

	// The directory goes down: the sync fails, the last snapshot stays in
	// force.
	srv.Stop(t)
	out, code = runCmd(t, "users", "sync", "-config", cfg)
	if code != 1 || !strings.Contains(out, "stays in force") || !strings.Contains(out, "owners: unchanged") {
		t.Errorf("users sync with the directory down: exit %d:\n%s", code, out)
	}
	checkViews(t, cfg, views)

	// Through the daemon: it syncs at start; users sync and search go
	// through its socket.
	srv.Restart(t)
	srv.Modify(t, `dn: CN=Sales Team,OU=Groups,DC=contoso,DC=com
changetype: modify
add: member
member: CN=Ivan Petrov,OU=Users,DC=contoso,DC=com
`)
	dctx, cancel := context.WithCancel(context.Background())
	serveErr := &lockedBuffer{}
	done := make(chan int)
	go func() {
		a := &app{stdout: discardWriter{}, stderr: serveErr, logger: newLogger(serveErr)}
		done <- run(dctx, a, []string{"serve", "-config", cfg})
	}()
	defer func() {
		cancel()
		<-done
	}()
	sock := filepath.Join(dir, "archive", socketName)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := os.Stat(sock)
		if err == nil && strings.Contains(serveErr.String(), "owners reassigned") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket or no sync at start:\n%s", tail(serveErr.String(), 3000))
		}
	}
	views["ivan"] = []string{"m1 group", corpusExpanded}
	waitViews(t, cfg, views)
	srv.Modify(t, `dn: CN=Hugo Brandt,OU=Users,DC=contoso,DC=com
changetype: modify
delete: memberOf
`)
	out, code = runCmd(t, "users", "sync", "-config", cfg)
	if code != 0 || !strings.Contains(out, "~ group sales-team: -hugo") || !strings.Contains(out, "1 changed") {
		t.Errorf("users sync through the daemon: exit %d:\n%s", code, out)
	}
	if !strings.Contains(serveErr.String(), "command=users") {
		t.Errorf("the daemon's log shows no users request:\n%s", tail(serveErr.String(), 2000))
	}
	views["hugo"] = []string{corpusExpanded}
	waitViews(t, cfg, views)
	if out, code := runCmd(t, "reassign", "-config", cfg); code != 0 || !strings.Contains(out, "owners: 8 stored copies checked, 0 changed") || !strings.Contains(serveErr.String(), "command=reassign") {
		t.Errorf("reassign through the daemon: exit %d:\n%s", code, out)
	}
}

// TestOwnersTOML: users, groups and shared mailboxes of the configuration
// file; an archive assigned before any users were defined (every address
// its own owner) is reassigned when they are, and again when a group
// changes.
func TestOwnersTOML(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	head := fmt.Sprintf("[archive]\ndir = %q\ntime_zone = \"UTC\"\n", filepath.Join(dir, "archive"))
	if err := os.WriteFile(cfg, []byte(head), 0o600); err != nil {
		t.Fatal(err)
	}
	inbox := writeInbox(t, map[string][]byte{
		"t1": journalReport("t1 list", "erik.sand@contoso.com", "To: sales@contoso.com", "Cc: Hugo.Brandt+travel@contoso.com"),
		"t2": journalReport("t2 info", "partner@fabrikam.com", "To: info@contoso.com"),
	}, "jr-simple-to-cc.eml", "jr-dl-expanded.eml", "jr-external-inbound.eml")
	if out, code := runCmd(t, "import", "-config", cfg, inbox); code != 0 || !strings.Contains(out, "imported 5 messages") {
		t.Fatalf("import: exit %d:\n%s", code, out)
	}
	// No users: every address is one.
	checkViews(t, cfg, map[string][]string{
		"anna.berg@contoso.com":   {corpusSimple, corpusExpanded},
		"hugo.brandt@contoso.com": {"t1 list", corpusExpanded},
		"victor.hale@contoso.com": {"Invoice 2024-0517"},
		"sales@contoso.com":       {"t1 list"},
	})
	if out, _ := runCmd(t, "users", "list", "-config", cfg); !strings.Contains(out, "no users defined") {
		t.Errorf("users list: %s", out)
	}

	conf := head + `
[[users]]
name = "anna"
addresses = ["anna.berg@contoso.com"]
[[users]]
name = "hugo"
addresses = ["hugo.brandt@contoso.com"]
[[users]]
name = "ivan"
addresses = ["ivan.petrov@contoso.com"]
[[users]]
name = "boss"
role = "auditor+admin"
[[groups]]
name = "sales"
address = "sales@contoso.com"
members = ["team"]
[[groups]]
name = "team"
members = ["anna", "ivan"]
[[shared_mailboxes]]
address = "info@contoso.com"
members = ["sales"]
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runCmd(t, "reassign", "-config", cfg)
	if code != 0 || !strings.Contains(out, "+ user anna: anna.berg@contoso.com") || !strings.Contains(out, "owners: 5 stored copies checked, 5 changed; 5 index documents updated") {
		t.Errorf("reassign: exit %d:\n%s", code, out)
	}
	all := []string{"t1 list", "t2 info", corpusSimple, corpusExpanded, "Invoice 2024-0517"}
	views := map[string][]string{
		"anna":                      {"t1 list", "t2 info", corpusSimple, corpusExpanded},
		"hugo":                      {"t1 list", corpusExpanded},
		"ivan":                      {"t1 list", "t2 info", corpusExpanded},
		"ivan.petrov+x@contoso.com": {"t1 list", "t2 info", corpusExpanded},
		"boss":                      all,
		"":                          {"Invoice 2024-0517"},
	}
	checkViews(t, cfg, views)
	if out, code := runCmd(t, "users", "sync", "-config", cfg); code != 0 || !strings.Contains(out, "the configuration file: 4 users, 2 groups, 1 shared mailbox") || !strings.Contains(out, "owners: unchanged") {
		t.Errorf("users sync: exit %d:\n%s", code, out)
	}

	// Hugo joins the team.
	if err := os.WriteFile(cfg, []byte(strings.Replace(conf, `members = ["anna", "ivan"]`, `members = ["anna", "ivan", "hugo"]`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runCmd(t, "users", "sync", "-config", cfg)
	if code != 0 || !strings.Contains(out, "~ group team: +hugo") || !strings.Contains(out, "owners: 5 stored copies checked, 1 changed") {
		t.Errorf("users sync after a change: exit %d:\n%s", code, out)
	}
	views["hugo"] = []string{"t1 list", "t2 info", corpusExpanded}
	checkViews(t, cfg, views)

	// The owners are in the search hits, and their history in the log.
	out, _ = runCmd(t, "search", "-config", cfg, "-json", "subject:t2")
	if !strings.Contains(out, `"owners": [
        "anna",
        "hugo",
        "ivan"
      ]`) {
		t.Errorf("search -json: no owners:\n%s", out)
	}
	if out, code := runCmd(t, "verify", "-config", cfg); code != 0 {
		t.Errorf("verify: exit %d:\n%s", code, out)
	}
}

// lockedBuffer is a bytes.Buffer for a daemon's log, read while written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
