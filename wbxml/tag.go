package wbxml

import "strconv"

// Tag identifies an element: its code page in the high byte and its token (0x05-0x3F) in the
// low byte, without the content and attribute bits of the wire form. The generated constants
// name every tag of code pages 0-25 (see doc.go for the prefixes).
type Tag uint16

// Page returns the code page of t.
func (t Tag) Page() uint8 { return uint8(t >> 8) }

// Token returns the token of t within its code page.
func (t Tag) Token() uint8 { return uint8(t) }

// known reports whether t is defined by MS-ASWBXML.
func (t Tag) known() bool {
	p, tok := t.Page(), t.Token()
	return tok < 64 && knownTokens[p]&(1<<tok) != 0
}

// Name returns the element name of t as MS-ASWBXML lists it, or "" if t is not defined.
func (t Tag) Name() string {
	if !t.known() {
		return ""
	}
	s := tagStrings[t.Page()][t.Token()]
	return s[len(pageNamespaces[t.Page()])+1:]
}

// Namespace returns the XML namespace of t's code page (for example "AirSync" or
// "GetItemEstimate"), or "" if the page is not defined. It does not check the token.
func (t Tag) Namespace() string {
	if t.Page() >= numPages {
		return ""
	}
	return pageNamespaces[t.Page()]
}

// String returns "Namespace:Name" (for example "AirSync:Sync") for a defined tag and
// "0xPP:0xTT" otherwise. It allocates only for undefined tags.
func (t Tag) String() string {
	if t.known() {
		return tagStrings[t.Page()][t.Token()]
	}
	b := make([]byte, 0, 9)
	b = appendHexByte(b, t.Page())
	b = append(b, ':')
	b = appendHexByte(b, t.Token())
	return string(b)
}

func appendHexByte(b []byte, v uint8) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, '0', 'x', hex[v>>4], hex[v&0xF])
}

// LookupTag returns the tag named name in the code page whose XML namespace is namespace.
// It does not allocate.
func LookupTag(namespace, name string) (Tag, bool) {
	p, ok := pageOf(namespace)
	if !ok {
		return 0, false
	}
	tags := pageTagsByName[p]
	lo, hi := 0, len(tags)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if tags[m].Name() < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(tags) && tags[lo].Name() == name {
		return tags[lo], true
	}
	return 0, false
}

// PageNamespace returns the XML namespace of a code page.
func PageNamespace(page uint8) (string, bool) {
	if page >= numPages {
		return "", false
	}
	return pageNamespaces[page], true
}

func pageOf(namespace string) (uint8, bool) {
	for i, ns := range pageNamespaces {
		if ns == namespace {
			return uint8(i), true
		}
	}
	return 0, false
}

// pageName is PageNamespace for messages: the namespace or the page number.
func pageName(page uint8) string {
	if ns, ok := PageNamespace(page); ok {
		return ns
	}
	return "page " + strconv.Itoa(int(page))
}
