// Command dovecot serves a copy of a benchmark corpus from a private Dovecot
// for bench/run.sh, so that "jarchive fetch -once" can be measured against a
// real IMAP server.
//
//	go run ./bench/dovecot -maildir CORPUS/maildir -archive DIR -config FILE
//
// It starts Dovecot with the configuration of package fetch/dovecottest (on
// 127.0.0.1, free ports, a user "journal"), hard-links (or copies) every
// message of the maildir into the user's INBOX, writes FILE, a jarchive.toml
// with [archive] dir = DIR and one IMAP account (security "none") for that
// mailbox, and prints "ready N" (N messages served). On SIGINT or SIGTERM it
// prints "left N" (the messages still in the mailbox), stops Dovecot and
// removes its directory.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"jarchive/fetch/dovecottest"
)

func main() {
	maildir := flag.String("maildir", "", "the corpus `maildir` to serve (its cur/ and new/)")
	archiveDir := flag.String("archive", "", "the archive `directory` for the jarchive.toml written")
	configPath := flag.String("config", "", "write a jarchive.toml for the served mailbox to `file`")
	flag.Parse()
	if *maildir == "" || *archiveDir == "" || *configPath == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("bench/dovecot: ")
	tb := &benchTB{}
	code := 0
	func() {
		defer tb.runCleanups()
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatal); !ok {
					panic(r)
				}
				code = 1
			}
		}()
		serve(tb, *maildir, *archiveDir, *configPath)
	}()
	os.Exit(code)
}

func serve(tb *benchTB, maildir, archiveDir, configPath string) {
	srv := dovecottest.Start(tb, dovecottest.Options{})
	n, err := fill(srv.Maildir, maildir)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	conf := fmt.Sprintf("# written by bench/dovecot\n[archive]\ndir = %s\n\n[[accounts]]\nname = \"bench\"\nserver = %s\nusername = %s\npassword = %s\nsecurity = \"none\"\n",
		strconv.Quote(archiveDir), strconv.Quote(srv.Host+":"+strconv.Itoa(srv.IMAPPort)), strconv.Quote(srv.User), strconv.Quote(srv.Password))
	if err := os.WriteFile(configPath, []byte(conf), 0o600); err != nil {
		tb.Fatalf("%v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("ready %d\n", n)
	<-sig
	fmt.Printf("left %d\n", srv.Count(tb, srv.User))
}

// fill links every file of src/cur and src/new into dst/cur (copying when a
// link is not possible), readable by the mail user.
func fill(dst, src string) (int, error) {
	n := 0
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(src, sub))
		if err != nil {
			return n, fmt.Errorf("corpus: %w", err)
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			from, to := filepath.Join(src, sub, e.Name()), filepath.Join(dst, "cur", e.Name())
			if err := os.Link(from, to); err != nil {
				if err := copyFile(to, from); err != nil {
					return n, err
				}
			}
			n++
		}
	}
	return n, nil
}

func copyFile(to, from string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return nil
}

// benchTB is the part of testing.TB that dovecottest uses, for a program:
// Fatal logs and unwinds to main, Cleanup functions run when main returns.
type benchTB struct {
	testing.TB // not set: any other method panics
	cleanups   []func()
	failed     bool
}

type fatal struct{}

func (t *benchTB) Helper()                           {}
func (t *benchTB) Name() string                      { return "bench-dovecot" }
func (t *benchTB) Failed() bool                      { return t.failed }
func (t *benchTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *benchTB) Log(args ...any)                   { log.Print(args...) }
func (t *benchTB) Logf(format string, args ...any)   { log.Printf(format, args...) }
func (t *benchTB) Errorf(format string, args ...any) { t.failed = true; log.Printf(format, args...) }
func (t *benchTB) Error(args ...any)                 { t.failed = true; log.Print(args...) }
func (t *benchTB) Fatal(args ...any)                 { t.failed = true; log.Print(args...); panic(fatal{}) }
func (t *benchTB) Fatalf(format string, args ...any) {
	t.failed = true
	log.Printf(format, args...)
	panic(fatal{})
}
func (t *benchTB) Skip(args ...any)                 { t.Fatal(args...) }
func (t *benchTB) Skipf(format string, args ...any) { t.Fatalf(format, args...) }
func (t *benchTB) TempDir() string {
	dir, err := os.MkdirTemp("", "bench-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *benchTB) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
