// Package mailgen generates realistic mail and Microsoft Exchange journal reports,
// deterministically, for jarchive's demo (an embedded IMAP server), tests and benchmarks.
//
// A [Generator] simulates one company: Options.Users internal users at Options.Domain
// (default contoso.com, 40 users) with multinational names ("Jürgen Müller", "Zoë
// Andersson", "François Dubois"), departments, and distribution groups (sales@, finance@,
// legal@, ..., management@ and all-staff@); with at least 6 users two have a
// deliver-and-forward rule, and with at least 12 two department heads have an assistant who
// sends on their behalf. External partners
// write from fabrikam.com (Google Workspace habits) and example.org (Thunderbird habits),
// and two automated senders send invoices and newsletters.
//
// Each [Generator.Next] returns one [Message]: an Original and the Exchange Online journal
// report (Report) wrapping it, plus the Envelope a correct journal parser must extract. The
// stream mixes internal, outbound and inbound mail; about a third are replies (RE:/AW:/Re:,
// In-Reply-To, References, Thread-Index, quoted history) or forwards in threads. Subjects and
// bodies are assembled from business phrase lists in English, German and French. Originals
// are text/plain, multipart/alternative with Outlook or Gmail HTML, or multipart/mixed with
// attachments (PDF-like, DOCX/XLSX-like, CSV, TXT; some names non-ASCII in RFC 2047 or RFC
// 2231 form); non-ASCII subjects and display names are RFC 2047 encoded, bodies
// quoted-printable UTF-8 (Outlook, Gmail) or 8bit format=flowed (Thunderbird). Headers follow
// each client: Exchange-style Message-IDs (<AM0PR04MB6234...@AM0PR04MB6234.eurprd04.prod.outlook.com>),
// Received chains, Thread-Topic, Content-Language, and the X-MS-Exchange-Organization-*
// block Exchange keeps in journaled copies. Most messages are 2-30 KB; about 1% carry a
// ~200 KB attachment.
//
// Envelopes follow FORMAT.md of the journal corpus: internal and outbound mail uses To/Cc/Bcc
// lines, inbound mail "Recipient:" lines for internal recipients only; groups are expanded
// in place ("To: member, Expanded: group"), forwarding targets follow their recipient
// ("To: target, Forwarded: recipient"), Bcc recipients appear only in the envelope, and a
// delegate send has Sender plus On-Behalf-Of.
//
// Duplicates: about 2% of messages have Duplicate set. Their Original is byte-identical to
// the Original of the earlier message DuplicateOf (one to three messages earlier) and only the
// report differs: either Exchange Online forked an outbound message, so the first report lists
// the internal and the duplicate the external recipients (merge them as one stored copy with
// the union of recipients), or the message was journaled twice with the same envelope (as
// with hybrid on-premises and cloud journaling).
//
// Determinism: the same Options give the same byte sequence forever. Everything derives
// from Options.Seed through math/rand/v2 PCG; nothing reads the clock, the environment or a
// file, and no output depends on map iteration order. Changing this package's phrase lists
// or logic changes the stream, so tests should assert properties, not bytes.
//
// [WrapJournal] builds a report around any original, and [CRLF] normalises line ends the
// way a mail server stores a delivered message.
package mailgen
