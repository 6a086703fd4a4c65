package journal

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"jarchive/config"
)

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// padHeader returns header fields of 1000 bytes each, n bytes in all.
func padHeader(n int) string {
	line := "X-Pad: " + strings.Repeat("a", 991) + "\r\n"
	return strings.Repeat(line, n/len(line))
}

const smallEnvelope = "--B\r\nContent-Type: text/plain\r\n\r\nSender: a@example.org\r\nTo: b@example.org\r\n"

func journalReport(partHeader, original string) string {
	return "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + smallEnvelope +
		"--B\r\nContent-Type: message/rfc822\r\n" + partHeader + "\r\n" + original + "\r\n--B--\r\n"
}

// TestBounds: a 10 MB header block or a 1 MB line is an error, not an
// allocation of its size; bodies are streamed.
func TestBounds(t *testing.T) {
	const mb = 1000 * 1000
	longLine := "X-Long: " + strings.Repeat("b", mb) + "\r\n"
	bigBody := strings.Repeat(strings.Repeat("c", 998)+"\r\n", 32*mb/1000)
	tests := []struct {
		name     string
		msg      string
		status   Status
		problem  string
		maxAlloc uint64
	}{
		{"10 MB top-level header", "From: a@example.org\r\n" + padHeader(10*mb) + "\r\nbody\r\n", StatusFailed, "header block over 1 MiB", 4 << 20},
		{"10 MB header without an empty line", padHeader(10 * mb), StatusFailed, "header block over 1 MiB", 4 << 20},
		{"1 MB top-level line", "From: a@example.org\r\n" + longLine + "\r\nbody\r\n", StatusFailed, "header line over 256 KiB", 2 << 20},
		{"1 MB line without line break", "From: a@example.org\r\nX-Long: " + strings.Repeat("b", mb), StatusFailed, "header line over 256 KiB", 2 << 20},
		{"journal report with a 10 MB header", "X-MS-Journal-Report:\r\n" + padHeader(10*mb) + "\r\n", StatusFailed, "header block over 1 MiB", 4 << 20},
		{"10 MB part header", journalReport(padHeader(10*mb), "From: a@example.org\r\n\r\nx"), StatusFailed, "part 2: header: header block over 1 MiB", 4 << 20},
		{"1 MB part header line", journalReport(longLine, "From: a@example.org\r\n\r\nx"), StatusFailed, "part 2: header: header line over 256 KiB", 2 << 20},
		// The original is stored byte for byte whatever its header holds.
		{"10 MB original header", journalReport("", "From: a@example.org\r\n"+padHeader(10*mb)+"\r\nbody"), StatusOK, "original header: header block over 1 MiB", 4 << 20},
		{"1 MB original header line", journalReport("", "From: a@example.org\r\n"+longLine+"\r\nbody"), StatusOK, "original header: header line over 256 KiB", 2 << 20},
		{"32 MB original", journalReport("", "From: a@example.org\r\nSubject: big\r\n\r\n"+bigBody), StatusOK, "", 512 << 10},
		{"32 MB plain message", "From: a@example.org\r\nTo: b@example.org\r\n\r\n" + bigBody, StatusFallback, "", 512 << 10},
		{"32 MB line in a body", journalReport("", "From: a@example.org\r\n\r\n"+strings.Repeat("d", 32*mb)), StatusOK, "", 512 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.msg)
			var e *Envelope
			n := allocated(func() { e = parseBytes(data, config.EnvelopeMode{}) })
			if e.Status != tc.status {
				t.Fatalf("Status %v (%s); want %v", e.Status, e.Reason, tc.status)
			}
			if tc.problem != "" && !slices.ContainsFunc(e.Problems, func(p string) bool { return strings.Contains(p, tc.problem) }) {
				t.Errorf("Problems %q; want one with %q", e.Problems, tc.problem)
			}
			t.Logf("%d bytes in, %d bytes allocated", len(data), n)
			if n > tc.maxAlloc {
				t.Errorf("allocated %d bytes; want at most %d", n, tc.maxAlloc)
			}
			if e.Status == StatusOK {
				if _, err := io.Copy(io.Discard, e.Original(bytes.NewReader(data))); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestBoundsEnvelope: an envelope part over 8 MiB is read up to the limit,
// with a problem; a report of too many parts is archived raw.
func TestBoundsEnvelope(t *testing.T) {
	var env strings.Builder
	env.WriteString("Sender: a@example.org\r\n")
	for env.Len() < 9<<20 {
		env.WriteString("To: someone.with.a.long.name@example.org, Expanded: all@example.org\r\n")
	}
	msg := "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n" + env.String() +
		"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.org\r\n\r\nx\r\n--B--\r\n"
	e := parseBytes([]byte(msg), config.EnvelopeMode{})
	if e.Status != StatusOK || len(e.Text) != 8<<20 || len(e.Recipients) < 100000 {
		t.Errorf("Status %v (%s), text %d bytes, %d recipients; want ok, 8 MiB, all recipients in it", e.Status, e.Reason, len(e.Text), len(e.Recipients))
	}
	if !slices.ContainsFunc(e.Problems, func(p string) bool { return strings.Contains(p, "over 8 MiB") }) {
		t.Errorf("Problems %q; want the truncation", e.Problems)
	}

	many := "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + smallEnvelope +
		strings.Repeat("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n", 200) + "--B--\r\n"
	e = parseBytes([]byte(many), config.EnvelopeMode{})
	if e.Status != StatusFailed || !strings.Contains(e.Reason, "more than 100 parts") {
		t.Errorf("Status %v (%s); want failed, too many parts", e.Status, e.Reason)
	}
}
