package fetch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ImportAccount is the Message.Account of imported messages.
const ImportAccount = "import"

// Import reads .eml files, directories of them and mbox files, and hands each
// message to the sink with Account "import" and Path set to the file's
// absolute path ("/x/file.mbox#12" for the 12th member of an mbox).
//
// Directories are walked recursively in lexical order; symbolic links to
// files are followed, to directories not. A file whose first line starts with
// "From " is an mbox (whatever its name: an .eml saved with its From_ line is
// an mbox of one message); any other file is one message, handed over as is.
// Empty files and empty mbox members are counted as Failed.
//
// An mbox is split at lines starting "From " that follow a blank line or
// start the file. The From_ line and the blank line before it (or at the end
// of the file) are not part of a message; ">From " quoting is left as found,
// as mboxo and mboxrd cannot be told apart. Members are streamed to temporary
// files, so memory stays bounded whatever their size.
//
// In directories, only files that are mail by their name are read: .eml,
// .mbox, .mbx, .mail, names without an extension (Maildir files,
// "1700000000.M1P2.host:2,S") and Maildir names with an info suffix; other
// files (.txt, .md, .tsv, ...) are counted as Skipped. A file named as a path
// is always read.
//
// Every path must exist. Unreadable files are logged and counted as Failed;
// a sink error stops the import and is returned.
func (f *Fetcher) Import(ctx context.Context, paths []string) (Result, error) {
	t := &tally{win: newWindow(f.window), Result: Result{Account: ImportAccount}}
	err := f.importPaths(ctx, paths, t)
	if werr := t.win.wait(); err == nil {
		err = werr
	}
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		f.log.Error("panic in import", "panic", pe.value, "stack", string(pe.stack))
	}
	return t.Result, err
}

// tally is an import's Result; archiving goroutines update Archived, Bytes
// and Failed under mu.
type tally struct {
	Result
	win *window
	mu  sync.Mutex
}

func (t *tally) failed() {
	t.mu.Lock()
	t.Failed++
	t.mu.Unlock()
}

func (f *Fetcher) importPaths(ctx context.Context, paths []string, res *tally) error {
	log := f.log.With("account", ImportAccount)
	roots := make([]string, len(paths))
	for i, p := range paths {
		// A symbolic link given as a path is followed, even to a directory.
		root, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		roots[i] = root
	}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				log.Warn("cannot read", "path", path, "err", err)
				res.failed()
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if path != root && !mailFileName(d.Name()) {
				log.Debug("skipping, not a mail file by its name", "path", path)
				res.Skipped++
				return nil
			}
			if !d.Type().IsRegular() {
				if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
					log.Info("skipping, not a regular file", "path", path)
					return nil
				}
			}
			return f.importFile(ctx, path, res, log)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// importFile imports one file; it returns only errors that end the import.
func (f *Fetcher) importFile(ctx context.Context, path string, res *tally, log *slog.Logger) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	file, err := os.Open(path)
	if err != nil {
		res.Seen++
		res.failed()
		log.Warn("cannot read", "path", path, "err", err)
		return nil
	}
	handedOver := false
	defer func() {
		if !handedOver {
			file.Close()
		}
	}()

	head := make([]byte, len(mboxFrom))
	n, err := io.ReadFull(file, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		res.Seen++
		res.failed()
		log.Warn("cannot read", "path", path, "err", err)
		return nil
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if n == len(mboxFrom) && bytes.Equal(head, mboxFrom) {
		return f.importMbox(ctx, file, path, res, log)
	}

	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	handedOver = true
	return f.importMessage(ctx, &Message{Path: path, Size: st.Size(), Body: file}, res, log, func() {
		logCheck(log, file.Close(), "closing", "path", path)
	})
}

func (f *Fetcher) importMbox(ctx context.Context, file *os.File, path string, res *tally, log *slog.Logger) error {
	s := newMboxSplitter(file)
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := f.importMember(ctx, s, fmt.Sprintf("%s#%d", path, i), res, log)
		if !more || err != nil {
			return err
		}
	}
}

// importMember spools and imports the next member of an mbox. It returns
// false when there are no more members (or the rest cannot be read).
func (f *Fetcher) importMember(ctx context.Context, s *mboxSplitter, path string, res *tally, log *slog.Logger) (bool, error) {
	sp, err := f.newSpool()
	if err != nil {
		return false, fmt.Errorf("import %s: %w", path, err)
	}
	handedOver := false
	defer func() {
		if !handedOver {
			sp.remove(log)
		}
	}()
	size, err := s.next(sp)
	if err == nil {
		_, err = sp.Seek(0, io.SeekStart)
	}
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		res.Seen++
		res.failed()
		log.Warn("cannot read mbox, skipping the rest of it", "path", path, "err", err)
		return false, nil
	}
	handedOver = true
	return true, f.importMessage(ctx, &Message{Path: path, Size: size, Body: sp.File}, res, log, func() { sp.remove(log) })
}

// importMessage fills in the common fields and archives m in the import's
// window; done releases m's body once the sink is finished with it.
func (f *Fetcher) importMessage(ctx context.Context, m *Message, res *tally, log *slog.Logger, done func()) error {
	res.Seen++
	if m.Size == 0 {
		done()
		res.failed()
		log.Warn("empty message, skipped", "path", m.Path)
		return nil
	}
	m.Account = ImportAccount
	m.Fetched = time.Now()
	err := res.win.do(ctx, func() error {
		defer done()
		if err := f.sink.Archive(ctx, m); err != nil {
			res.failed()
			return fmt.Errorf("import %s: %w", m.Path, err)
		}
		res.mu.Lock()
		res.Archived++
		res.Bytes += m.Size
		res.mu.Unlock()
		return nil
	})
	if err != nil {
		done()
	}
	return err
}

var mboxFrom = []byte("From ")

// mboxSplitter streams the members of an mbox file.
//
// A separator is a line starting "From " at the start of the file or right
// after a blank line ("\n" or "\r\n"). The separator line is not part of a
// member, nor is the blank line before it, nor the blank line at the end of
// the file (mbox writers end every message with one). A "From " line not
// after a blank line stays inside the member, as do the Netscape-style
// "From - " lines some writers put without a blank line before them, and
// Content-Length headers (mboxcl) are not used.
//
// ">From " lines are left as they are: mboxo quotes "From " as ">From " but
// leaves ">From " alone, mboxrd quotes both, and a file does not say which it
// is, so unquoting could corrupt either kind. The archive keeps the bytes
// exactly as found in the file.
//
// Lines are read in bufio-sized fragments, so memory stays bounded whatever
// the line length.
type mboxSplitter struct {
	br          *bufio.Reader
	started     bool // the first separator was consumed
	eof         bool
	atLineStart bool
	prevBlank   bool
}

func newMboxSplitter(r io.Reader) *mboxSplitter {
	return &mboxSplitter{br: bufio.NewReaderSize(r, 64<<10), atLineStart: true}
}

// next writes the next member to w and returns its size, or io.EOF when
// there are no more members.
func (s *mboxSplitter) next(w io.Writer) (int64, error) {
	if s.eof {
		return 0, io.EOF
	}
	if !s.started {
		s.started = true
		head, err := s.br.Peek(len(mboxFrom))
		if err != nil || !bytes.Equal(head, mboxFrom) {
			return 0, fmt.Errorf("mbox does not start with a From_ line")
		}
		if err := s.skipLine(); err != nil {
			return 0, err
		}
	}

	var (
		n       int64
		pending []byte // a blank line held back until we know no separator follows
	)
	write := func(b []byte) error {
		m, err := w.Write(b)
		n += int64(m)
		return err
	}
	for {
		frag, rerr := s.br.ReadSlice('\n')
		if len(frag) > 0 {
			complete := frag[len(frag)-1] == '\n'
			if s.atLineStart && s.prevBlank && bytes.HasPrefix(frag, mboxFrom) {
				// Separator: the member ends, the held blank line is dropped.
				s.prevBlank = false
				if !complete {
					if err := s.skipLine(); err != nil {
						return n, err
					}
				}
				return n, nil
			}
			if pending != nil {
				if err := write(pending); err != nil {
					return n, err
				}
				pending = nil
			}
			blank := s.atLineStart && complete && (len(frag) == 1 || (len(frag) == 2 && frag[0] == '\r'))
			if blank {
				pending = bytes.Clone(frag)
			} else if err := write(frag); err != nil {
				return n, err
			}
			s.prevBlank = blank
			s.atLineStart = complete
		}
		switch rerr {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			// The blank line at the end of the file is the last
			// message's separator, as before a From_ line.
			s.eof = true
			return n, nil
		default:
			return n, rerr
		}
	}
}

// skipLine discards the rest of the current line.
func (s *mboxSplitter) skipLine() error {
	for {
		_, err := s.br.ReadSlice('\n')
		switch err {
		case nil:
			s.atLineStart = true
			return nil
		case bufio.ErrBufferFull:
		case io.EOF:
			return nil // next sees the EOF again
		default:
			return err
		}
	}
}

// mailFileName reports whether a file found in a directory walk is mail by
// its name.
func mailFileName(name string) bool {
	// Maildir: "<unique>:2,<flags>"; the unique part may contain dots.
	if i := strings.LastIndex(name, ":2,"); i > 0 {
		return true
	}
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".eml", ".mbox", ".mbx", ".mail":
		return true
	case "":
		return !strings.HasPrefix(name, ".") // not .DS_Store and the like
	default:
		// Maildir unique names such as 1700000000.M1P2.host have a host
		// name as "extension"; a mail file has no well-known other type.
		return strings.Contains(name, ".M") && strings.Count(name, ".") >= 2 && name[0] >= '0' && name[0] <= '9'
	}
}
