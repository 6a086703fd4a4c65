package main

// The control socket lets CLI commands work on an archive that a running
// daemon holds: bbolt and bleve lock their files, so only one process can
// open an archive. "jarchive serve" listens on <archive dir>/jarchive.sock
// (mode 0600). A CLI command first tries that socket; when a daemon answers
// it sends its command line there and prints what comes back, otherwise it
// opens the archive itself. The output is the same either way because the
// same handler runs in both places.
//
// Protocol: the client sends one JSON request line
//
//	{"command":"search","args":["-json","invoice"],"cwd":"/home/a"}
//
// and the daemon answers with frames of a one-byte kind, a 4-byte
// big-endian length and the payload: kind 'o' is output for stdout, kind
// 'd' ends the answer with a JSON payload {"code":0,"error":""}.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"jarchive/config"
)

// socketName is the control socket's file name in the archive directory.
const socketName = "jarchive.sock"

// archiveCommand is a command that works on an open store.
type archiveCommand func(ctx context.Context, a *app, st *store, args []string) error

// archiveCommands are the commands a daemon answers over its socket.
var archiveCommands map[string]archiveCommand

func init() {
	archiveCommands = map[string]archiveCommand{
		"search":    searchCommand,
		"accounts":  accountsCommand,
		"reindex":   reindexCommand,
		"verify":    verifyCommand,
		"show":      showCommand,
		"stats":     statsCommand,
		"import":    importCommand,
		"users":     usersCommand,
		"reassign":  reassignCommand,
		"export":    exportCommand,
		"hold":      holdCommand,
		"retention": retentionCommand,
	}
}

type controlRequest struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Cwd     string   `json:"cwd"`
}

type controlDone struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// configFlag returns the value of -config in args ("" when absent), so the
// archive can be found before the command parses its flags.
func configFlag(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) == 0 || a[0] != '-' {
			break
		}
		switch {
		case a == "-config" || a == "--config":
			if i+1 < len(args) {
				return args[i+1]
			}
		case len(a) > 8 && a[:8] == "-config=":
			return a[8:]
		case len(a) > 9 && a[:9] == "--config=":
			return a[9:]
		}
	}
	return ""
}

func loadConfig(a *app, path string) (*config.Config, error) {
	cfg, err := config.Load(config.Find(path))
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		a.logger.Warn(w)
	}
	return cfg, nil
}

// withStore runs an archive command: through the daemon's socket when a
// daemon holds the archive, else on the archive opened here.
func withStore(ctx context.Context, a *app, name string, args []string) error {
	cfg, err := loadConfig(a, configFlag(args))
	if err != nil {
		return err
	}
	if handled, err := remote(ctx, a, cfg.Archive.Dir, name, args); handled {
		return err
	}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			a.logger.Error("close archive", "err", err)
		}
	}()
	return archiveCommands[name](ctx, a, st, args)
}

// withStoreSub is withStore for a command with subcommands ("users
// list", "hold add"): withStore finds -config only before the first
// argument, so a -config after the subcommand is brought there.
func withStoreSub(ctx context.Context, a *app, name string, args []string) error {
	if len(args) > 0 {
		if p := anyConfigFlag(args[1:]); p != "" {
			args = append([]string{"-config", p}, args...)
		}
	}
	return withStore(ctx, a, name, args)
}

// subcommand is one verb of a command with subcommands.
type subcommand struct {
	name string
	run  func(args []string) error
}

// runSubcommand parses a command's own flags (-config) and runs the
// subcommand named by its first argument with the rest.
func runSubcommand(a *app, name, synopsis string, args []string, subs ...subcommand) error {
	fs := newFlags(a, name, synopsis)
	fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := make([]string, len(subs))
	for i, sc := range subs {
		names[i] = sc.name
	}
	choice := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("%s: %s?", name, choice)
	}
	for _, sc := range subs {
		if sc.name == fs.Arg(0) {
			return sc.run(fs.Args()[1:])
		}
	}
	fs.Usage()
	return usageError("%s: unknown subcommand %q (%s)", name, fs.Arg(0), choice)
}

// remote sends the command to a daemon. handled is false when no daemon
// listens.
func remote(ctx context.Context, a *app, dir, name string, args []string) (handled bool, err error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, socketName))
	if err != nil {
		return false, nil
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	cwd, _ := os.Getwd()
	req, _ := json.Marshal(controlRequest{Command: name, Args: args, Cwd: cwd})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return true, fmt.Errorf("daemon: %w", err)
	}
	br := bufio.NewReader(conn)
	for {
		kind, payload, err := readFrame(br)
		if err != nil {
			return true, fmt.Errorf("daemon: %w", err)
		}
		switch kind {
		case 'o':
			if _, err := a.stdout.Write(payload); err != nil {
				return true, err
			}
		case 'd':
			var done controlDone
			if err := json.Unmarshal(payload, &done); err != nil {
				return true, fmt.Errorf("daemon: %w", err)
			}
			if done.Code == 0 {
				return true, nil
			}
			return true, &exitError{code: done.Code, err: errors.New(done.Error)}
		}
	}
}

const maxFrame = 16 << 20

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// frameWriter sends everything written to it as output frames.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (fw *frameWriter) Write(p []byte) (int, error) {
	return len(p), fw.frame('o', p)
}

func (fw *frameWriter) frame(kind byte, p []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for len(p) > 0 || kind != 'o' {
		chunk := p
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		var hdr [5]byte
		hdr[0] = kind
		binary.BigEndian.PutUint32(hdr[1:], uint32(len(chunk)))
		if _, err := fw.w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := fw.w.Write(chunk); err != nil {
			return err
		}
		p = p[len(chunk):]
		if kind != 'o' {
			break
		}
	}
	return nil
}

// listenControl removes a stale socket and listens on a new one.
func listenControl(dir string) (net.Listener, error) {
	path := filepath.Join(dir, socketName)
	// The caller holds the archive's lock, so a socket file left here is
	// stale: its daemon is gone.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// serveControl answers CLI requests until ln is closed.
func serveControl(ctx context.Context, a *app, st *store, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			handleControl(ctx, a, st, conn)
		}()
	}
}

func handleControl(ctx context.Context, a *app, st *store, conn net.Conn) {
	fw := &frameWriter{w: conn}
	done := func(err error) {
		d := controlDone{}
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			d.Code, d.Error = 1, err.Error()
			var ee *exitError
			if errors.As(err, &ee) {
				d.Code = ee.code
			}
		}
		p, _ := json.Marshal(d)
		if err := fw.frame('d', p); err != nil {
			a.logger.Debug("control: answer", "err", err)
		}
	}
	var req controlRequest
	if err := json.NewDecoder(io.LimitReader(conn, 1<<20)).Decode(&req); err != nil {
		done(fmt.Errorf("bad request: %w", err))
		return
	}
	cmd, ok := archiveCommands[req.Command]
	if !ok {
		done(fmt.Errorf("command %q is not served by the daemon", req.Command))
		return
	}
	// A client that goes away cancels its request.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ra := &app{stdout: fw, stderr: fw, logger: a.logger, cwd: req.Cwd}
	a.logger.Info("control request", "command", req.Command)
	done(cmd(ctx, ra, st, req.Args))
}

// abs resolves a path given on a command line, relative to the client's
// working directory for requests over the socket.
func (a *app) abs(p string) string {
	if filepath.IsAbs(p) || a.cwd == "" {
		return p
	}
	return filepath.Join(a.cwd, p)
}
