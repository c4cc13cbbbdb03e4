/*
 * test_routes.c - the route table matcher: names with many segments,
 * upload routes before blob routes, 404 vs 405, parameter validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/base/err.h"
#include "server/handlers.h"
#include "server/routes.h"

#include <stdlib.h>
#include <string.h>

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct request *req(enum http_method m, const char *path)
{
    struct request *r = calloc(1, sizeof(*r));
    r->method = m;
    r->path = strdup(path);
    return r;
}

static void req_free(struct request *r)
{
    free(r->path);
    free(r->name);
    free(r->ref);
    free(r);
}

static enum route_match_result match(struct request *r)
{
    char allow[64];
    return route_match(r, allow, sizeof(allow));
}

static void test_base_and_catalog(void **state)
{
    (void)state;
    struct request *r = req(M_GET, "/v2/");
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_base_get);
    req_free(r);
    r = req(M_GET, "/v2/_catalog");
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_catalog);
    req_free(r);
}

static void test_deep_names(void **state)
{
    (void)state;
    struct request *r = req(M_GET, "/v2/a/blobs/b/manifests/latest");
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_manifest_get);
    assert_string_equal(r->name, "a/blobs/b");
    assert_string_equal(r->ref, "latest");
    assert_false(r->ref_is_digest);
    assert_int_equal(route_validate(r), 0);
    req_free(r);
    r = req(M_GET, "/v2/team/sub/app/manifests/" D64);
    assert_int_equal(match(r), ROUTE_OK);
    assert_true(r->ref_is_digest);
    assert_int_equal(route_validate(r), 0);
    assert_string_equal(r->digest.str, D64);
    req_free(r);
}

static void test_upload_routes_win(void **state)
{
    (void)state;
    struct request *r = req(M_POST, "/v2/app/blobs/uploads/");
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_upload_post);
    assert_string_equal(r->name, "app");
    req_free(r);
    r = req(M_PATCH, "/v2/app/blobs/uploads/0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_upload_patch);
    assert_string_equal(r->uuid, "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_int_equal(route_validate(r), 0);
    req_free(r);
    r = req(M_GET, "/v2/app/blobs/" D64);
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_blob_get);
    req_free(r);
    r = req(M_HEAD, "/v2/app/blobs/" D64);
    assert_int_equal(match(r), ROUTE_OK);
    assert_ptr_equal(r->route->handle, h_blob_head);
    req_free(r);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    char allow[64];
    struct request *r = req(M_GET, "/v3/");
    assert_int_equal(match(r), ROUTE_NOT_FOUND);
    req_free(r);
    r = req(M_GET, "/v2/app/nothing/here");
    assert_int_equal(match(r), ROUTE_NOT_FOUND);
    req_free(r);
    r = req(M_GET, "/v2//manifests/x");
    assert_int_equal(match(r), ROUTE_NOT_FOUND);
    req_free(r);
    r = req(M_POST, "/v2/app/manifests/latest");
    assert_int_equal(route_match(r, allow, sizeof(allow)), ROUTE_BAD_METHOD);
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "PUT"));
    assert_non_null(strstr(allow, "DELETE"));
    req_free(r);
    r = req(M_PUT, "/v2/_catalog");
    assert_int_equal(route_match(r, allow, sizeof(allow)), ROUTE_BAD_METHOD);
    req_free(r);
}

static void test_validation(void **state)
{
    (void)state;
    struct request *r = req(M_GET, "/v2/UPPER/manifests/latest");
    assert_int_equal(match(r), ROUTE_OK);
    assert_int_equal(route_validate(r), BERR_NAME_INVALID);
    req_free(r);
    r = req(M_GET, "/v2/../etc/manifests/latest");
    assert_int_equal(match(r), ROUTE_OK);
    assert_int_equal(route_validate(r), BERR_NAME_INVALID);
    req_free(r);
    r = req(M_GET, "/v2/app/blobs/sha256:1234");
    assert_int_equal(match(r), ROUTE_OK);
    assert_int_equal(route_validate(r), BERR_DIGEST_INVALID);
    req_free(r);
    r = req(M_GET, "/v2/app/manifests/-bad-tag");
    assert_int_equal(match(r), ROUTE_OK);
    assert_int_equal(route_validate(r), BERR_TAG_INVALID);
    req_free(r);
    r = req(M_GET, "/v2/app/blobs/uploads/../../x");
    assert_int_equal(match(r), ROUTE_NOT_FOUND);
    req_free(r);
    r = req(M_GET, "/v2/app/blobs/uploads/not-a-uuid");
    assert_int_equal(match(r), ROUTE_OK);
    assert_int_equal(route_validate(r), BERR_UPLOAD_UNKNOWN);
    req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_and_catalog),  cmocka_unit_test(test_deep_names),
        cmocka_unit_test(test_upload_routes_win), cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
