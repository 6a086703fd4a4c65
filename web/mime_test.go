package web

import (
	"io"
	"strings"
	"testing"
)

func TestReadContent(t *testing.T) {
	for _, tc := range []struct {
		name, msg   string
		text, html  string
		attachments []string // filename content-type
	}{
		{"plain", "Subject: x\r\n\r\nhello\r\n", "hello\r\n", "", nil},
		{"no content type, latin-1", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nM\xfcller\r\n", "Müller\r\n", "", nil},
		{"alternative and attachment", testMessages["anna-bob"], "Hi Bob, the numbers are attached.", "", []string{"numbers.pdf application/pdf"}},
		{"html only, rfc 2047 name", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n" +
			"--b\r\nContent-Type: image/png; name=\"=?utf-8?q?B=C3=BCro.png?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
			"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n",
			"", "<b>hi</b>", []string{"Büro.png image/png", "part2.eml message/rfc822"}},
		{"second text part is an attachment", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b\r\nContent-Type: text/plain\r\n\r\nfooter\r\n--b--\r\n",
			"body", "", []string{"part1.txt text/plain"}},
	} {
		c := readContent(strings.NewReader(tc.msg))
		if !strings.HasPrefix(c.Text, tc.text) || c.HTML != tc.html && !strings.HasPrefix(c.HTML, tc.html) || (tc.html == "") != (c.HTML == "") {
			t.Errorf("%s: text %q, html %q; want %q, %q (problem %q)", tc.name, c.Text, c.HTML, tc.text, tc.html, c.Problem)
		}
		var got []string
		for _, a := range c.Attachments {
			got = append(got, a.Filename+" "+a.ContentType)
		}
		if strings.Join(got, "|") != strings.Join(tc.attachments, "|") {
			t.Errorf("%s: attachments %q; want %q", tc.name, got, tc.attachments)
		}
	}
}

// FuzzReadContent: any input gives a result without a panic, and every
// attachment listed can be opened by its number.
func FuzzReadContent(f *testing.F) {
	for _, m := range testMessages {
		f.Add([]byte(m))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--b--"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := readContent(strings.NewReader(string(data)))
		for _, a := range c.Attachments {
			var size int64
			found, err := openAttachment(strings.NewReader(string(data)), a.N, func(b Attachment, r io.Reader) error {
				if b.Filename != a.Filename {
					t.Errorf("attachment %d: name %q; listed as %q", a.N, b.Filename, a.Filename)
				}
				size, _ = io.Copy(io.Discard, r)
				return nil
			})
			if !found || err != nil || size != a.Size {
				t.Errorf("attachment %d (%q): found %v, %v, %d bytes; listed with %d", a.N, a.Filename, found, err, size, a.Size)
			}
		}
	})
}
