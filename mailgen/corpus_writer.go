package mailgen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// CorpusWriter writes a corpus to a directory, one message at a time (nothing is kept in
// memory but buffers):
//
//	DIR/maildir/{cur,new,tmp}/    one file per message (CRLF), in cur/, named
//	                              <unix time>.M<seq>P0.jarchive-bench,S=<size>:2,S
//	                              (with Chunk: DIR/maildir-000/, DIR/maildir-001/, ...)
//	DIR/corpus.mbox               the same messages as an mboxrd mailbox with LF line ends
//	                              ("From MAILER-DAEMON <date>" lines; with Chunk, corpus-000.mbox ...)
//	DIR/manifest.tsv              a header line, then one line per message:
//	                              file (relative to DIR), size, sha256 of the file,
//	                              sha256 of the original (the archive's message id; equal to
//	                              the file's without Journal), duplicate_of (the seq whose
//	                              original this repeats, or -), body, charset, attachments
//
// Files are written to tmp/ and renamed into cur/, as a delivery would, without fsync: a
// corpus is scratch data that can be generated again. Each file's modification time is
// the message's date.
type CorpusWriter struct {
	dir   string
	opts  CorpusWriterOptions
	n     int
	box   string // current maildir, relative to dir
	mbox  *os.File
	mboxw *bufio.Writer
	man   *os.File
	manw  *bufio.Writer
	stats CorpusStats
	seen  map[[32]byte]bool // originals written, for UniqueBytes
}

// CorpusWriterOptions configure a CorpusWriter.
type CorpusWriterOptions struct {
	// Mbox also writes the messages as an mbox.
	Mbox bool
	// Chunk, when positive, starts a new maildir (and mbox) every Chunk messages.
	Chunk int
}

// CorpusStats count what a CorpusWriter wrote.
type CorpusStats struct {
	Messages      int   `json:"messages"`
	Bytes         int64 `json:"bytes"`          // of the files
	Duplicates    int   `json:"duplicates"`     // messages whose original was written before
	Originals     int   `json:"originals"`      // distinct originals
	UniqueBytes   int64 `json:"unique_bytes"`   // of the distinct originals
	OriginalBytes int64 `json:"original_bytes"` // of all originals
	Plain         int   `json:"text_plain"`
	Alternative   int   `json:"multipart_alternative"`
	HTML          int   `json:"text_html"`
	Latin1        int   `json:"iso_8859_1"`
	WithAttach    int   `json:"with_attachments"`
	Largest       int   `json:"largest"`
}

// CreateCorpus creates dir (it must not exist or be empty) and returns a writer into it.
func CreateCorpus(dir string, opts CorpusWriterOptions) (*CorpusWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if len(ents) > 0 {
		return nil, fmt.Errorf("corpus: %s is not empty", dir)
	}
	w := &CorpusWriter{dir: dir, opts: opts, seen: make(map[[32]byte]bool)}
	if w.man, err = os.Create(filepath.Join(dir, "manifest.tsv")); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	w.manw = bufio.NewWriterSize(w.man, 1<<16)
	w.manw.WriteString("file\tsize\tsha256\toriginal_sha256\tduplicate_of\tbody\tcharset\tattachments\n")
	return w, nil
}

// Stats returns the counts so far.
func (w *CorpusWriter) Stats() CorpusStats { return w.stats }

// Dir returns the corpus directory.
func (w *CorpusWriter) Dir() string { return w.dir }

// Maildirs returns the maildirs written so far, relative to the corpus directory.
func (w *CorpusWriter) Maildirs() []string {
	if w.opts.Chunk <= 0 {
		return []string{"maildir"}
	}
	var out []string
	for i := 0; i*w.opts.Chunk < max(w.n, 1); i++ {
		out = append(out, fmt.Sprintf("maildir-%03d", i))
	}
	return out
}

// rotate opens the maildir (and mbox) for the next message.
func (w *CorpusWriter) rotate() error {
	box, mbox := "maildir", "corpus.mbox"
	if w.opts.Chunk > 0 {
		if w.n%w.opts.Chunk != 0 && w.box != "" {
			return nil
		}
		i := w.n / w.opts.Chunk
		box, mbox = fmt.Sprintf("maildir-%03d", i), fmt.Sprintf("corpus-%03d.mbox", i)
	} else if w.box != "" {
		return nil
	}
	if err := w.closeMbox(); err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(w.dir, box, sub), 0o755); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
	}
	w.box = box
	if w.opts.Mbox {
		f, err := os.Create(filepath.Join(w.dir, mbox))
		if err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		w.mbox, w.mboxw = f, bufio.NewWriterSize(f, 1<<20)
	}
	return nil
}

// Write writes one message.
func (w *CorpusWriter) Write(m *CorpusMessage) error {
	if err := w.rotate(); err != nil {
		return err
	}
	name := fmt.Sprintf("%d.M%06dP0.jarchive-bench,S=%d:2,S", m.Date.Unix(), m.Seq, len(m.Data))
	tmp := filepath.Join(w.dir, w.box, "tmp", name)
	if err := os.WriteFile(tmp, m.Data, 0o644); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := os.Chtimes(tmp, m.Date, m.Date); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	rel := filepath.Join(w.box, "cur", name)
	if err := os.Rename(tmp, filepath.Join(w.dir, rel)); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if w.mboxw != nil {
		writeMboxrd(w.mboxw, m)
	}
	fileSum := sha256.Sum256(m.Data)
	origSum := fileSum
	if !bytes.Equal(m.Data, m.Original) {
		origSum = sha256.Sum256(m.Original)
	}
	dup := "-"
	if m.DuplicateOf >= 0 {
		dup = fmt.Sprint(m.DuplicateOf)
	}
	fmt.Fprintf(w.manw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", rel, len(m.Data), hex.EncodeToString(fileSum[:]),
		hex.EncodeToString(origSum[:]), dup, m.Body, m.Charset, m.Attachments)

	s := &w.stats
	s.Messages++
	s.Bytes += int64(len(m.Data))
	s.OriginalBytes += int64(len(m.Original))
	s.Largest = max(s.Largest, len(m.Data))
	if w.seen[origSum] {
		s.Duplicates++
	} else {
		w.seen[origSum] = true
		s.Originals++
		s.UniqueBytes += int64(len(m.Original))
	}
	switch m.Body {
	case bodyPlain:
		s.Plain++
	case bodyAlt:
		s.Alternative++
	case bodyHTML:
		s.HTML++
	}
	if m.Charset == "iso-8859-1" {
		s.Latin1++
	}
	if m.Attachments > 0 {
		s.WithAttach++
	}
	w.n++
	return nil
}

// writeMboxrd appends m to an mboxrd mailbox: a From_ line, the message with LF line ends
// and every line matching ^>*From  quoted with one more '>', then an empty line.
func writeMboxrd(w *bufio.Writer, m *CorpusMessage) {
	w.WriteString("From MAILER-DAEMON " + m.Date.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n")
	data := m.Data
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			w.WriteByte('>')
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
}

func (w *CorpusWriter) closeMbox() error {
	if w.mbox == nil {
		return nil
	}
	err := w.mboxw.Flush()
	if cerr := w.mbox.Close(); err == nil {
		err = cerr
	}
	w.mbox, w.mboxw = nil, nil
	if err != nil {
		return fmt.Errorf("corpus: mbox: %w", err)
	}
	return nil
}

// Close flushes the mbox and the manifest.
func (w *CorpusWriter) Close() error {
	err := w.closeMbox()
	if ferr := w.manw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("corpus: manifest: %w", ferr)
	}
	if cerr := w.man.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("corpus: manifest: %w", cerr)
	}
	return err
}
