package index

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"jarchive/config"
	"jarchive/journal"
)

// ErrQuery is wrapped by the errors of Search for a query that cannot be
// parsed or does not fit the index: the user's mistake, not the index's.
var ErrQuery = errors.New("bad query")

// QueryError is a query that cannot be parsed, with the position of the
// problem. It wraps ErrQuery.
type QueryError struct {
	Query  string
	Column int // 1-based, in characters
	Msg    string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("bad query: column %d: %s", e.Column, e.Msg)
}

func (e *QueryError) Unwrap() error { return ErrQuery }

// Caret returns the query and under it a caret at the column of the
// problem, for a terminal:
//
//	subject:x foo:bar
//	          ^
func (e *QueryError) Caret() string {
	q := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, e.Query)
	return q + "\n" + strings.Repeat(" ", max(e.Column-1, 0)) + "^"
}

// Limits of a query.
const (
	maxQueryLen   = 4096 // bytes
	maxQueryTerms = 256
	maxQueryDepth = 32 // nested parentheses and negations
	minPrefix     = 2  // characters before a trailing *
)

// An operator is a name: before a value.
type operator struct {
	kind   opKind
	fields []string // for opWords: the fields searched
}

type opKind int

const (
	opWords   opKind = iota // words and phrases in fields
	opKeyword               // one whole value, lower-cased
	opOwner                 // an address, normalised
	opMsgID
	opID
	opHas
	opAfter
	opBefore
	opLarger
	opSmaller
)

var operators = map[string]operator{
	"from":       {opWords, []string{fieldFrom, fieldSender}},
	"sender":     {opWords, []string{fieldSender}},
	"to":         {opWords, []string{fieldTo}},
	"cc":         {opWords, []string{fieldCc}},
	"bcc":        {opWords, []string{fieldBcc}},
	"rcpt":       {opWords, []string{fieldRcpt}},
	"subject":    {opWords, []string{fieldSubject}},
	"body":       {opWords, []string{fieldBody}},
	"attachment": {opWords, []string{fieldFilename, fieldAttText}},
	"filename":   {opWords, []string{fieldFilename}},
	"account":    {opKeyword, []string{fieldAccount}},
	"owner":      {opOwner, []string{fieldOwner}},
	"msgid":      {opMsgID, []string{fieldMsgID}},
	"id":         {opID, nil},
	"has":        {opHas, nil},
	"after":      {opAfter, nil},
	"before":     {opBefore, nil},
	"larger":     {opLarger, nil},
	"smaller":    {opSmaller, nil},
}

// operatorNames lists the operators for error messages, in the order of
// doc.go.
const operatorNames = "from to cc bcc rcpt sender subject body attachment filename id msgid owner account has after before larger smaller"

// node is a parsed query.
type node struct {
	kind nodeKind
	kids []*node
	q    query.Query // nTerm: the compiled term
}

type nodeKind int

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nTerm
)

// parser is a recursive-descent parser over the query string. Precedence,
// loosest first: juxtaposition (AND), OR, - (NOT); parentheses group.
type parser struct {
	s     string
	i     int // byte offset
	loc   *time.Location
	field string // operator of an enclosing op:(...) group, "" for none
	depth int
	terms int
}

// parseQuery parses a query in the language of doc.go into a bleve query.
// Dates are read in loc (nil: UTC). The empty query matches every message.
func parseQuery(s string, loc *time.Location) (query.Query, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &parser{s: s, loc: loc}
	if len(s) > maxQueryLen {
		return nil, p.errAt(maxQueryLen, "query is longer than %d bytes", maxQueryLen)
	}
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, p.errAt(i, "query is not valid UTF-8")
	}
	n, err := p.and(false)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return query.NewMatchAllQuery(), nil
	}
	return compile(n), nil
}

// errAt returns a QueryError at byte offset i.
func (p *parser) errAt(i int, format string, args ...any) error {
	i = min(i, len(p.s))
	return &QueryError{Query: p.s, Column: utf8.RuneCountInString(p.s[:i]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !unicode.IsSpace(r) {
			return
		}
		p.i += n
	}
}

// atKeyword tells whether the next word is exactly kw (OR, AND), followed
// by a space, a parenthesis, a quote or the end.
func (p *parser) atKeyword(kw string) bool {
	if !strings.HasPrefix(p.s[p.i:], kw) {
		return false
	}
	j := p.i + len(kw)
	if j == len(p.s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(p.s[j:])
	return unicode.IsSpace(r) || r == '(' || r == ')' || r == '"'
}

// and parses clauses up to the end or, inParen, a closing parenthesis. It
// returns nil for no clauses.
func (p *parser) and(inParen bool) (*node, error) {
	var kids []*node
	for {
		p.skipSpace()
		if p.i == len(p.s) {
			break
		}
		if p.s[p.i] == ')' {
			if inParen {
				break
			}
			return nil, p.errAt(p.i, "unexpected ) without a matching (")
		}
		if p.atKeyword("AND") {
			if len(kids) == 0 {
				return nil, p.errAt(p.i, "AND needs a term before it")
			}
			start := p.i
			p.i += len("AND")
			p.skipSpace()
			if p.i == len(p.s) || p.s[p.i] == ')' {
				return nil, p.errAt(start, "AND needs a term after it")
			}
			continue
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	switch len(kids) {
	case 0:
		return nil, nil
	case 1:
		return kids[0], nil
	}
	return &node{kind: nAnd, kids: kids}, nil
}

func (p *parser) or() (*node, error) {
	if p.atKeyword("OR") {
		return nil, p.errAt(p.i, "OR needs a term before it")
	}
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	kids := []*node{first}
	for {
		save := p.i
		p.skipSpace()
		if !p.atKeyword("OR") {
			p.i = save
			break
		}
		start := p.i
		p.i += len("OR")
		p.skipSpace()
		if p.i == len(p.s) || p.s[p.i] == ')' || p.atKeyword("OR") || p.atKeyword("AND") {
			return nil, p.errAt(start, "OR needs a term after it")
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &node{kind: nOr, kids: kids}, nil
}

func (p *parser) enter(at int) error {
	p.depth++
	if p.depth > maxQueryDepth {
		return p.errAt(at, "nested deeper than %d", maxQueryDepth)
	}
	return nil
}

func (p *parser) unary() (*node, error) {
	switch p.s[p.i] {
	case '-':
		start := p.i
		p.i++
		if p.i == len(p.s) || isSpaceAt(p.s, p.i) || p.s[p.i] == ')' {
			return nil, p.errAt(start, `"-" needs a term right after it, as in -word`)
		}
		if p.s[p.i] == '-' {
			return nil, p.errAt(start, `"--": one "-" excludes`)
		}
		if err := p.enter(start); err != nil {
			return nil, err
		}
		n, err := p.unary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, kids: []*node{n}}, nil
	case '+':
		return nil, p.errAt(p.i, `"+" is not needed: all words must match unless joined by OR`)
	}
	return p.primary()
}

func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r)
}

// primary parses a group, a phrase, an operator with its value or a word.
func (p *parser) primary() (*node, error) {
	start := p.i
	switch p.s[p.i] {
	case '(':
		return p.group(start)
	case ')':
		return nil, p.errAt(p.i, "unexpected ) without a matching (")
	case '"':
		text, err := p.phrase()
		if err != nil {
			return nil, err
		}
		return p.term(start, p.field, text, true)
	}
	w := p.word()
	if name, value, ok := cutOperator(w); ok {
		op, known := operators[strings.ToLower(name)]
		if !known && value == "" {
			// "Re: meeting" pasted from a subject: a word.
			return p.term(start, p.field, w, false)
		}
		if !known {
			return nil, p.errAt(start, "%s", unknownOperator(name, w))
		}
		name = strings.ToLower(name)
		valStart := start + len(name) + 1
		p.i = valStart
		if p.i == len(p.s) || isSpaceAt(p.s, p.i) || p.s[p.i] == ')' {
			return nil, p.errAt(start, "%s: needs a value, as in %s", name, example(name))
		}
		switch p.s[p.i] {
		case '(':
			if op.kind != opWords && op.kind != opKeyword && op.kind != opOwner {
				return nil, p.errAt(valStart, "%s: takes one value, not a group", name)
			}
			outer := p.field
			p.field = name
			n, err := p.group(valStart)
			p.field = outer
			return n, err
		case '"':
			text, err := p.phrase()
			if err != nil {
				return nil, err
			}
			return p.term(valStart, name, text, true)
		}
		value = p.word()
		return p.term(valStart, name, value, false)
	}
	return p.term(start, p.field, w, false)
}

func (p *parser) group(start int) (*node, error) {
	if err := p.enter(start); err != nil {
		return nil, err
	}
	p.i++ // (
	n, err := p.and(true)
	p.depth--
	if err != nil {
		return nil, err
	}
	if p.i == len(p.s) {
		return nil, p.errAt(start, "( is never closed: a ) is missing")
	}
	p.i++ // )
	if n == nil {
		return nil, p.errAt(start, "empty parentheses")
	}
	return n, nil
}

// word reads up to white space, a parenthesis or a quote.
func (p *parser) word() string {
	start := p.i
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if unicode.IsSpace(r) || r == '(' || r == ')' || r == '"' {
			break
		}
		p.i += n
	}
	return p.s[start:p.i]
}

// phrase reads a quoted phrase; p.i is at the opening quote.
func (p *parser) phrase() (string, error) {
	start := p.i
	end := strings.IndexByte(p.s[start+1:], '"')
	if end < 0 {
		return "", p.errAt(start, `phrase is never closed: a " is missing`)
	}
	p.i = start + 1 + end + 1
	return p.s[start+1 : start+1+end], nil
}

// cutOperator splits "name:value" when name is letters only. "10:30" and
// ":x" are words.
func cutOperator(w string) (name, value string, ok bool) {
	i := strings.IndexByte(w, ':')
	if i <= 0 {
		return "", "", false
	}
	for _, c := range w[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", "", false
		}
	}
	return w[:i], w[i+1:], true
}

func unknownOperator(name, word string) string {
	lower := strings.ToLower(name)
	best, bestD := "", 3
	for _, op := range strings.Fields(operatorNames) {
		if d := search.LevenshteinDistance(lower, op); d < bestD && d < len(op) {
			best, bestD = op, d
		}
	}
	if best != "" {
		return fmt.Sprintf(`unknown operator "%s:"; did you mean "%s:"? (to search for text with a colon, quote it: "%s")`, name, best, word)
	}
	return fmt.Sprintf(`unknown operator "%s:" (operators: %s; to search for text with a colon, quote it: "%s")`, name, operatorNames, word)
}

func example(op string) string {
	switch op {
	case "after", "before":
		return op + ":2024-01-31"
	case "larger", "smaller":
		return op + ":5MB"
	case "has":
		return "has:attachment"
	case "id":
		return "id:3f2a9c01"
	case "msgid":
		return "msgid:1234@example.com"
	case "owner", "from", "to", "cc", "bcc", "rcpt", "sender":
		return op + ":anna@contoso.com"
	case "account":
		return "account:journal"
	}
	return op + ":word"
}

// term compiles one value (a word or a phrase) of operator op ("" for
// none) at byte offset at.
func (p *parser) term(at int, op, value string, phrase bool) (*node, error) {
	p.terms++
	if p.terms > maxQueryTerms {
		return nil, p.errAt(at, "more than %d terms", maxQueryTerms)
	}
	prefix := false
	if !phrase {
		if i := strings.IndexByte(value, '*'); i >= 0 {
			if i != len(value)-1 {
				return nil, p.errAt(at+i, `"*" works only at the end of a word, as in invoic*`)
			}
			value, prefix = value[:i], true
			if utf8.RuneCountInString(value) < minPrefix {
				return nil, p.errAt(at, "%q: a word with * needs at least %d characters before it", value+"*", minPrefix)
			}
		}
	}
	shown := value
	if phrase {
		shown = `"` + value + `"`
	}
	if op == "" {
		q := wordsQuery(defaultFields, value, phrase, prefix)
		if q == nil {
			return nil, p.errAt(at, "%s has no letters or digits to search for", shown)
		}
		return &node{kind: nTerm, q: q}, nil
	}
	o := operators[op]
	if prefix && o.kind != opWords && o.kind != opKeyword && o.kind != opOwner && o.kind != opMsgID && o.kind != opID {
		return nil, p.errAt(at, "%s: takes no *", op)
	}
	if phrase && o.kind != opWords && o.kind != opKeyword && o.kind != opOwner && o.kind != opMsgID {
		return nil, p.errAt(at, "%s: takes no quoted phrase", op)
	}
	var q query.Query
	switch o.kind {
	case opWords:
		q = wordsQuery(o.fields, value, phrase, prefix)
		if q == nil {
			return nil, p.errAt(at, "%s:%s has no letters or digits to search for", op, shown)
		}
	case opKeyword, opOwner, opMsgID:
		v := strings.TrimSpace(value)
		switch o.kind {
		case opOwner:
			if !prefix {
				v, _ = journal.NormalizeAddr(v)
			}
		case opMsgID:
			v = normMsgID(v)
		}
		v = keywordTerm(v)
		if v == "" {
			return nil, p.errAt(at, "%s: needs a value, as in %s", op, example(op))
		}
		q = keywordQuery(o.fields[0], v, prefix)
	case opID:
		id := strings.ToLower(value)
		if len(id) < 8 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
			return nil, p.errAt(at, "id: %q is not a message ID (8 to 64 hex digits)", value)
		}
		if len(id) == 64 && !prefix {
			q = query.NewDocIDQuery([]string{id})
		} else {
			pq := query.NewPrefixQuery(id)
			pq.SetField(fieldID)
			q = pq
		}
	case opHas:
		if !strings.EqualFold(value, hasAttachment) {
			return nil, p.errAt(at, "has: %q is not one of attachment", value)
		}
		q = keywordQuery(fieldHas, hasAttachment, false)
	case opAfter, opBefore:
		t, err := parseDay(value, p.loc)
		if err != nil {
			return nil, p.errAt(at, "%s: %q is not a date: %v", op, value, err)
		}
		// Undated messages (at minDate) match neither.
		v, undated := quarterHours(t), quarterHours(minDate)
		var rq *query.NumericRangeQuery
		if o.kind == opAfter {
			rq = query.NewNumericRangeInclusiveQuery(&v, nil, boolPtr(true), nil)
		} else {
			undated++
			rq = query.NewNumericRangeInclusiveQuery(&undated, &v, boolPtr(true), boolPtr(false))
		}
		rq.SetField(fieldDate)
		q = rq
	case opLarger, opSmaller:
		var size config.ByteSize
		if err := size.UnmarshalText([]byte(value)); err != nil {
			return nil, p.errAt(at, "%s: %q is not a size such as 5MB, 200KB or 1MiB", op, value)
		}
		// In whole kB, as indexed: larger:5MB is 5,000 kB and more,
		// smaller:5MB less than 5,000 kB.
		n := math.Ceil(float64(size) / 1000)
		var rq *query.NumericRangeQuery
		if o.kind == opLarger {
			rq = query.NewNumericRangeInclusiveQuery(&n, nil, boolPtr(true), nil)
		} else {
			rq = query.NewNumericRangeInclusiveQuery(nil, &n, nil, boolPtr(false))
		}
		rq.SetField(fieldSize)
		q = rq
	}
	return &node{kind: nTerm, q: q}, nil
}

func boolPtr(b bool) *bool { return &b }

// parseDay reads YYYY-MM-DD, YYYY-MM or YYYY (also with /) as the start of
// that day, month or year in loc.
func parseDay(s string, loc *time.Location) (time.Time, error) {
	v := strings.ReplaceAll(s, "/", "-")
	for _, layout := range []string{"2006-01-02", "2006-1-2", "2006-01", "2006-1", "2006"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			if !t.After(minDate) || t.After(maxDate) {
				return time.Time{}, fmt.Errorf("out of range %d to %d", minDate.Year(), maxDate.Year())
			}
			return t, nil
		}
	}
	return time.Time{}, errors.New("use YYYY-MM-DD, YYYY-MM or YYYY")
}

// analyzers of the mapping, for query terms.
var analyzers = sync.OnceValue(func() map[string]analysis.Analyzer {
	m, err := newMapping()
	if err != nil {
		panic(err)
	}
	out := map[string]analysis.Analyzer{}
	for _, name := range []string{analyzerText, analyzerIdent, analyzerKeyword} {
		out[name] = m.AnalyzerNamed(name)
	}
	return out
})

func fieldAnalyzer(field string) string {
	for _, f := range textFields {
		if f == field {
			return analyzerText
		}
	}
	for _, f := range identFields {
		if f == field {
			return analyzerIdent
		}
	}
	return analyzerKeyword
}

// keywordTerm is v as the keyword analyzer indexes it.
func keywordTerm(v string) string {
	ts := analyzers()[analyzerKeyword].Analyze([]byte(v))
	if len(ts) == 0 {
		return ""
	}
	return string(ts[0].Term)
}

func keywordQuery(field, v string, prefix bool) query.Query {
	if prefix {
		q := query.NewPrefixQuery(v)
		q.SetField(field)
		return q
	}
	q := query.NewTermQuery(v)
	q.SetField(field)
	return q
}

// wordsQuery searches value in any of fields: nil when it yields no term in
// any of them.
func wordsQuery(fields []string, value string, phrase, prefix bool) query.Query {
	var qs []query.Query
	for _, f := range fields {
		if q := fieldWords(f, value, phrase, prefix); q != nil {
			qs = append(qs, q)
		}
	}
	switch len(qs) {
	case 0:
		return nil
	case 1:
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}

// fieldWords searches value in one field. In a text field, several words
// (a phrase, or a word such as "e-mail" that the analyzer splits) must stand
// together in that order; in an address or file name field, every part must
// occur, in any order.
func fieldWords(field, value string, phrase, prefix bool) query.Query {
	an := fieldAnalyzer(field)
	var terms []string
	var tokens analysis.TokenStream
	if an == analyzerIdent {
		terms = identTerms(value)
	} else {
		tokens = analyzers()[an].Analyze([]byte(value))
		for _, t := range tokens {
			terms = append(terms, string(t.Term))
		}
	}
	if len(terms) == 0 {
		return nil
	}
	term := func(t string, prefix bool) query.Query {
		if prefix {
			q := query.NewPrefixQuery(t)
			q.SetField(field)
			return q
		}
		q := query.NewTermQuery(t)
		q.SetField(field)
		return q
	}
	switch {
	case len(terms) == 1:
		return term(terms[0], prefix)
	case an == analyzerText && !prefix:
		return newPhraseQuery(field, value, tokens)
	}
	qs := make([]query.Query, len(terms))
	for i, t := range terms {
		qs[i] = term(t, prefix && i == len(terms)-1)
	}
	return query.NewConjunctionQuery(qs)
}

// identTerms are the terms to look up for an address or file name value:
// of the tokens of the ident analyzer, only those not inside an earlier one
// ("anna.berg@contoso.com" but not its parts, which it implies).
func identTerms(value string) []string {
	var out []string
	end := -1
	for _, t := range analyzers()[analyzerIdent].Analyze([]byte(value)) {
		if t.Start < end {
			continue
		}
		end = t.End
		out = append(out, string(t.Term))
	}
	return out
}

// compile turns the parsed tree into a bleve query.
func compile(n *node) query.Query {
	switch n.kind {
	case nTerm:
		return n.q
	case nNot:
		return query.NewBooleanQuery([]query.Query{query.NewMatchAllQuery()}, nil, []query.Query{compile(n.kids[0])})
	case nOr:
		qs := make([]query.Query, len(n.kids))
		for i, k := range n.kids {
			qs[i] = compile(k)
		}
		return query.NewDisjunctionQuery(qs)
	}
	var must, mustNot []query.Query
	for _, k := range n.kids {
		if k.kind == nNot {
			mustNot = append(mustNot, compile(k.kids[0]))
		} else {
			must = append(must, compile(k))
		}
	}
	if len(must) == 0 {
		must = []query.Query{query.NewMatchAllQuery()}
	}
	if len(mustNot) == 0 {
		if len(must) == 1 {
			return must[0]
		}
		return query.NewConjunctionQuery(must)
	}
	return query.NewBooleanQuery(must, nil, mustNot)
}

// sortedOwners returns the scope's owners as indexed terms, sorted and
// without duplicates or empty ones.
func sortedOwners(owners []string) []string {
	var out []string
	for _, o := range owners {
		n, _ := journal.NormalizeAddr(o)
		if t := keywordTerm(n); t != "" {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	var uniq []string
	for i, o := range out {
		if i == 0 || o != out[i-1] {
			uniq = append(uniq, o)
		}
	}
	return uniq
}
