// Package archive stores each original message once, by the SHA-256 of its
// bytes, with its envelope and where it came from. It owns jarchive's
// durability promise: Put returns nil only after the message's bytes and
// metadata are on stable storage, and only then may a fetcher delete the
// message on its server.
//
// # On-disk layout
//
//	<dir>/
//	  meta.db                      bbolt database (below)
//	  blobs/ab/cd/<sha256>         one file per original message: zstd frame of its bytes,
//	                               named by the hex SHA-256 of the uncompressed bytes
//	                               (ab, cd: its first two bytes); write-once, mode 0440
//	  tmp/                         blobs being written; leftovers are removed at Open
//	  index/                       the search index (package index), rebuildable
//	  jarchive.sock                control socket of a running daemon
//
// # bbolt buckets
//
//	messages     key: 32-byte SHA-256       value: JSON Record
//	changes      key: 8-byte big-endian seq value: 32-byte SHA-256 of a message added or merged in
//	             that change; the search index follows this log with a watermark
//	msgid        key: Message-ID, 0x00, 32-byte SHA-256   value: empty; links distinct copies
//	             that share a Message-ID
//	checkpoints  key: account, 0x00, mailbox   value: 4-byte UIDVALIDITY, 4-byte last UID
//	             (big endian): the highest UID archived, for accounts that keep mail
//	stats        key: counter name           value: 8-byte big-endian count
//
// # Commit protocol
//
// Put streams the original through SHA-256 and a zstd encoder into a file
// in tmp/, fsyncs it, renames it to its blob path, fsyncs the blob's
// directory (and any directory it created), and then commits the record in
// one bbolt transaction (which fsyncs the database). A crash before the
// commit leaves at worst an orphan blob, which the next Put of the same
// message adopts; a crash after it loses nothing. A second copy of a
// message already stored writes no blob: its envelope recipients and its
// source are merged into the existing record.
package archive
