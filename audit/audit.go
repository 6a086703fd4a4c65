package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File is the name of the audit log in the archive directory; HeadFile
// the name of its head.
const (
	File     = "audit.log"
	HeadFile = "audit.log.head"
)

// Actions recorded.
const (
	ActionLogin       = "login"
	ActionLogout      = "logout"
	ActionSearch      = "search"
	ActionView        = "view"         // a message's page or metadata
	ActionDownload    = "download"     // the raw message
	ActionAttachment  = "attachment"   // an attachment
	ActionExport      = "export"       // a result set
	ActionAudit       = "audit-read"   // the audit trail itself
	ActionAccounts    = "accounts"     // the accounts and directory status
	ActionTokenCreate = "token-create" // an API token
	ActionTokenRevoke = "token-revoke"
	ActionStats       = "stats"
	ActionAccess      = "access" // a request refused before its handler: role, CSRF token
)

// Outcomes.
const (
	Success  = "success"
	Failure  = "failure"
	Denied   = "denied"
	NotFound = "not found"
)

// zeroHash is the prev of the first record.
var zeroHash = strings.Repeat("0", 64)

// Entry is what the caller records.
type Entry struct {
	Actor   string
	Role    string
	Remote  string
	Action  string
	Target  string
	Outcome string
	Detail  string
}

// Record is one line of the log. The field order is the line's key order,
// which the hash covers.
type Record struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Role    string    `json:"role"`
	Remote  string    `json:"remote"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash,omitempty"`
}

// hashOf returns the hash of r: of its line without the hash key.
func hashOf(r Record) (string, error) {
	r.Hash = ""
	b, err := marshal(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// marshal writes r as one line without the newline; HTML characters are
// not escaped, so the line is what a reader sees.
func marshal(r Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	path string
	seq  uint64
	head string
	size int64 // where the log ends, as of this Log's last read or write
	now  func() time.Time
}

// maxLine bounds a record line when reading.
const maxLine = 1 << 20

// Open opens the log at path, creating it (mode 0600) if needed, and reads
// it to find the end of the chain. A last line without its newline (an
// append cut short by a crash, never reported) is cut off. Open does not
// check the chain: Verify does. Several processes may have a log open:
// each append takes an flock(2) and first reads what the others appended.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{f: f, path: path, head: zeroHash, now: time.Now}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit %s: lock: %w", path, err)
	}
	defer unlock()
	if err := l.sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := l.writeHead(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// sync reads the end of the chain again when the file is not where this
// Log left it (another process appended), and cuts off a partial last
// line. Callers hold the file lock.
func (l *Log) sync() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit %s: %w", l.path, err)
	}
	if fi.Size() == l.size && l.size > 0 {
		return nil
	}
	l.seq, l.head = 0, zeroHash
	good, err := l.scan()
	if err != nil {
		return fmt.Errorf("audit %s: %w", l.path, err)
	}
	if fi.Size() > good {
		if err := l.f.Truncate(good); err != nil {
			return fmt.Errorf("audit %s: cut off a partial last record: %w", l.path, err)
		}
	}
	l.size = good
	return nil
}

// scan reads the last complete record and returns the offset after it.
func (l *Log) scan() (int64, error) {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(l.f, 64<<10)
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it.
			rest := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(rest) < maxLine {
				line, err = br.ReadSlice('\n')
				rest = append(rest, line...)
			}
			line = rest
		}
		if err == io.EOF {
			return off, nil // a partial last line, if any, is not counted
		}
		if err != nil {
			return off, err
		}
		off += int64(len(line))
		var r Record
		if json.Unmarshal(line, &r) == nil && r.Seq > 0 {
			l.seq, l.head = r.Seq, r.Hash
		}
	}
}

// Append adds a record for e and returns it once it is on disk.
func (l *Log) Append(e Entry) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return Record{}, errors.New("audit: log is closed")
	}
	unlock, err := lockFile(l.f)
	if err != nil {
		return Record{}, fmt.Errorf("audit %s: lock: %w", l.path, err)
	}
	defer unlock()
	if err := l.sync(); err != nil {
		return Record{}, err
	}
	r := Record{Seq: l.seq + 1, Time: l.now().UTC().Truncate(time.Millisecond), Actor: e.Actor, Role: e.Role,
		Remote: e.Remote, Action: e.Action, Target: e.Target, Outcome: e.Outcome, Detail: e.Detail, Prev: l.head}
	h, err := hashOf(r)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	r.Hash = h
	b, err := marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	n, err := l.f.Write(append(b, '\n'))
	if err != nil {
		l.size = -1 // read it again
		return Record{}, fmt.Errorf("audit %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		l.size = -1
		return Record{}, fmt.Errorf("audit %s: %w", l.path, err)
	}
	l.seq, l.head, l.size = r.Seq, r.Hash, l.size+int64(n)
	if err := l.writeHead(); err != nil {
		return r, err
	}
	return r, nil
}

// writeHead records the head of the chain beside the log.
func (l *Log) writeHead() error {
	path := filepath.Join(filepath.Dir(l.path), filepath.Base(l.path)+".head")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %s\n", l.seq, l.head)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}

// Head returns the sequence number and hash of the last record (0 and 64
// zeros for an empty log).
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Path returns the log's file name.
func (l *Log) Path() string { return l.path }

// Close closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Tail returns the last n records of the log at path (all for n <= 0),
// newest first, and the number of records in the log. Lines that do not
// parse are skipped (Verify reports them).
func Tail(path string, n int) ([]Record, int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var ring []Record
	total := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		total++
		ring = append(ring, r)
		if n > 0 && len(ring) > 2*n {
			ring = append(ring[:0], ring[len(ring)-n:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("audit %s: %w", path, err)
	}
	if n > 0 && len(ring) > n {
		ring = ring[len(ring)-n:]
	}
	for i, j := 0, len(ring)-1; i < j; i, j = i+1, j-1 {
		ring[i], ring[j] = ring[j], ring[i]
	}
	return ring, total, nil
}

// ProblemKind is what is wrong with a record.
type ProblemKind string

const (
	ProblemMalformed ProblemKind = "malformed" // a line that is not a record
	ProblemEdited    ProblemKind = "edited"    // its hash does not match its content
	ProblemDeleted   ProblemKind = "deleted"   // records are missing before it
	ProblemReordered ProblemKind = "reordered" // it comes after a record it should precede, or repeats one
	ProblemTruncated ProblemKind = "truncated" // the log ends before its head, or with a partial line
)

// Problem is one finding of Verify.
type Problem struct {
	Line int         // 1-based line of the log; 0 for the log as a whole
	Seq  uint64      // the record's seq, when it could be read
	Kind ProblemKind //
	Msg  string
}

func (p Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("audit log: %s: %s", p.Kind, p.Msg)
	}
	return fmt.Sprintf("audit log line %d (seq %d): %s: %s", p.Line, p.Seq, p.Kind, p.Msg)
}

// Report is the result of Verify.
type Report struct {
	Records  int
	Head     uint64 // seq of the last record
	Problems []Problem

	lastHash string
}

// Verify checks the log at path: every record's hash, the chain of seq
// and prev, and the end of the log against its head file. A missing log
// is not a problem (nothing was ever recorded) unless its head names
// records. The error is for a log that cannot be read at all.
func Verify(path string) (*Report, error) {
	rep := &Report{}
	headSeq, headHash, headErr := readHead(path + ".head")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if headErr == nil && headSeq > 0 {
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemTruncated, Msg: fmt.Sprintf("the log is missing; its head names record %d", headSeq)})
		}
		return rep, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("audit %s: %w", path, err)
	}
	verifyData(data, rep)
	switch {
	case headErr != nil && !errors.Is(headErr, os.ErrNotExist):
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemMalformed, Msg: fmt.Sprintf("head file: %v", headErr)})
	case headErr == nil && rep.Head < headSeq:
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemTruncated,
			Msg: fmt.Sprintf("the log ends at record %d; its head names record %d (records at the end were deleted)", rep.Head, headSeq)})
	case headErr == nil && headSeq > 0 && rep.Head == headSeq && rep.lastHash != headHash:
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemEdited, Seq: headSeq,
			Msg: "the last record's hash is not the one in the head file"})
	}
	return rep, nil
}

// verifyData checks the chain in data.
func verifyData(data []byte, rep *Report) {
	type line struct {
		n    int
		text []byte
		r    Record
	}
	var lines []line
	seen := map[uint64]bool{}
	hashes := map[uint64]string{0: zeroHash} // the first line of each seq
	for n := 1; len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			rep.Problems = append(rep.Problems, Problem{Line: n, Kind: ProblemTruncated, Msg: "the last line has no newline (an append cut short)"})
			break
		}
		text := data[:i]
		data = data[i+1:]
		var r Record
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || r.Seq == 0 {
			msg := "not a record"
			if err != nil {
				msg = err.Error()
			}
			rep.Problems = append(rep.Problems, Problem{Line: n, Kind: ProblemMalformed, Msg: msg})
			continue
		}
		lines = append(lines, line{n, text, r})
		seen[r.Seq] = true
		if _, ok := hashes[r.Seq]; !ok {
			hashes[r.Seq] = r.Hash
		}
	}
	// present reports whether every record from a to b is somewhere in
	// the log (so that they are out of order rather than deleted).
	present := func(a, b uint64) bool {
		if b-a > uint64(len(lines)) {
			return false
		}
		for s := a; ; s++ { // not s <= b: b may be the largest uint64
			if !seen[s] {
				return false
			}
			if s == b {
				return true
			}
		}
	}
	want := uint64(1)
	for _, l := range lines {
		r := l.r
		rep.Records++
		add := func(kind ProblemKind, msg string) {
			rep.Problems = append(rep.Problems, Problem{Line: l.n, Seq: r.Seq, Kind: kind, Msg: msg})
		}
		h, err := hashOf(r)
		if err != nil || h != r.Hash {
			add(ProblemEdited, "its hash does not match its content")
		} else if b, _ := marshal(r); !bytes.Equal(b, l.text) {
			add(ProblemEdited, "the line is not in its canonical form")
		}
		switch {
		case r.Seq > want && present(want, r.Seq-1):
			add(ProblemReordered, fmt.Sprintf("expected record %d here", want))
		case r.Seq > want:
			add(ProblemDeleted, fmt.Sprintf("records %d to %d are missing", want, r.Seq-1))
		case r.Seq < want:
			add(ProblemReordered, fmt.Sprintf("expected record %d here", want))
		case r.Prev != hashes[r.Seq-1]:
			add(ProblemEdited, "prev is not the hash of the record before")
		}
		if r.Seq >= want && r.Seq < math.MaxUint64 {
			want = r.Seq + 1
		}
		rep.lastHash = r.Hash
		rep.Head = max(rep.Head, r.Seq)
	}
}

// readHead reads a head file.
func readHead(path string) (uint64, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("%q is not \"SEQ HASH\"", strings.TrimSpace(string(b)))
	}
	seq, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%q is not \"SEQ HASH\"", strings.TrimSpace(string(b)))
	}
	return seq, f[1], nil
}
