package archive

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"

	"jarchive/journal"
)

// recipientKey is what makes two envelope recipients the same: the field,
// and the normalised address and annotations (journal.NormalizeAddr), so
// that "Ben <BEN@Contoso.com>" and "ben@contoso.com" are one recipient.
type recipientKey struct{ addr, field, expanded, forwarded string }

func keyOf(r *journal.Recipient) recipientKey {
	norm := func(s string) string {
		if s == "" {
			return ""
		}
		n, _ := normalizeAddr(s)
		return n
	}
	return recipientKey{norm(r.Addr), r.Field, norm(r.ExpandedFrom), norm(r.ForwardedFrom)}
}

// unionRecipients returns a with the recipients of b that it lacks
// appended, in order of first appearance. Addresses stay as first written.
func unionRecipients(a, b []journal.Recipient) []journal.Recipient {
	if len(b) == 0 {
		return a
	}
	seen := make(map[recipientKey]bool, len(a)+len(b))
	out := make([]journal.Recipient, 0, len(a)+len(b))
	for _, r := range a {
		if k := keyOf(&r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for _, r := range b {
		if k := keyOf(&r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// marshalRecord encodes a record as stored (packJSON of its JSON,
// without HTML escaping) and returns the value and the digest of the JSON,
// which the record's log entry holds (recordDigest).
func marshalRecord(rec *Record) (v []byte, digest [32]byte, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, digest, err
	}
	js := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return packJSON(js), recordDigest(js), nil
}

// unmarshalRecord decodes the stored value v of the record with key k.
func unmarshalRecord(k, v []byte) (*Record, error) {
	rec := &Record{}
	if err := decodeValue(v, rec); err != nil {
		return nil, fmt.Errorf("message %x: record: %w", k, err)
	}
	rec.ID = hex.EncodeToString(k)
	return rec, nil
}

// decodeValue unmarshals the JSON of a value stored by packJSON (a record,
// or a log entry after its hash) into x, decompressing into a pooled
// buffer.
func decodeValue(v []byte, x any) error {
	buf := recordBufs.Get().(*[]byte)
	js, err := recordJSON(v, buf)
	if err == nil {
		err = json.Unmarshal(js, x) // copies every string out of js
	}
	if cap(*buf) <= 1<<20 {
		recordBufs.Put(buf)
	}
	return err
}

// recordJSON returns the JSON of the stored record value v: v itself, or v
// decompressed into *buf, which it grows, so the result is valid until the
// next use of buf. (Never into v: bbolt's values are its read-only memory
// map.)
func recordJSON(v []byte, buf *[]byte) ([]byte, error) {
	if len(v) > 0 && v[0] == '{' {
		return v, nil
	}
	js, err := unpackJSON(v, (*buf)[:0])
	if err == nil {
		*buf = js[:0]
	}
	return js, err
}

// recordBufs hold the JSON of compressed values being decoded.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// Record values and the JSON of log entries (doc.go) are the JSON as it
// is, or, from packMin bytes on and when it is smaller, a zstd frame of it
// (no dictionary). The first byte tells them apart: '{', or 0x28 of the
// zstd magic 28 b5 2f fd. Archives written before values were compressed
// hold JSON only; it is read as it is, and a record is compressed when it
// next changes.

// packMin is the JSON size from which a value is compressed: below it, a
// frame's 13 bytes of header and checksum eat the gain. (A variable: tests
// write values as earlier versions did.)
var packMin = 128

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxRecordJSON bounds what a value may decompress to, so that a
// damaged or crafted meta.db fails a read instead of exhausting memory.
const maxRecordJSON = 256 << 20

// recordEncoder and recordDecoder are shared: EncodeAll and DecodeAll are
// safe for concurrent use and keep one set of state per concurrent call,
// up to GOMAXPROCS, reused across calls. The fastest level: on the records
// and log entries of the benchmark import (2.9 KB and 0.8 KB of JSON on
// average) it took 8 µs a value where the default took 10, for 0.28 of
// the JSON of records and 0.56 of log entries against 0.27 and 0.55.
var recordEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(fmt.Sprintf("zstd record encoder: %v", err)) // only for bad options
	}
	return e
})

var recordDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(maxRecordJSON))
	if err != nil {
		panic(fmt.Sprintf("zstd record decoder: %v", err))
	}
	return d
})

// packJSON returns the stored form of the JSON js of a record or a log
// entry.
func packJSON(js []byte) []byte {
	if len(js) < packMin {
		return js
	}
	z := recordEncoder().EncodeAll(js, make([]byte, 0, len(js)/3+64))
	if len(z) >= len(js) {
		return js
	}
	return z
}

// unpackJSON returns the JSON of a value stored by packJSON: v itself,
// or v decompressed, appended to buf.
func unpackJSON(v, buf []byte) ([]byte, error) {
	switch {
	case len(v) > 0 && v[0] == '{':
		return v, nil
	case bytes.HasPrefix(v, zstdMagic):
		js, err := recordDecoder().DecodeAll(v, buf)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		if len(js) == 0 || js[0] != '{' {
			return nil, errors.New("decompressed to no JSON object")
		}
		return js, nil
	default:
		return nil, errors.New("neither JSON nor a zstd frame")
	}
}
