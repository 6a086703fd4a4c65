package pdftext

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// pdf builds a one-page PDF with the content stream content and the
// fonts given as "/F1 <<...>>" entries; extra objects (numbered from 10)
// may be referenced from them.
func pdf(content string, fonts string, extra ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>\nendobj\n")
	fmt.Fprintf(&b, "3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << %s >> /XObject << /X1 9 0 R >> >> >>\nendobj\n", fonts)
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(content)+1, content)
	for i, e := range extra {
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", 10+i, e)
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

const helvetica = "/F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"

// withWidths is Helvetica with widths of 500 for every code.
var withWidths = "/F1 << /Type /Font /Subtype /TrueType /BaseFont /Arial /Encoding /WinAnsiEncoding /FirstChar 32 /Widths [" + strings.Repeat("500 ", 224) + "] >>"

func flate(s string) string {
	var b bytes.Buffer
	z := zlib.NewWriter(&b)
	z.Write([]byte(s))
	z.Close()
	return b.String()
}

// toUnicode is a CMap mapping codes 0001-0003 to "Grü", 0004 to "ße" and
// 0005-0007 to "abc".
const toUnicode = `/CIDInit /ProcSet findresource begin 12 dict begin begincmap
1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfrange <0005> <0007> <0061> <0001> <0002> [<0047> <0072>] endbfrange
2 beginbfchar <0003> <00FC> <0004> <00DF0065> endbfchar
endcmap CMapName currentdict /CMap defineresource pop end end`

func TestExtract(t *testing.T) {
	type0 := "/F1 << /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /ToUnicode 10 0 R /DescendantFonts [11 0 R] >>"
	cmap := fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(toUnicode), toUnicode)
	cid := "<< /Type /Font /Subtype /CIDFontType2 /DW 1000 >>"
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" with err
		err  error
	}{
		{"Tj", pdf("BT /F1 12 Tf 72 720 Td (Hello PDF) Tj ET", helvetica), "Hello PDF\n", nil},
		{"lines", pdf("BT /F1 12 Tf 14 TL 72 720 Td (first line) Tj T* (second) Tj (line) ' ET", helvetica), "first line\nsecond\nline\n", nil},
		{"TJ kerning and word gaps", pdf("BT /F1 12 Tf 72 720 Td [(Hel) -20 (lo) -400 (World)] TJ ET", helvetica), "Hello World\n", nil},
		{"escapes", pdf(`BT /F1 12 Tf 72 720 Td (a\(b\) c\\d \101\102) Tj ET`, helvetica), "a(b) c\\d AB\n", nil},
		{"WinAnsi", pdf(`BT /F1 12 Tf 72 720 Td (M\374ller \200 5) Tj ET`, withWidths), "Müller € 5\n", nil},
		{"Differences", pdf(`BT /F1 12 Tf 72 720 Td (it\047s \201 \202) Tj ET`,
			"/F1 << /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /BaseEncoding /WinAnsiEncoding /Differences [39 /quoteright 129 /eacute /uni20AC] >> >>"), "it’s é €\n", nil},
		{"Type0 ToUnicode", pdf("BT /F1 12 Tf 72 720 Td <000100020003> Tj [<0004> -500 <00050006 0007>] TJ ET", type0, cmap, cid), "Grüße abc\n", nil},
		{"same line, gap is a space", pdf("BT /F1 10 Tf 72 720 Td (ab) Tj 12 0 Td (cd) Tj ET", withWidths), "ab cd\n", nil},
		{"same line, no gap", pdf("BT /F1 10 Tf 72 720 Td (ab) Tj 10 0 Td (cd) Tj ET", withWidths), "abcd\n", nil},
		{"hyphen at line end", pdf("BT /F1 12 Tf 14 TL 72 720 Td (docu-) Tj T* (ment) Tj ET", helvetica), "document\n", nil},
		{"off the page", pdf("BT /F1 12 Tf 72 720 Td (shown) Tj 0 -900 Td (hidden) Tj ET", helvetica), "shown\n", nil},
		{"form XObject", pdf("BT /F1 12 Tf 72 720 Td (page) Tj ET /X1 Do", helvetica, "", "", "", "", "", "", "", "", ""), "", nil}, // placeholder, replaced below
		{"inline image", pdf("BI /W 2 /H 2 /BPC 8 /CS /G ID \x00EI\xff\x01 EI BT /F1 12 Tf 72 720 Td (after) Tj ET", helvetica), "after\n", nil},
		{"flate", flatePDF("BT /F1 12 Tf 72 720 Td (compressed text) Tj ET"), "compressed text\n", nil},
		{"object stream", objStmPDF(), "in an object stream\n", nil},
		{"no-break space and soft hyphen", pdf(`BT /F1 12 Tf 72 720 Td (a\240b c\255d) Tj ET`, withWidths), "a b c-d\n", nil},
		{"overprint (fake bold)", pdf("BT /F1 10 Tf 72 720 Td (Bold) Tj 0.3 0 Td (Bold) Tj ET", withWidths), "", ErrUnsupported},
		{"optional content off", bytes.Replace(pdf("BT /F1 12 Tf 72 720 Td (x) Tj ET", helvetica), []byte("/Type /Catalog"),
			[]byte("/Type /Catalog /OCProperties << /OCGs [5 0 R] /D << /OFF [5 0 R] >> >>"), 1), "", ErrUnsupported},
		{"W range of 1e17 (ends)", pdf("BT /F1 12 Tf 72 720 Td <0001> Tj ET", type0, cmap, "<< /Type /Font /Subtype /CIDFontType2 /W [100000000000000000 100000000000000000 500] >>"), "G\n", nil},
		{"shared kids (an exponential walk)", bytes.Replace(bytes.Replace(pdf("BT ET", helvetica), []byte("/Kids [3 0 R]"), []byte("/Kids 6 0 R"), 1),
			[]byte("trailer"), []byte("6 0 obj\n[<< /Type /Pages /Kids 6 0 R >> << /Type /Pages /Kids 6 0 R >>]\nendobj\ntrailer"), 1), "", ErrUnsupported},
		{"rotated", pdf("BT /F1 12 Tf 0 1 -1 0 100 100 Tm (up) Tj ET", helvetica), "", ErrUnsupported},
		{"unknown width on a line", pdf("BT /F1 12 Tf 72 720 Td (ab) Tj 20 0 Td (cd) Tj ET", helvetica), "", ErrUnsupported},
		{"symbol font", pdf("BT /F1 12 Tf 72 720 Td (abc) Tj ET", "/F1 << /Type /Font /Subtype /Type1 /BaseFont /Symbol >>"), "", ErrUnsupported},
		{"Type0 without ToUnicode", pdf("BT /F1 12 Tf 72 720 Td <0001> Tj ET", "/F1 << /Type /Font /Subtype /Type0 /Encoding /Identity-H /DescendantFonts [10 0 R] >>", cid), "", ErrUnsupported},
		{"LZW", bytes.Replace(pdf("BT ET", helvetica), []byte("<< /Length 6 >>"), []byte("<< /Length 6 /Filter /LZWDecode >>"), 1), "", ErrUnsupported},
		{"encrypted", bytes.Replace(pdf("BT ET", helvetica), []byte("trailer\n<< "), []byte("trailer\n<< /Encrypt 9 0 R "), 1), "", ErrUnsupported},
		{"incremental update", append(pdf("BT ET", helvetica), "4 0 obj\n<< /Length 2 >>\nstream\nBT\nendstream\nendobj\n"...), "", ErrUnsupported},
		{"not a PDF", []byte("hello"), "", ErrUnsupported},
		{"no pages", []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"), "", errSyntax},
	} {
		if tc.name == "form XObject" {
			form := "BT /F1 12 Tf 72 700 Td (in a form) Tj ET"
			tc.data = bytes.Replace(pdf("BT /F1 12 Tf 72 720 Td (page) Tj ET /X1 Do", helvetica), []byte("trailer"),
				fmt.Appendf(nil, "9 0 obj\n<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Length %d >>\nstream\n%s\nendstream\nendobj\ntrailer", len(form), form), 1)
			tc.want = "page\nin a form\n"
		}
		got, err := Extract(context.Background(), tc.data, 100, 1<<20)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: Extract = %q, %v; want error %v", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: Extract = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func flatePDF(content string) []byte {
	z := flate(content)
	return bytes.Replace(pdf("", helvetica), []byte("<< /Length 1 >>\nstream\n\n"),
		fmt.Appendf(nil, "<< /Length %d /Filter /FlateDecode >>\nstream\n%s", len(z), z), 1)
}

// objStmPDF is a PDF whose catalog, pages and font are in an object
// stream.
func objStmPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var head, body strings.Builder
	for i, o := range objs {
		num := []int{1, 2, 3, 5}[i]
		fmt.Fprintf(&head, "%d %d ", num, body.Len())
		body.WriteString(o + "\n")
	}
	data := flate(head.String() + body.String())
	content := "BT /F1 12 Tf 72 720 Td (in an object stream) Tj ET"
	return fmt.Appendf(nil, "%%PDF-1.5\n6 0 obj\n<< /Type /ObjStm /N 4 /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n%%%%EOF\n",
		head.Len(), len(data), data, len(content), content)
}

func TestExtractLimitsAndContext(t *testing.T) {
	data := pdf("BT /F1 12 Tf 72 720 Td (0123456789 0123456789) Tj ET", helvetica)
	got, err := Extract(context.Background(), data, 10, 12)
	if err != nil || string(got) != "0123456789 0" {
		t.Errorf("Extract(limit 12) = %q, %v; want %q", got, err, "0123456789 0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, data, 10, 1<<20); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract(cancelled) = %v; want %v", err, context.Canceled)
	}
	// A hyphen at the end of a page is not joined to the next page.
	hy := bytes.Replace(pdf("BT /F1 12 Tf 72 720 Td (docu-) Tj ET", helvetica), []byte("/Kids [3 0 R] /Count 1"), []byte("/Kids [3 0 R 6 0 R] /Count 2"), 1)
	hy = bytes.Replace(hy, []byte("trailer"), []byte("6 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << "+helvetica+" >> >> >>\nendobj\ntrailer"), 1)
	if got, err := Extract(context.Background(), hy, 10, 1<<20); err != nil || string(got) != "docu-\ndocu-\n" {
		t.Errorf("Extract(hyphen at page end) = %q, %v; want %q", got, err, "docu-\ndocu-\n")
	}
	// Two pages, one allowed.
	two := bytes.Replace(pdf("BT /F1 12 Tf 72 720 Td (page) Tj ET", helvetica), []byte("/Kids [3 0 R] /Count 1"), []byte("/Kids [3 0 R 3 0 R] /Count 2"), 1)
	if got, err := Extract(context.Background(), two, 1, 1<<20); err != nil || string(got) != "page\n" {
		t.Errorf("Extract(1 page of 2) = %q, %v; want %q", got, err, "page\n")
	}
}

// TestAgainstPDFToText compares the words of real PDFs (testdata, from
// several producers) with pdftotext's: those pdftext extracts must give
// nearly the same words; the others must be ErrUnsupported or malformed,
// for pdftotext to take.
func TestAgainstPDFToText(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext is not installed (CI=true)")
		}
		t.Skip("pdftotext is not installed")
	}
	files, _ := filepath.Glob("testdata/*.pdf")
	if len(files) == 0 {
		t.Fatal("no testdata PDFs")
	}
	extracted := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Extract(context.Background(), data, 500, 1<<24)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Logf("%s: %v", f, err)
			}
			continue
		}
		extracted++
		out, err := exec.Command("pdftotext", "-q", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext %s: %v", f, err)
		}
		ours, theirs := words(string(got)), words(string(out))
		missing, extra := diff(theirs, ours), diff(ours, theirs)
		total := 0
		for _, n := range theirs {
			total += n
		}
		// pdftotext joins a superscript to the word before it ("7501"
		// for "750" and footnote "1"): a few words may differ.
		if limit := max(total*3/100, 0); missing > limit || extra > 2*limit {
			t.Errorf("%s: %d words of pdftotext's %d missing, %d extra\n ours: %q\n pdftotext: %q", f, missing, total, extra, got, out)
		}
	}
	t.Logf("%d of %d PDFs extracted in the process", extracted, len(files))
	if extracted < len(files)/2 {
		t.Errorf("only %d of %d PDFs extracted", extracted, len(files))
	}
}

func words(s string) map[string]int {
	m := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		m[w]++
	}
	return m
}

// diff counts the words of a beyond those in b.
func diff(a, b map[string]int) int {
	n := 0
	for w, c := range a {
		n += max(c-b[w], 0)
	}
	return n
}

func FuzzExtract(f *testing.F) {
	f.Add(pdf("BT /F1 12 Tf 72 720 Td [(Hel) -20 (lo) -400 (World)] TJ ET", helvetica))
	f.Add(flatePDF("BT /F1 12 Tf 72 720 Td (compressed text) Tj ET"))
	f.Add(objStmPDF())
	files, _ := filepath.Glob("testdata/*.pdf")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	recoverPanics = false
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := Extract(context.Background(), data, 20, 1<<16)
		if err == nil && len(text) > 1<<16 {
			t.Errorf("%d bytes of text; limit %d", len(text), 1<<16)
		}
	})
}
