package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

const policyUsage = `usage:
  easd policy list [--json]
  easd policy show NAME [--json]
  easd policy create NAME [SETTING=VALUE ...]
  easd policy set NAME SETTING=VALUE ...
  easd policy assign NAME EMAIL
SETTING is an EASProvisionDoc element name (MS-ASPROV), e.g. DevicePasswordEnabled=true,
MinDevicePasswordLength=6, MaxAttachmentSize=1048576, MaxEmailAgeFilter=3,
ApprovedApplicationList='["…"]'; VALUE is JSON, or a bare string. 'easd policy show NAME'
lists every setting. A change makes the affected devices provision again.`

func runPolicy(ctx context.Context, e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", policyUsage)
	}
	sub, args := args[0], args[1:]
	fs := g.flagSet("policy "+sub, e)
	asJSON := fs.Bool("json", false, "print JSON (list, show)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usagef("%s", policyUsage)
		}
	case "show":
		if len(pos) != 1 {
			return usagef("%s", policyUsage)
		}
	case "create":
		if len(pos) < 1 {
			return usagef("%s", policyUsage)
		}
	case "set":
		if len(pos) < 2 {
			return usagef("%s", policyUsage)
		}
	case "assign":
		if len(pos) != 2 {
			return usagef("%s", policyUsage)
		}
	default:
		return usagef("unknown policy command %q\n%s", sub, policyUsage)
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
	mgr := policy.NewManager(st)
	audit := func(action, target, detail string) error {
		return st.AppendAudit(ctx, store.AuditEntry{Actor: actor(e), Action: action, Target: target, Detail: detail})
	}

	switch sub {
	case "list":
		recs, err := st.Policies(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type row struct {
				ID        store.PolicyID
				Name      string
				Version   int64
				IsDefault bool
			}
			out := make([]row, len(recs))
			for i, r := range recs {
				out[i] = row{r.ID, r.Name, r.Version, r.IsDefault}
			}
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tVERSION\tDEFAULT\tUPDATED")
		for _, r := range recs {
			def := ""
			if r.IsDefault {
				def = "yes"
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", r.ID, r.Name, r.Version, def, when(r.UpdatedAt))
		}
		return tw.Flush()
	case "show":
		p, err := mgr.ByName(ctx, pos[0])
		if err != nil {
			return policyError(pos[0], err)
		}
		settings, err := settingsMap(p)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"ID": p.ID, "Name": p.Name, "Version": p.Version, "Settings": settings})
		}
		fmt.Fprintf(e.stdout, "policy %s (id %d, version %d)\n", p.Name, p.ID, p.Version)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		keys := make([]string, 0, len(settings))
		for k := range settings {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k, settings[k])
		}
		return tw.Flush()
	case "create":
		p := policy.Default()
		p.Name = pos[0]
		if err := applySettings(&p, pos[1:]); err != nil {
			return err
		}
		np, err := mgr.Create(ctx, p)
		if err != nil {
			return policyError(pos[0], err)
		}
		if err := audit("policy.create", np.Name, strings.Join(pos[1:], " ")); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "policy %s created (id %d)\n", np.Name, np.ID)
	case "set":
		p, err := mgr.ByName(ctx, pos[0])
		if err != nil {
			return policyError(pos[0], err)
		}
		if err := applySettings(&p, pos[1:]); err != nil {
			return err
		}
		np, err := mgr.Update(ctx, p)
		if err != nil {
			return policyError(pos[0], err)
		}
		if err := audit("policy.set", np.Name, strings.Join(pos[1:], " ")); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "policy %s is now version %d: its devices provision again at their next request\n", np.Name, np.Version)
	case "assign":
		p, err := mgr.ByName(ctx, pos[0])
		if err != nil {
			return policyError(pos[0], err)
		}
		u, err := st.UserByAddress(ctx, pos[1])
		if err != nil {
			return userError(pos[1], err)
		}
		if err := mgr.Assign(ctx, u.ID, p.ID); err != nil {
			return err
		}
		if err := audit("policy.assign", u.Address, p.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "policy %s assigned to %s\n", p.Name, u.Address)
	}
	return nil
}

// settingsMap returns every setting of p with its JSON value.
func settingsMap(p policy.Policy) (map[string]json.RawMessage, error) {
	js, err := p.MarshalSettings()
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// applySettings sets SETTING=VALUE pairs on p; VALUE is JSON, or else a bare string.
func applySettings(p *policy.Policy, pairs []string) error {
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("want SETTING=VALUE, got %q", kv)
		}
		if !json.Valid([]byte(v)) {
			b, _ := json.Marshal(v)
			v = string(b)
		}
		kb, _ := json.Marshal(k)
		dec := json.NewDecoder(strings.NewReader("{" + string(kb) + ":" + v + "}"))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return usagef("%s: %v (see easd policy show NAME for the settings)", k, err)
		}
	}
	return nil
}

func policyError(name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no policy %q", name)
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		return fmt.Errorf("policy %q exists already", name)
	case errors.Is(err, policy.ErrInvalid):
		return usagef("invalid policy %q:\n%v", name, err)
	}
	return err
}
