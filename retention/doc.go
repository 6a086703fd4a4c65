// Package retention decides which archived messages have been kept long
// enough and deletes them, unless a legal hold freezes them.
//
// # Rules
//
// The unit is a shown message (one search hit) with its linked copies:
// they are kept or deleted together. A message's period counts from its
// date: [retention] from = "message_date" (the default: the Date header,
// or when the message was archived if it has none) or "archive_date"
// (when it was archived). It may be deleted once base date + period is
// not after now; periods are calendar arithmetic (time.AddDate).
//
// Which period applies ([retention] default and [[retention.policies]]):
//
//  1. A legal hold whose query matches the message keeps it, whatever its
//     age and whatever the policies say. Holds are evaluated when
//     retention runs, so mail archived after a hold was added is held too.
//  2. Each owner of the message (archive.Record.Owners) has a period: the
//     longest of the policies that apply to that owner and the message:
//     owner policies naming the owner, group policies of any group the
//     owner is in (at any depth, package directory), and the message's
//     own policies: account policies of an account it came from and query
//     policies whose query finds it. When none applies, the default;
//     without a default, the owner keeps the message for ever.
//  3. A message shared by several owners is deleted only when every
//     owner's period has ended: the longest period among its owners
//     decides, and names the policy recorded in the tombstone.
//  4. A message no one owns has the longest of its own policies (account,
//     query), else the default, else it is kept for ever.
//
// An override thus replaces the default for those it applies to, longer
// or shorter; among overrides the longest wins, so a short policy for
// newsletters does not shorten what a long policy for an owner keeps.
//
// # Queries
//
// Query policies and holds are search queries (package index syntax) run
// as an auditor over the whole index at the start of a run; a query's hits
// are a set of ids. Changes the index has not taken in yet cannot be
// judged by a query: when any hold or query policy exists, a message whose
// record changed after the index's watermark (Options.IndexedUpTo) is
// skipped until the next run (Plan.Skipped), so that mail archived during
// a run is never deleted for want of being found by a hold.
//
// # Runs
//
// Build walks the archive (archive.Each) and returns a Plan: what would be
// deleted (count, bytes, oldest and newest base date), in total and per
// policy, and what holds keep. Apply executes a plan in batches with
// archive.Delete, each item checked against the record's log position at
// planning time (a message that changed meanwhile is decided again at the
// next run), and stops if the holds changed since the plan was built.
// Decide is the pure evaluation of one message, used by both.
package retention
