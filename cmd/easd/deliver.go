package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/easd/easd/store"
)

// maxDeliverSize bounds what deliver reads from stdin by default.
const maxDeliverSize = 64 << 20

func runDeliver(ctx context.Context, e *env, g *globals, args []string) error {
	fs := g.flagSet("deliver", e)
	maxSize := fs.Int64("max-size", maxDeliverSize, "largest message accepted, in `bytes`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: easd deliver EMAIL < message.eml")
	}
	log, err := g.logger(e.stderr)
	if err != nil {
		return err
	}

	raw, err := io.ReadAll(io.LimitReader(e.stdin, *maxSize+1))
	if err != nil {
		return &exitError{exitTempFail, fmt.Errorf("read message: %w", err)}
	}
	if int64(len(raw)) > *maxSize {
		return &exitError{exitDataErr, fmt.Errorf("message larger than %d bytes", *maxSize)}
	}

	st, err := openMigrated(ctx, g, log)
	if err != nil {
		return &exitError{exitTempFail, err}
	}
	defer logClose(log, st)

	it, err := st.Deliver(ctx, pos[0], raw)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidAddress):
		return &exitError{exitNoUser, fmt.Errorf("no such user %s", pos[0])}
	case errors.Is(err, store.ErrInvalidMessage):
		return &exitError{exitDataErr, err}
	case err != nil:
		return &exitError{exitTempFail, err}
	}
	log.Info("delivered", "to", pos[0], "uid", it.UID, "size", it.Size, "modseq", it.ModSeq)
	return nil
}
