// Package smtpserver receives journal reports over SMTP (RFC 5321) or LMTP
// (RFC 2033) and hands each message, spooled to a temporary file, to a
// fetch.Sink: the same pipeline as fetched mail. It is the [smtp] table of
// the configuration; cmd/jarchive wires the Sink.
//
// The protocol is github.com/emersion/go-smtp's, with PIPELINING,
// 8BITMIME, SMTPUTF8, CHUNKING (BDAT, RFC 3030), SIZE (RFC 1870),
// ENHANCEDSTATUSCODES, STARTTLS (with a certificate) and AUTH PLAIN (when
// configured).
//
// # Acknowledgement guarantee
//
// The final reply to a message (250 after the data, or one reply per
// recipient in LMTP) is 250 only after Sink.Archive returned nil, that is
// after the archive committed the message durably. Every failure answers a
// temporary 4xx code, so the sending server keeps the message and retries;
// nothing is ever acknowledged that is not stored. The reverse can happen:
// a connection that breaks after the commit but before the 250 makes the
// sender deliver again, and the archive deduplicates the copy: the
// message is handed over with its SMTP envelope (fetch.Message MailFrom,
// RcptTo) and the SHA-256 of the bytes received (Delivery), so that a
// retry of the same delivery is recognised as such, while two journal
// reports of one original still add up their recipients.
//
// The message is never held in memory: it is written to a temporary file
// while it is read, bounded by max_message_size.
//
// # Reply codes
//
//	220        greeting
//	250        message archived (per recipient in LMTP)
//	421 4.3.2  the archive did not commit within commit_timeout (it cannot
//	           keep up), or the server is shutting down; the connection is
//	           closed and the sender retries later
//	421 4.4.2  the client was silent for read_timeout
//	421 4.7.0  max_connections clients are connected already
//	451 4.3.0  the message could not be stored (any other failure)
//	452 4.3.1  the archive's storage is full or failing (disk full, I/O
//	           error): the sender backs off and retries
//	452 4.5.3  more than max_recipients recipients
//	501 5.1.7  a MAIL FROM address with a control character (a NUL, say);
//	501 5.1.3  the same in RCPT TO
//	530 5.7.0  MAIL FROM before STARTTLS with require_tls, or before AUTH
//	           when auth_username is set
//	535 5.7.8  AUTH with a wrong user name or password
//	550 5.1.1  RCPT TO an address not in accept_recipients
//	552 5.3.4  a message over max_message_size (announced with SIZE, or
//	           found while reading), or with a line over 256 KiB
//	554 5.7.1  a client outside allowed_networks, at connection time
//
// The data is stored as it arrives after dot-unstuffing: only
// CRLF.CRLF ends it (a bare LF never does, so an "LF.LF" cannot smuggle a
// second message), bare LFs and NUL bytes are kept as they are. Syntax
// errors in commands get go-smtp's 500/501/502 replies.
//
// # Sink errors
//
// Sink.Archive gets a context that ends after commit_timeout. An error
// wrapping ErrStorage answers 452; an error wrapping ErrBusy or
// context.DeadlineExceeded answers 421 and closes the connection; any other
// error answers 451.
//
// # Shutdown
//
// Shutdown stops accepting connections, closes the idle ones, lets the
// messages in flight finish (each gets its final reply, then its
// connection is closed) and closes what is left when its context ends.
package smtpserver
