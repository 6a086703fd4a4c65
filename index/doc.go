// Package index is the full-text index of the archive: a bleve (scorch)
// index with one document per archived message, keyed by the hex SHA-256 of
// the message. It is derived data, never the source of truth: it stores no
// field values (callers read what they show from the archive) and can be
// deleted and rebuilt from the archive at any time.
//
// # Directory
//
//	<dir>/CURRENT        "gen-000002\n": the live generation
//	<dir>/gen-000002/    a bleve index (index_meta.json, store/)
//	<dir>/gen-000003/    a rebuild in progress, if any
//
// Open opens the generation CURRENT names and removes every other
// generation (an interrupted rebuild) and a CURRENT.tmp. A new index is
// generation 1, written before CURRENT; a directory with generations but
// without CURRENT is such a new index interrupted, and is started afresh.
// A directory holding index_meta.json itself is the layout of schema 1: Open
// returns ErrSchema.
//
// # Rebuild and swap
//
// StartRebuild creates the next generation beside the live one. The caller
// fills it through Rebuild.Batch from the archive's change log, then, while
// no batch of the live index is being filled, calls Finish: CURRENT is
// replaced atomically (write CURRENT.tmp, fsync, rename, fsync the
// directory), the Index switches to the new generation under a write lock
// that waits for running searches (they hold a read lock, so each search
// sees one whole generation), and the old generation is closed and removed.
// A crash before the rename leaves the old generation live and the new one
// is removed at the next Open; after the rename the new one is live. This is
// bleve's IndexAlias idea done by hand: the alias cannot list document IDs
// (IDs needs the index's Advanced reader) nor take batches of a new index
// while it serves the old one.
//
// # Writing
//
// The caller feeds messages in archive order through a Batch and commits it
// every 500 documents or so (or when Batch.Bytes passes a few tens of MiB).
// Index.Prepare does the costly part of adding a document (extraction and
// field mapping) and is safe for concurrent use, so a caller may prepare
// documents on several goroutines and add them in order with
// Batch.AddPrepared.
// Commit writes the documents and the caller's watermark (internal key
// "jarchive.watermark", 8 bytes big endian) in one bleve batch and returns once
// it is persisted, so after a crash the index holds exactly the messages up to
// its watermark and indexing resumes from Watermark. Adding a message again
// replaces its document.
//
// The internal key "jarchive.schema" holds the version of the mapping and the
// extraction. Open fails with ErrSchema when it differs from this package's:
// the caller then removes the directory and rebuilds.
//
// # Mapping
//
// The mapping is explicit: dynamic mapping is off, no field is stored, none
// is in _all. Only the text fields keep term vectors (positions, for exact
// phrases; their byte offsets are zeroed, as nothing is highlighted), only
// order keeps doc values (sorting).
//
//	field     source                                  analyzer
//	from      Document.From (header)                  jarchive_ident
//	sender    Document.Sender (envelope)              jarchive_ident
//	to, cc    Document.To, Document.Cc (header)       jarchive_ident
//	bcc       Document.Bcc (envelope Bcc)             jarchive_ident
//	rcpt      Document.Rcpt (all envelope recipients) jarchive_ident
//	filename  file names of the parts                 jarchive_ident
//	subject   Document.Subject                        jarchive_text, positions
//	body      text of the message, see Extraction     jarchive_text, positions
//	atext     text of the attachments                 jarchive_text, positions
//	msgid     Document.MessageID without <>           jarchive_keyword
//	owner     Document.Owners                         jarchive_keyword
//	account   Document.Accounts                       jarchive_keyword
//	has       "attachment" when there is one          jarchive_keyword
//	date      the date in quarter hours since 1970    number
//	order     the date to the nanosecond, 16 hex      keyword, doc values
//	month     the month of that date (UTC), "YYYY-MM" keyword
//	size      Document.Size in whole kB (1,000 B)     number
//
// Dates: a message without a date (or before 1900) counts as 1900-01-01,
// sorts last and matches no after: or before:; dates after 2190 count as
// 2190. The date of a message gets a fraction of a second derived from its
// ID (mail dates have whole seconds), which orders messages of the same
// second and makes order a unique sort key, as paging needs. Every time
// zone's midnight falls on a quarter hour, so date ranges in any zone are
// exact; numbers cost bleve 16 terms each, and quarter hours (like kB for
// sizes) keep those few.
//
// Analyzers:
//
//   - jarchive_text: Unicode word boundaries (UAX #29; the tokenizer
//     jarchive_words, which gives exactly the tokens of bleve's unicode
//     tokenizer, named by indexes made before it, three times as fast), ASCII folding
//     ("Müller" -> "Muller", "Grüße" -> "Grusse"), lower case, tokens longer
//     than 100 runes dropped, byte offsets zeroed. Folding is a token filter
//     (jarchive_asciifold) rather than bleve's asciifolding char filter,
//     which allocates 16 bytes per byte of a whole body.
//   - jarchive_ident: for addresses and file names. A tokenizer
//     (jarchive_ident) splits at white space and <>",;:()[]{}/\| and emits
//     each chunk whole, for an address also its local part, its domain and
//     each parent domain that still has a dot, and then each word (run of
//     letters and digits). "Anna Berg <anna.berg@mail.contoso.com>" gives
//     anna, berg, anna.berg@mail.contoso.com, anna.berg, mail.contoso.com,
//     contoso.com, mail, contoso, com; "Q3-Report.pdf" gives q3-report.pdf,
//     q3, report, pdf. Then ASCII folding, lower case, at most 256 runes.
//   - jarchive_keyword: the whole value, lower-cased.
//
// # Extraction
//
// The body field gets the text of the text/plain and text/html parts that
// are not attachments (tags, comments, <script> and <style> removed,
// character references decoded), plus the Subject, From, To and Cc of
// embedded messages (message/rfc822), whose parts are walked too. Of a
// multipart/alternative only the alternative with the most text counts (the
// same words twice would double the positions). Transfer encodings and
// charsets are decoded with go-message and go-message/charset; bytes that
// are still not UTF-8 are read as Windows-1252. File names come from the
// Content-Disposition filename or the Content-Type name parameter, RFC 2231
// and RFC 2047 decoded.
//
// A part is an attachment when its disposition says so, or when it has a
// file name and is not inline (an inline logo is not an attachment; a
// forwarded message/rfc822 part is). The atext field gets the text of
// attachments, told apart by file extension and then media type: text/*
// (charset decoded), HTML (as above), PDF with poppler's pdftotext when it
// is installed (see PDFText; otherwise a PDF keeps only its name), and the
// zip-based office files read with the standard library: DOCX (document,
// headers, footers, notes, comments), XLSX (shared strings, inline strings
// and cell values), PPTX (slides and notes), ODT/ODS/ODP (content.xml).
// Files that are not what they claim are skipped quietly.
//
// Parsing is lenient, as the mail is real: a header ends at its first line
// that is not a field (as in Python's email package), multipart bodies are
// split at delimiter lines and each part header is parsed on its own, broken
// parameters and transfer-encoding names are repaired where obvious. Whatever
// cannot be read is skipped; the message is still indexed. Extraction streams
// and is bounded: 1 MiB of text per part, 4 MiB of body text and 4 MiB of
// attachment text per message, 8 MiB of HTML read per part, 1 MiB of header,
// 16 levels of nesting, 1000 parts, 100 file names of at most 255 bytes.
// Attachments: 32 MiB of a decoded attachment (larger ones keep their name
// only); of a zip, 2000 entries, 500 members, 16 MiB decompressed per member
// and 48 MiB in all; of a PDF, 500 pages; 10 s per attachment (pdftotext is
// killed) and 30 s for all attachments of a message.
//
// # Queries
//
// Search takes a Gmail-like language, parsed here and compiled to bleve
// queries (bleve's own syntax never reaches the user):
//
//	word            the word in subject, body, attachment text, file
//	                names, from, sender, to, cc or recipients
//	"two words"     the exact phrase (in addresses and file names: all
//	                its words)
//	invoic*         words starting with invoic (2 characters at least)
//	from:anna       from: header From or envelope sender
//	to: cc:         header To, Cc
//	bcc:            envelope Bcc recipients (only the journal report names them)
//	rcpt:           any envelope recipient
//	sender:         envelope sender only
//	subject: body:  subject, body text
//	attachment:     attachment file name or text
//	filename:       file name of any part (inline images too)
//	id:3f2a9c01     message ID (SHA-256), 8 to 64 hex digits (a prefix)
//	msgid:x@y       Message-ID, with or without <>
//	owner:a@b.c     owner, a whole address
//	account:name    account the message came from
//	has:attachment  messages with an attachment
//	after:2024-01-31 before:2024-02  dates in the archive's time zone
//	                (Query.Location): after: from the start of that day
//	                (month, year), before: up to its start; YYYY-MM-DD,
//	                YYYY-MM or YYYY, also with /
//	larger:5MB smaller:200KB  size in whole kB: larger: at least, smaller:
//	                less than; units as in the configuration (KB = 1000,
//	                KiB = 1024, K = KiB; a plain number is bytes)
//	-word           excludes; also -from:x, -"a b", -(a OR b)
//	a OR b          either (OR in capitals; AND may be written, it is the
//	                default)
//	( )             group; op:(a OR b) applies op: to each word inside
//
// Precedence, loosest first: juxtaposition (AND), OR, - (NOT); so
// "a b OR c" is a AND (b OR c), as in Gmail. Operator names are
// case-insensitive; OR and AND must be in capitals. Words are
// case-insensitive and accent-insensitive ("muller" finds "Müller"). An
// address value matches by whole address, by local part, by domain or
// parent domain and by any word of it or of the display name
// (from:anna.berg@contoso.com, from:anna, from:contoso.com). A word with a
// colon whose name is no operator is an error when a value follows
// ("https://x": quote it), and a word otherwise ("Re: plan"). The empty
// query matches every message.
//
// A query that cannot be parsed is a *QueryError (wrapping ErrQuery) with
// the 1-based column of the problem and a message that says how to fix it;
// QueryError.Caret draws the position. Limits: 4096 bytes, 256 terms, 32
// levels of nesting.
//
// # Searching
//
// Search takes a Query: the text, a Scope, a Sort, a page size and a
// cursor. The scope is applied by Search as a filter outside the query, so
// no query can widen it: Scope.All for an auditor, else only the documents
// whose owner field holds one of Scope.Owners; a Query with neither is
// ErrScope. Results are sorted by date, newest first, or by relevance
// (bleve's BM25), then date; date sorts skip scoring. Paging uses bleve's
// SearchAfter with the sort values of the last hit (Result.Next, an opaque
// cursor), so page 1,000 costs what page 1 costs; Result.Total counts every
// match.
//
// Date order in parts: sorting by a field makes bleve read the field of
// every hit (its doc values, about 200 ns a hit), which for a word in half
// of 100,000 messages is 10 ms however few hits a page shows, while
// counting the hits without sorting them costs a sixth of that. So a date
// search counts first; with up to 4096 hits it sorts them all, else it
// sorts only the hits of the newest months (the month field partitions the
// messages in date order): months are taken newest first, in windows
// expected to hold twice the hits the page wants (from the share of all
// messages that match and each month's count in the dictionary of the
// month field), each window twice the last, until the page is full. A page
// after a cursor starts at the cursor's month.
package index
