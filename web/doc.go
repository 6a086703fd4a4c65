// Package web is the web interface and JSON API of jarchive serve:
// server-rendered pages (html/template, embedded assets, no JavaScript)
// and /api/v1/, on the listener of [http] (package config) beside
// /metrics, /healthz and /readyz.
//
// # Routes
//
//	GET  /login, POST /login, POST /logout
//	GET  /search?q=&sort=&after=            the search page with the query help
//	GET  /messages/{id}                     a message: headers, envelope, body, attachments
//	GET  /messages/{id}/body.html           the message's HTML, sanitized, for a sandboxed frame
//	GET  /messages/{id}/raw                 the original .eml, byte for byte
//	GET  /messages/{id}/attachments/{n}     attachment n (1-based, in MIME order)
//	POST /export                            a result set as a zip of an export (package export)
//	GET  /audit                             the audit trail (auditors)
//	GET  /accounts                          accounts, directory and users (admins)
//	GET  /tokens, POST /tokens, POST /tokens/revoke   API tokens (admins)
//	GET  /api/v1/search?q=&as=&sort=&after=&limit=
//	GET  /api/v1/messages/{id}[/raw|/attachments/{n}]
//	GET  /api/v1/stats, /api/v1/accounts
//
// {id} is the full hex SHA-256 of a message.
//
// # Roles and authorization
//
// A caller is a user of the directory (package directory) logged in with a
// session cookie, or a script with an API token. Roles (config.Role):
// user sees the mail they own; auditor sees, downloads and exports all
// mail and reads the audit trail; admin sees the accounts, directory and
// users pages and stats, and only their own mail unless also auditor.
// Every route is registered with the permission it needs (Server.route),
// checked before its handler runs; every route of a message goes through
// Server.message, which answers 404 Not Found alike for an id that does
// not exist and for one the caller may not see, so that guessing ids
// tells nothing.
//
// # Login and sessions
//
// A user logs in with the password whose bcrypt hash [[users]]
// password_hash holds, or, for a user read from [directory.ldap], by a
// bind as their entry. Failed logins are limited per user name and per
// client address (token buckets: 5 and 20 attempts, then one a minute).
// A session is a random 256-bit id in the cookie jarchive_session
// (HttpOnly, SameSite=Lax, Secure over TLS or behind a trusted proxy that
// says https), held in memory by the server (a restart logs everyone
// out), ended by logout or after [http] session_ttl without use. Each
// session has a CSRF token that every POST form must send back; the login
// form has its own in a cookie (double submit).
//
// # API tokens
//
// Scripts send "Authorization: Bearer TOKEN". Tokens are made by
// "jarchive token add" and kept in <archive dir>/web-tokens.json (mode
// 0600), read again whenever the file changes:
//
//	{"tokens":[{"name":"backup","role":"auditor","user":"",
//	  "sha256":"<hex SHA-256 of the token>","created":"2026-01-05T09:00:00Z"}]}
//
// Only the SHA-256 of a token is stored. A token has a role; a token of
// role user (or admin) acts as the user named by user. Admins make and
// revoke tokens on the tokens page too, but never one with more than they
// have: a role they lack, or (unless auditors) another user's mail.
//
// # Content security
//
// Every page is sent with a Content-Security-Policy that allows nothing
// but the server's own style sheet and images, form posts to itself and
// frames of itself, with frame-ancestors 'none', X-Content-Type-Options:
// nosniff and Referrer-Policy: no-referrer. A message's HTML is sanitized
// (bluemonday: no scripts, no event handlers, no remote URLs) and served
// with "Content-Security-Policy: sandbox; default-src 'none'; style-src
// 'unsafe-inline'; img-src data:" into an <iframe sandbox>. Attachments
// and raw messages are always downloads (Content-Disposition: attachment,
// application/octet-stream or message/rfc822), never rendered.
//
// # Audit
//
// Every login (success and failure), logout, search, message view,
// download, export and admin page is appended to the audit log (package
// audit) with the user, role, client address, target and outcome.
package web
