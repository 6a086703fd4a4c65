// Package archive stores each original message once, by the SHA-256 of its
// bytes, with its envelope and where it came from. It owns jarchive's
// durability promise: Put returns nil only after the message's bytes and
// metadata are on stable storage, and only then may a fetcher delete the
// message on its server. Everything it does is recorded in a hash-chained
// ingest log, and Verify checks the whole archive against it.
//
// This file is the authoritative description of the on-disk format
// (format version 2; meta.db of development builds before format 1 is
// refused).
//
// # On-disk layout
//
//	<dir>/
//	  meta.db                bbolt database (below)
//	  blobs/ab/<sha256>      one file per stored copy, named by the hex SHA-256 of the
//	                         original bytes (ab: its first byte); write-once, mode 0440.
//	                         The 256 directories are made when the archive is created.
//	  tmp/                   blobs being written (<sha256>.<pid>-<n>), and the fetch stage's
//	                         spool files; Open rolls committed blobs forward and empties it
//	  index/                 the search index (package index), rebuildable from the log
//	  directory.json         the last directory snapshot and the directory the owners were
//	                         computed with (package directory)
//	  jarchive.sock          control socket of a running daemon
//
// One level of 256 directories, as restic and git do: on ext4 a directory
// is cheap to fill (hashed) but costly to make (an inode and a 4 KiB block;
// about 1-2 ms with its journal commit on the test machine), and two levels
// (65,536 directories) would make the first hundred thousand messages pay
// one each.
//
// # Blobs
//
// A blob is a zstd frame (window 1 MiB, content checksum) of the original
// message. With encryption at rest it is an age v1 file
// (https://age-encryption.org/v1) whose payload is that zstd frame: the
// header holds one recipient stanza
//
//	-> jarchive-v1 <key id> <base64 nonce>
//	<base64 of the 16-byte age file key sealed with XChaCha20-Poly1305>
//
// where the sealing key is HKDF-SHA256(master key, no salt, info
// "jarchive blob key wrap v1"), the nonce is random (24 bytes) and the
// additional data is "jarchive-v1". The payload is age's STREAM
// (ChaCha20-Poly1305, 64 KiB chunks, each authenticated, the last marked),
// so any change or truncation fails to decrypt. Readers tell the two
// forms apart by the first bytes ("age-encryption.org/v1\n" or the zstd
// magic 28 b5 2f fd), so an archive can turn encryption on later: older
// blobs stay readable unencrypted.
//
// Ids, dedup and Verify use the SHA-256 of the plaintext original, so an
// encrypted archive still stores each message once. (Whoever can read the
// blob names can tell whether the archive holds a message they have.)
//
// # Encryption key
//
// Options.Key is the content of [archive] encryption_key_file: exactly 32
// bytes are the master key; anything else is a passphrase (one trailing
// newline, LF or CRLF, removed), from which the master key is
// scrypt(passphrase, salt, N=2^16, r=8, p=1), computed once per Open. The
// meta bucket's "encryption" key holds the parameters as JSON:
//
//	{"version":1,"kdf":"raw"|"scrypt","salt":<base64>,"logn":16,"r":8,"p":1,"key_id":<hex>}
//
// key_id is the first 8 bytes of HKDF-SHA256(master key, info "jarchive key
// id v1"), in hex; Open fails with ErrWrongKey when the configured key
// gives another, and refuses an encrypted archive without a key. For a
// passphrase the salt is needed as well: back up meta.db (which you must
// anyway). Only the blobs are encrypted: meta.db (envelopes, subjects,
// addresses) and the search index are not; put the whole directory on an
// encrypted file system if they must be protected too.
//
// # bbolt buckets
//
//	messages     key: 32-byte SHA-256          value: JSON Record, without "id", packed (below)
//	log          key: 8-byte big-endian seq    value: 32-byte SHA-256 of the previous entry's
//	             value (zeros for entry 1), then the entry's JSON (below), packed
//	msgid        key: Message-ID (at most 1000 bytes), 0x00, 32-byte SHA-256   value: empty;
//	             links distinct copies that share a Message-ID (ByMessageID)
//	content      key: 32-byte ContentKey (journal.Envelope.ContentKey or
//	             DecryptedContentKey, decoded)   value: 32-byte SHA-256 of its shown message
//	checkpoints  key: account, 0x00, mailbox   value: 4-byte UIDVALIDITY, 4-byte last UID
//	             (big endian): every UID up to it is archived (fetch.Checkpoints),
//	             for accounts that keep mail;
//	             key: account, 0x01, POP3 UIDL   value: empty: that POP3 message was archived
//	             (SeenUIDL), written in the transaction of the message
//	stats        key: counter name             value: 8-byte big-endian count: blobs, linked,
//	             decrypted, raw_bytes, stored_bytes, copies, merged, parse_failures,
//	             journal_reports (Stats.Messages is blobs - linked)
//	meta         "format": "2"; "head": 8-byte seq and 32-byte SHA-256 of the newest log
//	             entry; "encryption": the JSON above; "probe": time of the last Probe
//	holds        key: legal hold name          value: JSON Hold (delete.go)
//	deleting     key: 32-byte SHA-256          value: empty: a deleted message whose blob
//	             file is still to be removed (delete.go)
//
// The Record JSON is the struct Record (field names in its tags); "seq" is
// the log entry that last changed it.
//
// Packed JSON (record values and the JSON part of log entries) is either
// the JSON itself, starting with '{', or a zstd frame of it (magic 28 b5
// 2f fd; content size and checksum, no dictionary), which jarchive writes
// when the JSON has 128 bytes or more and the frame is smaller. Readers
// tell them apart by the first byte. Format 1 is format 2 without packing:
// its values are all JSON. Open upgrades it in place by setting "format"
// to "2", so that earlier versions refuse the archive instead of misreading
// packed values, and rewrites nothing: values written before stay JSON and
// are read as they are; a record is packed when it next changes, a log
// entry never is (its bytes are in the chain). The digests do not change
// either: a record's is of its JSON, an entry's link of its value as
// stored. The log bucket is filled to FillPercent 1.0 (its keys only grow);
// records, about 3 KB of JSON each, pack to about a quarter, log entries
// to about half.
//
// # Shown messages and linked copies
//
// A stored copy (a record and its blob) is either a shown message (one
// search hit, one index document) or a linked copy shown through its
// primary (Record.Primary, Record.Link; the primary lists it in Copies):
//
//   - The same bytes again (several journal reports, accounts or an
//     import) are one stored copy: the new source is appended to its
//     Sources, its envelope recipients merged in (stats "merged"). The
//     same source again (a refetch after a crash before the server
//     delete) changes nothing.
//   - Different bytes with the same Message-ID stay distinct shown
//     messages, linked only by the msgid bucket.
//   - Copies with the same ContentKey (forked journal reports whose
//     originals differ only in transport headers) are distinct blobs shown
//     as one message: the first stored is the primary, the others link to
//     it with Link "fork".
//   - Journal report decryption: the protected original and the decrypted
//     copy are both stored; the decrypted copy is shown (it is what can be
//     searched), the protected one links to it with Link "protected". A
//     decrypted copy arriving after its message was shown without one takes
//     over: the old primary and its copies link to it, and the index is
//     told to drop the old document (Change.Remove).
//
// A shown message's Recipients are the union of its group's envelopes and
// its Sources the union of its group's sources, each marked with the copy
// it delivered (Source.Copy; the envelope text stays in that copy's own
// record). A linked copy keeps its own sources and recipients (a former
// primary: the union it had). Recipients are the same when their field
// and their addresses in normal form (journal.NormalizeAddr) are; the
// address is kept as first written. Links are one level deep: a primary
// is never linked.
//
// # Owners
//
// Record.Owners are the names of the users who own a message (package
// directory decides; Put takes them from Incoming.Owners), sorted; none
// means no one does (the "unassigned" view). Like Recipients they are the
// union over a group: a merge and a link add the new copy's owners.
// Reassign recomputes them when the directory changes, each shown message
// from its own envelope and its copies', and writes only the records whose
// owners changed, with an "owners" log entry; blobs are never rewritten.
//
// # Ingest log
//
// Every change of a record appends one log entry, in the same transaction:
//
//	{"seq":N,"time":...,"op":"add"|"merge"|"link"|"hide"|"owners","id":<sha256>,
//	 "shown":<primary, for a linked copy>,"size":..,"stored":..,
//	 "source":{account, mailbox, uidvalidity, uid, path, fetched, status},
//	 "record":<hex SHA-256 of the record's JSON after the change: its value
//	           unpacked>,
//	 "owners":[<the record's owners after the change; absent for none>]}
//
// add: a stored copy was created; merge: it gained a source of its own;
// link: its group changed (union, copies); hide: a shown message became a
// linked copy; owners: Reassign changed its owners and nothing else. The
// owners of every entry make the log the history of who owned what when.
// An event entry, {"seq":N,"time":...,"op":"event","id":"",
// "record":<hex SHA-256 of data>,"kind":...,"data":<JSON, compacted>}, is
// evidence about the archive as a whole (LogEvent; kind "export": an
// export's manifest digest, package export); it names no message and the
// index skips it. A "delete" entry is the tombstone of a stored copy that
// retention deleted (delete.go); its "record" is the digest of the deleted
// record's JSON. Each entry's value (as stored, packed or not) begins with
// the SHA-256 of the previous entry's value, and the meta
// bucket keeps the newest entry's hash (the chain head, in Stats and
// logged at Close): editing, inserting or removing an entry breaks the
// chain, editing a record no longer matches its entry's digest, and
// removing a record leaves its entries without it. Whoever can rewrite
// meta.db can rewrite the whole chain: keep the chain head somewhere else
// (the daemon logs it; monitoring can record `jarchive stats -json`) to
// detect that too. The log is also the search index's change feed
// (Changes).
//
// # Commit protocol
//
// Put reads the original twice: once to hash it and, when the archive
// lacks it, again to compress (and encrypt) it into tmp/<sha256>.<pid>-<n>.
// Concurrent Puts share group commits (leader/follower, no timer: a lone Put
// commits at once; Puts arriving meanwhile form the next batch, up to 500
// messages and 64 MiB). A batch is
//
//  1. synced: on Linux one syncfs(2) of the archive's file system (on a
//     descriptor kept open, so that write-back errors since the last call
//     are reported); elsewhere each Put fsyncs its temp file and the batch
//     fsyncs tmp/;
//  2. committed: all its records and log entries in one bbolt transaction
//     (which fsyncs meta.db);
//  3. moved into place: each new temp file is renamed to its blob path.
//
// Then its Puts return. Step 1 of the next batch overlaps step 2 of this
// one. A crash before step 2 leaves temp files without records: Open
// removes them. A crash after it leaves committed temp files whose rename
// may be lost: Open checks each (decrypt, decompress, hash) and moves it
// into place. So blobs/ only ever holds complete blobs that have records,
// and a half-written blob is never visible. A blob whose record exists but
// whose file is missing in blobs/ is read from tmp/ until it is moved.
//
// # Storage failures
//
// ENOSPC, EDQUOT, EIO, EROFS, EFBIG, EACCES and EPERM while writing a blob,
// and any failure of the database commit, fail the Puts of the batch with an error
// wrapping ErrStorage: nothing of them was acknowledged. The temp files of
// a failed commit are kept until a later commit settles whether their
// records exist. Probe writes and fsyncs a 1 MiB file and commits a small
// transaction, to tell when storing works again.
//
// # Verify
//
// Verify checks, a chunk of records per read transaction (so it may run
// beside ingest): every record unpacks and decodes, its JSON matches its
// log entry's digest (so the digest does not depend on the packing), and it
// links consistently (corrupt, chain-broken); its blob exists (missing) with
// the recorded size (truncated), and with ReadData decrypts, decompresses
// and hashes to its id with the recorded size (corrupt); every file under
// blobs/ has a record (orphan); the log's sequence numbers run from 1
// without gaps, each entry links to the previous one's hash, the head
// matches the last entry, and every message the log names has a record at
// least as new (missing, chain-broken). One edit shows as one problem.
package archive
