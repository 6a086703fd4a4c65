// Package export writes the messages of a search out of the archive for
// lawyers and regulators, in a form whose completeness and integrity can be
// proved, and checks such an export again (Verify).
//
// # Layout
//
// Export writes a directory (it refuses one that exists):
//
//	<out>/
//	  messages.mbox   format mbox: every message, mboxrd-quoted (below)
//	  messages.zip    format eml-zip: one <date>_<id>.eml per message
//	  Maildir/        format maildir: cur/<unix date>.<id>.jarchive:2,S, new/, tmp/
//	  manifest.csv    one line per message (the columns of Manifest.Messages)
//	  manifest.json   the Manifest: query, who ran it, when, every message
//	                  and the SHA-256 of the file set
//
// Message files hold the original bytes exactly (ids are their SHA-256),
// named by the message's Date header (UTC, 20060102T150405Z; "nodate"
// without one) and id. The whole export is written into <out>.partial-<pid>
// and renamed to <out> only once everything, the manifest last, is written
// and fsynced: an interrupted export leaves no directory that looks
// complete.
//
// # mbox
//
// mboxrd (https://www.loc.gov/preservation/digital/formats/fdd/fdd000385.shtml):
// each message is preceded by a From_ line "From <sender> <asctime date>",
// every line of it matching ^>*From  gets one more ">", and it is followed
// by one blank line. A message that does not end with a newline gets one
// before that blank line, as mbox cannot store it otherwise; its manifest
// entry says so (mbox_newline_added), so Verify, and an importer reading
// the manifest, recover the exact original. Each entry also gives the
// offset and length of its stretch of the file.
//
// # Manifest
//
// manifest.json is one JSON object whose keys come in this order, so that
// it is written (and read back by Verify) as a stream, whatever the number
// of messages: version, format, query, as, by, started, archive,
// chain_head, messages (array), files, count, bytes, fileset_sha256,
// finished. files lists the container files (messages.mbox or
// messages.zip) and manifest.csv, each with its size and SHA-256. The file
// set digest is the SHA-256 of the lines "<sha256>  <name>\n" (sha256sum
// format), first of each message file of a maildir export in manifest
// order, then of each entry of files. After the rename, the SHA-256 of
// manifest.json is recorded in the archive's ingest log as an event of
// kind "export" (archive.LogEvent), with the path, format, query, who and
// the count: the archive's hash chain then vouches for the manifest.
//
// Owners are not in the manifest yet: the archive's records do not carry
// them.
package export
