package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// The global flags come before the command and set up the log of every
// command:
//
//	jarchive -log-format json -log-level debug serve
//
// The log goes to stderr: as text (logfmt) by default, as JSON with
// -log-format json, and as JSON by default when stderr is the systemd
// journal ($JOURNAL_STREAM names it). The level is info, or debug with
// $JARCHIVE_DEBUG set, unless -log-level says otherwise. Secrets never
// reach it: they are config.Secret values, which log as "<redacted>".
const globalSynopsis = "[-log-format text|json] [-log-level debug|info|warn|error]"

// logOptions are the values of the global flags.
type logOptions struct {
	format string // "", "text" or "json"; "" picks by journalStream
	level  string // "" or a slog level name
}

// globalFlags parses the global flags at the start of args and returns the
// rest (the command line) and the logger they ask for.
func globalFlags(args []string, stderr io.Writer) (rest []string, logger *slog.Logger, err error) {
	fs := flag.NewFlagSet("jarchive", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o logOptions
	fs.StringVar(&o.format, "log-format", "", "")
	fs.StringVar(&o.level, "log-level", "", "")
	// Only the leading -log-* flags are global; "jarchive -h" is the
	// command table's.
	n := 0
	for n < len(args) && (strings.HasPrefix(args[n], "-log-") || strings.HasPrefix(args[n], "--log-")) {
		n++
		if !strings.Contains(args[n-1], "=") && n < len(args) {
			n++ // the flag's value
		}
	}
	if err := fs.Parse(args[:n]); err != nil {
		return nil, nil, usageError("%v (global flags: %s)", err, globalSynopsis)
	}
	logger, err = makeLogger(stderr, o)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	return args[n:], logger, nil
}

// newLogger is the logger of a command without global flags.
func newLogger(w io.Writer) *slog.Logger {
	l, _ := makeLogger(w, logOptions{format: "text"})
	return l
}

func makeLogger(w io.Writer, o logOptions) (*slog.Logger, error) {
	level := slog.LevelInfo
	if os.Getenv("JARCHIVE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	if o.level != "" {
		if err := level.UnmarshalText([]byte(o.level)); err != nil {
			return nil, fmt.Errorf("-log-level %q is not one of debug, info, warn, error", o.level)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.format {
	case "":
		if journalStream(w) {
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q is not one of text, json", o.format)
}
