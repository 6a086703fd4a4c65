package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SMTP is the [smtp] table: the SMTP (or LMTP) receiver of jarchive serve,
// to which Exchange Online's journal rule or another MTA delivers journal
// reports directly. Without listen there is no receiver, and no other key
// of the table may be set.
type SMTP struct {
	// Listen is the address to listen on, host:port: ":25" for every
	// address of the host, "127.0.0.1:2525" for a local MTA. Port 0 picks a
	// free port (the log names it).
	Listen string `toml:"listen"`
	// LMTP makes the receiver speak LMTP (RFC 2033, LHLO and one reply per
	// recipient after the data) instead of SMTP, for an MTA's lmtp
	// transport. Default false.
	LMTP bool `toml:"lmtp"`
	// Name is the account name the received messages are recorded under in
	// the archive (sources, stats, metrics). Default "smtp"; it must differ
	// from every [[accounts]] name.
	Name string `toml:"name"`
	// Hostname is the name in the greeting and the EHLO reply. Default the
	// host's name.
	Hostname string `toml:"hostname"`
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and its key:
	// with them STARTTLS is offered (RFC 3207). Both or neither. Relative
	// paths are relative to the configuration file's directory.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// RequireTLS refuses MAIL FROM (530 5.7.0) before STARTTLS. Needs
	// tls_cert_file. Default false.
	RequireTLS bool `toml:"require_tls"`
	// AcceptRecipients are the journal addresses accepted in RCPT TO,
	// compared case-insensitively; "@example.com" accepts every address of
	// the domain. Any other recipient gets 550 5.1.1. Required.
	AcceptRecipients []string `toml:"accept_recipients"`
	// AllowedNetworks are the CIDRs ("10.0.0.0/8", "2001:db8::/32") or
	// single addresses of the sending servers; a client connecting from
	// anywhere else gets 554 5.7.1 and is disconnected. Default loopback
	// only (127.0.0.0/8 and ::1).
	AllowedNetworks []string `toml:"allowed_networks"`
	// Networks is AllowedNetworks parsed, set by Load; it is not a key.
	Networks []netip.Prefix `toml:"-"`
	// AuthUsername, with a password (inline as AuthPassword, or in
	// AuthPasswordFile, or in the environment variable named by
	// AuthPasswordEnv: exactly one), makes the receiver offer AUTH PLAIN
	// and require it before MAIL FROM (530 5.7.0), for submission-style
	// senders. With tls_cert_file AUTH is offered only after STARTTLS;
	// without a certificate it goes in clear text, which only a loopback
	// listen should allow. Not set by default: no AUTH.
	AuthUsername     string `toml:"auth_username"`
	AuthPassword     Secret `toml:"auth_password"`
	AuthPasswordFile string `toml:"auth_password_file"`
	AuthPasswordEnv  string `toml:"auth_password_env"`
	// MaxMessageSize is announced with SIZE (RFC 1870) and enforced while
	// the message is read: a larger one gets 552 5.3.4. Default "50MB".
	MaxMessageSize ByteSize `toml:"max_message_size"`
	// MaxConnections is how many clients may be connected at once; one more
	// gets 421 4.7.0 and is disconnected. Default 100.
	MaxConnections int `toml:"max_connections"`
	// MaxRecipients is how many RCPT TO a transaction may have; more get
	// 452 4.5.3. Default 1000.
	MaxRecipients int `toml:"max_recipients"`
	// ReadTimeout is how long a client may stay silent (waiting for a
	// command, or between two reads of the data) before it gets 421 and is
	// disconnected. Default "5m" (RFC 5321 section 4.5.3.2).
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds each reply to the client. Default "1m".
	WriteTimeout Duration `toml:"write_timeout"`
	// CommitTimeout is how long the final reply to a message waits for the
	// archive's commit; after it the client gets 421 4.3.2 (a temporary
	// failure: the sender keeps the message and retries). Default "2m".
	CommitTimeout Duration `toml:"commit_timeout"`
	// Envelope says where the real recipients come from, as for an
	// account (journal, off, x-envelope-to, x-original-to, delivered-to,
	// header:NAME), or "smtp": the SMTP envelope itself (MAIL FROM and RCPT
	// TO), for MTAs that relay one copy with all recipients. Default
	// journal.
	Envelope EnvelopeMode `toml:"envelope"`
}

// Defaults of the [smtp] table.
const (
	DefaultSMTPName           = "smtp"
	DefaultSMTPMaxConnections = 100
	DefaultSMTPMaxRecipients  = 1000
	DefaultSMTPReadTimeout    = Duration(5 * time.Minute)
	DefaultSMTPWriteTimeout   = Duration(time.Minute)
	DefaultSMTPCommitTimeout  = Duration(2 * time.Minute)
)

// DefaultSMTPNetworks are the allowed networks without allowed_networks.
var DefaultSMTPNetworks = []string{"127.0.0.0/8", "::1/128"}

// Enabled reports whether the receiver runs (listen is set).
func (s *SMTP) Enabled() bool { return s.Listen != "" }

// HasAuth reports whether AUTH is configured.
func (s *SMTP) HasAuth() bool { return s.AuthUsername != "" }

// Allowed reports whether a client at addr may connect.
func (s *SMTP) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.Networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Accepts reports whether rcpt is one of AcceptRecipients.
func (s *SMTP) Accepts(rcpt string) bool {
	_, domain, _ := strings.Cut(rcpt, "@")
	for _, a := range s.AcceptRecipients {
		if strings.EqualFold(a, rcpt) || strings.HasPrefix(a, "@") && strings.EqualFold(a[1:], domain) {
			return true
		}
	}
	return false
}

// smtpKeys are the keys of [smtp] other than listen, for "not used without
// listen".
var smtpKeys = []string{"lmtp", "name", "hostname", "tls_cert_file", "tls_key_file", "require_tls",
	"accept_recipients", "allowed_networks", "auth_username", "auth_password", "auth_password_file",
	"auth_password_env", "max_message_size", "max_connections", "max_recipients", "read_timeout",
	"write_timeout", "commit_timeout", "envelope"}

// smtp checks the [smtp] table, fills in its defaults and reads the AUTH
// password. It also refuses envelope = "smtp" in accounts, which have no
// SMTP envelope.
func (v *validator) smtp() {
	for i := range v.cfg.Accounts {
		if v.cfg.Accounts[i].Envelope.Kind == EnvelopeSMTP {
			v.errf(fmt.Sprintf("accounts[%d].envelope", i), `"smtp" is for the [smtp] receiver only: a fetched message has no SMTP envelope`)
		}
	}
	s := &v.cfg.SMTP
	if v.present("smtp.listen") == nil {
		for _, k := range smtpKeys {
			if v.present("smtp."+k) != nil {
				v.err("smtp."+k, "not used without listen (the address of the SMTP receiver)")
			}
		}
		return
	}
	if msg := checkListen(s.Listen); msg != "" {
		v.err("smtp.listen", strings.Replace(msg, "no HTTP listener", "no SMTP receiver", 1))
	}

	if v.present("smtp.name") == nil {
		s.Name = DefaultSMTPName
	} else if !nameRE.MatchString(s.Name) || s.Name == "." || s.Name == ".." {
		v.errf("smtp.name", "%q is not a valid name: use letters, digits, '.', '_' and '-'", s.Name)
	}
	for i := range v.cfg.Accounts {
		if v.cfg.Accounts[i].Name == s.Name {
			v.errf("smtp.name", "%q is also the name of accounts[%d] (set [smtp] name to another name)", s.Name, i)
		}
	}
	if s.Hostname != "" && !validHostname(s.Hostname) {
		v.errf("smtp.hostname", "%q is not a host name", s.Hostname)
	} else if s.Hostname == "" && v.present("smtp.hostname") != nil {
		v.err("smtp.hostname", "must not be empty (leave it out for the host's name)")
	}

	switch {
	case s.TLSCertFile == "" && s.TLSKeyFile == "":
		for _, k := range []string{"tls_cert_file", "tls_key_file"} {
			if v.present("smtp."+k) != nil {
				v.err("smtp."+k, "must not be empty")
			}
		}
		if s.RequireTLS {
			v.err("smtp.require_tls", "needs tls_cert_file and tls_key_file (a certificate for STARTTLS)")
		}
	case s.TLSCertFile == "":
		v.err("smtp.tls_cert_file", "required key is missing (tls_key_file is set)")
	case s.TLSKeyFile == "":
		v.err("smtp.tls_key_file", "required key is missing (tls_cert_file is set)")
	default:
		s.TLSCertFile, s.TLSKeyFile = v.resolve(s.TLSCertFile), v.resolve(s.TLSKeyFile)
		if _, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile); err != nil {
			v.errf("smtp.tls_cert_file", "cannot load the certificate and key: %v", err)
		}
	}

	if len(s.AcceptRecipients) == 0 {
		v.err("smtp.accept_recipients", `required: the journal addresses to accept, e.g. ["journal@archive.example.com"]`)
	}
	for _, a := range s.AcceptRecipients {
		local, domain, ok := strings.Cut(a, "@")
		if !ok || domain == "" || strings.ContainsAny(a, " <>,") || strings.Count(a, "@") != 1 || local == "" && a[0] != '@' {
			v.errf("smtp.accept_recipients", "%q is not an address (user@example.com) or a domain (@example.com)", a)
		}
	}

	nets := s.AllowedNetworks
	if v.present("smtp.allowed_networks") == nil {
		nets = DefaultSMTPNetworks
	} else if len(nets) == 0 {
		v.err("smtp.allowed_networks", "must not be empty (no client could deliver)")
	}
	s.Networks = nil
	for _, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				v.errf("smtp.allowed_networks", "%q is not a CIDR (\"10.0.0.0/8\") or an IP address", n)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		s.Networks = append(s.Networks, p.Masked())
	}

	authKeys := []string{"auth_password", "auth_password_file", "auth_password_env"}
	if s.AuthUsername != "" {
		v.secret("smtp", "auth_password", "AUTH password", &s.AuthPassword, &s.AuthPasswordFile, s.AuthPasswordEnv)
	} else {
		if v.present("smtp.auth_username") != nil {
			v.err("smtp.auth_username", "must not be empty (leave it out for no AUTH)")
		}
		for _, k := range authKeys {
			if v.present("smtp."+k) != nil {
				v.err("smtp."+k, "not used without auth_username")
			}
		}
	}

	if kv := v.present("smtp.max_message_size"); kv == nil {
		s.MaxMessageSize = DefaultMaxMessageSize
	} else if s.MaxMessageSize <= 0 {
		v.errf("smtp.max_message_size", "%s: size must be greater than 0", kv.text)
	}
	positive := func(key string, val *int, def int) {
		if v.present(key) == nil {
			*val = def
		} else if *val <= 0 {
			v.errf(key, "%d: must be greater than 0", *val)
		}
	}
	positive("smtp.max_connections", &s.MaxConnections, DefaultSMTPMaxConnections)
	positive("smtp.max_recipients", &s.MaxRecipients, DefaultSMTPMaxRecipients)
	duration := func(key string, val *Duration, def Duration) {
		if kv := v.present(key); kv == nil {
			*val = def
		} else if *val < Duration(time.Second) {
			v.errf(key, "%q is too short: the minimum is 1s", kv.text)
		}
	}
	duration("smtp.read_timeout", &s.ReadTimeout, DefaultSMTPReadTimeout)
	duration("smtp.write_timeout", &s.WriteTimeout, DefaultSMTPWriteTimeout)
	duration("smtp.commit_timeout", &s.CommitTimeout, DefaultSMTPCommitTimeout)
}
