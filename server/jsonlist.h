/*
 * jsonlist.h - the JSON documents of name listings, written into a buffer
 * while the names stream in from the metadata:
 *   {"name":"<repo>","tags":["a","b"]}     (tag list)
 *   {"repositories":["a","b"]}             (catalog)
 * byte for byte what jansson's json_dumps(..., JSON_COMPACT) makes of the
 * same document (tests/unit/server/test_jsonlist.c checks it).
 *
 * Strings are JSON-encoded by jansson unless they need no encoding at all:
 * text made only of [A-Za-z0-9._/-] is the same inside JSON quotes, and
 * every valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) and repository name
 * (image/reference.h) is such text, so the fast path only skips work that
 * would not change a byte. Anything else (a row written by some other
 * tool) still goes through jansson, never through an escaper of ours.
 */
#ifndef BERTH_JSONLIST_H
#define BERTH_JSONLIST_H

#include <stddef.h>

#include "image/base/buf.h"

/* Append the document's opening: {"name":<name>,"<array_key>":[ when name
 * is not NULL, else {"<array_key>":[ . array_key must be plain text (see
 * above). 0, BERR_TOO_LARGE (out's cap) or BERR_INTERNAL (name is not UTF-8). */
int jsonlist_begin(struct buf *out, const char *name, const char *array_key);
/* Append item number `index` (0 for the first: no comma before it) of the
 * array: s[0..len) as a JSON string. Returns 1 when s went out verbatim
 * (out->data[out->len - len - 1 ..] is s followed by the closing quote),
 * 0 when jansson encoded it, or BERR_TOO_LARGE / BERR_INTERNAL (s is not
 * UTF-8); on failure out may hold part of the item. */
int jsonlist_item(struct buf *out, size_t index, const char *s, size_t len);
/* Append the closing "]}". 0 or BERR_TOO_LARGE. */
int jsonlist_end(struct buf *out);

#endif
