package web

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the charsets of text parts
	"github.com/emersion/go-message/mail"
)

// Bounds of what a message page shows.
const (
	maxBodyText = 2 << 20 // bytes of the text or HTML body shown
	maxParts    = 500
	maxDepth    = 20
)

// Attachment is one part of a message listed for download.
type Attachment struct {
	N           int    `json:"n"` // 1-based, in MIME order
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"` // decoded bytes
	Inline      bool   `json:"inline,omitempty"`
}

// content is what a message page shows of the body.
type content struct {
	Text          string // the first text/plain body part
	HTML          string // the first text/html body part, unsanitized
	TextTruncated bool
	Attachments   []Attachment
	Problem       string // why the MIME structure could not be read whole
}

// leaf is a part without sub-parts, as walk finds it.
type leaf struct {
	ctype    string
	filename string
	attach   bool // Content-Disposition: attachment, or a named part
	inline   bool
	body     io.Reader
}

// walk calls fn for each leaf part of the message in r, in MIME order,
// stopping at the first error fn returns. A message/rfc822 part is a leaf
// (an attached message). Malformed parts end the walk with an error; what
// was read until then stays valid.
func walk(r io.Reader, fn func(l *leaf) error) error {
	e, err := message.Read(bufio.NewReader(r))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		if e == nil {
			return err
		}
	}
	count := 0
	var rec func(e *message.Entity, depth int) error
	rec = func(e *message.Entity, depth int) error {
		if count++; count > maxParts || depth > maxDepth {
			return errors.New("too many or too deeply nested parts")
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil && (p == nil || !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
					return err
				}
				if err := rec(p, depth+1); err != nil {
					return err
				}
			}
		}
		ct, _, cerr := e.Header.ContentType()
		if cerr != nil || ct == "" {
			ct = "text/plain"
		}
		ct = strings.ToLower(ct)
		disp, _, _ := e.Header.ContentDisposition()
		ah := mail.AttachmentHeader{Header: e.Header}
		name, _ := ah.Filename()
		if name == "" {
			if _, params, err := mime.ParseMediaType(e.Header.Get("Content-Type")); err == nil {
				name = params["name"]
				if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
					name = d
				}
			}
		}
		l := &leaf{ctype: ct, filename: name, body: e.Body,
			attach: strings.EqualFold(disp, "attachment") || name != "" || ct == "message/rfc822",
			inline: strings.EqualFold(disp, "inline")}
		return fn(l)
	}
	return rec(e, 0)
}

// readContent reads the body text, HTML and attachment list of a message.
func readContent(r io.Reader) *content {
	c := &content{}
	var bs bodyState
	err := walk(r, func(l *leaf) error {
		switch bs.classify(l) {
		case partText:
			b, err := io.ReadAll(io.LimitReader(l.body, maxBodyText+1))
			c.TextTruncated = len(b) > maxBodyText
			c.Text = strings.ToValidUTF8(string(b[:min(len(b), maxBodyText)]), "\uFFFD")
			return ignoreCharset(err)
		case partHTML:
			b, err := io.ReadAll(io.LimitReader(l.body, maxBodyText))
			c.HTML = strings.ToValidUTF8(string(b), "\uFFFD")
			return ignoreCharset(err)
		}
		n, err := io.Copy(io.Discard, l.body)
		name := l.filename
		if name == "" {
			name = "part" + itoa(len(c.Attachments)+1) + extensionOf(l.ctype)
		}
		c.Attachments = append(c.Attachments, Attachment{N: len(c.Attachments) + 1, Filename: name, ContentType: l.ctype, Size: n, Inline: l.inline})
		return ignoreCharset(err)
	})
	if err != nil {
		c.Problem = err.Error()
	}
	return c
}

// openAttachment calls fn with attachment n (as numbered by readContent)
// of the message in r; found is false when there is none.
func openAttachment(r io.Reader, n int, fn func(a Attachment, body io.Reader) error) (found bool, err error) {
	i := 0
	var bs bodyState
	errFound := errors.New("found")
	err = walk(r, func(l *leaf) error {
		if bs.classify(l) != partAttachment {
			return nil
		}
		i++
		if i != n {
			return nil
		}
		name := l.filename
		if name == "" {
			name = "part" + itoa(n) + extensionOf(l.ctype)
		}
		if err := fn(Attachment{N: n, Filename: name, ContentType: l.ctype}, l.body); err != nil {
			return err
		}
		return errFound
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// Kinds of leaf parts.
const (
	partAttachment = iota
	partText       // the text body
	partHTML       // the HTML body
)

// bodyState sorts the leaves of one message: the first unnamed text/plain
// and text/html parts are the body; every other part is an attachment
// (inline images and further text parts too: nothing is hidden).
type bodyState struct{ text, html bool }

func (b *bodyState) classify(l *leaf) int {
	switch {
	case l.attach:
		return partAttachment
	case l.ctype == "text/plain" && !b.text:
		b.text = true
		return partText
	case l.ctype == "text/html" && !b.html:
		b.html = true
		return partHTML
	}
	return partAttachment
}

func ignoreCharset(err error) error {
	if err != nil && (message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)) {
		return nil
	}
	return err
}

// extensionOf gives a file name extension for an unnamed part.
func extensionOf(ctype string) string {
	switch ctype {
	case "message/rfc822":
		return ".eml"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	}
	if exts, _ := mime.ExtensionsByType(ctype); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
