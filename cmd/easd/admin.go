package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/easd/easd/store"
)

const adminUsage = `usage:
  easd admin add NAME --role admin|helpdesk --password-stdin
  easd admin list
  easd admin remove NAME`

// runAdmin manages dashboard accounts. Changes are audited as
// "cli:<unix user>", like the other management commands.
func runAdmin(ctx context.Context, e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", adminUsage)
	}
	sub, args := args[0], args[1:]
	fs := g.flagSet("admin "+sub, e)
	var (
		role          = fs.String("role", "", "`role` of the account: admin or helpdesk (add)")
		passwordStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin (add)")
	)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	wantArgs := 1
	var password string
	switch sub {
	case "add":
		if *role != store.RoleAdmin && *role != store.RoleHelpdesk {
			return usagef("admin add needs --role admin or --role helpdesk")
		}
		if !*passwordStdin {
			return usagef("admin add needs --password-stdin (the password is never taken from the command line)")
		}
	case "list":
		wantArgs = 0
	case "remove":
	default:
		return usagef("unknown admin command %q\n%s", sub, adminUsage)
	}
	if len(pos) != wantArgs {
		return usagef("%s", adminUsage)
	}
	if sub == "add" {
		if password, err = readPassword(e.stdin); err != nil {
			return err
		}
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
	audit := func(action, target, detail string) error {
		return st.AppendAudit(ctx, store.AuditEntry{Actor: actor(e), Action: action, Target: target, Detail: detail})
	}

	switch sub {
	case "add":
		a, err := st.CreateAdmin(ctx, pos[0], *role, password)
		if err != nil {
			return adminError(pos[0], err)
		}
		if err := audit("admin.add", a.Name, "role "+a.Role); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s (%s)\n", a.Name, a.Role)
	case "list":
		admins, err := st.Admins(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
		for _, a := range admins {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Role, a.CreatedAt.UTC().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "remove":
		if err := st.RemoveAdmin(ctx, pos[0]); err != nil {
			return adminError(pos[0], err)
		}
		if err := audit("admin.remove", pos[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s\n", pos[0])
	}
	return nil
}

// adminError turns store sentinels into messages for a terminal.
func adminError(name string, err error) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("dashboard account %s already exists", name)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no such dashboard account %s", name)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%s is the last admin account and cannot be removed", name)
	case errors.Is(err, store.ErrInvalidArgument):
		return usagef("%q is not a valid account name (1-64 letters, digits, '.', '_', '-', '@')", name)
	case errors.Is(err, store.ErrEmptyPassword):
		return usagef("empty password")
	}
	return err
}
