/*
 * shim.h declares the parts of libwbxml 0.11.8's ABI that Debian's libwbxml2-dev does not
 * install headers for (the tree and SAX-like parser APIs), as far as easd uses them. The
 * public headers (wbxml/wbxml.h) provide the basic types, WBXMLError, WBXMLLanguage,
 * WBXMLCharsetMIBEnum and WBXMLGenWBXMLParams. Layouts follow libwbxml 0.11.8's src/
 * wbxml_tables.h, wbxml_elt.h, wbxml_tree.h and wbxml_handlers.h; the library is LGPL-2.1 and
 * linked dynamically. Shared by the cgo package and bench/wbxml/libwbxml_bench.c.
 */
#ifndef EASD_LIBWBXML_SHIM_H
#define EASD_LIBWBXML_SHIM_H

#include <wbxml/wbxml.h>

/* wbxml_tables.h: one entry of a language's tag table. */
typedef struct {
	const WB_TINY *xmlName;
	WB_UTINY wbxmlCodePage;
	WB_UTINY wbxmlToken;
	WB_ULONG options;
} easd_tag_entry;

/* wbxml_elt.h: a tag is a table entry (token) or a literal name ("unknown" in best-effort
 * parsing of an undefined token). */
enum { EASD_VALUE_TOKEN = 0, EASD_VALUE_LITERAL = 1 };
typedef struct {
	int type;
	union {
		const easd_tag_entry *token;
		void *literal; /* WBXMLBuffer * */
	} u;
} easd_tag;

/* wbxml_tree.h */
enum {
	EASD_TREE_ELEMENT_NODE = 0,
	EASD_TREE_TEXT_NODE,
	EASD_TREE_CDATA_NODE,
	EASD_TREE_PI_NODE,
	EASD_TREE_TREE_NODE
};
struct easd_tree;
typedef struct easd_tree_node {
	int type;
	easd_tag *name;
	void *attrs;   /* WBXMLList * */
	void *content; /* WBXMLBuffer * */
	struct easd_tree *tree;
	struct easd_tree_node *parent;
	struct easd_tree_node *children;
	struct easd_tree_node *next;
	struct easd_tree_node *prev;
} easd_tree_node;
typedef struct easd_tree {
	const void *lang; /* const WBXMLLangEntry * */
	easd_tree_node *root;
	WBXMLCharsetMIBEnum orig_charset;
	WB_UTINY cur_code_page;
} easd_tree;

WBXMLError wbxml_tree_from_wbxml(WB_UTINY *wbxml, WB_ULONG wbxml_len, WBXMLLanguage lang,
	WBXMLCharsetMIBEnum charset, easd_tree **tree);
WBXMLError wbxml_tree_to_wbxml(easd_tree *tree, WB_UTINY **wbxml, WB_ULONG *wbxml_len,
	WBXMLGenWBXMLParams *params);
void wbxml_tree_destroy(easd_tree *tree);

/* wbxml_buffers.h */
WB_UTINY *wbxml_buffer_get_cstr(void *buffer);
WB_ULONG wbxml_buffer_len(void *buffer);

/* wbxml_mem.h */
void wbxml_free(void *memblock);

/* wbxml_handlers.h and wbxml_parser.h: the SAX-like parser. */
typedef struct {
	void (*start_document_clb)(void *ctx, WBXMLCharsetMIBEnum charset, const void *lang);
	void (*end_document_clb)(void *ctx);
	void (*start_element_clb)(void *ctx, easd_tag *element, void **attrs);
	void (*end_element_clb)(void *ctx, easd_tag *element);
	void (*characters_clb)(void *ctx, WB_UTINY *ch, WB_ULONG start, WB_ULONG length);
	void (*pi_clb)(void *ctx, const WB_UTINY *target, WB_UTINY *data);
} easd_content_handler;

typedef struct easd_parser easd_parser; /* WBXMLParser, opaque */
easd_parser *wbxml_parser_create(void);
void wbxml_parser_destroy(easd_parser *parser);
WBXMLError wbxml_parser_parse(easd_parser *parser, WB_UTINY *wbxml, WB_ULONG wbxml_len);
void wbxml_parser_set_user_data(easd_parser *parser, void *user_data);
void wbxml_parser_set_content_handler(easd_parser *parser, easd_content_handler *handler);
WB_BOOL wbxml_parser_set_language(easd_parser *parser, WBXMLLanguage lang);

#endif
