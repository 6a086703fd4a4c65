// Package slapdtest starts a real OpenLDAP slapd for tests.
//
// Start templates a slapd.conf into a fresh directory, generates a CA and a
// server certificate for 127.0.0.1 and localhost, loads the base entries, a
// service account and the test's LDIF with slapadd, and runs
// `slapd -d stats` on free ports of 127.0.0.1 (LDAP with StartTLS, and
// LDAPS). It stops slapd when the test ends.
//
// With Options.ActiveDirectory the schema has Active Directory's classes
// and attributes (Debian's msuser.schema: user, group, proxyAddresses,
// memberOf, userPrincipalName, ...) and its securityPrincipal auxiliary
// class (sAMAccountName), so that an AD-shaped tree can be served without
// Windows. As on a domain controller, memberOf is stored, not computed:
// give it in the LDIF.
//
// The service account (BindDN) is held to a size limit of 1,000 entries,
// Active Directory's MaxPageSize: a search that would return more fails
// unless it is paged (RFC 2696). Anonymous users can read nothing.
//
// If slapd is not installed the test is skipped, unless the environment
// has CI=true, where it fails.
package slapdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"jarchive/certgen"
)

// Options configure Start.
type Options struct {
	// ActiveDirectory adds the Active Directory schema.
	ActiveDirectory bool
	// Suffix is the base DN; default "dc=contoso,dc=com".
	Suffix string
	// LDIF holds the entries to load, below the base entry and
	// ou=service, which Start adds.
	LDIF string
	// SizeLimit is the most entries a search of the service account
	// returns without paging; default 1000.
	SizeLimit int
}

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:PORT, StartTLS offered
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAFile   string // PEM of the CA that signed the server certificate
	Suffix   string
	RootDN   string // the database's rootdn, without limits
	RootPW   string
	BindDN   string // a service account, limited like a real one
	BindPW   string
	Dir      string // slapd.conf, slapd.log, db/

	ad     bool
	conf   string
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

// Start starts slapd for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	for _, tool := range []string{"slapd", "slapadd", "ldapmodify"} {
		if _, err := lookTool(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (CI=true; apt-get install slapd ldap-utils): %v", tool, err)
			}
			t.Skipf("%s is not installed (apt-get install slapd ldap-utils): %v", tool, err)
		}
	}
	s := &Server{Suffix: opts.Suffix, RootPW: "root-secret", BindPW: "svc-secret", ad: opts.ActiveDirectory, Dir: t.TempDir()}
	if s.Suffix == "" {
		s.Suffix = "dc=contoso,dc=com"
	}
	s.RootDN = "cn=admin," + s.Suffix
	s.BindDN = "cn=svc-jarchive,ou=service," + s.Suffix
	if err := os.Mkdir(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.writeCerts(t)
	writeFile(t, filepath.Join(s.Dir, "extra.schema"), []byte(extraSchema), 0o644)
	writeFile(t, filepath.Join(s.Dir, "ad-extra.schema"), []byte(adExtraSchema), 0o644)
	limit := opts.SizeLimit
	if limit <= 0 {
		limit = 1000
	}
	var conf bytes.Buffer
	if err := confTemplate.Execute(&conf, map[string]any{
		"Dir": s.Dir, "AD": s.ad, "Suffix": s.Suffix, "RootDN": s.RootDN, "RootPW": s.RootPW,
		"BindDN": s.BindDN, "Limit": limit,
	}); err != nil {
		t.Fatal(err)
	}
	s.conf = filepath.Join(s.Dir, "slapd.conf")
	writeFile(t, s.conf, conf.Bytes(), 0o600)

	dc, _, _ := strings.Cut(strings.TrimPrefix(s.Suffix, "dc="), ",")
	base := fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: %s\ndc: %s\n\n"+
		"dn: ou=service,%s\nobjectClass: organizationalUnit\nou: service\n\n"+
		"dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: svc-jarchive\nuserPassword: %s\n\n",
		s.Suffix, dc, dc, s.Suffix, s.BindDN, s.BindPW)
	ldif := filepath.Join(s.Dir, "data.ldif")
	writeFile(t, ldif, []byte(base+strings.TrimSpace(opts.LDIF)+"\n"), 0o600)
	slapadd, _ := lookTool("slapadd")
	if out, err := exec.Command(slapadd, "-q", "-f", s.conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapdtest: slapadd: %v\n%s", err, out)
	}

	// Free ports can be taken by someone else before slapd binds them:
	// try a few times.
	var err error
	for range 3 {
		var ports []int
		if ports, err = freePorts(2); err != nil {
			continue
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
		if err = s.launch(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("slapd log (tail):\n%s", tail(s.out.String(), 4000))
		}
		s.stop()
	})
	return s
}

// lookTool finds slapd and slapadd also where Debian puts them
// (/usr/sbin, which is not in every PATH).
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/libexec"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", err
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// extraSchema holds what neither Debian schema defines: the
// mailAlternateAddress attribute of Netscape/Sun mail schemas (the
// OpenLDAP default of package directory), with the mailRecipient class,
// and Active Directory's securityPrincipal auxiliary class, which carries
// sAMAccountName.
const extraSchema = `# written by jarchive/directory/slapdtest
attributetype ( 2.16.840.1.113730.3.1.13 NAME 'mailAlternateAddress'
	EQUALITY caseIgnoreIA5Match
	SUBSTR caseIgnoreIA5SubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
objectclass ( 2.16.840.1.113730.3.2.3 NAME 'mailRecipient' SUP top AUXILIARY
	MAY ( mail $ mailAlternateAddress ) )
`

const adExtraSchema = `objectclass ( 1.2.840.113556.1.5.6 NAME 'securityPrincipal' SUP top AUXILIARY
	MAY ( sAMAccountName ) )
`

var confTemplate = template.Must(template.New("slapd.conf").Parse(`# written by jarchive/directory/slapdtest
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {{.Dir}}/extra.schema
{{- if .AD}}
include /etc/ldap/schema/msuser.schema
include {{.Dir}}/ad-extra.schema
{{- end}}
pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {{.Dir}}/ca.pem
TLSCertificateFile {{.Dir}}/cert.pem
TLSCertificateKeyFile {{.Dir}}/key.pem
database mdb
maxsize 268435456
suffix "{{.Suffix}}"
rootdn "{{.RootDN}}"
rootpw {{.RootPW}}
directory {{.Dir}}/db
index objectClass eq
limits dn.exact="{{.BindDN}}" size.soft={{.Limit}} size.hard={{.Limit}} size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
`))

// launch runs slapd with the written slapd.conf and waits until it
// listens.
func (s *Server) launch() error {
	slapd, err := lookTool("slapd")
	if err != nil {
		return err
	}
	s.out = &syncBuffer{}
	cmd := exec.Command(slapd, "-d", "stats", "-h", s.URL+"/ "+s.LDAPSURL+"/", "-f", s.conf)
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	addr := strings.TrimPrefix(s.URL, "ldap://")
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("slapd exited at start: %v\n%s", cmd.ProcessState, tail(s.out.String(), 4000))
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("slapd did not listen on %s within 15s: %v\n%s", addr, err, tail(s.out.String(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops slapd as a crash would; Restart starts it again.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		s.kill()
	}
}

// Restart starts a stopped slapd again, on the same ports with the same
// entries.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("slapdtest: Restart of a running server")
	}
	var err error
	for range 3 {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("slapdtest: restart: %v", err)
}

// Modify applies LDIF change records (changetype: add, modify, delete,
// modrdn) as the root DN, with ldapmodify.
func (s *Server) Modify(t testing.TB, ldif string) {
	t.Helper()
	cmd := exec.Command("ldapmodify", "-x", "-H", s.URL, "-D", s.RootDN, "-w", s.RootPW)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slapdtest: ldapmodify: %v\n%s", err, out)
	}
}

// TOML returns a [directory.ldap] table for this server: LDAPS with the
// test CA, the service account, the suffix as base DN and the kind that
// matches Options.ActiveDirectory. Append keys to it as needed.
func (s *Server) TOML() string {
	kind := "openldap"
	if s.ad {
		kind = "active-directory"
	}
	return fmt.Sprintf("[directory.ldap]\nurl = %q\ntls_ca_file = %q\nbind_dn = %q\nbind_password = %q\nbase_dn = %q\nkind = %q\n",
		s.LDAPSURL, s.CAFile, s.BindDN, s.BindPW, s.Suffix, kind)
}

// stop ends slapd: SIGTERM, then SIGKILL.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.kill()
	}
	s.cmd = nil
}

func (s *Server) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// writeCerts generates a CA and a server certificate for localhost,
// 127.0.0.1 and ::1.
func (s *Server) writeCerts(t testing.TB) {
	t.Helper()
	p, err := certgen.New("slapdtest CA", nil)
	if err == nil {
		err = p.WriteFiles(s.Dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
}

// freePorts returns n distinct free TCP ports of 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// syncBuffer collects slapd's output from its own goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
