package pdftext

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/ascii85"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// file is a parsed PDF: its indirect objects by number, found by scanning
// for "N G obj" rather than through the cross-reference table (which is
// often wrong in mail attachments), and those in object streams.
type file struct {
	ctx     context.Context
	objs    map[int]any
	decoded int64 // bytes of streams decoded so far, against maxDecoded
	cmaps   map[*stream]cmap
}

type cmap struct {
	m       map[uint32]string
	twoByte bool
	err     error
}

// maxDecoded bounds the bytes of streams decoded (decompressed or not)
// from one file: a zip bomb, or one stream referenced many times, stops
// here.
const maxDecoded = 64 << 20

var objHeader = regexp.MustCompile(`(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj\b`)

// parse reads the objects of data. A file with two objects of one number
// (an incremental update) or an /Encrypt dictionary is unsupported.
func parse(ctx context.Context, data []byte) (*file, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], " \t\r\n\x00"), []byte("%PDF-")) {
		return nil, fmt.Errorf("%w: not a PDF", ErrUnsupported)
	}
	f := &file{ctx: ctx, objs: map[int]any{}, cmaps: map[*stream]cmap{}}
	var objStms []*stream
	pos := 0
	lexed, budget := 0, 4*len(data)+1<<20 // bytes read by the lexer: linear in the file
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := objHeader.FindSubmatchIndex(data[pos:])
		if m == nil {
			break
		}
		num, _ := strconv.Atoi(string(data[pos+m[2] : pos+m[3]]))
		l := &lexer{b: data, pos: pos + m[1]}
		o, err := l.object(false)
		if lexed += l.pos - (pos + m[1]); lexed > budget {
			return nil, fmt.Errorf("%w: objects that do not end", ErrUnsupported)
		}
		if err != nil {
			if l.pos >= len(data) {
				break // unterminated: nothing after it can parse either
			}
			pos += m[1]
			continue // a false match, or a broken object: skip it
		}
		if d, ok := o.(dict); ok {
			if s, end, ok := streamAfter(data, l.pos, d, f); ok {
				o = s
				l.pos = end
				if d["Type"] == name("ObjStm") {
					objStms = append(objStms, s)
				}
			}
			if _, enc := d["Encrypt"]; enc {
				return nil, fmt.Errorf("%w: encrypted", ErrUnsupported)
			}
		}
		if _, dup := f.objs[num]; dup {
			return nil, fmt.Errorf("%w: object %d defined twice (an incremental update)", ErrUnsupported, num)
		}
		f.objs[num] = o
		pos = l.pos
	}
	if bytes.Contains(data, []byte("/Encrypt")) {
		return nil, fmt.Errorf("%w: encrypted", ErrUnsupported)
	}
	for _, s := range objStms {
		if err := f.readObjStm(s); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// streamAfter reads the stream that follows dictionary d at pos, if any;
// end is the position after "endstream".
func streamAfter(data []byte, pos int, d dict, f *file) (s *stream, end int, ok bool) {
	l := &lexer{b: data, pos: pos}
	l.skipSpace()
	if !bytes.HasPrefix(data[l.pos:], []byte("stream")) {
		return nil, 0, false
	}
	start := l.pos + len("stream")
	if start < len(data) && data[start] == '\r' {
		start++
	}
	if start < len(data) && data[start] == '\n' {
		start++
	}
	// /Length, when direct and right; else up to "endstream".
	if n, ok := d["Length"].(float64); ok && n >= 0 && n <= float64(len(data)-start) {
		e := start + int(n)
		rest := bytes.TrimLeft(data[e:min(len(data), e+16)], " \r\n\t")
		if bytes.HasPrefix(rest, []byte("endstream")) {
			return &stream{dict: d, raw: data[start:e]}, e + bytes.Index(data[e:], []byte("endstream")) + len("endstream"), true
		}
	}
	i := bytes.Index(data[start:], []byte("endstream"))
	if i < 0 {
		return &stream{dict: d, raw: data[start:]}, len(data), true
	}
	raw := data[start : start+i]
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	return &stream{dict: d, raw: raw}, start + i + len("endstream"), true
}

// readObjStm adds the objects of an object stream (7.5.7).
func (f *file) readObjStm(s *stream) error {
	data, err := f.decode(s)
	if err != nil {
		return err
	}
	n, _ := s.dict["N"].(float64)
	first, _ := s.dict["First"].(float64)
	if n < 0 || n > float64(len(data)) || first < 0 || first > float64(len(data)) {
		return fmt.Errorf("%w: object stream header", errSyntax)
	}
	l := &lexer{b: data[:int(first)]}
	type entry struct{ num, off int }
	var entries []entry
	for range int(n) {
		a, err1 := l.object(true)
		b, err2 := l.object(true)
		num, ok1 := a.(float64)
		off, ok2 := b.(float64)
		if err1 != nil || err2 != nil || !ok1 || !ok2 || num < 0 || num > 1e9 || off < 0 || off > float64(len(data)) {
			return fmt.Errorf("%w: object stream header", errSyntax)
		}
		if len(entries) > 0 && int(off) <= entries[len(entries)-1].off {
			return fmt.Errorf("%w: object stream offsets out of order", errSyntax)
		}
		entries = append(entries, entry{int(num), int(off)})
	}
	for i, e := range entries {
		p, end := int(first)+e.off, len(data)
		if i+1 < len(entries) {
			end = int(first) + entries[i+1].off
		}
		if p >= end || end > len(data) {
			return fmt.Errorf("%w: object stream offset", errSyntax)
		}
		// Each object within its own bytes: read once.
		o, err := (&lexer{b: data[:end], pos: p}).object(false)
		if err != nil {
			return err
		}
		if _, dup := f.objs[e.num]; dup {
			return fmt.Errorf("%w: object %d defined twice (an incremental update)", ErrUnsupported, e.num)
		}
		f.objs[e.num] = o
	}
	return nil
}

// resolve follows references (a few levels: chains are rare, cycles
// possible).
func (f *file) resolve(o any) any {
	for range 8 {
		r, ok := o.(ref)
		if !ok {
			return o
		}
		o = f.objs[r.num]
	}
	return nil
}

func (f *file) dict(o any) dict {
	switch v := f.resolve(o).(type) {
	case dict:
		return v
	case *stream:
		return v.dict
	}
	return nil
}

func (f *file) array(o any) []any {
	a, _ := f.resolve(o).([]any)
	return a
}

func (f *file) number(o any) (float64, bool) {
	n, ok := f.resolve(o).(float64)
	return n, ok
}

// decode returns the data of a stream after its filters: none or
// FlateDecode without a predictor (content streams, object streams and
// CMaps are nearly always that); others are unsupported.
func (f *file) decode(s *stream) ([]byte, error) {
	var filters []any
	switch v := f.resolve(s.dict["Filter"]).(type) {
	case nil:
	case name:
		filters = []any{v}
	case []any:
		filters = v
	default:
		return nil, fmt.Errorf("%w: filter %v", errSyntax, v)
	}
	data := s.raw
	if f.decoded += int64(len(data)); f.decoded > maxDecoded {
		return nil, fmt.Errorf("%w: more than %d bytes of streams", ErrUnsupported, maxDecoded)
	}
	for i, fl := range filters {
		fn, _ := f.resolve(fl).(name)
		switch fn {
		case "FlateDecode", "Fl":
			if parms := f.parms(s.dict, i); parms != nil {
				if p, _ := f.number(parms["Predictor"]); p > 1 {
					return nil, fmt.Errorf("%w: flate predictor %v", ErrUnsupported, p)
				}
			}
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%w: flate: %v", errSyntax, err)
			}
			var out bytes.Buffer
			n, err := io.Copy(&out, io.LimitReader(zr, maxDecoded-f.decoded+1))
			f.decoded += n
			if f.decoded > maxDecoded {
				return nil, fmt.Errorf("%w: more than %d bytes of streams", ErrUnsupported, maxDecoded)
			}
			if err != nil && out.Len() == 0 {
				return nil, fmt.Errorf("%w: flate: %v", errSyntax, err)
			}
			// A truncated stream keeps what inflated, as readers do.
			data = out.Bytes()
		case "ASCII85Decode", "A85":
			if i := bytes.Index(data, []byte("~>")); i >= 0 {
				data = data[:i]
			}
			in := bytes.TrimPrefix(bytes.TrimSpace(data), []byte("<~"))
			out := make([]byte, 4*len(in)+8) // "z" is 4 bytes
			n, _, err := ascii85.Decode(out, in, true)
			if err != nil {
				return nil, fmt.Errorf("%w: ascii85: %v", errSyntax, err)
			}
			if f.decoded += int64(n); f.decoded > maxDecoded {
				return nil, fmt.Errorf("%w: more than %d bytes of streams", ErrUnsupported, maxDecoded)
			}
			data = out[:n]
		default:
			return nil, fmt.Errorf("%w: filter %s", ErrUnsupported, fn)
		}
	}
	return data, nil
}

// parms is the DecodeParms dictionary of filter i.
func (f *file) parms(d dict, i int) dict {
	switch v := f.resolve(d["DecodeParms"]).(type) {
	case dict:
		return v
	case []any:
		if i < len(v) {
			return f.dict(v[i])
		}
	}
	return nil
}

// catalog is the document catalog: the one /Type /Catalog object.
func (f *file) catalog() (dict, error) {
	var cat dict
	for _, o := range f.objs {
		if d, ok := o.(dict); ok && d["Type"] == name("Catalog") {
			if cat != nil {
				return nil, fmt.Errorf("%w: two catalogs", ErrUnsupported)
			}
			cat = d
		}
	}
	if cat == nil {
		return nil, fmt.Errorf("%w: no catalog", ErrUnsupported)
	}
	return cat, nil
}

// page is a page's content streams and resources.
type page struct {
	contents  []*stream
	resources dict
	annots    []annot
	box       [4]float64 // MediaBox: llx lly urx ury; all 0: none
}

// annot is the appearance of a visible annotation (a text box, a stamp),
// which pdftotext shows with the page.
type annot struct {
	form *stream
	at   matrix
}

// pages walks the page tree in order, up to maxPages pages.
func (f *file) pages(maxPages int) ([]page, error) {
	cat, err := f.catalog()
	if err != nil {
		return nil, err
	}
	if oc := f.dict(cat["OCProperties"]); oc != nil && len(f.array(f.dict(oc["D"])["OFF"])) > 0 {
		// Layers turned off: pdftotext leaves out their text.
		return nil, fmt.Errorf("%w: optional content turned off", ErrUnsupported)
	}
	var out []page
	seen := map[any]bool{}
	nodes := 0
	var walk func(node any, res dict, box [4]float64, depth int) error
	walk = func(node any, res dict, box [4]float64, depth int) error {
		if len(out) >= maxPages {
			return nil
		}
		if nodes++; depth > 32 || nodes > 4*maxPages+64 {
			// Kids shared between nodes grow a walk exponentially.
			return fmt.Errorf("%w: page tree too deep or too large", ErrUnsupported)
		}
		if r, ok := node.(ref); ok {
			if seen[r] {
				return fmt.Errorf("%w: page tree cycle", errSyntax)
			}
			seen[r] = true
		}
		d := f.dict(node)
		if d == nil {
			return fmt.Errorf("%w: page tree node %v", errSyntax, node)
		}
		if r := f.dict(d["Resources"]); r != nil {
			res = r
		}
		// The MediaBox (inherited), which pdftotext clips to.
		if v, ok := nums(f.array(d["MediaBox"]), 4); ok {
			box = [4]float64{min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])}
		}
		if kids, ok := f.resolve(d["Kids"]).([]any); ok && d["Type"] != name("Page") {
			for _, k := range kids {
				if err := walk(k, res, box, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		p := page{resources: res, box: box}
		switch c := f.resolve(d["Contents"]).(type) {
		case *stream:
			p.contents = []*stream{c}
		case []any:
			if len(c) > 4096 {
				return fmt.Errorf("%w: %d content streams", ErrUnsupported, len(c))
			}
			for _, e := range c {
				s, ok := f.resolve(e).(*stream)
				if !ok {
					return fmt.Errorf("%w: page contents %v", errSyntax, e)
				}
				p.contents = append(p.contents, s)
			}
		case nil:
		default:
			return fmt.Errorf("%w: page contents %T", errSyntax, c)
		}
		p.annots = f.annots(f.array(d["Annots"]))
		out = append(out, p)
		return nil
	}
	if fields := f.array(f.dict(cat["AcroForm"])["Fields"]); len(fields) > 0 {
		// Form fields: pdftotext shows their values, drawn from
		// appearances it may have to make (NeedAppearances) and
		// without push buttons' captions.
		return nil, fmt.Errorf("%w: a form with fields", ErrUnsupported)
	}
	return out, walk(cat["Pages"], nil, [4]float64{}, 0)
}

// annots returns the normal appearances of the visible annotations.
func (f *file) annots(list []any) []annot {
	var out []annot
	for _, a := range list {
		d := f.dict(a)
		if flags, _ := f.number(d["F"]); int(flags)&(2|32) != 0 { // Hidden, NoView
			continue
		}
		var form *stream
		switch n := f.resolve(f.dict(d["AP"])["N"]).(type) {
		case *stream:
			form = n
		case dict: // appearance states: the current one
			if as, ok := f.resolve(d["AS"]).(name); ok {
				form, _ = f.resolve(n[as]).(*stream)
			}
		}
		rect, ok := nums(f.array(d["Rect"]), 4)
		if form == nil || !ok {
			continue
		}
		out = append(out, annot{form: form, at: matrix{1, 0, 0, 1, min(rect[0], rect[2]), min(rect[1], rect[3])}})
	}
	return out
}
