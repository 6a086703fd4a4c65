package index

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"

	"jarchive/index/pdftext"
)

// Text of attachments. Each kind is bounded: the decoded attachment is read
// up to maxAttInput bytes (larger ones keep only their name), its text up
// to maxPartText, and the time spent on all attachments of a message up to
// maxExtractTime, one pdftotext run up to maxAttachmentRun.

// Bounds of zip-based office files.
const (
	maxZipEntries    = 2000     // entries of a zip looked at
	maxZipMembers    = 500      // XML members read (slides, sheets, ...)
	maxZipMemberSize = 16 << 20 // decompressed bytes read per member (XML is ~90% markup)
	maxZipTotal      = 48 << 20 // decompressed bytes read per file
	maxPDFPages      = 500      // pages pdftotext converts
)

var errAttTimeout = errors.New("attachment text: time limit reached")

// isAttachment tells whether a part is an attachment rather than the text of
// the message: it is marked as one, or it has a file name and is not marked
// inline (Outlook's signature logos are inline with a name, scanned
// documents come without disposition but with a name).
func isAttachment(mt, disp, name string) bool {
	if strings.HasPrefix(mt, "multipart/") {
		return false
	}
	return disp == "attachment" || (name != "" && disp != "inline")
}

// attKind is how the text of an attachment is read.
type attKind int

const (
	attNone attKind = iota
	attText
	attHTML
	attPDF
	attOffice
)

var officeTypes = map[string]string{
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
	"application/vnd.oasis.opendocument.text":                                   "odt",
	"application/vnd.oasis.opendocument.spreadsheet":                            "ods",
	"application/vnd.oasis.opendocument.presentation":                           "odp",
}

var officeExts = map[string]bool{
	"docx": true, "docm": true, "xlsx": true, "xlsm": true, "pptx": true, "pptm": true,
	"odt": true, "ods": true, "odp": true,
}

var textExts = map[string]bool{"txt": true, "csv": true, "tsv": true, "log": true, "md": true, "ics": true, "vcf": true}

// kindOf decides by the file name's extension first (senders often say
// application/octet-stream), then by the media type.
func kindOf(mt, name string) attKind {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	switch {
	case ext == "pdf":
		return attPDF
	case officeExts[ext]:
		return attOffice
	case ext == "htm" || ext == "html":
		return attHTML
	case textExts[ext]:
		return attText
	case mt == "application/pdf" || mt == "application/x-pdf":
		return attPDF
	case officeTypes[mt] != "":
		return attOffice
	case mt == "text/html":
		return attHTML
	case strings.HasPrefix(mt, "text/"):
		return attText
	}
	return attNone
}

// attachment reads the text of an attachment into x.att.
func (x *extractor) attachment(h *textproto.Header, body io.Reader, mt, name string) {
	kind := kindOf(mt, name)
	if kind == attNone || x.att.total <= 0 {
		return
	}
	if time.Now().After(x.deadline) {
		x.fail(errAttTimeout)
		return
	}
	if kind == attText || kind == attHTML {
		if _, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil && h.Get("Content-Type") != "" {
			h.Set("Content-Type", mt+formatCharset(paramsOf(h)["charset"]))
		}
	}
	r := x.decode(h, body)
	x.att.startPart(maxPartText)
	defer x.att.endPart()
	switch kind {
	case attText:
		x.readErr(x.att.readFrom(io.LimitReader(r, maxAttInput)))
		return
	case attHTML:
		x.readErr(stripHTML(&x.att, io.LimitReader(r, maxAttInput)))
		return
	}
	buf := attachmentBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAttachment {
			buf.Reset()
			attachmentBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(r, maxAttInput+1)); err != nil {
		x.fail(fmt.Errorf("attachment %q: %w", name, err))
		return
	}
	data := buf.Bytes()
	var err error
	if len(data) > maxAttInput {
		return // too large to look into; its name is indexed
	}
	ctx, cancel := context.WithDeadline(context.Background(), minTime(x.deadline, time.Now().Add(maxAttachmentRun)))
	defer cancel()
	switch kind {
	case attPDF:
		err = pdfText(ctx, data, &x.att)
	case attOffice:
		err = officeText(ctx, data, &x.att)
	}
	if err == errAttTimeout {
		// Other failures are files that are not what their name
		// says, or encrypted: common, and no fault of the message.
		x.fail(fmt.Errorf("attachment %q: %w", name, err))
	}
}

// attachmentBufs hold PDF and office attachments while their text is
// extracted (they were an eighth of the bytes an import allocated); a
// buffer grown beyond maxPooledAttachment is left to the collector.
var attachmentBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledAttachment = 4 << 20

func paramsOf(h *textproto.Header) map[string]string {
	_, p := mediaType(h.Get("Content-Type"))
	return p
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// errNoPDFToText: pdftotext is not installed, PDFs keep only their names.
var errNoPDFToText = errors.New("pdftotext not installed")

// pdftotext is the path of poppler's pdftotext, "" when it is not installed.
var pdftotext = sync.OnceValue(func() string {
	p, err := exec.LookPath("pdftotext")
	if err != nil {
		return ""
	}
	return p
})

// PDFText reports whether the text of every PDF attachment is indexed:
// whether poppler's pdftotext is installed for the PDFs that pdftext
// leaves to it.
func PDFText() bool { return pdftotext() != "" }

// pdfText extracts the text of a PDF into w: in the process (pdftext) when
// the PDF is one it fully understands, else with pdftotext, until ctx is
// done or w is full.
func pdfText(ctx context.Context, data []byte, w *textSink) error {
	text, err := pdftext.Extract(ctx, data, maxPDFPages, maxPartText)
	switch {
	case err == nil:
		if werr := w.write(text); werr != nil && werr != errTextFull {
			return werr
		}
		return nil
	case ctx.Err() != nil:
		return errAttTimeout
	}
	// Unsupported or malformed: pdftotext's turn (it repairs broken
	// files, and reads what pdftext leaves).
	p := pdftotext()
	if p == "" {
		if errors.Is(err, pdftext.ErrUnsupported) {
			return errNoPDFToText
		}
		return err
	}
	cmd := exec.CommandContext(ctx, p, "-q", "-enc", "UTF-8", "-l", fmt.Sprint(maxPDFPages), "-", "-")
	cmd.Stdin = bytes.NewReader(data)
	cmd.WaitDelay = time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return errAttTimeout
		}
		return err
	}
	waited := false
	defer func() {
		if !waited {
			// readFrom panicked (safeExtract recovers it): stop the
			// process and the copier of its input, which reads data,
			// before the caller's buffer goes back to its pool.
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	rerr := w.readFrom(out)
	if rerr != nil {
		cmd.Process.Kill() // full, or a read error: no more output wanted
	}
	werr := cmd.Wait()
	waited = true
	switch {
	case ctx.Err() != nil:
		return errAttTimeout
	case rerr != nil:
		return rerr
	case werr != nil:
		return fmt.Errorf("pdftotext: %w", werr)
	}
	return nil
}

// An officeFormat says which members of a zip-based office file hold text
// and which XML elements in them do.
type officeFormat struct {
	members *regexp.Regexp
	text    map[string]bool // elements whose character data is text; nil: all
	block   map[string]bool // elements that separate words
}

var (
	docxFormat = &officeFormat{
		members: regexp.MustCompile(`^word/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml$`),
		text:    map[string]bool{"t": true},
		block:   map[string]bool{"p": true, "tab": true, "br": true, "cr": true, "tc": true},
	}
	xlsxFormat = &officeFormat{
		members: regexp.MustCompile(`^xl/(sharedStrings|worksheets/sheet\d+)\.xml$`),
		text:    map[string]bool{"t": true, "v": true},
		block:   map[string]bool{"si": true, "c": true, "is": true},
	}
	pptxFormat = &officeFormat{
		members: regexp.MustCompile(`^ppt/(slides/slide\d+|notesSlides/notesSlide\d+)\.xml$`),
		text:    map[string]bool{"t": true},
		block:   map[string]bool{"p": true, "br": true},
	}
	odfFormat = &officeFormat{
		members: regexp.MustCompile(`^content\.xml$`),
		block: map[string]bool{"p": true, "h": true, "tab": true, "s": true, "line-break": true,
			"table-cell": true, "list-item": true, "frame": true},
	}
)

// officeText writes the text of a DOCX, XLSX, PPTX or OpenDocument file,
// told apart by their members, to w.
func officeText(ctx context.Context, data []byte, w *textSink) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if len(zr.File) > maxZipEntries {
		return fmt.Errorf("zip of %d entries", len(zr.File))
	}
	var format *officeFormat
	for _, f := range zr.File {
		switch {
		case f.Name == "word/document.xml":
			format = docxFormat
		case f.Name == "xl/workbook.xml":
			format = xlsxFormat
		case f.Name == "ppt/presentation.xml":
			format = pptxFormat
		case f.Name == "content.xml":
			format = odfFormat
		}
		if format != nil {
			break
		}
	}
	if format == nil {
		return errors.New("not a known office file")
	}
	var members []*zip.File
	for _, f := range zr.File {
		if format.members.MatchString(f.Name) {
			members = append(members, f)
		}
	}
	// Natural order: slide2 before slide10; sharedStrings before sheets.
	sort.SliceStable(members, func(i, j int) bool { return naturalLess(members[i].Name, members[j].Name) })
	if len(members) > maxZipMembers {
		members = members[:maxZipMembers]
	}
	budget := int64(maxZipTotal)
	for _, f := range members {
		if budget <= 0 {
			break
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		lr := &io.LimitedReader{R: rc, N: min(maxZipMemberSize, budget)}
		err = xmlText(ctx, ctxReader{ctx, lr}, format, w)
		budget -= min(maxZipMemberSize, budget) - lr.N
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// xmlText writes the character data of the text elements of an office XML
// member to w.
func xmlText(ctx context.Context, r io.Reader, format *officeFormat, w *textSink) error {
	d := xml.NewDecoder(r)
	d.Strict = false
	d.Entity = xml.HTMLEntity
	depth := 0       // element depth
	inText := 0      // depth of the innermost open text element, 0: none
	sharedV := false // in <c t="s"><v>: an index into the shared strings, not text
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return errAttTimeout
		}
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		} else if ctx.Err() != nil {
			return errAttTimeout
		} else if err != nil {
			return nil // keep what was read: truncated and sloppy XML is common
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 256 {
				return errors.New("xml nested too deep")
			}
			local := t.Name.Local
			if format == xlsxFormat && local == "c" {
				sharedV = false
				for _, a := range t.Attr {
					if a.Name.Local == "t" && a.Value == "s" {
						sharedV = true
					}
				}
			}
			if format.text[local] && inText == 0 && !(local == "v" && sharedV) {
				inText = depth
			}
		case xml.EndElement:
			if format.block[t.Name.Local] {
				w.space = true
			}
			if depth == inText {
				inText = 0
			}
			depth--
		case xml.CharData:
			if format.text == nil || inText > 0 {
				if err := w.write(t); err != nil {
					return err
				}
			}
		}
	}
}

// ctxReader fails once ctx is done, also in the middle of one long XML
// token.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, errAttTimeout
	}
	return c.r.Read(p)
}

// naturalLess orders names with numbers by value: slide2 < slide10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		ca, cb := a[0], b[0]
		if isDigit(ca) && isDigit(cb) {
			i, j := 0, 0
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[i:], b[j:]
			continue
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
