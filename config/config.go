// Package config reads and validates jarchive's one TOML configuration file.
//
// The file is decoded strictly (unknown keys are errors) with
// github.com/pelletier/go-toml/v2. Every error names the file, line, column
// and key, for example
//
//	jarchive.toml:14:12: accounts[0].security: "startls" is not one of starttls, tls, none
//
// and all the errors of a file are reported together, one per line (see
// Errors). The doc comments of the fields below are the reference for every
// key; README.md carries an annotated sample, kept in testdata/sample.toml,
// which a test loads.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Config is a whole jarchive.toml.
type Config struct {
	// Path is the file the configuration was loaded from; it is not a key.
	Path string `toml:"-"`

	Archive  Archive   `toml:"archive"`
	Accounts []Account `toml:"accounts"`
	// HTTP is the listener of /metrics, /healthz and /readyz (http.go).
	HTTP HTTP `toml:"http"`
	// SMTP is the SMTP/LMTP receiver of journal reports (smtp.go).
	SMTP SMTP `toml:"smtp"`

	// Who owns each message (package directory): the [directory] table
	// and the users, groups and shared mailboxes of this file.
	Directory       Directory       `toml:"directory"`
	Users           []User          `toml:"users"`
	Groups          []Group         `toml:"groups"`
	SharedMailboxes []SharedMailbox `toml:"shared_mailboxes"`
	// Retention: how long messages are kept, legal holds aside (retention.go).
	Retention Retention `toml:"retention"`
}

// Archive is the [archive] table.
type Archive struct {
	// Dir holds blobs, the metadata database, the search index and the
	// control socket. Required. Relative paths are relative to the
	// configuration file's directory; Load makes it absolute.
	Dir string `toml:"dir"`
	// TimeZone is the IANA name of the archive's time zone ("Europe/Berlin",
	// "UTC"): search dates (after:, before:) and listed dates are in it.
	// Default "Local", the system's zone.
	TimeZone string `toml:"time_zone"`
	// Location is TimeZone loaded; set by Load, it is not a key.
	Location *time.Location `toml:"-"`
	// EncryptionKeyFile, if set, turns on encryption at rest of the message
	// blobs. A file of exactly 32 bytes is a raw key (make one with
	// "head -c 32 /dev/urandom"); any other content is a passphrase, one
	// trailing newline removed. Without the key the messages cannot be
	// read: keep a copy apart from the archive's backups. Relative paths
	// are relative to the configuration file's directory (Load makes them
	// absolute). Not set by default.
	EncryptionKeyFile string `toml:"encryption_key_file"`
	// EncryptionKey is the content of EncryptionKeyFile, read by Load; it
	// is not a key.
	EncryptionKey Secret `toml:"-"`
}

// Account is one [[accounts]] entry: a journal mailbox to fetch from.
type Account struct {
	// Name identifies the account in logs, stats and message sources.
	// Required, unique, letters, digits, '.', '_' and '-'.
	Name string `toml:"name"`
	// Protocol is imap (default), pop3, imap-oauth2 or pop3-oauth2. The
	// oauth2 protocols log in with SASL XOAUTH2 and a token of the OAuth2
	// client-credentials flow (Microsoft 365: tenant_id, client_id,
	// client_secret), the others with username and password.
	Protocol Protocol `toml:"protocol"`
	// Server is host or host:port. The default port follows from protocol
	// and security: IMAP 143 (starttls, none) or 993 (tls); POP3 110 or 995.
	// Required, except for the oauth2 protocols, where it defaults to
	// outlook.office365.com.
	Server string `toml:"server"`
	// Username to log in with. For the oauth2 protocols, the address of
	// the mailbox to read (the journal mailbox).
	Username string `toml:"username"`
	// Password, given inline, or read from PasswordFile (one trailing
	// newline removed; relative paths are relative to the configuration
	// file's directory) or the environment variable named by PasswordEnv.
	// Exactly one of the three is required for imap and pop3, and none may
	// be set for the oauth2 protocols. After Load, Password holds the
	// password whichever way it was given.
	Password     Secret `toml:"password"`
	PasswordFile string `toml:"password_file"`
	PasswordEnv  string `toml:"password_env"`
	// TenantID is the Microsoft Entra ID tenant (the app registration's
	// Directory (tenant) ID, or a verified domain) for the oauth2
	// protocols: it names the token endpoint. Required for them unless
	// TokenURL is set; not allowed for imap and pop3.
	TenantID string `toml:"tenant_id"`
	// ClientID is the app registration's Application (client) ID. Required
	// for the oauth2 protocols; not allowed for imap and pop3.
	ClientID string `toml:"client_id"`
	// ClientSecret is the app registration's client secret (its Value, not
	// its Secret ID), given inline, or read from ClientSecretFile or the
	// environment variable named by ClientSecretEnv, like the password.
	// Exactly one of the three is required for the oauth2 protocols. After
	// Load, ClientSecret holds the secret whichever way it was given.
	ClientSecret     Secret `toml:"client_secret"`
	ClientSecretFile string `toml:"client_secret_file"`
	ClientSecretEnv  string `toml:"client_secret_env"`
	// TokenURL is the OAuth2 token endpoint; default
	// https://login.microsoftonline.com/TENANT_ID/oauth2/v2.0/token. Set it
	// for other clouds (login.microsoftonline.us, login.chinacloudapi.cn)
	// or other providers. An https URL (http only to a loopback address).
	TokenURL string `toml:"token_url"`
	// Scope requested with the token; default
	// https://outlook.office365.com/.default (Exchange Online).
	Scope string `toml:"scope"`
	// Security is starttls (default), tls (implicit TLS) or none (plain
	// text, warned about at every start).
	Security Security `toml:"security"`
	// TLSCAFile is a PEM file of CA certificates to trust instead of the
	// system roots. Relative paths are relative to the configuration file's
	// directory (Load makes them absolute).
	TLSCAFile string `toml:"tls_ca_file"`
	// Mailbox is the IMAP mailbox to fetch from; default INBOX.
	Mailbox string `toml:"mailbox"`
	// KeepMails leaves fetched messages on the server. Default false:
	// messages are deleted on the server once durably archived.
	KeepMails bool `toml:"keep_mails"`
	// MaxMessageSize: larger messages are left on the server, logged and
	// counted. Human units: "50MB" (default), "512KiB", "1GB", or an
	// integer number of bytes. Must be greater than 0.
	MaxMessageSize ByteSize `toml:"max_message_size"`
	// Interval between polls; default "1m", at least "1s".
	Interval Duration `toml:"interval"`
	// Idle keeps an IMAP connection open and waits with IDLE (RFC 2177)
	// for new mail, which is then fetched within seconds; a pass still
	// runs every interval. Default false. IMAP protocols only.
	Idle bool `toml:"idle"`
	// Envelope says where the real recipients come from: journal
	// (default: Microsoft journal report, else the message's own headers),
	// off, x-envelope-to, x-original-to, delivered-to or header:NAME.
	Envelope EnvelopeMode `toml:"envelope"`
}

// OAuth2TokenURL is TokenURL, or the Microsoft identity platform's token
// endpoint of TenantID when TokenURL is empty.
func (a *Account) OAuth2TokenURL() string {
	if a.TokenURL != "" {
		return a.TokenURL
	}
	return "https://login.microsoftonline.com/" + url.PathEscape(a.TenantID) + "/oauth2/v2.0/token"
}

// OAuth2Scope is Scope, or DefaultOAuth2Scope when it is empty.
func (a *Account) OAuth2Scope() string {
	if a.Scope != "" {
		return a.Scope
	}
	return DefaultOAuth2Scope
}

// IsOAuth2 reports whether the account logs in with OAuth2.
func (a *Account) IsOAuth2() bool {
	return a.Protocol == ProtocolIMAPOAuth2 || a.Protocol == ProtocolPOP3OAuth2
}

// IsPOP3 reports whether the account is read with POP3.
func (a *Account) IsPOP3() bool {
	return a.Protocol == ProtocolPOP3 || a.Protocol == ProtocolPOP3OAuth2
}

// Addr is Server with the default port added when it has none.
func (a *Account) Addr() string {
	if _, _, err := net.SplitHostPort(a.Server); err == nil {
		return a.Server
	}
	return net.JoinHostPort(a.Server, strconv.Itoa(a.DefaultPort()))
}

// DefaultPort is the port implied by the protocol and security.
func (a *Account) DefaultPort() int {
	pop := a.IsPOP3()
	switch {
	case pop && a.Security == SecurityTLS:
		return 995
	case pop:
		return 110
	case a.Security == SecurityTLS:
		return 993
	default:
		return 143
	}
}

// Protocol is how an account's mailbox is reached. The zero value is IMAP.
type Protocol int

const (
	ProtocolIMAP Protocol = iota
	ProtocolPOP3
	ProtocolIMAPOAuth2
	ProtocolPOP3OAuth2
)

var protocolNames = []string{"imap", "pop3", "imap-oauth2", "pop3-oauth2"}

func (p Protocol) String() string { return enumString(protocolNames, int(p)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Protocol) UnmarshalText(b []byte) error {
	i, err := enumParse(protocolNames, string(b))
	*p = Protocol(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Security is the transport security of a connection. The zero value is STARTTLS.
type Security int

const (
	SecuritySTARTTLS Security = iota
	SecurityTLS
	SecurityNone
)

var securityNames = []string{"starttls", "tls", "none"}

func (s Security) String() string { return enumString(securityNames, int(s)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Security) UnmarshalText(b []byte) error {
	i, err := enumParse(securityNames, string(b))
	*s = Security(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (s Security) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// EnvelopeKind selects where envelope recipients are read from.
type EnvelopeKind int

const (
	// EnvelopeJournal autodetects a Microsoft journal report and falls back
	// to the message's own headers.
	EnvelopeJournal EnvelopeKind = iota
	// EnvelopeOff uses the message's own From/To/Cc.
	EnvelopeOff
	// EnvelopeHeader reads every instance of the header EnvelopeMode.Header.
	EnvelopeHeader
	// EnvelopeSMTP takes the recipients and the sender from the SMTP
	// envelope (RCPT TO, MAIL FROM) of the [smtp] receiver; the rest
	// from the message's own headers, as off does.
	EnvelopeSMTP
)

// EnvelopeMode is the parsed `envelope` key. The zero value is journal.
type EnvelopeMode struct {
	Kind EnvelopeKind
	// Header is the canonical header name for EnvelopeHeader, e.g.
	// "X-Envelope-To", "X-Original-To", "Delivered-To" or a custom name.
	Header string
}

func (m EnvelopeMode) String() string {
	switch m.Kind {
	case EnvelopeJournal:
		return "journal"
	case EnvelopeOff:
		return "off"
	case EnvelopeSMTP:
		return "smtp"
	default:
		return "header:" + m.Header
	}
}

// MarshalText implements encoding.TextMarshaler. (UnmarshalText is in
// types.go.)
func (m EnvelopeMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ByteSize is a size in bytes written with human units ("50MB", "512KiB").
type ByteSize int64

// Duration is a time.Duration written as "1m", "30s", "1h30m".
type Duration time.Duration

// Secret is a password or other credential. It never prints its value: String,
// GoString, Format, LogValue, MarshalText and MarshalJSON all give "<redacted>".
// Use Reveal to get the value where it is needed (at login).
//
// The value sits behind a pointer so that even reflection-based printers that
// cannot call these methods (fmt on a Secret inside an unexported field, for
// instance) print an address, not the value. Compare secrets with Reveal,
// not ==.
type Secret struct{ value *string }

func enumString(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("unknown(%d)", i)
}
