package main

import (
	"context"
	"fmt"

	"jarchive/config"
)

func runConfig(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError("config: want: jarchive config check [-config FILE]")
	}
	fs := newFlags(a, "config check", "[-config FILE]")
	cfgPath := fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	path := config.Find(*cfgPath)
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(a.stdout, "%s: ok: archive %s, %d accounts\n", path, cfg.Archive.Dir, len(cfg.Accounts))
	return nil
}
