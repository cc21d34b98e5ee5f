package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
)

const deviceUsage = `usage:
  easd device list [--user EMAIL] [--state allowed|blocked|quarantined] [--json]
  easd device show ID [--json]
  easd device allow|block|quarantine ID     an individual decision (allow approves a quarantined device)
  easd device reset ID                      drop the individual decision: lists, rules and the default decide
  easd device wipe ID [--account-only]
  easd device cancel-wipe ID
  easd device remove ID`

// actor names the person running the CLI in the audit log: "cli:<unix user>".
func actor(e *env) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if u := e.getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli:unknown"
}

// deviceJSON is a device as --json prints it.
type deviceJSON struct {
	devices.Device
	Address string
}

func runDevice(ctx context.Context, e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", deviceUsage)
	}
	sub, args := args[0], args[1:]
	fs := g.flagSet("device "+sub, e)
	var (
		userAddr    = fs.String("user", "", "only the devices of this `EMAIL` (list)")
		state       = fs.String("state", "", "only devices in this `state`: allowed, blocked, quarantined (list)")
		asJSON      = fs.Bool("json", false, "print JSON (list, show)")
		accountOnly = fs.Bool("account-only", false, "wipe only this account's data, not the whole device (wipe; 16.1 devices)")
	)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var id store.PartnershipID
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usagef("%s", deviceUsage)
		}
		switch *state {
		case "", store.AccessAllowed, store.AccessBlocked, store.AccessQuarantined:
		default:
			return usagef("--state: want allowed, blocked or quarantined, got %q", *state)
		}
	case "show", "allow", "block", "quarantine", "reset", "wipe", "cancel-wipe", "remove":
		if len(pos) != 1 {
			return usagef("%s", deviceUsage)
		}
		n, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || n <= 0 {
			return usagef("device ID must be a positive number (see easd device list), got %q", pos[0])
		}
		id = store.PartnershipID(n)
	default:
		return usagef("unknown device command %q\n%s", sub, deviceUsage)
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
	reg := devices.New(st, devices.Options{Logger: log})
	by := actor(e)

	switch sub {
	case "list":
		f := store.DeviceFilter{AccessState: *state, Limit: 100000}
		if *userAddr != "" {
			u, err := st.UserByAddress(ctx, *userAddr)
			if err != nil {
				return userError(*userAddr, err)
			}
			f.User = u.ID
		}
		ds, err := reg.List(ctx, f)
		if err != nil {
			return err
		}
		addrs, err := userAddresses(ctx, st)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]deviceJSON, len(ds))
			for i, d := range ds {
				out[i] = deviceJSON{d, addrs[d.User]}
			}
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tDEVICE ID\tTYPE\tMODEL\tSTATE\tREASON\tWIPE\tLAST SEEN")
		for _, d := range ds {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, addrs[d.User], d.DeviceID, dash(d.DeviceType),
				dash(d.Info.Model), d.AccessState, d.AccessReason, dash(d.WipeState), when(d.LastSeen))
		}
		return tw.Flush()
	case "show":
		d, err := reg.ByID(ctx, id)
		if err != nil {
			return deviceError(id, err)
		}
		addrs, err := userAddresses(ctx, st)
		if err != nil {
			return err
		}
		succ, err := reg.Successors(ctx, id)
		if err != nil {
			return deviceError(id, err)
		}
		pred, err := reg.Predecessors(ctx, id)
		if err != nil {
			return deviceError(id, err)
		}
		if *asJSON {
			return printJSON(e.stdout, deviceShowJSON{deviceJSON{d, addrs[d.User]}, succ, pred})
		}
		return showDevice(e.stdout, d, addrs[d.User], succ, pred)
	case "allow", "block", "quarantine":
		st := map[string]string{"allow": store.AccessAllowed, "block": store.AccessBlocked,
			"quarantine": store.AccessQuarantined}[sub]
		d, err := reg.SetAccess(ctx, id, st, by)
		if err != nil {
			return deviceError(id, err)
		}
		fmt.Fprintf(e.stdout, "device %d (%s) is %s\n", d.ID, d.DeviceID, d.AccessState)
	case "reset":
		d, err := reg.ClearAccess(ctx, id, by)
		if err != nil {
			return deviceError(id, err)
		}
		fmt.Fprintf(e.stdout, "device %d (%s) is %s (%s)\n", d.ID, d.DeviceID, d.AccessState, d.AccessReason)
	case "wipe":
		d, err := reg.RequestWipe(ctx, id, *accountOnly, by)
		if err != nil {
			return deviceError(id, err)
		}
		kind := "remote wipe"
		if d.WipeAccountOnly {
			kind = "account-only remote wipe"
		}
		fmt.Fprintf(e.stdout, "%s of device %d (%s) requested: it is sent at the device's next connection\n", kind, d.ID, d.DeviceID)
	case "cancel-wipe":
		d, err := reg.CancelWipe(ctx, id, by)
		if err != nil {
			return deviceError(id, err)
		}
		fmt.Fprintf(e.stdout, "remote wipe of device %d (%s) cancelled\n", d.ID, d.DeviceID)
	case "remove":
		if err := reg.RemoveAs(ctx, id, by); err != nil {
			return deviceError(id, err)
		}
		fmt.Fprintf(e.stdout, "device %d removed\n", id)
	}
	return nil
}

// deviceShowJSON is `easd device show --json`: the partnership and the
// partnerships that are probably the same physical device (issue 6).
type deviceShowJSON struct {
	deviceJSON
	LikelySuccessors   []devices.Likely
	LikelyPredecessors []devices.Likely
}

func showDevice(w io.Writer, d devices.Device, addr string, succ, pred []devices.Likely) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", strconv.FormatInt(int64(d.ID), 10))
	row("User", addr)
	row("Device ID", d.DeviceID)
	row("Type", dash(d.DeviceType))
	row("Model", dash(d.Info.Model))
	row("OS", dash(d.Info.OS))
	row("Friendly name", dash(d.Info.FriendlyName))
	row("IMEI", dash(d.Info.IMEI))
	row("User agent", dash(d.UserAgent))
	row("Protocol", dash(d.ProtocolVersion))
	row("First seen", when(d.FirstSeen))
	row("Last seen", when(d.LastSeen))
	row("Access", fmt.Sprintf("%s (%s, by %s, %s)", d.AccessState, d.AccessReason, dash(d.AccessSetBy), when(d.AccessSetAt)))
	prov := "never provisioned"
	if d.PolicyKey != 0 {
		prov = fmt.Sprintf("policy %d version %d, status %d, %s", d.PolicyID, d.PolicyVersion, d.ProvisionStatus, when(d.ProvisionedAt))
	}
	row("Provisioned", prov)
	wipe := "none"
	if d.WipeState != store.WipeNone {
		kind := "full"
		if d.WipeAccountOnly {
			kind = "account-only"
		}
		wipe = fmt.Sprintf("%s %s (requested by %s %s; sent %s; acknowledged %s", d.WipeState, kind,
			d.WipeRequestedBy, when(d.WipeRequestedAt), when(d.WipeSentAt), when(d.WipeAckedAt))
		if d.WipeAckStatus != 0 {
			wipe += fmt.Sprintf(", status %d", d.WipeAckStatus)
		}
		wipe += ")"
	}
	row("Wipe", wipe)
	likely := func(title string, ls []devices.Likely) {
		if len(ls) == 0 {
			return
		}
		for i, l := range ls {
			k := ""
			if i == 0 {
				k = title
			}
			fmt.Fprintf(tw, "%s\t%d %s (%s, %s, first seen %s): %s\n", k, l.ID, l.DeviceID, dash(l.DeviceType),
				dash(l.Info.Model), when(l.FirstSeen), l.Reason)
		}
	}
	likely("Likely successors:", succ)
	likely("Likely predecessor:", pred)
	return tw.Flush()
}

func userAddresses(ctx context.Context, st *store.Store) (map[store.UserID]string, error) {
	users, err := st.Users(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[store.UserID]string, len(users))
	for _, u := range users {
		m[u.ID] = u.Address
	}
	return m, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// deviceError turns registry and store errors into messages for a terminal.
func deviceError(id store.PartnershipID, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no device %d", id)
	case errors.Is(err, devices.ErrWiped):
		return fmt.Errorf("device %d was wiped: it stays blocked until removed (easd device remove %d)", id, id)
	case errors.Is(err, devices.ErrWipeState):
		return fmt.Errorf("device %d: %w", id, err)
	}
	return err
}
