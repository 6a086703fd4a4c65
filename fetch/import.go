package fetch

import (
	"archive/zip"
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	pathpkg "path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ImportAccount is the default Message.Account of imported messages.
const ImportAccount = "import"

// ImportOptions say how Import labels and reads messages; the zero value
// is the default.
type ImportOptions struct {
	// Account is the Message.Account of the imported messages (default
	// ImportAccount): the name of a configured account when the files come
	// from its mailbox, or any label.
	Account string
	// Quoting says how ">From " lines of mbox files are read back (default
	// mboxrd: one ">" removed from every line matching ^>+From ).
	Quoting Quoting
	// StateDir, if set, makes the import resumable: the progress is saved
	// there (see resumeFile), and running the same import again (same
	// account, quoting and paths) skips what an interrupted run archived,
	// without reading it again.
	StateDir string
	// Restart ignores what an interrupted run of the same import saved in
	// StateDir: everything is read again (and the archive deduplicates).
	Restart bool
	// MaxSize, if positive, is the largest message imported; larger ones
	// are counted TooLarge.
	MaxSize int64
}

// Import reads .eml files, directories of them, mbox files, maildirs and zip
// files of these, and hands each message to the sink with Path set to the
// file's absolute path ("/x/file.mbox#12" for the 12th member of an mbox,
// "/x/a.zip!dir/m.eml" for a zip entry).
//
// Directories are walked recursively in lexical order; symbolic links to
// files are followed, to directories not. A file whose first line starts
// with "From " (after an optional UTF-8 byte order mark) is an mbox,
// whatever its name (an .eml saved with its From_ line is an mbox of one
// message), split as mboxSplitter says; a file named *.zip is a zip file,
// whose entries are read as files in a directory (nested zip files are
// skipped); any other file is one message, handed over as is. Empty files
// and empty mbox members are counted as Failed. Members and entries are
// streamed to temporary files, so memory stays bounded whatever their size.
//
// In directories (and zip files), only files that are mail by their name
// are read: .eml, .mbox, .mbx, .mail, names without an extension (Maildir
// files, "1700000000.M1P2.host:2,S") and Maildir names with an info suffix;
// other files (.txt, .md, .json, .tsv, ...) are counted as Skipped. In a
// maildir (a directory with cur and new subdirectories) tmp is not read
// (messages are still being written there), nor are the files beside cur and
// new without a mail file's extension (dovecot-uidlist, maildirfolder, ...).
// A file named as a path is always read.
//
// An mbox beside a manifest.json of a jarchive export (package export) is
// read with the manifest's mbox_newline_added flags, so that a message
// without a final newline is imported byte-identical to the original.
//
// Every path must exist. Unreadable files are logged and counted as Failed;
// a sink error stops the import and is returned.
func (f *Fetcher) Import(ctx context.Context, paths []string, opts ImportOptions) (Result, error) {
	account := cmp.Or(opts.Account, ImportAccount)
	run := &importRun{
		f:        f,
		opts:     opts,
		account:  account,
		tally:    &tally{win: newWindow(f.window), Result: Result{Account: account}},
		log:      f.log.With("account", account),
		maildirs: map[string]bool{},
	}
	roots := make([]string, len(paths))
	for i, p := range paths {
		// A symbolic link given as a path is followed, even to a directory.
		root, err := filepath.EvalSymlinks(p)
		if err == nil {
			root, err = filepath.Abs(root)
		}
		if err != nil {
			return run.tally.Result, fmt.Errorf("import: %w", err)
		}
		roots[i] = root
	}
	var err error
	run.resume, err = openResumer(opts.StateDir, account, opts.Quoting, roots, opts.Restart)
	if err != nil {
		return run.tally.Result, err
	}
	if at, ok := run.resume.resuming(); ok {
		run.log.Info("resuming an interrupted import", "after", at.String())
	}
	for i, root := range roots {
		if err = run.walk(ctx, i, root); err != nil {
			break
		}
	}
	if werr := run.tally.win.wait(); err == nil {
		err = werr
	}
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		f.log.Error("panic in import", "panic", pe.value, "stack", string(pe.stack))
	}
	state, serr := run.resume.finish(err == nil)
	if state != "" {
		run.log.Warn("import interrupted: the same import run again resumes where it stopped", "state", state)
	}
	if err == nil {
		err = serr
	}
	return run.tally.Result, err
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

// importRun is one Import.
type importRun struct {
	f        *Fetcher
	opts     ImportOptions
	account  string
	tally    *tally
	log      *slog.Logger
	resume   *resumer        // nil: not resumable
	maildirs map[string]bool // directory -> is a maildir (has cur and new)
}

func (r *importRun) walk(ctx context.Context, i int, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			r.log.Warn("cannot read", "path", path, "err", err)
			r.tally.failed()
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && d.Name() == "tmp" && r.isMaildir(filepath.Dir(path)) {
				return filepath.SkipDir
			}
			return nil
		}
		if path != root {
			if !mailFileName(d.Name()) && !isZipName(d.Name()) {
				r.log.Debug("skipping, not a mail file by its name", "path", path)
				r.tally.Skipped++
				return nil
			}
			if !hasMailExt(d.Name()) && r.isMaildir(filepath.Dir(path)) {
				r.log.Debug("skipping, a maildir's own file", "path", path)
				r.tally.Skipped++
				return nil
			}
		}
		if !d.Type().IsRegular() {
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				r.log.Info("skipping, not a regular file", "path", path)
				return nil
			}
		}
		pos := position{Root: i}
		if rel, err := filepath.Rel(root, path); err == nil && rel != "." {
			pos.Rel = strings.Split(filepath.ToSlash(rel), "/")
		}
		if r.resume.skipFile(pos) {
			r.tally.Resumed++
			return nil
		}
		return r.file(ctx, path, pos)
	})
}

// isMaildir reports whether dir has cur and new subdirectories.
func (r *importRun) isMaildir(dir string) bool {
	is, ok := r.maildirs[dir]
	if !ok {
		cur, err1 := os.Stat(filepath.Join(dir, "cur"))
		nw, err2 := os.Stat(filepath.Join(dir, "new"))
		is = err1 == nil && err2 == nil && cur.IsDir() && nw.IsDir()
		r.maildirs[dir] = is
	}
	return is
}

// file imports one file; it returns only errors that end the import.
func (r *importRun) file(ctx context.Context, path string, pos position) error {
	if isZipName(path) {
		return r.zip(ctx, path, pos)
	}
	file, err := os.Open(path)
	if err != nil {
		r.failed(pos, path, err)
		return nil
	}
	handedOver := false
	defer func() {
		if !handedOver {
			file.Close()
		}
	}()
	head := make([]byte, len(utf8BOM)+len(mboxFrom))
	n, err := io.ReadFull(file, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		r.failed(pos, path, err)
		return nil
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if isMboxStart(head[:n]) {
		newlines, err := exportNewlines(filepath.Dir(path), filepath.Base(path))
		if err != nil {
			r.log.Warn("ignoring the export manifest beside an mbox", "path", path, "err", err)
		}
		return r.mbox(ctx, file, path, pos, newlines)
	}
	if r.resume.skip(pos) {
		r.tally.Resumed++
		return nil
	}
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	handedOver = true
	return r.message(ctx, &Message{Path: path, Size: st.Size(), Body: file}, pos, func() {
		logCheck(r.log, file.Close(), "closing", "path", path)
	})
}

// mbox imports the members of an mbox read from rd. newlines holds the
// offsets of the From_ lines of members whose last newline the writer
// added (exportNewlines).
func (r *importRun) mbox(ctx context.Context, rd io.Reader, path string, pos position, newlines map[int64]bool) error {
	s := newMboxSplitter(rd, r.opts.Quoting)
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := r.member(ctx, s, fmt.Sprintf("%s#%d", path, i), pos.with(i), newlines)
		if !more || err != nil {
			return err
		}
	}
}

// member spools and imports the next member of an mbox. It returns false
// when there are no more members (or the rest cannot be read).
func (r *importRun) member(ctx context.Context, s *mboxSplitter, path string, pos position, newlines map[int64]bool) (bool, error) {
	if r.resume.skip(pos) {
		_, _, err := s.next(io.Discard)
		if err == nil {
			r.tally.Resumed++
		}
		return err == nil, nil
	}
	sp := r.f.newSpool()
	handedOver := false
	defer func() {
		if !handedOver {
			sp.remove(r.log)
		}
	}()
	size, from, err := s.next(sp)
	if err == nil && newlines[from] && size > 0 {
		// The export added a newline the original does not have.
		last := make([]byte, 1)
		if _, err = sp.ReadAt(last, size-1); err == nil && last[0] == '\n' {
			size--
			err = sp.Truncate(size)
		}
	}
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		r.failed(pos, path, fmt.Errorf("cannot read mbox, skipping the rest of it: %w", err))
		return false, nil
	}
	handedOver = true
	return true, r.message(ctx, &Message{Path: path, Size: size, Body: sp}, pos, func() { sp.remove(r.log) })
}

// zip imports the mail files in a zip file, in the order of its directory.
func (r *importRun) zip(ctx context.Context, path string, pos position) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		r.failed(pos, path, err)
		return nil
	}
	defer zr.Close()
	maildirs := zipMaildirs(zr.File)
	for i, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := zf.Name
		if zf.FileInfo().IsDir() {
			continue
		}
		base := pathpkg.Base(name)
		if isZipName(base) {
			r.log.Warn("skipping a zip file inside a zip file", "path", path, "entry", name)
			r.tally.Skipped++
			continue
		}
		if !mailFileName(base) || maildirOwn(maildirs, name) {
			r.tally.Skipped++
			continue
		}
		epos := pos.with(i + 1)
		if r.resume.skipFile(epos) {
			r.tally.Resumed++
			continue
		}
		if err := r.zipEntry(ctx, zf, path+"!"+name, epos); err != nil {
			return err
		}
	}
	return nil
}

// zipMaildirs returns the maildirs in a zip file: the folders ("" for the
// top) with entries in both their cur and new subfolders.
func zipMaildirs(files []*zip.File) map[string]bool {
	cur, nw := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		dir := pathpkg.Dir(f.Name)
		switch pathpkg.Base(dir) {
		case "cur":
			cur[zipParent(dir)] = true
		case "new":
			nw[zipParent(dir)] = true
		}
	}
	dirs := map[string]bool{}
	for d := range cur {
		if nw[d] {
			dirs[d] = true
		}
	}
	return dirs
}

// zipParent is the folder of a zip entry's folder, "" for the top.
func zipParent(dir string) string {
	if p := pathpkg.Dir(dir); p != "." {
		return p
	}
	return ""
}

// maildirOwn reports whether the zip entry name is a file of a maildir that
// is not a message: in its tmp folder, or beside its cur and new folders
// without a mail file's extension (dovecot-uidlist, maildirfolder, ...).
func maildirOwn(maildirs map[string]bool, name string) bool {
	dir := zipParent(name)
	if pathpkg.Base(dir) == "tmp" && maildirs[zipParent(dir)] {
		return true
	}
	return maildirs[dir] && !hasMailExt(name)
}

func (r *importRun) zipEntry(ctx context.Context, zf *zip.File, path string, pos position) error {
	if r.opts.MaxSize > 0 && zf.UncompressedSize64 > uint64(r.opts.MaxSize) {
		r.tooLarge(pos, path, int64(zf.UncompressedSize64))
		return nil
	}
	rc, err := zf.Open()
	if err != nil {
		r.failed(pos, path, err)
		return nil
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	head, _ := br.Peek(len(utf8BOM) + len(mboxFrom))
	if isMboxStart(head) {
		return r.mbox(ctx, br, path, pos, nil)
	}
	if r.resume.skip(pos) {
		r.tally.Resumed++
		return nil
	}
	sp := r.f.newSpool()
	// archive/zip fails a read beyond the entry's declared size, so
	// the spool cannot grow beyond it.
	size, err := io.Copy(sp, br)
	if err != nil {
		sp.remove(r.log)
		r.failed(pos, path, err)
		return nil
	}
	return r.message(ctx, &Message{Path: path, Size: size, Body: sp}, pos, func() { sp.remove(r.log) })
}

// failed counts a message that cannot be read.
func (r *importRun) failed(pos position, path string, err error) {
	r.tally.Seen++
	r.tally.failed()
	r.log.Warn("cannot read", "path", path, "err", err)
	r.resume.end(r.resume.begin(pos))
}

func (r *importRun) tooLarge(pos position, path string, size int64) {
	r.tally.Seen++
	r.tally.TooLarge++
	r.log.Warn("message over the size limit, not imported", "path", path, "size", size, "max", r.opts.MaxSize)
	r.resume.end(r.resume.begin(pos))
}

// message fills in the common fields and archives m in the import's window;
// done releases m's body once the sink is finished with it.
func (r *importRun) message(ctx context.Context, m *Message, pos position, done func()) error {
	if m.Size == 0 {
		done()
		r.failed(pos, m.Path, errors.New("empty message, skipped"))
		return nil
	}
	if r.opts.MaxSize > 0 && m.Size > r.opts.MaxSize {
		done()
		r.tooLarge(pos, m.Path, m.Size)
		return nil
	}
	r.tally.Seen++
	m.Account = r.account
	m.Fetched = time.Now()
	seq := r.resume.begin(pos)
	res := r.tally
	err := res.win.do(ctx, func() error {
		defer done()
		if err := r.f.sink.Archive(ctx, m); err != nil {
			res.failed()
			return fmt.Errorf("import %s: %w", m.Path, err)
		}
		res.mu.Lock()
		res.Archived++
		res.Bytes += m.Size
		res.mu.Unlock()
		r.resume.end(seq)
		return nil
	})
	if err != nil {
		done()
	}
	return err
}

// exportNewlines reads the manifest.json of a jarchive export in dir, if
// there is one, and returns the offsets of the From_ lines of the members of
// the mbox file name whose final newline the export added
// (mbox_newline_added). The manifest is read as a stream: memory grows
// only with the flagged members.
func exportNewlines(dir, name string) (map[int64]bool, error) {
	f, err := os.Open(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("manifest.json: not a JSON object")
	}
	offsets := map[int64]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("manifest.json: %w", err)
		}
		if t != "messages" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil, fmt.Errorf("manifest.json: messages is not a list")
		}
		for dec.More() {
			var m struct {
				File         string `json:"file"`
				Offset       int64  `json:"offset"`
				NewlineAdded bool   `json:"mbox_newline_added"`
			}
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			if m.NewlineAdded && m.File == name {
				offsets[m.Offset] = true
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("manifest.json: %w", err)
		}
	}
	return offsets, nil
}

// hasMailExt reports whether a file name has the extension of a mail file.
func hasMailExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".eml", ".mbox", ".mbx", ".mail":
		return true
	}
	return false
}

func isZipName(name string) bool {
	return strings.EqualFold(filepath.Ext(name), ".zip")
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
