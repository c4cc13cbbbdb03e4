/*
 * test_jsonlist.c - listing documents written by server/jsonlist.c parse
 * with jansson and are byte-identical to jansson's own rendering of the same
 * document (json_dumps, JSON_COMPACT: what respond_json sends), for names
 * of the tag and repository grammars (the verbatim path) and for text that
 * needs escaping (the jansson path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/base/buf.h"
#include "image/base/err.h"
#include "server/jsonlist.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Render names with jsonlist; check the return of each item. */
static void render(struct buf *b, const char *name, const char *key, const char *const *names,
                   size_t n, const int *verbatim)
{
    assert_int_equal(jsonlist_begin(b, name, key), 0);
    for (size_t i = 0; i < n; i++) {
        int rc = jsonlist_item(b, i, names[i], strlen(names[i]));
        assert_true(rc >= 0);
        if (verbatim)
            assert_int_equal(rc, verbatim[i]);
        if (rc == 1) /* the name sits verbatim before the closing quote */
            assert_memory_equal(b->data + b->len - strlen(names[i]) - 1, names[i],
                                strlen(names[i]));
    }
    assert_int_equal(jsonlist_end(b), 0);
}

/* The same document built and dumped by jansson. */
static char *reference(const char *name, const char *key, const char *const *names, size_t n)
{
    json_t *arr = json_array(), *doc;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_array_append_new(arr, json_string(names[i])), 0);
    if (name)
        doc = json_pack("{s:s,s:o}", "name", name, key, arr);
    else
        doc = json_pack("{s:o}", key, arr);
    assert_non_null(doc);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static void check_equal(const char *name, const char *key, const char *const *names, size_t n,
                        const int *verbatim)
{
    struct buf b;
    json_error_t jerr;
    buf_init(&b, 0);
    render(&b, name, key, names, n, verbatim);
    char *want = reference(name, key, names, n);
    assert_string_equal(b.data, want);
    /* and it parses back to the names */
    json_t *doc = json_loadb(b.data, b.len, 0, &jerr);
    assert_non_null(doc);
    json_t *arr = json_object_get(doc, key);
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(arr, i)), names[i]);
    if (name)
        assert_string_equal(json_string_value(json_object_get(doc, "name")), name);
    json_decref(doc);
    free(want);
    buf_release(&b);
}

static void test_tags_grammar(void **state)
{
    (void)state;
    static const char *const tags[] = {"0", "1.0", "A", "_x", "latest", "v1.2.3-rc_1", "z--__..9"};
    static const int verbatim[] = {1, 1, 1, 1, 1, 1, 1};
    check_equal("team/app", "tags", tags, 7, verbatim);
    check_equal("a.b/c-d/e__f", "tags", NULL, 0, NULL);
    /* the longest tag: 128 bytes */
    char longest[129];
    memset(longest, 'x', 128);
    longest[0] = '_';
    longest[128] = '\0';
    const char *one[] = {longest};
    check_equal("r", "tags", one, 1, verbatim);
}

static void test_catalog_grammar(void **state)
{
    (void)state;
    static const char *const repos[] = {"0", "a", "a/b", "cat/ns-a", "cat/ns.b", "x__y/z"};
    static const int verbatim[] = {1, 1, 1, 1, 1, 1};
    check_equal(NULL, "repositories", repos, 6, verbatim);
    check_equal(NULL, "repositories", NULL, 0, NULL);
    /* the longest repository name: 255 bytes; and one past the stack path */
    char longest[300];
    memset(longest, 'a', sizeof(longest) - 1);
    for (size_t i = 10; i < sizeof(longest) - 1; i += 10)
        longest[i] = '/';
    longest[255] = '\0';
    const char *one[] = {longest};
    check_equal(NULL, "repositories", one, 1, verbatim);
    longest[255] = 'a';
    longest[sizeof(longest) - 1] = '\0';
    check_equal(NULL, "repositories", one, 1, verbatim);
}

/* Text outside the grammars (never stored by berthd) goes through jansson. */
static void test_escaping_by_jansson(void **state)
{
    (void)state;
    static const char *const odd[] = {"quote\"d", "back\\slash", "tab\there", "nl\n",
                                      "\x01",     "caf\xc3\xa9", "sp ace",    "plain",
                                      "del\x7f",  "<>&'",        "",          "a:b"};
    static const int verbatim[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
    check_equal("name with \"quotes\"", "tags", odd, 12, verbatim);
    check_equal(NULL, "repositories", odd, 12, verbatim);
}

static void test_invalid_utf8_and_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(jsonlist_begin(&b, NULL, "tags"), 0);
    assert_int_equal(jsonlist_item(&b, 0, "\xff\xfe", 2), BERR_INTERNAL);
    buf_release(&b);

    buf_init(&b, 32);
    assert_int_equal(jsonlist_begin(&b, "r", "tags"), 0); /* {"name":"r","tags":[ = 20 */
    assert_int_equal(jsonlist_item(&b, 0, "abcdefgh", 8), 1);
    assert_int_equal(jsonlist_item(&b, 1, "abcdefgh", 8), BERR_TOO_LARGE);
    assert_int_equal(jsonlist_item(&b, 1, "a\"", 2), BERR_TOO_LARGE);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_grammar),
        cmocka_unit_test(test_catalog_grammar),
        cmocka_unit_test(test_escaping_by_jansson),
        cmocka_unit_test(test_invalid_utf8_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
