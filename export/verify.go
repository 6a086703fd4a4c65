package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Problem is one way an export differs from its manifest.
type Problem struct {
	File   string `json:"file"`         // the file, relative to the export
	ID     string `json:"id,omitempty"` // the message, when one is known
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	if p.ID != "" {
		return fmt.Sprintf("%s: message %s: %s", p.File, p.ID, p.Detail)
	}
	return p.File + ": " + p.Detail
}

// Report is the result of Verify.
type Report struct {
	Format         string    `json:"format"`
	Count          int       `json:"count"`
	Bytes          int64     `json:"bytes"`
	FilesetSHA256  string    `json:"fileset_sha256"`
	ManifestSHA256 string    `json:"manifest_sha256"` // compare with the archive's log (kind "export")
	Problems       []Problem `json:"problems"`
}

// Clean reports whether the export matches its manifest.
func (r *Report) Clean() bool { return len(r.Problems) == 0 }

// Verify re-hashes the export in dir against its manifest: every file of
// the set, every message (for mbox and eml-zip inside their container),
// the file set digest and the counts. It returns an error only when the
// manifest cannot be read; differences are Problems, each naming its file.
// Memory stays bounded whatever the size of the export.
func Verify(dir string) (*Report, error) {
	mf, err := os.Open(filepath.Join(dir, ManifestJSON))
	if err != nil {
		return nil, fmt.Errorf("verify export: %w", err)
	}
	defer mf.Close()
	mh := sha256.New()
	dec := json.NewDecoder(io.TeeReader(bufio.NewReaderSize(mf, 64<<10), mh))
	rep := &Report{}
	add := func(p Problem) { rep.Problems = append(rep.Problems, p) }
	fileset := sha256.New()
	var m Manifest
	var zr *zip.ReadCloser
	defer func() {
		if zr != nil {
			zr.Close()
		}
	}()
	var mbox *os.File
	defer func() {
		if mbox != nil {
			mbox.Close()
		}
	}()
	var count int
	var total int64
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("verify export: %s: not a manifest", ManifestJSON)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("verify export: %s: %w", ManifestJSON, err)
		}
		key, _ := t.(string)
		switch key {
		case "format":
			err = dec.Decode(&m.Format)
		case "messages":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return nil, fmt.Errorf("verify export: %s: messages is not an array", ManifestJSON)
			}
			for dec.More() {
				var msg Message
				if err := dec.Decode(&msg); err != nil {
					return nil, fmt.Errorf("verify export: %s: message %d: %w", ManifestJSON, count+1, err)
				}
				count++
				total += msg.Size
				switch m.Format {
				case FormatMaildir:
					fmt.Fprintf(fileset, "%s  %s\n", msg.ID, msg.File)
					checkFile(dir, &msg, add)
				case FormatEMLZip:
					if zr == nil {
						if zr, err = zip.OpenReader(filepath.Join(dir, ZipFile)); err != nil {
							add(Problem{File: ZipFile, Detail: fmt.Sprintf("cannot read: %v", err)})
							zr = &zip.ReadCloser{}
						}
					}
					checkZipEntry(zr, &msg, add)
				case FormatMbox:
					if mbox == nil {
						if mbox, err = os.Open(filepath.Join(dir, MboxFile)); err != nil {
							return nil, fmt.Errorf("verify export: %w", err)
						}
					}
					checkMbox(mbox, &msg, add)
				default:
					return nil, fmt.Errorf("verify export: %s: format %q is not one of mbox, eml-zip, maildir", ManifestJSON, m.Format)
				}
			}
			_, err = dec.Token()
		case "files":
			err = dec.Decode(&m.Files)
		case "count":
			err = dec.Decode(&m.Count)
		case "bytes":
			err = dec.Decode(&m.Bytes)
		case "fileset_sha256":
			err = dec.Decode(&m.FilesetSHA256)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("verify export: %s: %s: %w", ManifestJSON, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("verify export: %s: %w", ManifestJSON, err)
	}
	io.Copy(io.Discard, dec.Buffered())
	io.Copy(mh, mf) // the rest of the file, for its digest
	rep.Format, rep.Count, rep.Bytes, rep.FilesetSHA256 = m.Format, m.Count, m.Bytes, m.FilesetSHA256
	rep.ManifestSHA256 = hex.EncodeToString(mh.Sum(nil))
	if count != m.Count || total != m.Bytes {
		add(Problem{File: ManifestJSON, Detail: fmt.Sprintf("lists %d messages of %d bytes; its count says %d of %d", count, total, m.Count, m.Bytes)})
	}
	for _, f := range m.Files {
		sum, size, err := hashFile(filepath.Join(dir, f.Name))
		switch {
		case err != nil:
			add(Problem{File: f.Name, Detail: fmt.Sprintf("cannot read: %v", err)})
		case size != f.Size:
			add(Problem{File: f.Name, Detail: fmt.Sprintf("%d bytes; the manifest says %d", size, f.Size)})
		case sum != f.SHA256:
			add(Problem{File: f.Name, Detail: fmt.Sprintf("SHA-256 %s; the manifest says %s", sum, f.SHA256)})
		}
		fmt.Fprintf(fileset, "%s  %s\n", f.SHA256, f.Name)
	}
	if got := hex.EncodeToString(fileset.Sum(nil)); got != m.FilesetSHA256 {
		add(Problem{File: ManifestJSON, Detail: fmt.Sprintf("the file set hashes to %s; the manifest says %s", got, m.FilesetSHA256)})
	}
	if m.Format == FormatMaildir {
		n := 0
		for _, d := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(dir, MaildirDir, d))
			n += len(ents)
		}
		if n != count {
			add(Problem{File: MaildirDir, Detail: fmt.Sprintf("holds %d files; the manifest lists %d", n, count)})
		}
	}
	return rep, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func checkSum(h hash.Hash, n int64, file string, msg *Message, add func(Problem)) {
	if got := hex.EncodeToString(h.Sum(nil)); n != msg.Size || got != msg.ID {
		add(Problem{File: file, ID: msg.ID, Detail: fmt.Sprintf("%d bytes hashing to %s; want %d bytes", n, got, msg.Size)})
	}
}

func checkFile(dir string, msg *Message, add func(Problem)) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(msg.File)))
	if err != nil {
		add(Problem{File: msg.File, ID: msg.ID, Detail: fmt.Sprintf("cannot read: %v", err)})
		return
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		add(Problem{File: msg.File, ID: msg.ID, Detail: fmt.Sprintf("cannot read: %v", err)})
		return
	}
	checkSum(h, n, msg.File, msg, add)
}

func checkZipEntry(zr *zip.ReadCloser, msg *Message, add func(Problem)) {
	name := ZipFile + ":" + msg.Entry
	for _, f := range zr.File {
		if f.Name != msg.Entry {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			add(Problem{File: name, ID: msg.ID, Detail: fmt.Sprintf("cannot read: %v", err)})
			return
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if err != nil {
			add(Problem{File: name, ID: msg.ID, Detail: fmt.Sprintf("cannot read: %v", err)})
			return
		}
		checkSum(h, n, name, msg, add)
		return
	}
	if len(zr.File) > 0 {
		add(Problem{File: name, ID: msg.ID, Detail: "missing from the zip file"})
	}
}

// checkMbox reads a message's stretch of the mbox back into the original
// (From_ line and final blank line dropped, mboxrd quoting removed, an
// added newline dropped) and hashes it.
func checkMbox(f *os.File, msg *Message, add func(Problem)) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, msg.Offset, msg.Length), 64<<10)
	first, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(first, from) {
		add(Problem{File: MboxFile, ID: msg.ID, Detail: fmt.Sprintf("no From_ line at offset %d", msg.Offset)})
		return
	}
	trail := int64(1) // the blank line
	if msg.NewlineAdded {
		trail = 2
	}
	body := msg.Length - int64(len(first)) - trail
	start := msg.Offset + int64(len(first))
	br = bufio.NewReaderSize(io.NewSectionReader(f, start, max(body, 0)), 64<<10)
	h := sha256.New()
	var n, read int64
	atStart := true
	for read < body {
		frag, err := br.ReadSlice('\n')
		if int64(len(frag)) > body-read {
			frag = frag[:body-read]
		}
		read += int64(len(frag))
		out := frag
		if atStart {
			out = unquoteMboxrd(frag)
		}
		h.Write(out)
		n += int64(len(out))
		if len(frag) > 0 {
			atStart = frag[len(frag)-1] == '\n'
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	rest, _ := io.ReadAll(io.NewSectionReader(f, start+body, trail))
	if want := "\n\n"[:trail]; string(rest) != want {
		add(Problem{File: MboxFile, ID: msg.ID, Detail: fmt.Sprintf("the message at offset %d does not end as written", msg.Offset)})
		return
	}
	checkSum(h, n, MboxFile, msg, add)
}
