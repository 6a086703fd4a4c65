package index

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func zipOf(t testing.TB, members ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i < len(members); i += 2 {
		w, err := zw.Create(members[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(members[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sinkOf() *textSink {
	s := &textSink{total: maxAttText}
	s.startPart(maxPartText)
	return s
}

func TestOfficeText(t *testing.T) {
	tests := []struct {
		name string
		zip  []byte
		want string
	}{
		{"docx", zipOf(t, "word/document.xml", `<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Hel</w:t></w:r><w:r><w:t>lo</w:t></w:r><w:tab/><w:r><w:t>world</w:t></w:r></w:p><w:p><w:r><w:t>Two</w:t></w:r></w:p><w:sectPr>ignored</w:sectPr></w:body></w:document>`,
			"word/styles.xml", `<w:t>styleword</w:t>`), "Hello world Two"},
		{"xlsx", zipOf(t, "xl/workbook.xml", "<workbook/>", "xl/worksheets/sheet2.xml", `<ws><c t="s"><v>0</v></c><c><v>12.5</v></c><c t="str"><f>A1</f><v>formula result</v></c></ws>`,
			"xl/sharedStrings.xml", `<sst><si><t>first</t></si><si><r><t>ri</t></r><r><t>ch</t></r></si></sst>`), "first rich 12.5 formula result"},
		{"pptx", zipOf(t, "ppt/presentation.xml", "<p/>", "ppt/slides/slide10.xml", `<a:p><a:t>ten</a:t></a:p>`, "ppt/slides/slide2.xml", `<a:p><a:t>two</a:t></a:p>`), "two ten"},
		{"odt", zipOf(t, "mimetype", "application/vnd.oasis.opendocument.text", "content.xml", `<office:document-content><office:body><office:text><text:p>a<text:s/>b <text:span>c</text:span>d</text:p><text:p>e</text:p></office:text></office:body></office:document-content>`), "a b cd e"},
		{"sloppy xml", zipOf(t, "word/document.xml", `<w:p><w:t>kept &amp; decoded &nbsp; text</w:t></w:p><w:p><w:t>trunc`), "kept & decoded text trunc"},
	}
	for _, tt := range tests {
		s := sinkOf()
		if err := officeText(context.Background(), tt.zip, s); err != nil {
			t.Errorf("%s: officeText = %v", tt.name, err)
		}
		if got := s.String(); got != tt.want {
			t.Errorf("%s: text %q; want %q", tt.name, got, tt.want)
		}
	}
	if err := officeText(context.Background(), zipOf(t, "a.txt", "x"), sinkOf()); err == nil {
		t.Errorf("officeText(zip of no office file) = nil; want error")
	}
	if err := officeText(context.Background(), []byte("PK\x03\x04 garbage"), sinkOf()); err == nil {
		t.Errorf("officeText(garbage) = nil; want error")
	}
}

// TestOfficeBounds: a zip bomb and an endless document stop at the bounds.
func TestOfficeBounds(t *testing.T) {
	// 200 MiB of one text element compress to a few hundred KiB.
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("word/document.xml")
	w.Write([]byte("<w:p><w:t>"))
	chunk := []byte(strings.Repeat("bomb ", 1<<16))
	for range (200 << 20) / len(chunk) {
		w.Write(chunk)
	}
	zw.Close()
	start := time.Now()
	s := sinkOf()
	if err := officeText(context.Background(), b.Bytes(), s); err != errTextFull {
		t.Errorf("officeText(bomb) = %v; want %v", err, errTextFull)
	}
	if s.Len() > maxPartText+8 {
		t.Errorf("bomb gave %d bytes of text; want at most %d", s.Len(), maxPartText)
	}
	t.Logf("bomb of %d bytes: %v", b.Len(), time.Since(start))

	// Markup without text is read up to maxZipMemberSize, or the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	b.Reset()
	zw = zip.NewWriter(&b)
	w, _ = zw.Create("word/document.xml")
	chunk = []byte(strings.Repeat("<w:r/>", 1<<14))
	for range (100 << 20) / len(chunk) {
		w.Write(chunk)
	}
	zw.Close()
	start = time.Now()
	err := officeText(ctx, b.Bytes(), sinkOf())
	if err != errAttTimeout {
		t.Errorf("officeText(slow) = %v; want %v", err, errAttTimeout)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("officeText(slow) took %v after a 50ms deadline", d)
	}
}

func TestPDFText(t *testing.T) {
	if !PDFText() {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext is not installed (CI=true; test.sh installs poppler-utils)")
		}
		t.Skip("pdftotext is not installed (apt-get install poppler-utils)")
	}
	pdf := []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n" +
		"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n" +
		"4 0 obj\n<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 720 Td (Hello PDF) Tj ET\nendstream\nendobj\n" +
		"5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	s := sinkOf()
	if err := pdfText(context.Background(), pdf, s); err != nil {
		t.Fatalf("pdfText = %v", err)
	}
	if got := s.String(); got != "Hello PDF" {
		t.Errorf("pdfText = %q; want %q", got, "Hello PDF")
	}
	if err := pdfText(context.Background(), []byte("%PDF-1.7 garbage"), sinkOf()); err == nil {
		t.Errorf("pdfText(garbage) = nil; want error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pdfText(ctx, pdf, sinkOf()); err != errAttTimeout {
		t.Errorf("pdfText(cancelled) = %v; want %v", err, errAttTimeout)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		mt, name string
		want     attKind
	}{
		{"application/octet-stream", "Report.PDF", attPDF},
		{"application/pdf", "", attPDF},
		{"application/octet-stream", "a.docx", attOffice},
		{"application/vnd.oasis.opendocument.spreadsheet", "x", attOffice},
		{"text/csv", "a.csv", attText},
		{"text/plain", "", attText},
		{"application/octet-stream", "page.htm", attHTML},
		{"image/png", "logo.png", attNone},
		{"application/zip", "a.zip", attNone},
	}
	for _, tt := range tests {
		if got := kindOf(tt.mt, tt.name); got != tt.want {
			t.Errorf("kindOf(%q, %q) = %d; want %d", tt.mt, tt.name, got, tt.want)
		}
	}
}

func TestIsAttachment(t *testing.T) {
	tests := []struct {
		mt, disp, name string
		want           bool
	}{
		{"application/pdf", "attachment", "a.pdf", true},
		{"application/pdf", "", "a.pdf", true},
		{"image/png", "inline", "logo.png", false},
		{"text/plain", "", "", false},
		{"text/plain", "attachment", "", true},
		{"multipart/mixed", "attachment", "x", false},
	}
	for _, tt := range tests {
		if got := isAttachment(tt.mt, tt.disp, tt.name); got != tt.want {
			t.Errorf("isAttachment(%q, %q, %q) = %v; want %v", tt.mt, tt.disp, tt.name, got, tt.want)
		}
	}
}

func TestNaturalLess(t *testing.T) {
	names := []string{"slide10.xml", "slide2.xml", "slide1.xml", "slide02.xml"}
	for i, a := range names {
		for j, b := range names {
			ab, ba := naturalLess(a, b), naturalLess(b, a)
			if i == j && (ab || ba) {
				t.Errorf("naturalLess(%q, %q) for equal names", a, b)
			}
		}
	}
	if !naturalLess("slide2.xml", "slide10.xml") || naturalLess("slide10.xml", "slide2.xml") {
		t.Errorf("slide2 must sort before slide10")
	}
}
