package dovecottest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestServer checks the helper itself: delivery, Count, STARTTLS and
// implicit TLS with the generated CA, and a second user.
func TestServer(t *testing.T) {
	s := Start(t, Options{Users: map[string]string{"other": "other-pw"}})
	msg := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
	s.Deliver(t, s.User, msg)
	s.Deliver(t, s.User, msg)
	s.Deliver(t, "other", msg)
	if got := s.Count(t, s.User); got != 2 {
		t.Fatalf("Count(%q) = %d; want 2", s.User, got)
	}

	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("CAFile holds no certificate")
	}
	opts := &imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots}}

	for _, tc := range []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"starttls", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(net.JoinHostPort(s.Host, strconv.Itoa(s.IMAPPort)), opts)
		}},
		{"tls", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(net.JoinHostPort(s.Host, strconv.Itoa(s.IMAPSPort)), opts)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(s.User, s.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			data, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if data.NumMessages != 2 {
				t.Fatalf("SELECT INBOX: %d messages; want 2", data.NumMessages)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}

	// POP3 answers on both ports.
	conn, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.POP3Port)))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := conn.Read(buf); err != nil || string(buf) != "+OK" {
		t.Fatalf("POP3 greeting = %q, %v; want +OK", buf, err)
	}
	conn.Close()
	tconn, err := tls.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.POP3SPort)), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tconn.Read(buf); err != nil || string(buf) != "+OK" {
		t.Fatalf("POP3S greeting = %q, %v; want +OK", buf, err)
	}
	tconn.Close()
}
