// Package pdftext extracts the text of PDF files for the search index, in
// the process, for the PDFs whose text it can know for sure; for the others
// it returns ErrUnsupported, and the index runs poppler's pdftotext.
//
// Starting pdftotext costs about 5 ms of CPU per PDF (most of it the
// kernel and the dynamic loader), which was a fifth of the CPU time of an
// import. What it reads: the objects of the file (found by scanning, so a
// wrong cross-reference table does not matter; object streams too), the
// page tree, content streams without a filter, FlateDecode or ASCII85, form
// XObjects, and the text operators with the text and graphics state that
// place glyphs. Glyphs become text through the font's ToUnicode CMap, or
// for simple fonts through WinAnsi, MacRoman or Standard encoding with
// Differences of known glyph names. Spaces and line breaks come from the
// glyphs' places, as pdftotext's do: a gap of more than 0.1 of the font size
// on a line is a space, a change of baseline a newline; glyphs outside the
// MediaBox are dropped, as pdftotext drops them.
//
// Unsupported, and so left to pdftotext: encrypted files, incremental
// updates (two objects of one number), forms with fields, layers turned
// off, other filters (LZW, predictors), composite fonts without ToUnicode
// or with an encoding other than Identity-H, Type3 fonts without
// ToUnicode, symbolic fonts, codes without a known character, rotated or
// mirrored text, text drawn backwards on a line, and text continued on a
// line after a glyph whose width the font does not give. Every step is
// bounded, so hostile files stop at a limit.
package pdftext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// recoverPanics is false in the fuzz test, which must see them.
var recoverPanics = true

// ErrUnsupported is returned for a PDF whose text this package cannot
// extract faithfully.
var ErrUnsupported = errors.New("pdf not supported")

// Extract returns the text of the first maxPages pages of the PDF data,
// at most limit bytes (the text is cut there, without error). Errors other
// than ErrUnsupported are malformed files, or ctx's.
func Extract(ctx context.Context, data []byte, maxPages, limit int) (text []byte, err error) {
	if recoverPanics {
		defer func() {
			// A malformed file must not take the indexer down; the
			// caller hands it to pdftotext.
			if p := recover(); p != nil {
				text, err = nil, fmt.Errorf("%w: panic: %v", ErrUnsupported, p)
			}
		}()
	}
	f, err := parse(ctx, data)
	if err != nil {
		return nil, err
	}
	pages, err := f.pages(maxPages)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := &writer{ctx: ctx, f: f, out: &out, limit: limit, fonts: map[any]*font{}}
	for _, p := range pages {
		w.gs = gstate{ctm: identity, scale: 1}
		w.box = p.box
		w.stack = w.stack[:0]
		// The streams of a page are one content stream (7.8.2).
		var content []byte
		for _, s := range p.contents {
			data, err := f.decode(s)
			if err != nil {
				return nil, err
			}
			content = append(append(content, data...), '\n')
		}
		err := w.run(content, p.resources)
		for _, a := range p.annots {
			if err != nil {
				break
			}
			// Annotations are drawn in the page's own space, not
			// in what its content left of the graphics state.
			w.gs = gstate{ctm: identity, scale: 1}
			w.stack = w.stack[:0]
			w.moved = true
			err = w.runForm(a.form, p.resources, a.at)
		}
		if err != nil {
			if errors.Is(err, errFull) {
				return out.Bytes(), nil
			}
			return nil, err
		}
		if w.started {
			// Not w.write: a hyphen at the end of a page stays.
			if out.Len()+1 > limit {
				return out.Bytes(), nil
			}
			out.WriteByte('\n')
		}
		w.started = false
	}
	return out.Bytes(), nil
}
