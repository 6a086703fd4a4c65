package journal

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
)

// part is one body part of a multipart entity, by offsets into the input.
type part struct {
	index    int // 1-based, for messages
	header   header
	problems problems
	err      error // the part's header could not be read
	body     int64 // first byte of the body
	end      int64 // end of the body: the line break before the next delimiter is not part of it
}

// mediaType returns the part's media type, lower case; text/plain when it
// has no Content-Type (RFC 2046 section 5.1).
func (p *part) mediaType() string {
	ct := p.header.get("Content-Type")
	if ct == "" {
		return "text/plain"
	}
	return mediaType(ct)
}

// mediaType returns the type/subtype of a Content-Type value, lower case,
// without parsing its parameters (which may be malformed).
func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// param returns a parameter of a Content-Type value: by mime.ParseMediaType
// when the value is well-formed, else by a lenient scan for name=value or
// name="value".
func param(ct, name string) string {
	if _, params, err := mime.ParseMediaType(ct); err == nil {
		return params[name]
	}
	s := ct
	for {
		i := indexFold(s, name)
		if i < 0 {
			return ""
		}
		before := strings.TrimRight(s[:i], " \t\r\n")
		rest := strings.TrimLeft(s[i+len(name):], " \t\r\n")
		s = s[i+len(name):]
		if (before != "" && !strings.HasSuffix(before, ";")) || !strings.HasPrefix(rest, "=") {
			continue
		}
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
		if strings.HasPrefix(rest, `"`) {
			if j := strings.IndexByte(rest[1:], '"'); j >= 0 {
				return rest[1 : 1+j]
			}
			return rest[1:]
		}
		if j := strings.IndexAny(rest, "; \t\r\n"); j >= 0 {
			return rest[:j]
		}
		return rest
	}
}

// indexFold is strings.Index for ASCII case-insensitive matching.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// splitMultipart reads the parts of a multipart body with the given boundary
// from lr, which is at the start of the body (RFC 2046 section 5.1.1). It
// reads each part's header and locates its body; bodies are streamed, not
// kept. closed reports whether the close delimiter was seen; without it the
// last part runs to the end of the input.
func splitMultipart(lr *lineReader, boundary string) (parts []*part, closed bool, err error) {
	delim := []byte("--" + boundary)
	lr.stop = delim
	defer func() { lr.stop = nil }()
	var cur *part
	prevEnd := int64(-1) // where the previous line's line break begins
	finish := func(at int64) {
		if cur != nil {
			cur.end = max(at, cur.body)
			parts = append(parts, cur)
			cur = nil
		}
	}
	for {
		p, off, start, rerr := lr.piece()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			finish(lr.off)
			return parts, false, rerr
		}
		if start && len(p) >= len(delim) && bytes.HasPrefix(p, delim) {
			rest := bytes.TrimRight(p[len(delim):], " \t\r\n")
			isClose := len(rest) == 2 && rest[0] == '-' && rest[1] == '-'
			if isClose || len(rest) == 0 {
				// The line break before a delimiter belongs to the delimiter.
				at := off
				if prevEnd >= 0 {
					at = prevEnd
				}
				finish(at)
				if isClose {
					return parts, true, nil
				}
				if len(parts) >= maxParts {
					return parts, false, fmt.Errorf("more than %d parts", maxParts)
				}
				cur = &part{index: len(parts) + 1}
				cur.header, cur.err = readHeader(lr, &cur.problems)
				cur.body = lr.off
				prevEnd = -1
				continue
			}
		}
		switch n := len(p); {
		case n >= 2 && p[n-2] == '\r' && p[n-1] == '\n':
			prevEnd = off + int64(n-2)
		case p[n-1] == '\n':
			prevEnd = off + int64(n-1)
		default:
			prevEnd = -1
		}
	}
	finish(lr.off)
	return parts, false, nil
}
