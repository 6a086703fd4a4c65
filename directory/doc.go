// Package directory decides who owns each message: the users, their
// addresses and aliases, groups (nested) and shared mailboxes, from the
// configuration file and from an LDAP server or Active Directory.
//
// # Model
//
// A User has a name (what the archive records as an owner and what
// "jarchive search -as" takes), mail addresses (primary first, then
// aliases) and a role: user (sees the mail they own), auditor (sees all
// mail, the unassigned too), admin (no mail but their own) or both. A Group has addresses (maybe none)
// and members: users and other groups, at any depth. A SharedMailbox is
// an address (info@) whose mail belongs to its users and to the members of
// its groups. A Snapshot holds them as read; New compiles one into a
// Directory, which answers Owners and Lookup.
//
// # Assignment
//
// The owners of a message (Directory.Owners) are every user
//
//   - with an address that is the envelope sender, the user it was sent on
//     behalf of (On-Behalf-Of), an envelope recipient (every field: To, Cc,
//     Bcc, the basic Recipient) or the recipient a forwarded copy was for
//     (", Forwarded:");
//   - who is a member, at any depth, of a group whose address is one of
//     those (a cycle of groups ends where it closes);
//   - who is a user of a shared mailbox that is one of those, or a member
//     of one of its groups.
//
// A distribution list that Exchange expanded is not a party itself
// (", Expanded:" names it): the expansion lists its members at the time
// of sending, each on a line of their own, and someone who joins the group
// later does not get its old mail. A message that no one owns is
// unassigned: it is archived and indexed like any other, with the owner
// Unassigned, which only auditors see.
//
// Addresses are compared in normal form (journal.NormalizeAddr: display
// name, brackets and smtp: prefix removed, IDN domains in punycode) with
// the whole address lower-cased, as Exchange does. With plus addressing (on
// by default, [directory] plus_addressing), user+tag@domain that no one
// has as such reaches the owners of user@domain.
//
// Without any users, groups, shared mailboxes or [directory.ldap], the
// directory is Implicit: every address is a user of its own, named by its
// normal form, so that an archive works (and search -as ADDRESS scopes)
// before anyone is defined.
//
// # Sources
//
// The configuration file's [[users]], [[groups]] and [[shared_mailboxes]]
// (Merge) are laid over what [directory.ldap] gives (ReadLDAP): a user of
// the file with the name of a directory user adds addresses and raises
// its role; a group adds an address and members.
//
// ReadLDAP connects with TLS (ldaps://, or ldap:// with StartTLS; the
// certificate is verified), binds, and reads users and groups with paged
// searches (RFC 2696; Active Directory returns at most 1,000 entries a
// page). User addresses come from the address attributes: plain values
// (mail, mailAlternateAddress) as they are, and of typed ones
// (proxyAddresses) only "smtp:" values, the "SMTP:" one being the primary.
// Group members are DNs in the member attributes (member, uniqueMember,
// whose optional #'...'B UID is dropped) and, from the other side, the
// groups in a user's or group's memberOf; Active Directory's ranged
// values ("member;range=0-1499") are fetched range by range. DNs compare
// without regard to case and spaces. Member DNs that are neither a user
// nor a group read (contacts, computers, other subtrees) are counted and
// left out. Nested groups are resolved from those lists, or, on Active
// Directory, with LDAP_MATCHING_RULE_IN_CHAIN (1.2.840.113556.1.4.1941),
// one query per group with an address; if that rule does not work (it
// errs, or finds no one in a group with members) the lists are used.
// Entries without a usable name (ValidName) are left out. A directory
// that returns no users at all is an error (ErrEmpty), never an empty
// user list.
//
// # Sync and the state file
//
// A Syncer keeps the directory in force. It persists, in
// <archive dir>/directory.json (written to a temp file, fsynced, renamed),
//
//	{"version":1,
//	 "ldap":{"users":[...],"groups":[...]},   the last snapshot read from LDAP
//	 "synced":<time>,"server":"<url> <base DN>",
//	 "applied":{"implicit":..,"plus_addressing":..,"snapshot":{...},"time":<time>}}
//
// where applied is the directory the archive's owners were last computed
// with. Sync reads LDAP and, only when that works, persists the snapshot
// and puts the new directory in force; a directory that cannot be reached
// keeps the last good snapshot in force, also across restarts. When the
// directory in force gives other owners than the applied one
// (Directory.Digest differs), the caller reassigns (archive.Reassign) and
// records it with MarkApplied; Diff says what changed.
package directory
