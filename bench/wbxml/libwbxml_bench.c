/*
 * libwbxml_bench measures Debian's libwbxml2 (0.11.8) on the benchmark corpora of package
 * wbxml, for comparison with the Go benchmarks (see README.md and run.sh).
 *
 * For each file given on the command line it times, in a loop of at least one second:
 *
 *   sax     wbxml_parser_parse with the ActiveSync language and empty callbacks: libwbxml's
 *           SAX-like parser, its fastest decoding path (no tree, no output);
 *   tree    wbxml_tree_from_wbxml: the parser building libwbxml's tree;
 *   encode  wbxml_tree_to_wbxml of a tree built once beforehand (WBXML 1.3, anonymous public
 *           id, no string table: the 03 01 6A 00 header EAS uses);
 *   toxml   wbxml_conv_wbxml2xml_withlen: decoding to indented XML.
 *
 * It prints one line per measurement: "corpus op MB/s ns/op bytes" with MB = 1e6 bytes of
 * WBXML input, the unit `go test -bench` uses with b.SetBytes.
 *
 * Build: gcc -O2 -I/usr/include/libwbxml-1.0 -I../../wbxml/internal/libwbxml \
 *            -o libwbxml_bench libwbxml_bench.c -lwbxml2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *read_file(const char *path, size_t *len) {
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? n : 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Empty SAX callbacks; the element counter keeps the work observable. */
static void sax_start_doc(void *ctx, WBXMLCharsetMIBEnum cs, const void *lang) { (void)ctx; (void)cs; (void)lang; }
static void sax_end_doc(void *ctx) { (void)ctx; }
static void sax_start(void *ctx, easd_tag *t, void **attrs) { (void)t; (void)attrs; ++*(unsigned long *)ctx; }
static void sax_end(void *ctx, easd_tag *t) { (void)ctx; (void)t; }
static void sax_chars(void *ctx, WB_UTINY *ch, WB_ULONG start, WB_ULONG len) { (void)ctx; (void)ch; (void)start; (void)len; }
static void sax_pi(void *ctx, const WB_UTINY *target, WB_UTINY *data) { (void)ctx; (void)target; (void)data; }

static easd_content_handler handler = {sax_start_doc, sax_end_doc, sax_start, sax_end, sax_chars, sax_pi};

enum op { OP_SAX, OP_TREE, OP_ENCODE, OP_TOXML };
static const char *op_names[] = {"sax", "tree", "encode", "toxml"};

/* run_once performs op once and returns 0 on success. */
static int run_once(enum op op, unsigned char *doc, size_t len, easd_tree *tree, unsigned long *elements) {
	switch (op) {
	case OP_SAX: {
		easd_parser *p = wbxml_parser_create();
		if (!p) return -1;
		wbxml_parser_set_user_data(p, elements);
		wbxml_parser_set_content_handler(p, &handler);
		wbxml_parser_set_language(p, WBXML_LANG_ACTIVESYNC);
		WBXMLError err = wbxml_parser_parse(p, doc, len);
		wbxml_parser_destroy(p);
		return err == WBXML_OK ? 0 : (int)err;
	}
	case OP_TREE: {
		easd_tree *t = NULL;
		WBXMLError err = wbxml_tree_from_wbxml(doc, len, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UNKNOWN, &t);
		if (t) wbxml_tree_destroy(t);
		return err == WBXML_OK ? 0 : (int)err;
	}
	case OP_ENCODE: {
		WBXMLGenWBXMLParams params = {WBXML_VERSION_13, TRUE, FALSE, TRUE};
		WB_UTINY *out = NULL;
		WB_ULONG outlen = 0;
		WBXMLError err = wbxml_tree_to_wbxml(tree, &out, &outlen, &params);
		if (out) wbxml_free(out);
		return err == WBXML_OK ? 0 : (int)err;
	}
	case OP_TOXML: {
		WBXMLGenXMLParams params = {WBXML_GEN_XML_INDENT, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UTF_8, 2, FALSE};
		WB_UTINY *out = NULL;
		WB_ULONG outlen = 0;
		WBXMLError err = wbxml_conv_wbxml2xml_withlen(doc, len, &out, &outlen, &params);
		if (out) wbxml_free(out);
		return err == WBXML_OK ? 0 : (int)err;
	}
	}
	return -1;
}

static int bench(const char *name, enum op op, unsigned char *doc, size_t len, easd_tree *tree, double mintime) {
	unsigned long elements = 0;
	int err = run_once(op, doc, len, tree, &elements); /* warm up and check */
	if (err != 0) {
		fprintf(stderr, "%s %s: libwbxml error %d: %s\n", name, op_names[op], err,
			(const char *)wbxml_errors_string((WBXMLError)err));
		return 1;
	}
	long iters = 1;
	double elapsed = 0;
	for (;;) {
		double start = now();
		for (long i = 0; i < iters; i++) run_once(op, doc, len, tree, &elements);
		elapsed = now() - start;
		if (elapsed >= mintime) break;
		long next = elapsed > 0 ? (long)(iters * (mintime * 1.2 / elapsed)) : iters * 100;
		iters = next > iters * 100 ? iters * 100 : (next <= iters ? iters * 2 : next);
	}
	double ns = elapsed * 1e9 / iters;
	printf("%s %s %.2f %.0f %zu\n", name, op_names[op], (double)len * iters / elapsed / 1e6, ns, len);
	return 0;
}

int main(int argc, char **argv) {
	double mintime = 1.0;
	int first = 1;
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		mintime = atof(argv[2]);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [-t seconds] corpus.wbxml...\n", argv[0]);
		return 2;
	}
	int failed = 0;
	for (int i = first; i < argc; i++) {
		size_t len = 0;
		unsigned char *doc = read_file(argv[i], &len);
		if (!doc) {
			perror(argv[i]);
			return 1;
		}
		const char *base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		char name[256];
		snprintf(name, sizeof name, "%s", base);
		char *dot = strrchr(name, '.');
		if (dot) *dot = 0;

		easd_tree *tree = NULL;
		if (wbxml_tree_from_wbxml(doc, len, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UNKNOWN, &tree) != WBXML_OK) {
			fprintf(stderr, "%s: libwbxml cannot parse it\n", argv[i]);
			return 1;
		}
		for (int op = OP_SAX; op <= OP_TOXML; op++) failed |= bench(name, op, doc, len, tree, mintime);
		wbxml_tree_destroy(tree);
		free(doc);
	}
	return failed;
}
