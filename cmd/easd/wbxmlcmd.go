package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/easd/easd/wbxml"
)

// maxWBXMLInput bounds what `easd wbxml` reads from stdin.
const maxWBXMLInput = 64 << 20

func runWBXML(_ context.Context, e *env, g *globals, args []string) error {
	const usage = "usage: easd wbxml decode < in.wbxml > out.xml\n       easd wbxml encode < in.xml > out.wbxml"
	fs := g.flagSet("wbxml", e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("%s", usage)
	}
	in, err := io.ReadAll(io.LimitReader(e.stdin, maxWBXMLInput+1))
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	if len(in) > maxWBXMLInput {
		return fmt.Errorf("input larger than %d bytes", maxWBXMLInput)
	}
	switch pos[0] {
	case "decode":
		// Buffer the whole document so malformed input prints an error and no
		// partial XML.
		var out bytes.Buffer
		if err := wbxml.ToXML(&out, in); err != nil {
			return err
		}
		_, err = out.WriteTo(e.stdout)
		return err
	case "encode":
		out, err := wbxml.FromXML(nil, bytes.NewReader(in))
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	return usagef("%s", usage)
}
