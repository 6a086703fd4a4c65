package main

import (
	"context"
	"fmt"
	"time"

	"jarchive/directory"
)

func runReassign(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "reassign", args)
}

// reassignCommand recomputes the owners of every message with the
// directory in force (the last snapshot read and the configuration file;
// it does not read the directory: "jarchive users sync" does) and brings
// the index up to date. Blobs are not touched; each change is an "owners"
// entry of the ingest log.
func reassignCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "reassign", "[-config FILE]")
	fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("reassign: unexpected arguments")
	}
	start := time.Now()
	for _, c := range directory.Diff(st.dir.Applied(), st.dir.Directory()) {
		fmt.Fprintln(a.stdout, c)
	}
	rs, err := st.reassign(ctx)
	if err != nil {
		return err
	}
	indexed, err := st.catchUp(ctx)
	fmt.Fprintf(a.stdout, "owners: %d stored copies checked, %d changed; %d index documents updated in %s\n",
		rs.Checked, rs.Changed, indexed, time.Since(start).Round(time.Millisecond))
	return err
}
