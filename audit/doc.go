// Package audit keeps the audit trail of the web interface: an append-only,
// hash-chained log of who logged in (or failed to), searched, viewed,
// downloaded or exported which mail, and of every admin action, with when
// and from where. "jarchive verify" checks its chain (Verify).
//
// # File format
//
// The log is <archive dir>/audit.log, JSON lines, one record a line, in
// the order they were appended:
//
//	{"seq":1,"time":"2026-01-05T09:14:03.120Z","actor":"anna","role":"auditor",
//	 "remote":"10.1.2.3","action":"login","target":"","outcome":"success",
//	 "prev":"000…000","hash":"9c1e…"}
//
// seq counts from 1 without gaps. time is UTC, RFC 3339 with
// milliseconds. actor is the user name ("name (token NAME)" for an API
// token, the system user for the command line; empty for a login that
// failed, whose target is the name tried), role the caller's role (user,
// auditor, admin, auditor+admin; "cli"), remote the client's address (the
// X-Forwarded-For client when the request came through a trusted proxy),
// action one of the Action constants, target what it applied to (a
// message id, a query, a token name), outcome "success", "failure",
// "denied" or "not found", detail, when present, more of it (a reason, a
// count). prev is the hash of the previous record (64 zeros for the
// first), hash the hex SHA-256 of the record's line written without its
// hash key: the JSON object of the keys above in this order, with detail
// left out when empty. Editing a record breaks its hash; deleting,
// inserting or reordering records breaks the chain of seq and prev.
//
// # Head
//
// Deleting the last records of a chain leaves a valid, shorter chain. So
// after each append the head of the chain, "<seq> <hash>\n", is written to
// <archive dir>/audit.log.head (temp file, fsync, rename): Verify reports
// a log that ends before its head as truncated. An attacker who can
// rewrite both files can rewrite history; copy the head elsewhere (a
// syslog, a ticket) to anchor it.
//
// # Durability
//
// Append writes the line with one write(2) on a file opened O_APPEND and
// fsyncs it before it returns: a record that Append reported is on disk.
// It holds an exclusive flock(2) on the log meanwhile and first reads what
// other processes appended since (the daemon's web interface and "jarchive
// token" share the log), so the chain stays one.
// A crash in the middle of a write leaves a last line without its newline;
// Open cuts it off (it was never reported) and Verify reports it as
// truncated until then.
package audit
