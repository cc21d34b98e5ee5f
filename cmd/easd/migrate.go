package main

import (
	"context"
)

func runMigrate(ctx context.Context, e *env, g *globals, args []string) error {
	fs := g.flagSet("migrate", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments")
	}
	log, err := g.logger(e.stderr)
	if err != nil {
		return err
	}
	st, err := openMigrated(ctx, g, log)
	if err != nil {
		return err
	}
	defer logClose(log, st)
	log.Info("database schema up to date", "db", redactURL(g.dbURL()))
	return nil
}
