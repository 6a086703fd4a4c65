package config

import (
	"encoding"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// This file maps the keys of a TOML document to their positions, with
// go-toml's unstable parser, so that every error can name a line, a column
// and a key with array indexes ("accounts[1].server"), which go-toml's own
// errors do not carry.

// docIndex is the position index of one document.
type docIndex struct {
	data       []byte
	lineStarts []int // offsets where lines start; lineStarts[0] == 0

	kvs    []*keyValue
	byPath map[string]*keyValue // first occurrence of each key path
	// keyAt maps the offset of a key, of a value and of the first key part
	// of a table header to the path shown for it.
	keyAt map[int]string
	// tables maps a table path ("archive", "accounts[0]") to the offset of
	// its header ("[", "[[" or "{"), or of the first dotted key that
	// created it.
	tables  map[string]int
	headers []header // table headers, in document order
	tops    []span   // top-level key-value expressions, in document order
}

// keyValue is one key = value, at the top level or in an inline table.
type keyValue struct {
	path   string // "accounts[0].security"
	prefix string // the table it is in: "accounts[0]"
	keyOff int    // offset of the first key part
	valOff int    // offset of the value
	end    int    // end of the value
	kind   unstable.Kind
	text   string // decoded string, or the raw text of another scalar
	elems  []elem // for arrays, their elements
	top    int    // index in docIndex.tops of the expression it belongs to
}

type elem struct {
	kind unstable.Kind
	off  int // 0 for arrays, which have no position in the AST
}

type header struct {
	keyOff int    // offset of the first key part
	off    int    // offset of the opening bracket
	path   string // shown path: "accounts" for [[accounts]]
	table  string // table path: "accounts[1]" for the second [[accounts]]
}

type span struct{ start, end int }

// syntaxError is a document the unstable parser rejects.
type syntaxError struct {
	off int
	msg string
}

// buildIndex indexes data. On a syntax error it returns the index of the
// expressions before the error (useful to name the table the error is in)
// and the error.
func buildIndex(data []byte) (*docIndex, *syntaxError) {
	idx := &docIndex{
		data:       data,
		lineStarts: []int{0},
		byPath:     map[string]*keyValue{},
		keyAt:      map[int]string{},
		tables:     map[string]int{},
	}
	for i, c := range data {
		if c == '\n' {
			idx.lineStarts = append(idx.lineStarts, i+1)
		}
	}

	var p unstable.Parser
	p.Reset(data)
	current := ""              // path of the current table
	arrays := map[string]int{} // number of elements of each array of tables
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, keyOff, _ := keyParts(e)
			h := header{keyOff: keyOff, off: headerStart(data, keyOff)}
			h.table, h.path = resolveHeader(parts, arrays, e.Kind == unstable.ArrayTable)
			idx.headers = append(idx.headers, h)
			idx.setTable(h.table, h.off)
			idx.setKeyAt(keyOff, h.path)
			current = h.table
		case unstable.KeyValue:
			idx.tops = append(idx.tops, span{int(e.Raw.Offset), int(e.Raw.Offset + e.Raw.Length)})
			idx.addKeyValue(e, current, len(idx.tops)-1)
		}
	}
	if err := p.Error(); err != nil {
		se := &syntaxError{msg: err.Error()}
		if pe, ok := err.(*unstable.ParserError); ok {
			se.msg = pe.Message
			if off := cap(data) - cap(pe.Highlight); pe.Highlight != nil && off >= 0 && off <= len(data) {
				se.off = off
			}
		}
		return idx, se
	}
	return idx, nil
}

func (idx *docIndex) setTable(path string, off int) {
	if _, ok := idx.tables[path]; !ok {
		idx.tables[path] = off
	}
}

func (idx *docIndex) setKeyAt(off int, path string) {
	if _, ok := idx.keyAt[off]; !ok {
		idx.keyAt[off] = path
	}
}

func (idx *docIndex) addKeyValue(e *unstable.Node, prefix string, top int) {
	parts, keyOff, keyEnd := keyParts(e)
	path := prefix
	for i, part := range parts {
		if i > 0 {
			idx.setTable(path, keyOff) // a dotted key defines its tables
		}
		path = joinKey(path, part)
	}
	v := e.Value()
	kv := &keyValue{
		path:   path,
		prefix: prefix,
		keyOff: keyOff,
		valOff: valueStart(idx.data, v, keyEnd),
		end:    int(e.Raw.Offset + e.Raw.Length),
		kind:   v.Kind,
		text:   string(v.Data),
		top:    top,
	}
	if kv.end < kv.valOff {
		kv.end = kv.valOff
	}
	idx.kvs = append(idx.kvs, kv)
	if _, ok := idx.byPath[path]; !ok {
		idx.byPath[path] = kv
	}
	idx.setKeyAt(keyOff, path)
	idx.setKeyAt(kv.valOff, path)

	switch v.Kind {
	case unstable.InlineTable:
		idx.setTable(path, kv.valOff)
		idx.addInlineTable(v, path, top)
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			c := it.Node()
			el := elem{kind: c.Kind}
			if c.Raw.Length > 0 {
				el.off = int(c.Raw.Offset)
			}
			kv.elems = append(kv.elems, el)
			if c.Kind == unstable.InlineTable {
				tp := path + "[" + strconv.Itoa(i) + "]"
				idx.setTable(tp, el.off)
				idx.setKeyAt(el.off, tp)
				idx.addInlineTable(c, tp, top)
			}
		}
	}
}

func (idx *docIndex) addInlineTable(t *unstable.Node, path string, top int) {
	for it := t.Children(); it.Next(); {
		if c := it.Node(); c.Kind == unstable.KeyValue {
			idx.addKeyValue(c, path, top)
		}
	}
}

// keyParts returns the decoded parts of the key of a key-value or table
// expression, the offset of its first part and the end of its last.
func keyParts(e *unstable.Node) (parts []string, start, end int) {
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if len(parts) == 0 {
			start = int(n.Raw.Offset)
		}
		end = int(n.Raw.Offset + n.Raw.Length)
		parts = append(parts, string(n.Data))
	}
	return parts, start, end
}

// valueStart is the offset of value v. Arrays have no position in the AST:
// theirs is found after the '=' that follows the key.
func valueStart(data []byte, v *unstable.Node, keyEnd int) int {
	if v.Raw.Length > 0 {
		return int(v.Raw.Offset)
	}
	i := keyEnd
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	if i < len(data) && data[i] == '=' {
		i++
	}
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	return i
}

// headerStart is the offset of the bracket opening a table header whose
// first key part is at keyOff.
func headerStart(data []byte, keyOff int) int {
	i := keyOff
	for i > 0 && (data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '[') {
		i--
	}
	return i
}

// resolveHeader returns the path of the table a header opens (with the index
// of the new element for an array of tables, and of the last element for
// arrays of tables it goes through) and the path shown for the header.
func resolveHeader(parts []string, arrays map[string]int, arrayTable bool) (table, shown string) {
	path := ""
	for i, part := range parts {
		path = joinKey(path, part)
		if i == len(parts)-1 && arrayTable {
			n := arrays[path]
			arrays[path] = n + 1
			return path + "[" + strconv.Itoa(n) + "]", path
		}
		if n := arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path, path
}

// joinKey appends a key part to a path, quoting the part unless it is a
// bare key.
func joinKey(path, part string) string {
	bare := part != ""
	for i := 0; i < len(part); i++ {
		c := part[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			bare = false
			break
		}
	}
	if !bare {
		part = strconv.Quote(part)
	}
	if path == "" {
		return part
	}
	return path + "." + part
}

// pos converts an offset to a 1-based line and byte column.
func (idx *docIndex) pos(off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(idx.data) {
		off = len(idx.data)
	}
	i := sort.Search(len(idx.lineStarts), func(i int) bool { return idx.lineStarts[i] > off }) - 1
	return i + 1, off - idx.lineStarts[i] + 1
}

// offset converts a 1-based line and column back to an offset.
func (idx *docIndex) offset(line, col int) int {
	if line < 1 || line > len(idx.lineStarts) {
		return len(idx.data)
	}
	off := idx.lineStarts[line-1] + col - 1
	if off < 0 {
		return 0
	}
	if off > len(idx.data) {
		return len(idx.data)
	}
	return off
}

// keyFor returns the path of the key at off: the key, value or header
// starting there, else the innermost key-value containing it.
func (idx *docIndex) keyFor(off int) (string, bool) {
	if k, ok := idx.keyAt[off]; ok {
		return k, true
	}
	var best *keyValue
	for _, kv := range idx.kvs {
		if kv.keyOff <= off && off < kv.end && (best == nil || kv.keyOff >= best.keyOff) {
			best = kv
		}
	}
	if best != nil {
		return best.path, true
	}
	return "", false
}

// topAt returns the index of the top-level key-value expression containing
// off, or -1.
func (idx *docIndex) topAt(off int) int {
	for i, t := range idx.tops {
		if t.start <= off && off < t.end {
			return i
		}
	}
	return -1
}

var headerLineRE = regexp.MustCompile(`^[ \t]*\[\[?[ \t]*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)`)

var keyLineRE = regexp.MustCompile(`^[ \t]*([A-Za-z0-9_-]+(?:[ \t]*\.[ \t]*[A-Za-z0-9_-]+)*)[ \t]*=`)

// syntaxKey guesses the key a syntax error at off is about: the key of the
// key-value on its line, in the table the line belongs to; else that table;
// "" for an error in a table header or before any table.
func (idx *docIndex) syntaxKey(off int) string {
	line, _ := idx.pos(off)
	start := idx.lineStarts[line-1]
	end := len(idx.data)
	if line < len(idx.lineStarts) {
		end = idx.lineStarts[line]
	}
	text := string(idx.data[start:end])
	if m := headerLineRE.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	if strings.HasPrefix(strings.TrimLeft(text, " \t"), "[") {
		return ""
	}
	table := ""
	for _, h := range idx.headers {
		if h.off <= off {
			table = h.table
		}
	}
	if m := keyLineRE.FindStringSubmatchIndex(text); m != nil && start+m[1] <= off {
		path := table
		for _, part := range strings.Split(text[m[2]:m[3]], ".") {
			path = joinKey(path, strings.TrimSpace(part))
		}
		return path
	}
	return table
}

// Schema: the keys Config accepts, from its toml tags.

var (
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	byteSizeType        = reflect.TypeOf(ByteSize(0))
	durationType        = reflect.TypeOf(Duration(0))

	// schema maps key paths without array indexes ("accounts.security") to
	// the Go type of their field.
	schema = func() map[string]reflect.Type {
		m := map[string]reflect.Type{}
		addSchema(m, "", reflect.TypeOf(Config{}))
		return m
	}()
)

func addSchema(m map[string]reflect.Type, prefix string, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := joinKey(prefix, name)
		m[path] = f.Type
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !isText(ft) {
			addSchema(m, path, ft)
		}
	}
}

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshalerType) }

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

// schemaPath removes the array indexes of a path.
func schemaPath(path string) string { return indexRE.ReplaceAllString(path, "") }

// expect returns the TOML kinds a field of type t accepts and how to say
// so, or nil when any kind goes (the decoder then decides).
func expect(t reflect.Type) ([]unstable.Kind, string) {
	switch {
	case t == byteSizeType:
		return []unstable.Kind{unstable.String, unstable.Integer}, `a size such as "50MB" or a number of bytes`
	case t == durationType:
		return []unstable.Kind{unstable.String}, `a duration such as "1m"`
	case isText(t):
		return []unstable.Kind{unstable.String}, "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return []unstable.Kind{unstable.String}, "a string"
	case reflect.Bool:
		return []unstable.Kind{unstable.Bool}, "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return []unstable.Kind{unstable.Integer}, "an integer"
	case reflect.Struct:
		return []unstable.Kind{unstable.InlineTable}, "a table"
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Struct && !isText(e) {
			return []unstable.Kind{unstable.Array}, "an array of tables"
		}
		return []unstable.Kind{unstable.Array}, "an array"
	}
	return nil, ""
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.DateTime, unstable.LocalDateTime, unstable.LocalDate, unstable.LocalTime:
		return "a date-time"
	}
	return k.String()
}

// foldedSchemaKey returns the schema key equal to sp under case folding,
// if sp itself is not one.
func foldedSchemaKey(sp string) (string, bool) {
	if _, ok := schema[sp]; ok {
		return "", false
	}
	for k := range schema {
		if strings.EqualFold(k, sp) {
			return k, true
		}
	}
	return "", false
}

// suggest returns a hint for an unknown key or table at path: a known key
// of the same table with a similar name, or the table the key belongs in.
func suggest(path string) string {
	sp := schemaPath(path)
	parent, last := "", sp
	if i := strings.LastIndexByte(sp, '.'); i >= 0 {
		parent, last = sp[:i], sp[i+1:]
	}
	best, bestDist := "", 3
	for k := range schema {
		kp, kl := "", k
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			kp, kl = k[:i], k[i+1:]
		}
		if kp != parent {
			continue
		}
		d := editDistance(strings.ToLower(last), kl)
		if d > 2 || d >= len(kl) {
			continue
		}
		if best == "" || d < bestDist || d == bestDist && kl < best {
			best, bestDist = kl, d
		}
	}
	if best != "" {
		return "; did you mean " + strconv.Quote(best) + "?"
	}
	var homes []string
	for k := range schema {
		if kp, kl, ok := cutLast(k); ok && kl == last && kp != parent {
			if schema[kp].Kind() == reflect.Slice {
				homes = append(homes, "[["+kp+"]]")
			} else {
				homes = append(homes, "["+kp+"]")
			}
		}
	}
	if len(homes) > 0 {
		sort.Strings(homes)
		return " (it belongs in " + strings.Join(homes, " or ") + ")"
	}
	return ""
}

func cutLast(k string) (parent, last string, ok bool) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return "", k, false
	}
	return k[:i], k[i+1:], true
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
