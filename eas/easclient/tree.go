package easclient

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/easd/easd/wbxml"
)

// Node is an element of a decoded WBXML document: a small tree for reading answers in
// tests and tools, where a token loop would be longer than the assertion it serves.
//
// The lookups are nil-safe, so a chain like doc.Child(a).Child(b).Get(c) gives "" rather
// than panicking when a step is missing.
type Node struct {
	Tag wbxml.Tag
	// Text is the element's string and opaque content, concatenated in document order.
	Text     string
	Children []*Node
}

// Parse decodes a WBXML document that has exactly one root element and returns that element.
func Parse(b []byte) (*Node, error) {
	dec := wbxml.NewDecoder(b)
	root := &Node{}
	stack := []*Node{root}
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("easclient: decode response: %w", err)
		}
		top := stack[len(stack)-1]
		switch tok.Kind {
		case wbxml.KindStart:
			n := &Node{Tag: tok.Tag}
			top.Children = append(top.Children, n)
			if tok.Content {
				stack = append(stack, n)
			}
		case wbxml.KindEnd:
			stack = stack[:len(stack)-1]
		case wbxml.KindString, wbxml.KindOpaque:
			top.Text += string(tok.Data)
		}
	}
	if len(root.Children) != 1 {
		return nil, fmt.Errorf("easclient: %d root elements, want 1", len(root.Children))
	}
	return root.Children[0], nil
}

// Tree decodes the body with Parse; an empty body is an error.
func (r *Response) Tree() (*Node, error) {
	if len(r.Body) == 0 {
		return nil, errors.New("easclient: empty response body")
	}
	return Parse(r.Body)
}

// Child returns the element reached from n by taking, for each tag of path in turn, the
// first child with that tag; nil if a step is missing or n is nil. With no path it is n.
func (n *Node) Child(path ...wbxml.Tag) *Node {
	for _, tag := range path {
		if n == nil {
			return nil
		}
		var next *Node
		for _, k := range n.Children {
			if k.Tag == tag {
				next = k
				break
			}
		}
		n = next
	}
	return n
}

// All returns n's children tagged tag, in document order; nil if none or n is nil.
func (n *Node) All(tag wbxml.Tag) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, k := range n.Children {
		if k.Tag == tag {
			out = append(out, k)
		}
	}
	return out
}

// Get returns the Text of Child(path...), "" if there is no such element.
func (n *Node) Get(path ...wbxml.Tag) string {
	if c := n.Child(path...); c != nil {
		return c.Text
	}
	return ""
}

// Has reports whether Child(path...) exists.
func (n *Node) Has(path ...wbxml.Tag) bool { return n.Child(path...) != nil }

// String returns the element as compact XML-like text with code-page prefixed names
// (<FolderHierarchy:Status>1</FolderHierarchy:Status>), for failure messages.
func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *Node) write(b *strings.Builder) {
	name := n.Tag.String()
	b.WriteString("<" + name)
	if n.Text == "" && len(n.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	b.WriteString(n.Text)
	for _, k := range n.Children {
		k.write(b)
	}
	b.WriteString("</" + name + ">")
}
