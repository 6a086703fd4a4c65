package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jarchive/fetch"
	"jarchive/fetch/dovecottest"
)

func TestPrintAccounts(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	list := []fetch.AccountStatus{
		{
			Account: "m365", Protocol: "imap-oauth2", Server: "outlook.office365.com:993", Idle: true,
			State: fetch.StateIdle, Since: now.Add(-time.Minute), NextPass: now.Add(59 * time.Minute),
			LastPass: now.Add(-12 * time.Second), LastSuccess: now.Add(-12 * time.Second),
			Passes: 7, Messages: 1234, Bytes: 5 << 20, Deleted: 1234, TooLarge: 2,
		},
		{
			Account: "pop", Protocol: "pop3", Server: "pop.example.com:995", State: fetch.StateFailed,
			Since: now.Add(-5 * time.Minute), NextPass: now.Add(10 * time.Minute),
			LastError:   "fetch pop: login as \"journal\": AUTH PLAIN: server said: -ERR [AUTH] Authentication failed.",
			LastErrorAt: now.Add(-5 * time.Minute), Permanent: true, Failures: 1, Passes: 1,
		},
	}
	var b bytes.Buffer
	if err := printAccounts(&b, list, false, now); err != nil {
		t.Fatal(err)
	}
	want := `ACCOUNT  PROTOCOL     STATE   LAST SUCCESS  MESSAGES  BYTES    TOO LARGE  NEXT PASS
m365     imap-oauth2  idle    12s ago       1234      5.0 MiB  2          in 59m
pop      pop3         failed  never         0         0 B      0          in 10m

pop: last error 5m ago, retrying will not fix it: check the configuration:
  fetch pop: login as "journal": AUTH PLAIN: server said: -ERR [AUTH] Authentication failed.
`
	if b.String() != want {
		t.Errorf("printAccounts:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := printAccounts(&b, list, true, now); err != nil {
		t.Fatal(err)
	}
	var out accountsOutput
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Accounts) != 2 || out.Accounts[0].Messages != 1234 || !out.Accounts[1].LastSuccess.IsZero() ||
		!strings.Contains(b.String(), `"state": "failed"`) || strings.Contains(b.String(), `"last_success": "0001`) {
		t.Errorf("JSON:\n%s", b.String())
	}
	b.Reset()
	printAccounts(&b, nil, true, now)
	if strings.TrimSpace(b.String()) != "{\n  \"accounts\": []\n}" {
		t.Errorf("JSON without accounts: %s", b.String())
	}
}

func TestAccountsNoDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[archive]\ndir = %q\n", filepath.Join(dir, "archive"))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runCmd(t, "accounts", "-config", cfg)
	if code != 1 || !strings.Contains(out, "no daemon is running for archive "+filepath.Join(dir, "archive")) {
		t.Fatalf("accounts without a daemon: exit %d: %s", code, out)
	}
	if out, code := runCmd(t, "accounts", "-config", cfg, "extra"); code != 2 {
		t.Fatalf("accounts with an argument: exit %d: %s", code, out)
	}
}

// TestAccountsDaemon runs serve in this process against Dovecot with an
// IMAP IDLE account and a POP3 account with a wrong password, and asks it
// with accounts.
func TestAccountsDaemon(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{Users: map[string]string{"other": "other-pw"}})
	msgs := loadCorpus(t)[:5]
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m.data)
	}
	dir := t.TempDir()
	t.Setenv("JARCHIVE_TEST_PASSWORD", srv.Password)
	cfgText := fmt.Sprintf(`[archive]
dir = %q

[[accounts]]
name = "journal"
server = "127.0.0.1:%d"
username = %q
password_env = "JARCHIVE_TEST_PASSWORD"
security = "tls"
tls_ca_file = %q
idle = true
interval = "1h"

[[accounts]]
name = "pop"
protocol = "pop3"
server = "127.0.0.1:%d"
username = "other"
password = "wrong-secret"
security = "starttls"
tls_ca_file = %q
interval = "1h"
`, filepath.Join(dir, "archive"), srv.IMAPSPort, srv.User, srv.CAFile, srv.POP3Port, srv.CAFile)
	cfg := filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int)
	go func() {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out, logger: newLogger(&out)}
		code := run(ctx, a, []string{"serve", "-config", cfg})
		if code != 0 {
			t.Logf("serve: %s", out.String())
		}
		served <- code
	}()
	defer func() {
		cancel()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serve exited %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()

	var got accountsOutput
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := runCmd(t, "accounts", "-json", "-config", cfg)
		if code == 0 {
			got = accountsOutput{}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("accounts -json: %v\n%s", err, out)
			}
			if len(got.Accounts) == 2 && got.Accounts[0].State == fetch.StateIdle && got.Accounts[0].Messages == int64(len(msgs)) &&
				got.Accounts[1].State == fetch.StateFailed {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("accounts never showed the idle and the failed account; last: exit %d: %s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	j, p := got.Accounts[0], got.Accounts[1]
	if j.Account != "journal" || j.Protocol != "imap" || !j.Idle || j.Bytes == 0 || j.Deleted != int64(len(msgs)) || j.LastSuccess.IsZero() || j.LastError != "" {
		t.Errorf("journal: %+v", j)
	}
	if p.Account != "pop" || !p.Permanent || !strings.Contains(p.LastError, "[AUTH]") || strings.Contains(p.LastError, "wrong-secret") {
		t.Errorf("pop: %+v", p)
	}

	out, code := runCmd(t, "accounts", "-config", cfg)
	if code != 0 || !strings.Contains(out, "journal  imap      idle") || !strings.Contains(out, "pop: last error") {
		t.Fatalf("accounts: exit %d:\n%s", code, out)
	}
	t.Logf("jarchive accounts:\n%s", out)
}
