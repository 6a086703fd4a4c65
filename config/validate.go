package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zone names without a system database
)

// Limits on the files the configuration points to.
const (
	maxPasswordFile = 64 << 10
	maxCAFile       = 1 << 20
)

// validator checks a decoded Config, fills in defaults, resolves paths and
// reads passwords. Positions come from the document's index.
type validator struct {
	ps  *parseState
	cfg *Config
}

func (ps *parseState) validate(cfg *Config) {
	cfg.Path = ps.name
	v := &validator{ps: ps, cfg: cfg}
	v.archive()
	v.timeZone()
	v.encryptionKey()
	names := map[string]int{}
	for i := range cfg.Accounts {
		v.account(i, names)
	}
	v.directory()
	v.http()
	v.smtp()
	v.retention()
}

// present returns the key-value of key, or nil if the file does not set it.
func (v *validator) present(key string) *keyValue { return v.ps.idx.byPath[key] }

// err records a problem of key at its value, or, when the key is missing,
// at the header of its table (at the start of the file if there is none).
func (v *validator) err(key, msg string) {
	if v.ps.isSuppressed(key) {
		return
	}
	off := 0
	if kv := v.present(key); kv != nil {
		off = kv.valOff
	} else {
		for k := key; k != ""; {
			i := strings.LastIndexAny(k, ".[")
			if i < 0 {
				break
			}
			k = k[:i]
			if o, ok := v.ps.idx.tables[k]; ok {
				off = o
				break
			}
		}
	}
	v.ps.errAt(off, key, msg)
}

func (v *validator) errf(key, format string, args ...any) { v.err(key, fmt.Sprintf(format, args...)) }

// required checks that a string key is set and not empty.
func (v *validator) required(key, val string) bool {
	switch {
	case val != "":
		return true
	case v.present(key) != nil:
		v.err(key, "must not be empty")
	default:
		v.err(key, "required key is missing")
	}
	return false
}

// resolve makes a path from the file absolute, relative to the directory of
// the configuration file.
func (v *validator) resolve(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(v.ps.name), p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

func (v *validator) archive() {
	d := v.cfg.Archive.Dir
	if _, ok := v.ps.idx.tables["archive"]; !ok && !v.ps.isSuppressed("archive") {
		v.err("archive.dir", `required key is missing (add an [archive] table with dir = "/path/to/archive")`)
		return
	}
	if !v.required("archive.dir", d) {
		return
	}
	if strings.HasPrefix(d, "~") {
		v.errf("archive.dir", "%q: ~ is not expanded; write the full path", d)
		return
	}
	v.cfg.Archive.Dir = v.resolve(d)
}

// timeZone loads archive.time_zone (tzdata is embedded, so names work also
// on systems without a zone database).
func (v *validator) timeZone() {
	a := &v.cfg.Archive
	a.Location = time.Local
	if a.TimeZone == "" {
		if v.present("archive.time_zone") != nil {
			v.err("archive.time_zone", `must not be empty (use "Local" for the system's zone)`)
		}
		return
	}
	loc, err := time.LoadLocation(a.TimeZone)
	if err != nil {
		v.errf("archive.time_zone", `%q is not a time zone (an IANA name such as "Europe/Berlin", "UTC" or "Local")`, a.TimeZone)
		return
	}
	a.Location = loc
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (v *validator) account(i int, names map[string]int) {
	a := &v.cfg.Accounts[i]
	p := fmt.Sprintf("accounts[%d]", i)
	key := func(k string) string { return p + "." + k }

	if v.required(key("name"), a.Name) {
		j, dup := names[a.Name]
		switch {
		case !nameRE.MatchString(a.Name) || a.Name == "." || a.Name == "..":
			v.errf(key("name"), "%q is not a valid account name: use letters, digits, '.', '_' and '-'", a.Name)
		case dup:
			v.errf(key("name"), "duplicate account name %q (also used by accounts[%d])", a.Name, j)
		default:
			names[a.Name] = i
		}
	}
	if a.IsOAuth2() && v.present(key("server")) == nil {
		a.Server = DefaultOAuth2Server
	} else if v.required(key("server"), a.Server) {
		if msg := checkServer(a.Server); msg != "" {
			v.err(key("server"), msg)
		}
	}
	v.required(key("username"), a.Username)
	if a.IsOAuth2() {
		v.oauth2(a, p)
	} else {
		v.password(a, p)
	}
	if a.IsPOP3() {
		if v.present(key("mailbox")) != nil {
			v.errf(key("mailbox"), "not used with protocol %s: POP3 has only the one maildrop", a.Protocol)
		}
		if a.Idle {
			v.errf(key("idle"), "needs IMAP: protocol %s cannot announce new mail (use imap or imap-oauth2, or a shorter interval)", a.Protocol)
		}
	}

	switch {
	case a.TLSCAFile != "":
		path := v.resolve(a.TLSCAFile)
		if _, err := loadCAFile(path, a.TLSCAFile); err != nil {
			v.err(key("tls_ca_file"), err.Error())
		}
		a.TLSCAFile = path
	case v.present(key("tls_ca_file")) != nil:
		v.err(key("tls_ca_file"), "must not be empty")
	}

	switch {
	case a.Mailbox != "" || a.IsPOP3():
	case v.present(key("mailbox")) != nil:
		v.err(key("mailbox"), "must not be empty")
	default:
		a.Mailbox = DefaultMailbox
	}

	if kv := v.present(key("max_message_size")); kv == nil {
		a.MaxMessageSize = DefaultMaxMessageSize
	} else if a.MaxMessageSize <= 0 {
		v.errf(key("max_message_size"), "%s: size must be greater than 0", kv.text)
	}

	if kv := v.present(key("interval")); kv == nil {
		a.Interval = DefaultInterval
	} else if a.Interval < MinInterval {
		v.errf(key("interval"), "%q is too short: the minimum is %s", kv.text, MinInterval)
	}
}

// password checks that exactly one password source is set and reads it into
// a.Password; and that no OAuth2 key is set.
func (v *validator) password(a *Account, p string) {
	v.secret(p, "password", "password", &a.Password, &a.PasswordFile, a.PasswordEnv)
	for _, k := range []string{"tenant_id", "client_id", "client_secret", "client_secret_file", "client_secret_env", "token_url", "scope"} {
		if v.present(p+"."+k) != nil {
			v.errf(p+"."+k, "only used with protocol imap-oauth2 or pop3-oauth2 (protocol is %s)", a.Protocol)
		}
	}
}

// oauth2 checks the OAuth2 keys of an account and reads its client secret;
// and that no password key is set.
func (v *validator) oauth2(a *Account, p string) {
	for _, k := range []string{"password", "password_file", "password_env"} {
		if v.present(p+"."+k) != nil {
			v.errf(p+"."+k, "not used with protocol %s, which logs in with client_id and client_secret", a.Protocol)
		}
	}
	switch {
	case a.TenantID != "":
		if !tenantRE.MatchString(a.TenantID) {
			v.errf(p+".tenant_id", "%q is not a tenant ID (the Directory (tenant) ID, a GUID) or domain", a.TenantID)
		}
	case v.present(p+".tenant_id") != nil:
		v.err(p+".tenant_id", "must not be empty")
	case a.TokenURL == "":
		v.err(p+".tenant_id", "required key is missing (the Directory (tenant) ID of the app registration; or set token_url)")
	}
	v.required(p+".client_id", a.ClientID)
	v.secret(p, "client_secret", "client secret", &a.ClientSecret, &a.ClientSecretFile, a.ClientSecretEnv)
	if kv := v.present(p + ".token_url"); kv != nil {
		if msg := checkTokenURL(a.TokenURL); msg != "" {
			v.err(p+".token_url", msg)
		}
	}
	if v.present(p+".scope") != nil && strings.TrimSpace(a.Scope) == "" {
		v.err(p+".scope", "must not be empty")
	}
}

// tenantRE matches a tenant GUID or domain name.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)

// checkTokenURL returns what is wrong with a token_url, or "".
func checkTokenURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an https URL", s)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			return fmt.Sprintf("%q: the client secret would cross the network in clear text; use https (http is allowed only to a loopback address)", s)
		}
	}
	return ""
}

// secret checks that exactly one of the keys name, name_file and name_env
// is set and reads the secret into dst (and the resolved path into file).
// what names the secret in messages ("password", "client secret").
func (v *validator) secret(p, name, what string, dst *Secret, file *string, env string) {
	keys := []string{name, name + "_file", name + "_env"}
	var set []string
	for _, s := range keys {
		if v.ps.isSuppressed(p + "." + s) {
			return
		}
		if v.present(p+"."+s) != nil {
			set = append(set, s)
		}
	}
	switch len(set) {
	case 0:
		v.errf(p+"."+name, "required key is missing (set one of %s, %s or %s)", keys[0], keys[1], keys[2])
		return
	case 1:
	default:
		line, _ := v.ps.idx.pos(v.present(p + "." + set[0]).keyOff)
		for _, s := range set[1:] {
			v.errf(p+"."+s, "only one of %s, %s and %s may be set (%s is set on line %d)", keys[0], keys[1], keys[2], set[0], line)
		}
		return
	}

	key := p + "." + set[0]
	switch set[0] {
	case keys[0]:
		if dst.IsZero() {
			v.err(key, "must not be empty")
		}
	case keys[1]:
		if *file == "" {
			v.err(key, "must not be empty")
			return
		}
		path := v.resolve(*file)
		b, err := readSmallFile(path, maxPasswordFile)
		if err != nil {
			v.errf(key, "cannot read %s file %q: %v", what, *file, err)
			return
		}
		s := string(b)
		if strings.HasSuffix(s, "\r\n") {
			s = s[:len(s)-2]
		} else if strings.HasSuffix(s, "\n") {
			s = s[:len(s)-1]
		}
		if s == "" {
			v.errf(key, "%s file %q is empty", what, *file)
			return
		}
		*file = path
		*dst = NewSecret(s)
	case keys[2]:
		if env == "" {
			v.err(key, "must not be empty")
			return
		}
		s, ok := os.LookupEnv(env)
		switch {
		case !ok:
			v.errf(key, "environment variable %s is not set", env)
		case s == "":
			v.errf(key, "environment variable %s is empty", env)
		default:
			*dst = NewSecret(s)
		}
	}
}

// checkServer returns what is wrong with a server key, or "".
func checkServer(s string) string {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		host = h
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	}
	if net.ParseIP(host) != nil || validHostname(host) {
		return ""
	}
	return fmt.Sprintf("%q is not host or host:port", s)
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_', with an optional final dot.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// readSmallFile reads a regular file of at most limit bytes. Its errors say
// what went wrong without repeating the path.
func readSmallFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path) // before opening: opening a FIFO would block
	if err != nil {
		return nil, pathReason(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pathReason(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathReason(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %s", ByteSize(limit))
	}
	return b, nil
}

func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadCAFile reads a PEM file of CA certificates. shown is the name to use
// in errors.
func loadCAFile(path, shown string) (*x509.CertPool, error) {
	b, err := readSmallFile(path, maxCAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file %q: %v", shown, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %q contains no PEM certificate", shown)
	}
	return pool, nil
}

// Warnings returns the problems of a valid configuration that do not stop
// jarchive but deserve a line in the log at every start, such as
//
//	account "x": security = "none": password and mail travel in clear text
func (c *Config) Warnings() []string {
	w := c.Archive.keyFileWarnings()
	w = append(w, c.Directory.LDAP.warnings()...)
	w = append(w, c.HTTP.warnings()...)
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.Security != SecurityNone {
			continue
		}
		w = append(w, fmt.Sprintf("account %q: security = \"none\": password and mail travel in clear text", a.Name))
		if a.TLSCAFile != "" {
			w = append(w, fmt.Sprintf("account %q: tls_ca_file is not used with security = \"none\"", a.Name))
		}
	}
	return w
}

// TLSConfig returns the TLS configuration to reach the account's server
// with (for security tls and starttls): certificates verified against
// TLSCAFile if set, else the system roots, for the host of Server, with
// TLS 1.2 at least.
func (a *Account) TLSConfig() (*tls.Config, error) {
	host := a.Server
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if a.TLSCAFile != "" {
		pool, err := loadCAFile(a.TLSCAFile, a.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("account %q: tls_ca_file: %w", a.Name, err)
		}
		c.RootCAs = pool
	}
	return c, nil
}
