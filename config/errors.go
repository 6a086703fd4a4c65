package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem of a configuration file, at a position in it.
type Error struct {
	File string // the name given to Parse (the path given to Load)
	Line int    // 1-based
	Col  int    // 1-based, in bytes
	// Key is the key the problem is about, with array indexes:
	// "accounts[0].security". It is empty only for syntax errors outside
	// any key and table.
	Key string
	Msg string
}

// Error formats e as "file:line:col: key: message".
func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Key, e.Msg)
}

// Errors are all the problems found in a configuration file, sorted by
// position. Parse and Load return them as their error; get them back with
// errors.As.
type Errors []*Error

// Error has one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives the individual errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortDedup sorts es by position (stable otherwise) and drops exact
// duplicates.
func (es Errors) sortDedup() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
	var out Errors
	for _, e := range es {
		if len(out) > 0 && *e == *out[len(out)-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}
