package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/easd/easd/store"
)

const userUsage = `usage:
  easd user add EMAIL [--name "Display Name"] --password-stdin
  easd user list
  easd user passwd EMAIL --password-stdin
  easd user disable EMAIL
  easd user enable EMAIL
  easd user protocols EMAIL [--eas on|off] [--imap on|off] [--pop on|off] [--smtp on|off]`

func runUser(ctx context.Context, e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", userUsage)
	}
	sub, args := args[0], args[1:]
	fs := g.flagSet("user "+sub, e)
	var (
		name          = fs.String("name", "", "display `name` (add)")
		passwordStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin (add, passwd)")
		protos        = map[string]*string{}
	)
	if sub == "protocols" {
		for _, p := range []string{"eas", "imap", "pop", "smtp"} {
			protos[p] = fs.String(p, "", "`on|off`")
		}
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	wantArgs := 1
	if sub == "list" {
		wantArgs = 0
	}
	if len(pos) != wantArgs {
		return usagef("%s", userUsage)
	}
	log, err := g.logger(e.stderr)
	if err != nil {
		return err
	}

	var password string
	switch sub {
	case "add", "passwd":
		if !*passwordStdin {
			return usagef("user %s needs --password-stdin (the password is never taken from the command line)", sub)
		}
		if password, err = readPassword(e.stdin); err != nil {
			return err
		}
	case "list", "disable", "enable", "protocols":
	default:
		return usagef("unknown user command %q\n%s", sub, userUsage)
	}
	var upd store.ProtocolsUpdate
	if sub == "protocols" {
		if upd, err = parseProtocols(protos); err != nil {
			return err
		}
	}

	st, err := openMigrated(ctx, g, log)
	if err != nil {
		return err
	}
	defer logClose(log, st)

	switch sub {
	case "add":
		u, err := st.CreateUser(ctx, store.NewUser{Address: pos[0], DisplayName: *name, Password: password})
		if err != nil {
			return userError(pos[0], err)
		}
		fmt.Fprintf(e.stdout, "added %s\n", u.Address)
		return nil
	case "list":
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tNAME\tSTATE\tPROTOCOLS")
		for _, u := range users {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Address, u.DisplayName, state, protocolList(u.Protocols))
		}
		return tw.Flush()
	case "passwd":
		if err := st.SetPassword(ctx, pos[0], password); err != nil {
			return userError(pos[0], err)
		}
		fmt.Fprintf(e.stdout, "password changed for %s\n", pos[0])
	case "disable", "enable":
		if err := st.SetDisabled(ctx, pos[0], sub == "disable"); err != nil {
			return userError(pos[0], err)
		}
		fmt.Fprintf(e.stdout, "%sd %s\n", sub, pos[0])
	case "protocols":
		u, err := st.SetProtocols(ctx, pos[0], upd)
		if err != nil {
			return userError(pos[0], err)
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", u.Address, protocolList(u.Protocols))
	}
	return nil
}

func parseProtocols(flags map[string]*string) (store.ProtocolsUpdate, error) {
	var upd store.ProtocolsUpdate
	targets := map[string]**bool{"eas": &upd.EAS, "imap": &upd.IMAP, "pop": &upd.POP3, "smtp": &upd.SMTP}
	set := false
	for name, v := range flags {
		switch *v {
		case "":
			continue
		case "on", "off":
			b := *v == "on"
			*targets[name] = &b
			set = true
		default:
			return upd, usagef("--%s: want on or off, got %q", name, *v)
		}
	}
	if !set {
		return upd, usagef("user protocols needs at least one of --eas, --imap, --pop, --smtp")
	}
	return upd, nil
}

// protocolList names the protocols a user may use: "eas imap pop smtp".
func protocolList(p store.Protocols) string {
	var on []string
	for _, x := range []struct {
		name string
		on   bool
	}{{"eas", p.EAS}, {"imap", p.IMAP}, {"pop", p.POP3}, {"smtp", p.SMTP}} {
		if x.on {
			on = append(on, x.name)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, " ")
}

// userError turns store sentinels into messages a person at a terminal
// understands.
func userError(addr string, err error) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("user %s already exists", addr)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no such user %s", addr)
	case errors.Is(err, store.ErrInvalidAddress):
		return usagef("%q is not a valid email address", addr)
	case errors.Is(err, store.ErrEmptyPassword):
		return usagef("empty password")
	}
	return err
}
