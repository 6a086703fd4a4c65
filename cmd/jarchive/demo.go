package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"jarchive/index"
	"jarchive/mailgen"
)

func runDemo(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "demo", "[-dir DIR] [-messages N] [-web]")
	dir := fs.String("dir", "", "`directory` for the demo config and archive (default: a new temporary directory)")
	n := fs.Int("messages", 300, "number of journal reports to generate")
	keepWeb := fs.Bool("web", false, "keep the web interface running until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *n < 1 {
		fs.Usage()
		return usageError("demo: unexpected arguments")
	}
	_, err := demoRun(ctx, a, *dir, *n, *keepWeb)
	return err
}

// demoExample is a search the demo runs, with the message it must find.
type demoExample struct {
	Query, Why string
	Want       string // message id that must be among the hits
	Hits       []string
}

// demoResult is what a demo run did, for its test.
type demoResult struct {
	Dir, ConfigPath string
	Generated       int
	Distinct        int // distinct originals among the generated reports
	Summary         []accountSummary
	LeftOnServer    uint32
	Examples        []demoExample
	// The web interface (demoweb in web.go): its address while it ran and
	// the demo auditor's login.
	WebURL, WebUser, WebPassword string
}

// demo generates journal reports into an embedded IMAP server, fetches,
// archives and indexes them with the real pipeline, and runs example
// searches.
func demo(ctx context.Context, a *app, dir string, n int) (*demoResult, error) {
	return demoRun(ctx, a, dir, n, false)
}

// demoRun is demo; with keepWeb the web interface runs until ctx ends.
func demoRun(ctx context.Context, a *app, dir string, n int, keepWeb bool) (*demoResult, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "jarchive-demo-")
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	res := &demoResult{Dir: dir, Generated: n}
	w := a.stdout

	// 1. Journal mailbox: an in-memory IMAP server with STARTTLS, its
	// certificate signed by a CA made for the demo.
	caFile := filepath.Join(dir, "demo-ca.pem")
	tlsConfig, err := demoTLS(caFile)
	if err != nil {
		return nil, fmt.Errorf("demo: tls: %w", err)
	}
	password := rand.Text()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("journal", password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, err
	}
	mem.AddUser(user)
	gen := mailgen.New(mailgen.Options{Seed: 1})
	seen := map[[32]byte]bool{}
	var msgs []*mailgen.Message
	for range n {
		m := gen.Next()
		msgs = append(msgs, m)
		seen[sha256.Sum256(m.Original)] = true
		if _, err := user.Append("INBOX", &literal{bytes.NewReader(m.Report)}, &imap.AppendOptions{}); err != nil {
			return nil, fmt.Errorf("demo: append: %w", err)
		}
	}
	res.Distinct = len(seen)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:      imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		TLSConfig: tlsConfig,
		Logger:    discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(w, "demo: embedded IMAP server on %s (STARTTLS) holds %d generated journal reports (%d distinct originals)\n", ln.Addr(), n, res.Distinct)

	// 2. A config file as an admin would write it.
	if err := os.WriteFile(filepath.Join(dir, "journal.password"), []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	res.ConfigPath = filepath.Join(dir, "jarchive.toml")
	webUsers, err := demoWebUser(res)
	if err != nil {
		return nil, err
	}
	cfgText := fmt.Sprintf(`# jarchive demo configuration (written by jarchive demo)
[archive]
dir = "archive"
`+webUsers+`

[[accounts]]
name = "demo-journal"
protocol = "imap"
server = %q
username = "journal"
password_file = "journal.password"
security = "starttls"
tls_ca_file = "demo-ca.pem"
mailbox = "INBOX"
keep_mails = false
envelope = "journal"
`, ln.Addr().String())
	if err := os.WriteFile(res.ConfigPath, []byte(cfgText), 0o640); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "demo: wrote %s\n", res.ConfigPath)
	cfg, err := loadConfig(a, res.ConfigPath)
	if err != nil {
		return nil, err
	}

	// 3. Fetch, archive and index with the real pipeline.
	st, err := openStore(cfg, a.logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := st.Close(); err != nil {
			a.logger.Error("close archive", "err", err)
		}
	}()
	res.Summary, err = fetchOnce(ctx, a, st)
	if err != nil {
		return res, err
	}
	status, err := user.Status("INBOX", &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return res, err
	}
	res.LeftOnServer = *status.NumMessages
	fmt.Fprintf(w, "demo: the journal mailbox now holds %d messages (archived ones are deleted on the server)\n\n", res.LeftOnServer)
	if err := statsCommand(ctx, a, st, nil); err != nil {
		return res, err
	}

	// 4. Example searches, each with a message it must find.
	res.Examples = demoExamples(msgs)
	for i := range res.Examples {
		ex := &res.Examples[i]
		fmt.Fprintf(w, "\n$ jarchive search %q    # %s\n", ex.Query, ex.Why)
		var out bytes.Buffer
		sa := *a
		sa.stdout = &out
		if err := searchCommand(ctx, &sa, st, []string{"-limit", "5", ex.Query}); err != nil {
			return res, fmt.Errorf("demo: search %q: %w", ex.Query, err)
		}
		w.Write(out.Bytes())
		r, err := st.idx.Search(ctx, index.Query{Text: ex.Query, Scope: index.Scope{All: true}, Limit: index.MaxLimit, Location: st.location()})
		if err != nil {
			return res, err
		}
		for _, h := range r.Hits {
			ex.Hits = append(ex.Hits, h.ID)
		}
	}
	fmt.Fprintf(w, "\nTry it yourself:\n  go run ./cmd/jarchive search -config %s 'subject:invoice'\n  go run ./cmd/jarchive show -config %s <ID>\n  go run ./cmd/jarchive stats -config %s\n",
		res.ConfigPath, res.ConfigPath, res.ConfigPath)
	// 5. The web interface (web.go).
	if err := demoWeb(ctx, a, cfg, st, res, keepWeb); err != nil {
		return res, err
	}
	return res, nil
}

// demoExamples picks searches from the generated mail, so that each has a
// known answer.
func demoExamples(msgs []*mailgen.Message) []demoExample {
	id := func(m *mailgen.Message) string {
		s := sha256.Sum256(m.Original)
		return hex.EncodeToString(s[:])
	}
	var out []demoExample
	first := msgs[0]
	if w := longestWord(first.Envelope.Subject); w != "" {
		out = append(out, demoExample{Query: "subject:" + w, Why: "a word of a subject", Want: id(first)})
	}
	// A Bcc recipient and a distribution-list member: addresses only the
	// journal envelope names.
	var bcc, expanded *demoExample
	for _, m := range msgs {
		for _, r := range m.Envelope.Recipients {
			switch {
			case bcc == nil && r.Field == "bcc" && !bytes.Contains(m.Original, []byte(r.Addr)):
				bcc = &demoExample{Query: "bcc:" + r.Addr + " subject:" + longestWord(m.Envelope.Subject), Why: "Bcc: only the journal envelope names " + r.Addr, Want: id(m)}
			case expanded == nil && r.ExpandedFrom != "" && (bcc == nil || !strings.Contains(bcc.Query, r.Addr)):
				expanded = &demoExample{Query: "rcpt:" + r.Addr + " subject:" + longestWord(m.Envelope.Subject), Why: r.Addr + " got it as a member of " + r.ExpandedFrom, Want: id(m)}
			}
		}
	}
	for _, ex := range []*demoExample{bcc, expanded} {
		if ex != nil {
			out = append(out, *ex)
		}
	}
	// Accent-insensitive: "muller" finds Jürgen Müller.
	for _, m := range msgs {
		if strings.HasPrefix(m.Envelope.Sender, "juergen.mueller@") {
			out = append(out, demoExample{Query: "muller", Why: "accents do not matter: finds Jürgen Müller", Want: id(m)})
			break
		}
	}
	return out
}

// longestWord returns the longest plain ASCII word of s, lowercased.
func longestWord(s string) string {
	best := ""
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) {
		if len(f) > len(best) {
			best = f
		}
	}
	return strings.ToLower(best)
}

// literal adapts a bytes.Reader to imap.LiteralReader.
type literal struct{ *bytes.Reader }

func (l *literal) Size() int64 { return l.Reader.Size() }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// demoTLS makes a CA and a server certificate for 127.0.0.1, writes the CA
// to caFile and returns the server's TLS config.
func demoTLS(caFile string) (*tls.Config, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jarchive demo CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, nil
}
