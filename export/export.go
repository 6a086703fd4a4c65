package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"jarchive/archive"
	"jarchive/journal"
)

// Formats of an export.
const (
	FormatMbox    = "mbox"
	FormatEMLZip  = "eml-zip"
	FormatMaildir = "maildir"
)

// Names of the files of an export (doc.go).
const (
	MboxFile     = "messages.mbox"
	ZipFile      = "messages.zip"
	MaildirDir   = "Maildir"
	ManifestJSON = "manifest.json"
	ManifestCSV  = "manifest.csv"
)

// Options of an export. Format is required; the rest describes the export
// in its manifest.
type Options struct {
	Format string
	Query  string   // the search that chose the messages
	As     []string // the search's scope (-as), empty for all messages
	By     string   // who ran it
	// Progress, if set, is called after each message with the messages
	// and bytes written so far.
	Progress func(n int, bytes int64)
}

// Manifest is manifest.json (doc.go gives the key order).
type Manifest struct {
	Version       int       `json:"version"`
	Format        string    `json:"format"`
	Query         string    `json:"query"`
	As            []string  `json:"as,omitempty"`
	By            string    `json:"by"`
	Started       time.Time `json:"started"`
	Archive       string    `json:"archive"`
	ChainHead     string    `json:"chain_head"` // the archive's log head when the export started
	Messages      []Message `json:"messages"`
	Files         []File    `json:"files"`
	Count         int       `json:"count"`
	Bytes         int64     `json:"bytes"`
	FilesetSHA256 string    `json:"fileset_sha256"`
	Finished      time.Time `json:"finished"`
}

// Message is one message of a manifest.
type Message struct {
	ID         string              `json:"id"` // hex SHA-256 of the original
	File       string              `json:"file"`
	Entry      string              `json:"entry,omitempty"`  // eml-zip: the zip entry
	Offset     int64               `json:"offset,omitempty"` // mbox: where its From_ line starts
	Length     int64               `json:"length,omitempty"` // mbox: bytes of its stretch, From_ line and blank line included
	Size       int64               `json:"size"`
	Date       time.Time           `json:"date,omitzero"`
	From       []string            `json:"from,omitempty"`
	Subject    string              `json:"subject,omitempty"`
	MessageID  string              `json:"message_id,omitempty"`
	Recipients []journal.Recipient `json:"recipients,omitempty"` // envelope recipients, with their fields
	Owners     []string            `json:"owners,omitempty"`     // the users who own it, as the directory said when it was assigned
	Sources    []archive.Source    `json:"sources,omitempty"`    // without envelope text
	// NewlineAdded (mbox): the original does not end with a newline; the
	// mbox has one more.
	NewlineAdded bool `json:"mbox_newline_added,omitempty"`
}

// File is a container file of an export, or manifest.csv.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Summary is what an export did.
type Summary struct {
	Path           string
	Count          int
	Bytes          int64
	FilesetSHA256  string
	ManifestSHA256 string
	LogSeq         uint64 // the ingest log entry recording the manifest
	Elapsed        time.Duration
}

// Export writes the messages with the given ids (the shown messages of a
// search) from the archive to the directory out, in opts.Format, with its
// manifest, and records the manifest in the archive's log. Memory stays
// bounded whatever the number and size of the messages.
func Export(ctx context.Context, a *archive.Archive, ids iter.Seq2[string, error], out string, opts Options) (*Summary, error) {
	start := time.Now()
	switch opts.Format {
	case FormatMbox, FormatEMLZip, FormatMaildir:
	default:
		return nil, fmt.Errorf("export: format %q is not one of mbox, eml-zip, maildir", opts.Format)
	}
	out = filepath.Clean(out)
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("export: %s exists; choose a new path", out)
	}
	tmp := fmt.Sprintf("%s.partial-%d", out, os.Getpid())
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	st, err := a.Stats()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	w, err := newWriter(tmp, opts)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer w.abort()
	m := &Manifest{Version: 1, Format: opts.Format, Query: opts.Query, As: opts.As, By: opts.By,
		Started: start.UTC().Truncate(time.Second), Archive: a.Dir(), ChainHead: st.ChainHead}
	if err := w.begin(m); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for id, err := range ids {
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.add(a, id); err != nil {
			return nil, fmt.Errorf("export: message %s: %w", id, err)
		}
		if opts.Progress != nil {
			opts.Progress(w.count, w.bytes)
		}
	}
	if err := w.finish(m); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ok = true
	if err := syncDir(filepath.Dir(out)); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	sum := &Summary{Path: out, Count: w.count, Bytes: w.bytes, FilesetSHA256: m.FilesetSHA256, ManifestSHA256: w.manifestSum}
	ev, _ := json.Marshal(struct {
		Path           string   `json:"path"`
		Format         string   `json:"format"`
		Query          string   `json:"query"`
		As             []string `json:"as,omitempty"`
		By             string   `json:"by"`
		Count          int      `json:"count"`
		Bytes          int64    `json:"bytes"`
		FilesetSHA256  string   `json:"fileset_sha256"`
		ManifestSHA256 string   `json:"manifest_sha256"`
	}{out, opts.Format, opts.Query, opts.As, opts.By, w.count, w.bytes, m.FilesetSHA256, w.manifestSum})
	if len(ev) > 32<<10 {
		ev, _ = json.Marshal(map[string]any{"path": out, "format": opts.Format, "count": w.count, "manifest_sha256": w.manifestSum})
	}
	if sum.LogSeq, err = a.LogEvent("export", ev); err != nil {
		return sum, fmt.Errorf("export: %s is complete but its manifest could not be recorded in the archive's log: %w", out, err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// writer writes the files of one export in its temp directory.
type writer struct {
	dir    string
	format string
	count  int
	bytes  int64

	json      *os.File
	jbuf      *bufio.Writer
	jhash     hash.Hash
	csvFile   *os.File
	csvHash   hash.Hash
	csv       *csv.Writer
	fileset   hash.Hash // over the lines of the message files (maildir)
	container *os.File
	chash     hash.Hash
	cw        *countWriter // the container, through chash
	zip       *zip.Writer
	files     []*os.File // open files, closed by abort

	manifestSum string
}

func newWriter(dir string, opts Options) (*writer, error) {
	w := &writer{dir: dir, format: opts.Format, jhash: sha256.New(), csvHash: sha256.New(), fileset: sha256.New(), chash: sha256.New()}
	var err error
	if w.json, err = w.create(ManifestJSON); err != nil {
		return nil, err
	}
	w.jbuf = bufio.NewWriterSize(io.MultiWriter(w.json, w.jhash), 64<<10)
	if w.csvFile, err = w.create(ManifestCSV); err != nil {
		return nil, err
	}
	w.csv = csv.NewWriter(bufio.NewWriterSize(io.MultiWriter(w.csvFile, w.csvHash), 64<<10))
	switch opts.Format {
	case FormatMbox, FormatEMLZip:
		name := MboxFile
		if opts.Format == FormatEMLZip {
			name = ZipFile
		}
		if w.container, err = w.create(name); err != nil {
			return nil, err
		}
		w.cw = &countWriter{w: bufio.NewWriterSize(io.MultiWriter(w.container, w.chash), 256<<10)}
		if opts.Format == FormatEMLZip {
			w.zip = zip.NewWriter(w.cw)
			w.zip.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
				return flate.NewWriter(out, flate.BestSpeed)
			})
		}
	case FormatMaildir:
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, MaildirDir, d), 0o750); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *writer) create(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	w.files = append(w.files, f)
	return f, nil
}

func (w *writer) abort() {
	for _, f := range w.files {
		f.Close()
	}
	w.files = nil
}

var csvHeader = []string{"id", "size", "date", "from", "subject", "message_id", "recipients", "owners", "sources", "file", "entry"}

// begin writes the manifest's keys before the messages.
func (w *writer) begin(m *Manifest) error {
	head, err := marshal(struct {
		Version   int       `json:"version"`
		Format    string    `json:"format"`
		Query     string    `json:"query"`
		As        []string  `json:"as,omitempty"`
		By        string    `json:"by"`
		Started   time.Time `json:"started"`
		Archive   string    `json:"archive"`
		ChainHead string    `json:"chain_head"`
	}{m.Version, m.Format, m.Query, m.As, m.By, m.Started, m.Archive, m.ChainHead})
	if err != nil {
		return err
	}
	w.jbuf.Write(head[:len(head)-1])
	w.jbuf.WriteString(",\n\"messages\":[")
	return w.csv.Write(csvHeader)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// fileName is the name of a message file: its date and id.
func fileName(rec *archive.Record) string {
	d := "nodate"
	if !rec.Header.Date.IsZero() {
		d = rec.Header.Date.UTC().Format("20060102T150405Z")
	}
	return d + "_" + rec.ID + ".eml"
}

func (w *writer) add(a *archive.Archive, id string) error {
	rec, err := a.Get(id)
	if err != nil {
		return err
	}
	body, err := a.Open(rec.ID)
	if err != nil {
		return err
	}
	defer body.Close()
	msg := Message{ID: rec.ID, Size: rec.Size, Date: rec.Header.Date, From: rec.Header.From, Subject: rec.Header.Subject,
		MessageID: rec.Header.MessageID, Recipients: rec.Recipients, Owners: rec.Owners}
	if msg.MessageID == "" {
		msg.MessageID = rec.MessageID
	}
	for _, s := range rec.Sources {
		s.Envelope = ""
		msg.Sources = append(msg.Sources, s)
	}
	h := sha256.New()
	var n int64
	switch w.format {
	case FormatMbox:
		msg.File = MboxFile
		msg.Offset = w.cw.n
		n, msg.NewlineAdded, err = writeMboxrd(w.cw, io.TeeReader(body, h), rec)
		msg.Length = w.cw.n - msg.Offset
	case FormatEMLZip:
		msg.File = ZipFile
		msg.Entry = fileName(rec)
		var zw io.Writer
		zw, err = w.zip.CreateHeader(&zip.FileHeader{Name: msg.Entry, Method: zip.Deflate, Modified: zipTime(rec)})
		if err == nil {
			n, err = io.Copy(zw, io.TeeReader(body, h))
		}
	case FormatMaildir:
		name := maildirName(rec)
		msg.File = MaildirDir + "/cur/" + name
		n, err = writeFile(filepath.Join(w.dir, MaildirDir, "cur", name), io.TeeReader(body, h))
		if err == nil {
			fmt.Fprintf(w.fileset, "%s  %s\n", rec.ID, msg.File)
		}
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.ID || n != rec.Size {
		return fmt.Errorf("the archive gave %d bytes hashing to %s; want %d bytes (run jarchive verify -read-data)", n, got, rec.Size)
	}
	js, err := marshal(&msg)
	if err != nil {
		return err
	}
	if w.count > 0 {
		w.jbuf.WriteByte(',')
	}
	w.jbuf.WriteString("\n")
	w.jbuf.Write(js)
	if err := w.csv.Write(csvRow(&msg)); err != nil {
		return err
	}
	w.count++
	w.bytes += n
	return nil
}

func zipTime(rec *archive.Record) time.Time {
	if !rec.Header.Date.IsZero() {
		return rec.Header.Date.UTC()
	}
	return rec.Added.UTC()
}

func maildirName(rec *archive.Record) string {
	t := rec.Header.Date
	if t.IsZero() || t.Unix() < 0 {
		t = rec.Added
	}
	return strconv.FormatInt(t.Unix(), 10) + "." + rec.ID + ".jarchive:2,S"
}

func csvRow(m *Message) []string {
	date := ""
	if !m.Date.IsZero() {
		date = m.Date.UTC().Format(time.RFC3339)
	}
	rcpts := make([]string, len(m.Recipients))
	for i, r := range m.Recipients {
		rcpts[i] = r.Field + ":" + r.Addr
		if r.ExpandedFrom != "" {
			rcpts[i] += " (expanded from " + r.ExpandedFrom + ")"
		}
		if r.ForwardedFrom != "" {
			rcpts[i] += " (forwarded from " + r.ForwardedFrom + ")"
		}
	}
	srcs := make([]string, len(m.Sources))
	for i, s := range m.Sources {
		switch {
		case s.Path != "":
			srcs[i] = s.Account + ":" + s.Path
		case s.UIDL != "":
			srcs[i] = s.Account + ":pop3:" + s.UIDL
		default:
			srcs[i] = fmt.Sprintf("%s:%s:%d:%d", s.Account, s.Mailbox, s.UIDValidity, s.UID)
		}
	}
	return []string{m.ID, strconv.FormatInt(m.Size, 10), date, strings.Join(m.From, "; "), m.Subject, m.MessageID,
		strings.Join(rcpts, "; "), strings.Join(m.Owners, "; "), strings.Join(srcs, "; "), m.File, m.Entry}
}

// finish closes the containers and manifest.csv, then completes and
// closes manifest.json, everything fsynced.
func (w *writer) finish(m *Manifest) error {
	var files []File
	if w.zip != nil {
		if err := w.zip.Close(); err != nil {
			return err
		}
	}
	if w.container != nil {
		if err := w.cw.w.Flush(); err != nil {
			return err
		}
		if err := syncClose(w.container); err != nil {
			return err
		}
		files = append(files, File{Name: filepath.Base(w.container.Name()), Size: w.cw.n, SHA256: hex.EncodeToString(w.chash.Sum(nil))})
	}
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return err
	}
	st, err := w.csvFile.Stat()
	if err != nil {
		return err
	}
	if err := syncClose(w.csvFile); err != nil {
		return err
	}
	files = append(files, File{Name: ManifestCSV, Size: st.Size(), SHA256: hex.EncodeToString(w.csvHash.Sum(nil))})
	for _, f := range files {
		fmt.Fprintf(w.fileset, "%s  %s\n", f.SHA256, f.Name)
	}
	m.Files, m.Count, m.Bytes = files, w.count, w.bytes
	m.FilesetSHA256 = hex.EncodeToString(w.fileset.Sum(nil))
	m.Finished = time.Now().UTC().Truncate(time.Second)
	tail, err := marshal(struct {
		Files         []File    `json:"files"`
		Count         int       `json:"count"`
		Bytes         int64     `json:"bytes"`
		FilesetSHA256 string    `json:"fileset_sha256"`
		Finished      time.Time `json:"finished"`
	}{m.Files, m.Count, m.Bytes, m.FilesetSHA256, m.Finished})
	if err != nil {
		return err
	}
	w.jbuf.WriteString("\n],\n")
	w.jbuf.Write(tail[1:])
	w.jbuf.WriteString("\n")
	if err := w.jbuf.Flush(); err != nil {
		return err
	}
	w.manifestSum = hex.EncodeToString(w.jhash.Sum(nil))
	return syncClose(w.json)
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFile(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		return n, err
	}
	return n, syncClose(f)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
