//go:build libwbxml

package libwbxml

/*
#cgo CFLAGS: -I/usr/include/libwbxml-1.0
#cgo LDFLAGS: -lwbxml2
#include <stdlib.h>
#include <string.h>
#include "shim.h"

// easd_out is a growable buffer of records: kind (1 byte), page, token, flags, then for text
// a little-endian uint32 length and the bytes.
typedef struct {
	unsigned char *buf;
	size_t len, cap;
	int oom;
} easd_out;

static void easd_put(easd_out *o, const void *p, size_t n) {
	if (o->oom) return;
	if (o->len + n > o->cap) {
		size_t c = o->cap ? o->cap * 2 : 4096;
		while (c < o->len + n) c *= 2;
		unsigned char *b = realloc(o->buf, c);
		if (!b) { o->oom = 1; return; }
		o->buf = b;
		o->cap = c;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

enum { EASD_START = 1, EASD_END = 2, EASD_TEXT = 3 };
enum { EASD_FLAG_UNKNOWN = 1 };

static void easd_text(easd_out *o, const unsigned char *p, unsigned int n) {
	unsigned char rec[8] = {EASD_TEXT, 0, 0, 0, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24};
	easd_put(o, rec, sizeof rec);
	easd_put(o, p, n);
}

static void easd_walk(easd_tree_node *n, easd_out *o) {
	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case EASD_TREE_ELEMENT_NODE: {
			unsigned char rec[4] = {EASD_START, 0, 0, 0};
			if (n->name != NULL && n->name->type == EASD_VALUE_TOKEN && n->name->u.token != NULL) {
				rec[1] = n->name->u.token->wbxmlCodePage;
				rec[2] = n->name->u.token->wbxmlToken;
			} else {
				rec[3] = EASD_FLAG_UNKNOWN;
			}
			easd_put(o, rec, sizeof rec);
			easd_walk(n->children, o);
			rec[0] = EASD_END;
			easd_put(o, rec, sizeof rec);
			break;
		}
		case EASD_TREE_TEXT_NODE:
		case EASD_TREE_CDATA_NODE:
			if (n->content != NULL) {
				easd_text(o, wbxml_buffer_get_cstr(n->content), wbxml_buffer_len(n->content));
			}
			easd_walk(n->children, o);
			break;
		case EASD_TREE_TREE_NODE:
			if (n->tree != NULL) easd_walk(n->tree->root, o);
			break;
		default:
			break;
		}
	}
}

// easd_decode parses doc with the tree API and writes the records to *out (free with free).
static WBXMLError easd_decode(unsigned char *doc, unsigned int n, unsigned char **out, size_t *outlen) {
	easd_tree *tree = NULL;
	WBXMLError err = wbxml_tree_from_wbxml(doc, n, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UNKNOWN, &tree);
	*out = NULL;
	*outlen = 0;
	if (err != WBXML_OK) {
		if (tree) wbxml_tree_destroy(tree);
		return err;
	}
	easd_out o = {0};
	if (tree) easd_walk(tree->root, &o);
	wbxml_tree_destroy(tree);
	if (o.oom) {
		free(o.buf);
		return WBXML_ERROR_NOT_ENOUGH_MEMORY;
	}
	*out = o.buf;
	*outlen = o.len;
	return WBXML_OK;
}

// easd_reencode parses doc and writes the tree again as WBXML 1.3 without string table.
static WBXMLError easd_reencode(unsigned char *doc, unsigned int n, unsigned char **out, unsigned int *outlen) {
	easd_tree *tree = NULL;
	WBXMLError err = wbxml_tree_from_wbxml(doc, n, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UNKNOWN, &tree);
	*out = NULL;
	*outlen = 0;
	if (err != WBXML_OK) {
		if (tree) wbxml_tree_destroy(tree);
		return err;
	}
	WBXMLGenWBXMLParams params = {WBXML_VERSION_13, TRUE, FALSE, TRUE};
	WB_UTINY *res = NULL;
	WB_ULONG len = 0;
	err = wbxml_tree_to_wbxml(tree, &res, &len, &params);
	wbxml_tree_destroy(tree);
	if (err != WBXML_OK) {
		if (res) wbxml_free(res);
		return err;
	}
	*out = res;
	*outlen = len;
	return WBXML_OK;
}

static void easd_wbxml_free(void *p) { wbxml_free(p); }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Kind is the kind of a Token.
type Kind uint8

// Token kinds.
const (
	KindStart Kind = 1 // element start; Page and Token say which, unless Unknown
	KindEnd   Kind = 2 // end of the innermost element
	KindText  Kind = 3 // text: an inline string or opaque data (libwbxml does not keep which)
)

// String returns the name of k.
func (k Kind) String() string {
	switch k {
	case KindStart:
		return "start"
	case KindEnd:
		return "end"
	case KindText:
		return "text"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Token is one item of libwbxml's tree.
type Token struct {
	Kind    Kind
	Page    uint8  // KindStart and KindEnd: code page of libwbxml's tag entry
	Token   uint8  // KindStart and KindEnd: token of libwbxml's tag entry
	Unknown bool   // KindStart and KindEnd: libwbxml has no entry for the tag and shows <unknown>
	Data    []byte // KindText: the bytes, owned by the caller
}

// Error is a libwbxml error code with its message.
type Error struct {
	Code int
	Msg  string
}

// Error returns "libwbxml: <message> (<code>)".
func (e *Error) Error() string { return fmt.Sprintf("libwbxml: %s (%d)", e.Msg, e.Code) }

func libError(code C.WBXMLError) error {
	return &Error{Code: int(code), Msg: C.GoString((*C.char)(unsafe.Pointer(C.wbxml_errors_string(code))))}
}

// ErrEmpty is returned for an empty document, which libwbxml would read out of bounds.
var ErrEmpty = errors.New("libwbxml: empty document")

// ErrWouldAbort is returned, without calling libwbxml, for a document that would make
// libwbxml 0.11.8 abort the process: an ENTITY token (0x02) whose mb_u_int32 code is
// 0x80000000 or more fails an assert() in parse_entity (found by FuzzDifferential). The
// check is a conservative byte scan, so it may also refuse a document where such bytes sit
// inside a string.
var ErrWouldAbort = errors.New("libwbxml: document would abort libwbxml (ENTITY code >= 0x80000000)")

// wouldAbort reports whether doc holds 0x02 followed by an mb_u_int32 >= 0x80000000.
func wouldAbort(doc []byte) bool {
	for i, b := range doc {
		if b != 0x02 {
			continue
		}
		var v uint64
		for j := i + 1; j < len(doc) && j <= i+5; j++ {
			v = v<<7 | uint64(doc[j]&0x7F)
			if doc[j]&0x80 == 0 {
				if uint32(v) >= 0x80000000 {
					return true
				}
				break
			}
		}
	}
	return false
}

// cBytes copies doc into C memory: libwbxml takes a non-const pointer.
func cBytes(doc []byte) (*C.uchar, C.uint) {
	return (*C.uchar)(C.CBytes(doc)), C.uint(len(doc))
}

// Decode parses doc with libwbxml's tree API (ActiveSync language) and returns the tree as
// tokens. A libwbxml failure is an *Error; ErrEmpty and ErrWouldAbort are returned for
// documents libwbxml cannot be given.
func Decode(doc []byte) ([]Token, error) {
	if len(doc) == 0 {
		return nil, ErrEmpty
	}
	if wouldAbort(doc) {
		return nil, ErrWouldAbort
	}
	p, n := cBytes(doc)
	defer C.free(unsafe.Pointer(p))
	var out *C.uchar
	var outLen C.size_t
	if code := C.easd_decode(p, n, &out, &outLen); code != C.WBXML_OK {
		return nil, libError(code)
	}
	defer C.free(unsafe.Pointer(out))
	recs := C.GoBytes(unsafe.Pointer(out), C.int(outLen))
	var toks []Token
	for len(recs) > 0 {
		if len(recs) < 4 {
			return nil, errors.New("libwbxml: truncated record")
		}
		tok := Token{Kind: Kind(recs[0]), Page: recs[1], Token: recs[2], Unknown: recs[3]&1 != 0}
		recs = recs[4:]
		if tok.Kind == KindText {
			if len(recs) < 4 {
				return nil, errors.New("libwbxml: truncated record")
			}
			l := binary.LittleEndian.Uint32(recs)
			recs = recs[4:]
			if uint64(l) > uint64(len(recs)) {
				return nil, errors.New("libwbxml: truncated record")
			}
			tok.Data = recs[:l:l]
			recs = recs[l:]
		}
		toks = append(toks, tok)
	}
	return toks, nil
}

// Encode parses doc with libwbxml and writes the tree again with wbxml_tree_to_wbxml as WBXML
// 1.3 with public id 1 (anonymous) and no string table.
func Encode(doc []byte) ([]byte, error) {
	if len(doc) == 0 {
		return nil, ErrEmpty
	}
	if wouldAbort(doc) {
		return nil, ErrWouldAbort
	}
	p, n := cBytes(doc)
	defer C.free(unsafe.Pointer(p))
	var out *C.uchar
	var outLen C.uint
	if code := C.easd_reencode(p, n, &out, &outLen); code != C.WBXML_OK {
		return nil, libError(code)
	}
	defer C.easd_wbxml_free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(outLen)), nil
}
