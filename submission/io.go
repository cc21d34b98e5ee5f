package submission

import (
	"bufio"
	"bytes"
)

// bufioReader reads a header block; a header without a blank line after it still ends.
func bufioReader(head []byte) *bufio.Reader {
	if !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		head = append(bytes.Clone(head), "\r\n\r\n"...)
	}
	return bufio.NewReader(bytes.NewReader(head))
}
