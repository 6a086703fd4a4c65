package certgen

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"
)

// TestHandshake: a client trusting only the CA completes a TLS handshake
// with a server using the certificate, for a name and an address, and a
// name the certificate does not hold fails.
func TestHandshake(t *testing.T) {
	p, err := New("certgen test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CA) {
		t.Fatal("CA PEM not accepted")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				io.WriteString(c, "ok")
				c.Close()
			}()
		}
	}()
	for _, tc := range []struct {
		name   string
		wantOK bool
	}{{"localhost", true}, {"127.0.0.1", true}, {"example.org", false}} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: tc.name})
		if err == nil {
			c.Close()
		}
		if (err == nil) != tc.wantOK {
			t.Errorf("handshake as %s: err %v; want ok %v", tc.name, err, tc.wantOK)
		}
	}
}
