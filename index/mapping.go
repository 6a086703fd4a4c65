package index

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/length"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	_ "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode" // analyzerText's in indexes made before wordTokenizer
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
)

// schemaVersion is stored in the index (internal key "jarchive.schema") and
// compared on Open. Bump it whenever the mapping or the extraction changes in
// a way that needs a rebuild.
const schemaVersion = "jarchive-index-3"

// Field names of the mapping; see doc.go.
const (
	fieldFrom     = "from"
	fieldSender   = "sender"
	fieldTo       = "to"
	fieldCc       = "cc"
	fieldBcc      = "bcc"
	fieldRcpt     = "rcpt"
	fieldSubject  = "subject"
	fieldBody     = "body"
	fieldAttText  = "atext"
	fieldFilename = "filename"
	fieldMsgID    = "msgid"
	fieldOwner    = "owner"
	fieldAccount  = "account"
	fieldHas      = "has"
	fieldDate     = "date"  // quarter hours since 1970, for ranges
	fieldOrder    = "order" // sortDate as a fixed-width string, for sorting
	fieldMonth    = "month" // the month of sortDate, "YYYY-MM": date order by parts (search.go)
	fieldSize     = "size"
	fieldID       = "_id" // bleve's own: the document ID, indexed as a term
)

// Values of the has field.
const hasAttachment = "attachment"

// textFields are analyzed with analyzerText and keep positions (phrases);
// identFields with analyzerIdent; keywordFields with analyzerKeyword.
var (
	textFields    = []string{fieldSubject, fieldBody, fieldAttText}
	identFields   = []string{fieldFrom, fieldSender, fieldTo, fieldCc, fieldBcc, fieldRcpt, fieldFilename}
	keywordFields = []string{fieldMsgID, fieldOwner, fieldAccount, fieldHas, fieldMonth}
)

// defaultFields are searched by words without an operator.
var defaultFields = []string{fieldSubject, fieldBody, fieldAttText, fieldFilename,
	fieldFrom, fieldSender, fieldTo, fieldCc, fieldRcpt}

// Names of the analysis components this package registers with bleve. They are
// referenced by name from the mapping stored in the index, so they must never be
// renamed without bumping schemaVersion.
const (
	identTokenizerName = "jarchive_ident"
	wordTokenizerName  = "jarchive_words"
	foldFilterName     = "jarchive_asciifold"
	noOffsetsName      = "jarchive_nooffsets"

	analyzerText    = "jarchive_text"
	analyzerIdent   = "jarchive_ident"
	analyzerKeyword = "jarchive_keyword"

	lenTextFilter  = "jarchive_len_text"
	lenIdentFilter = "jarchive_len_ident"
)

// Longest tokens kept, in runes. Longer ones are base64 leftovers, hashes and
// other noise that nobody searches for.
const (
	maxTextToken  = 100
	maxIdentToken = 256
)

func init() {
	if err := registry.RegisterTokenizer(identTokenizerName, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return identTokenizer{}, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterTokenizer(wordTokenizerName, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return wordTokenizer{}, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterTokenFilter(foldFilterName, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return foldFilter{asciifolding.New()}, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterTokenFilter(noOffsetsName, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return noOffsets{}, nil
	}); err != nil {
		panic(err)
	}
}

// newMapping returns the explicit index mapping documented in doc.go.
func newMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	im.DefaultAnalyzer = analyzerText
	im.DefaultMapping.Dynamic = false

	filters := []struct {
		name string
		max  float64
	}{{lenTextFilter, maxTextToken}, {lenIdentFilter, maxIdentToken}}
	for _, f := range filters {
		if err := im.AddCustomTokenFilter(f.name, map[string]any{"type": length.Name, "min": 1.0, "max": f.max}); err != nil {
			return nil, err
		}
	}
	analyzers := []struct {
		name      string
		tokenizer string
		filters   []string
	}{
		// Folding before lower-casing: folding may produce capitals ("Æ" -> "AE").
		// wordTokenizer gives what bleve's unicode tokenizer gives
		// (which indexes made before it name), faster.
		{analyzerText, wordTokenizerName, []string{foldFilterName, lowercase.Name, lenTextFilter, noOffsetsName}},
		{analyzerIdent, identTokenizerName, []string{foldFilterName, lowercase.Name, lenIdentFilter}},
		{analyzerKeyword, single.Name, []string{lowercase.Name}},
	}
	for _, a := range analyzers {
		if err := im.AddCustomAnalyzer(a.name, map[string]any{
			"type":          custom.Name,
			"tokenizer":     a.tokenizer,
			"token_filters": a.filters,
		}); err != nil {
			return nil, err
		}
	}

	dm := im.DefaultMapping
	add := func(names []string, analyzer string, positions bool) {
		for _, name := range names {
			fm := mapping.NewTextFieldMapping()
			fm.Analyzer = analyzer
			lean(fm)
			// Positions for phrases; offsets and array positions
			// come with them (bleve keeps no positions alone).
			fm.IncludeTermVectors = positions
			dm.AddFieldMappingsAt(name, fm)
		}
	}
	add(textFields, analyzerText, true)
	add(identFields, analyzerIdent, false)
	add(keywordFields, analyzerKeyword, false)

	date := mapping.NewNumericFieldMapping()
	lean(date)
	dm.AddFieldMappingsAt(fieldDate, date)

	order := mapping.NewKeywordFieldMapping()
	lean(order)
	order.DocValues = true // sort, and cursors of SearchAfter
	dm.AddFieldMappingsAt(fieldOrder, order)

	size := mapping.NewNumericFieldMapping()
	lean(size) // ranges use the terms; nothing sorts by size
	dm.AddFieldMappingsAt(fieldSize, size)

	if err := im.Validate(); err != nil {
		return nil, err
	}
	return im, nil
}

// lean turns off everything the index does not need: values are read from the
// archive, not the index, and there is no _all field.
func lean(fm *mapping.FieldMapping) {
	fm.Store = false
	fm.IncludeTermVectors = false
	fm.IncludeInAll = false
	fm.DocValues = false
}

// foldFilter folds tokens to ASCII ("Müller" -> "Muller"). It does per token
// what bleve's asciifolding char filter does per field: that one allocates 16
// bytes per input byte of a whole body.
type foldFilter struct {
	f *asciifolding.AsciiFoldingFilter
}

func (ff foldFilter) Filter(ts analysis.TokenStream) analysis.TokenStream {
	for _, t := range ts {
		for _, c := range t.Term {
			if c >= utf8.RuneSelf {
				t.Term = ff.f.Filter(t.Term)
				break
			}
		}
	}
	return ts
}

// noOffsets sets the byte offsets of tokens to 0. Term vectors keep them
// next to the positions, but only positions are used (phrases; nothing is
// highlighted), and small numbers take a byte where offsets take two or
// three: the term vectors shrink by about 40%.
type noOffsets struct{}

func (noOffsets) Filter(ts analysis.TokenStream) analysis.TokenStream {
	for _, t := range ts {
		t.Start, t.End = 0, 0
	}
	return ts
}

// identTokenizer splits addresses, display names and file names. For every
// chunk (split at white space and at <>",;:()[]{}/\|) it emits the chunk
// itself, for an address the local part, the domain and every parent domain
// with a dot, and then every word (run of letters and digits). So
// "Anna Berg <anna.berg@mail.contoso.com>" gives anna, berg,
// anna.berg@mail.contoso.com, anna.berg, mail.contoso.com, contoso.com,
// mail, contoso, com; and "Q3-report.pdf" gives q3-report.pdf, q3, report,
// pdf (after the lower-case filter).
type identTokenizer struct{}

func isIdentSep(r rune) bool {
	switch r {
	case '<', '>', '"', ',', ';', ':', '(', ')', '[', ']', '{', '}', '/', '\\', '|':
		return true
	}
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func (identTokenizer) Tokenize(in []byte) analysis.TokenStream {
	var ts analysis.TokenStream
	pos := 1
	first := 0 // the first token of the current chunk, to skip duplicates
	emit := func(start, end int) {
		if start >= end {
			return
		}
		term := in[start:end]
		for _, t := range ts[first:] {
			if bytes.Equal(t.Term, term) {
				return
			}
		}
		ts = append(ts, &analysis.Token{Start: start, End: end, Term: term, Position: pos, Type: analysis.AlphaNumeric})
		pos++
	}
	chunk := func(start, end int) {
		// Trim what cannot start or end a name: "anna." at the end of a
		// sentence, "-" bullets, "@domain" searches.
		for start < end {
			r, n := utf8.DecodeRune(in[start:end])
			if isWordRune(r) {
				break
			}
			start += n
		}
		for start < end {
			r, n := utf8.DecodeLastRune(in[start:end])
			if isWordRune(r) {
				break
			}
			end -= n
		}
		if start >= end {
			return
		}
		first = len(ts)
		emit(start, end)
		c := in[start:end]
		if at := bytes.LastIndexByte(c, '@'); at >= 0 {
			emit(start, start+at)
			d := start + at + 1
			for d < end {
				// Parent domains need a dot: "contoso.com" but not "com".
				dot := bytes.IndexByte(in[d:end], '.')
				if dot < 0 {
					break
				}
				emit(d, end)
				d += dot + 1
			}
		}
		ws := -1
		for i := start; i < end; {
			r, n := utf8.DecodeRune(in[i:end])
			if isWordRune(r) {
				if ws < 0 {
					ws = i
				}
			} else if ws >= 0 {
				emit(ws, i)
				ws = -1
			}
			i += n
		}
		if ws >= 0 {
			emit(ws, end)
		}
	}
	cs := -1
	for i := 0; i < len(in); {
		r, n := utf8.DecodeRune(in[i:])
		if isIdentSep(r) {
			if cs >= 0 {
				chunk(cs, i)
				cs = -1
			}
		} else if cs < 0 {
			cs = i
		}
		i += n
	}
	if cs >= 0 {
		chunk(cs, len(in))
	}
	return ts
}
