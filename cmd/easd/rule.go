package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
)

const ruleUsage = `usage:
  easd rule add --field device-type|model|os|user-agent [--match exact|prefix] --pattern TEXT --action allow|block|quarantine
  easd rule list [--json]
  easd rule remove ID
The most specific matching rule decides (exact over prefix, longer prefix over shorter);
an individual decision and the user's allow/block list come first (see devices/doc.go).`

var ruleActions = map[string]string{
	"allow": store.AccessAllowed, "block": store.AccessBlocked, "quarantine": store.AccessQuarantined,
}

func runRule(ctx context.Context, e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", ruleUsage)
	}
	sub, args := args[0], args[1:]
	fs := g.flagSet("rule "+sub, e)
	var (
		field   = fs.String("field", "", "what the rule matches: `device-type`, model, os or user-agent (add)")
		match   = fs.String("match", store.RuleMatchExact, "`exact` or prefix (add)")
		pattern = fs.String("pattern", "", "the `text` to match, case-insensitively (add)")
		action  = fs.String("action", "", "allow, block or quarantine (add)")
		asJSON  = fs.Bool("json", false, "print JSON (list)")
	)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var rule store.DeviceRule
	var id store.RuleID
	switch sub {
	case "add":
		if len(pos) != 0 {
			return usagef("%s", ruleUsage)
		}
		st, ok := ruleActions[*action]
		if !ok {
			return usagef("--action: want allow, block or quarantine, got %q", *action)
		}
		rule = store.DeviceRule{Field: *field, Match: *match, Pattern: *pattern, Action: st}
		if err := rule.Valid(); err != nil {
			return usagef("%v", err)
		}
	case "list":
		if len(pos) != 0 {
			return usagef("%s", ruleUsage)
		}
	case "remove":
		if len(pos) != 1 {
			return usagef("%s", ruleUsage)
		}
		n, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || n <= 0 {
			return usagef("rule ID must be a positive number (see easd rule list), got %q", pos[0])
		}
		id = store.RuleID(n)
	default:
		return usagef("unknown rule command %q\n%s", sub, ruleUsage)
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

	switch sub {
	case "add":
		r, err := reg.AddRule(ctx, rule, actor(e))
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("a rule for %s %s %q exists already", rule.Field, rule.Match, rule.Pattern)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rule %d added: %s %s %q → %s\n", r.ID, r.Field, r.Match, r.Pattern, r.Action)
	case "list":
		rules, err := reg.Rules(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if rules == nil {
				rules = []store.DeviceRule{}
			}
			return printJSON(e.stdout, rules)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFIELD\tMATCH\tPATTERN\tACTION\tBY\tCREATED")
		for _, r := range rules {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Field, r.Match, r.Pattern, r.Action,
				dash(r.CreatedBy), when(r.CreatedAt))
		}
		return tw.Flush()
	case "remove":
		if err := reg.RemoveRule(ctx, id, actor(e)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no rule %d", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rule %d removed\n", id)
	}
	return nil
}
