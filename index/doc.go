// Package index is the full-text index of the archive: a bleve (scorch)
// index with one document per archived message, keyed by the hex SHA-256 of
// the message. It is derived data, never the source of truth: it stores no
// field values (callers read what they show from the archive) and can be
// deleted and rebuilt from the archive at any time.
//
// # Writing
//
// The caller feeds messages in archive order through a Batch and commits it
// every 500 documents or so (or when Batch.Bytes passes a few tens of MiB).
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
// has term vectors, none is in _all. Only date and size keep doc values (for
// sorting and ranges).
//
//	field       source                                analyzer
//	from        Document.From                          jarchive_ident
//	to, cc      Document.To, Document.Cc              jarchive_ident
//	rcpt        Document.Rcpt (envelope recipients)   jarchive_ident
//	sender      Document.Sender (envelope sender)     jarchive_ident
//	attachment  attachment file names                 jarchive_ident
//	subject     Document.Subject                      jarchive_text
//	body        text of the message, see Extraction   jarchive_text
//	account     Document.Accounts                     jarchive_keyword
//	date        Document.Date (omitted when zero)     datetime, doc values
//	size        Document.Size                         number, doc values
//
// Analyzers:
//
//   - jarchive_text: unicode (UAX #29) tokenizer, ASCII folding
//     ("Müller" -> "Muller", "Grüße" -> "Grusse"), lower case, tokens longer
//     than 100 runes dropped. Folding is a token filter (jarchive_asciifold)
//     rather than bleve's asciifolding char filter, which allocates 16 bytes
//     per byte of a whole body.
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
// The body field gets the text of every text/plain part and the text of
// every text/html part (tags, comments, <script> and <style> removed,
// character references decoded) that is not a Content-Disposition
// attachment, all alternatives of a multipart/alternative included, plus the
// Subject, From, To and Cc of embedded messages (message/rfc822), whose parts
// are walked too. Transfer encodings and charsets are decoded with
// go-message and go-message/charset; bytes that are still not UTF-8 are read
// as Windows-1252. Attachment names come from the Content-Disposition
// filename or the Content-Type name parameter, RFC 2231 and RFC 2047 decoded.
//
// Parsing is lenient, as the mail is real: a header ends at its first line
// that is not a field (as in Python's email package), multipart bodies are
// split at delimiter lines and each part header is parsed on its own, broken
// parameters and transfer-encoding names are repaired where obvious. Whatever
// cannot be read is skipped; the message is still indexed. Extraction streams
// and is bounded: 1 MiB of text per part, 4 MiB per message, 8 MiB of HTML
// read per part, 1 MiB of header, 16 levels of nesting, 1000 parts, 100
// attachment names of at most 255 bytes.
//
// # Queries
//
// Search takes bleve's query-string syntax
// (https://blevesearch.com/docs/Query-String-Query/), adapted to the mapping:
//
//   - A term without a field searches subject, body, from, to, cc, rcpt and
//     attachment (a disjunction built per query; there is no _all field).
//   - field:term searches one field: subject:pipeline, body:invoice,
//     from:anna.berg@contoso.com, from:anna, from:contoso.com,
//     rcpt:contoso.com, attachment:pdf, account:sales. Unknown fields are
//     errors.
//   - A term that analyzes to several tokens needs all of them, so
//     from:anna.berg@contoso.com matches that address only.
//   - "a phrase" matches documents with all its words, in any order: without
//     term vectors the index knows no positions.
//   - Clauses are optional unless marked: "+a +b" needs both, "a b" needs
//     either, "-a" excludes. There are no parentheses, AND or OR.
//   - Ranges: date:>="2024-01-01" +date:<"2024-02-01" (quoted dates,
//     RFC 3339 or YYYY-MM-DD, UTC), size:>1000000. Wildcards (invo*),
//     regular expressions (subject:/pipe.*/) and fuzziness (pipelne~1) work
//     on the indexed, lower-cased terms.
//   - The empty query matches every message.
//
// Results are sorted by date, newest first (messages without a date last),
// then by score. Query errors wrap ErrQuery.
package index
