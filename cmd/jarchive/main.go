// Command jarchive archives a company's mail from a journal mailbox: it
// fetches journal reports over IMAP, reads their envelope, stores every
// original message once and indexes it for search.
//
// Usage:
//
//	jarchive <command> [flags] [args]
//
// Run "jarchive help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// command is one subcommand. Each lives in a file of its own.
type command struct {
	name  string
	args  string // synopsis of the arguments
	short string
	run   func(ctx context.Context, app *app, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "[-config FILE]", "fetch every account at its interval until stopped; answer CLI requests", runServe},
		{"fetch", "-once [-config FILE]", "fetch every account once and print counts", runFetch},
		{"import", importSynopsis, "archive .eml files, mbox files, maildirs, directories and zip files of them (resumable)", runImport},
		{"export", exportSynopsis, "export the messages of a search with a manifest (mbox, eml-zip, maildir); verify an export", runExport},
		{"search", searchSynopsis, "search the archive (query language: see README, Searching)", runSearch},
		{"users", usersSynopsis, "read the directory now and print what changed (sync); show users, addresses and groups (list)", runUsers},
		{"reassign", "[-config FILE]", "recompute who owns each message from the directory in force", runReassign},
		{"retention", retentionSynopsis, "show what retention would delete (dry run), delete it (-apply); list the tombstones", runRetention},
		{"hold", holdSynopsis, "legal holds: messages a search finds are never deleted by retention", runHold},
		{"reindex", "[-config FILE]", "rebuild the search index from the archive and swap it in; searches go on meanwhile", runReindex},
		{"show", "[-config FILE] [-raw|-json] ID", "show one message (ID: sha256 or a unique prefix of 8+ hex digits)", runShow},
		{"stats", "[-config FILE] [-json]", "print archive counters", runStats},
		{"accounts", "[-config FILE] [-json]", "show what the daemon does with each account: state, last success and error, counts", runAccounts},
		{"verify", "[-config FILE] [-read-data] [-json] [-repair-index]", "check the archive's integrity (like restic check)", runVerify},
		{"inspect", "[-envelope MODE] [-json] FILE...", "print what the envelope parser sees in message files", runInspect},
		{"config", "check [-config FILE]", "validate the configuration file", runConfig},
		{"passwd", "[-cost N]", "print the bcrypt hash of a password (read without echo, or from stdin) for [[users]] password_hash", runPasswd},
		{"token", tokenSynopsis, "API tokens of the web interface: add (prints the token once), list, revoke", runToken},
		{"systemd-unit", "", "print the hardened systemd unit of jarchive serve (see README, Running as a service)", runSystemdUnit},
		{"bench", benchSynopsis, "benchmark tools: generate a corpus, time a search, profile a command (see bench/run.sh)", runBench},
		{"demo", "[-dir DIR] [-messages N] [-web]", "run a self-contained demo: embedded IMAP server, fetch, index, search, web interface (-web: keep serving)", runDemo},
	}
}

// app carries what every command needs: output streams and the logger.
type app struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	// cwd resolves relative paths of a request that came over the control
	// socket; "" means the process's own working directory.
	cwd string
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is returned for bad command lines; it exits with code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// defaultMemoryLimit is the soft limit of the Go runtime's memory (heap,
// stacks, its own metadata; not the memory-mapped database and index
// files) when the environment sets no GOMEMLIMIT. Without it the heap
// grows to twice what is live before a collection: the 20,000-message
// benchmark import peaked at 220 MB of anonymous memory with a live heap of
// about 100 MB, and at 148 MB with a limit of 150 MiB, at the same speed.
// It is soft: a larger message or search that needs more gets it, and the
// collector works harder (at most half the CPU) until it is done. Set
// GOMEMLIMIT (e.g. GOMEMLIMIT=1GiB) on a server with memory to spare.
const defaultMemoryLimit = 160 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a clean shutdown; restoring the default
	// handlers makes a second one end the process at once.
	context.AfterFunc(ctx, stop)
	// -log-format and -log-level (logging.go).
	args, logger, err := globalFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jarchive: %v\n", err)
		os.Exit(2)
	}
	a := &app{stdout: os.Stdout, stderr: os.Stderr, logger: logger}
	os.Exit(run(ctx, a, args))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		usage(a.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, a, args[1:])
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		// Errors that already name the command ("import: ...") get only
		// the program's name.
		msg := err.Error()
		if !strings.HasPrefix(msg, c.name+":") && !strings.HasPrefix(msg, c.name+" ") {
			msg = c.name + ": " + msg
		}
		fmt.Fprintf(a.stderr, "jarchive %s\n", msg)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	fmt.Fprintf(a.stderr, "jarchive: unknown command %q\n", args[0])
	usage(a.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: jarchive %s <command> [flags] [args]\n\ncommands:\n", globalSynopsis)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n          %s\n", c.name, c.args, c.short)
	}
	fmt.Fprintf(w, "\nThe configuration file is -config, else $JARCHIVE_CONFIG, else ./jarchive.toml, else /etc/jarchive/jarchive.toml.\n")
}

// newFlags returns a FlagSet for a command that writes its help to the app's
// stderr and returns errors instead of exiting.
func newFlags(a *app, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("jarchive "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: jarchive %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
