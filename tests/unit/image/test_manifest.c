/*
 * test_manifest.c - manifest/index parsing: the four supported types, schema1
 * refusal, type resolution (body, Content-Type, heuristics), descriptor
 * validation, subject/artifactType/annotations, platform matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/manifest.h"
#include "image/base/buf.h"
#include "image/base/err.h"

#include <stdlib.h>
#include <string.h>

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "3333333333333333333333333333333333333333333333333333333333333333"
#define D1 "sha256:" H1
#define D2 "sha256:" H2
#define D3 "sha256:" H3

#define CONFIG(mt)       "\"config\":{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":7023}"
#define LAYER(mt, d, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #sz "}"

static const char oci_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
    "\"," CONFIG(MT_OCI_CONFIG) ","
                                "\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, D2, 32654) "," LAYER(
                                    MT_OCI_LAYER_ZSTD, D3,
                                    0) "],"
                                       "\"annotations\":{\"z.key\":\"last\",\"a.key\":\"first\"}}";

static const char docker_manifest[] =
    "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"" MT_DOCKER_MANIFEST "\",\n"
    "   " CONFIG(MT_DOCKER_CONFIG) ",\n   \"layers\": [" LAYER(MT_DOCKER_LAYER_GZIP, D2,
                                                               977) "]\n}";

static const char oci_index[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":100,"
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":101,"
    "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":102,"
    "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":103,"
    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":104,"
    "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
    "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}],"
    "\"annotations\":{\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"}}";

static const char docker_list[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":528,"
    "\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":529,"
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"features\":[\"sse4\"]}}]}";

static const char schema1_signed[] =
    "{\"schemaVersion\":1,\"name\":\"hello-world\",\"tag\":\"latest\",\"architecture\":\"amd64\","
    "\"fsLayers\":[{\"blobSum\":\"" D1 "\"}],\"history\":[{\"v1Compatibility\":\"{}\"}],"
    "\"signatures\":[{\"header\":{\"alg\":\"ES256\"},\"signature\":\"x\",\"protected\":\"y\"}]}";

static int parse(struct manifest **m, const char *s, const char *ct)
{
    return manifest_parse(m, s, strlen(s), ct);
}

/* Parse expecting `want`; on failure *m must stay NULL. */
static void expect_rc(const char *s, const char *ct, int want)
{
    struct manifest *m = (struct manifest *)1;
    int rc = parse(&m, s, ct);
    if (rc != want)
        fail_msg("got %d (%s), want %d for: %s", rc, berr_message(), want, s);
    if (rc < 0) {
        assert_null(m);
        assert_true(berr_message()[0] != '\0');
    }
    manifest_free(rc == 0 ? m : NULL);
}

static void test_oci_manifest(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, oci_manifest, MT_OCI_MANIFEST), 0);
    assert_int_equal(m->kind, MT_KIND_IMAGE);
    assert_string_equal(m->media_type, MT_OCI_MANIFEST);
    assert_int_equal(m->schema_version, 2);
    assert_true(m->has_config);
    assert_string_equal(m->config.media_type, MT_OCI_CONFIG);
    assert_string_equal(m->config.digest.str, D1);
    assert_int_equal(m->config.size, 7023);
    assert_int_equal(m->n_layers, 2);
    assert_string_equal(m->layers[0].media_type, MT_OCI_LAYER_GZIP);
    assert_string_equal(m->layers[0].digest.str, D2);
    assert_string_equal(m->layers[0].digest.hex, H2);
    assert_int_equal(m->layers[0].size, 32654);
    assert_int_equal(m->layers[1].size, 0);
    assert_null(m->layers[1].annotations);
    assert_int_equal(m->n_manifests, 0);
    assert_false(m->has_subject);
    assert_null(m->artifact_type);
    /* compact, keys sorted */
    assert_string_equal(m->annotations, "{\"a.key\":\"first\",\"z.key\":\"last\"}");
    assert_string_equal(manifest_effective_artifact_type(m), MT_OCI_CONFIG);
    assert_int_equal(manifest_index_match(m, "linux", "amd64", NULL), -1);
    manifest_free(m);
    /* Content-Type with parameters and other case still matches */
    expect_rc(oci_manifest, MT_OCI_MANIFEST "; charset=utf-8", 0);
    expect_rc(oci_manifest, "Application/VND.oci.image.manifest.v1+json", 0);
    /* a non-manifest Content-Type does not conflict with the body */
    expect_rc(oci_manifest, "application/json", 0);
    expect_rc(oci_manifest, NULL, 0);
    manifest_free(NULL);
}

static void test_docker_manifest(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, docker_manifest, MT_DOCKER_MANIFEST), 0);
    assert_int_equal(m->kind, MT_KIND_IMAGE);
    assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
    assert_string_equal(m->config.media_type, MT_DOCKER_CONFIG);
    assert_int_equal(m->n_layers, 1);
    assert_int_equal(m->layers[0].size, 977);
    assert_null(m->annotations);
    manifest_free(m);
    /* docker needs mediaType in the body */
    const char *no_mt = "{\"schemaVersion\":2," CONFIG(MT_DOCKER_CONFIG) ",\"layers\":[]}";
    expect_rc(no_mt, MT_DOCKER_MANIFEST, BERR_MANIFEST_INVALID);
    expect_rc(docker_manifest, MT_OCI_MANIFEST, BERR_MANIFEST_INVALID);
}

static void test_oci_index(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, oci_index, MT_OCI_INDEX), 0);
    assert_int_equal(m->kind, MT_KIND_INDEX);
    assert_string_equal(m->media_type, MT_OCI_INDEX);
    assert_false(m->has_config);
    assert_int_equal(m->n_layers, 0);
    assert_int_equal(m->n_manifests, 5);
    assert_string_equal(m->manifests[0].platform.os, "linux");
    assert_string_equal(m->manifests[0].platform.architecture, "amd64");
    assert_null(m->manifests[0].platform.variant);
    assert_string_equal(m->manifests[2].platform.variant, "v7");
    assert_int_equal(m->manifests[4].size, 104);
    assert_string_equal(m->manifests[4].annotations,
                        "{\"vnd.docker.reference.type\":\"attestation-manifest\"}");
    assert_null(manifest_effective_artifact_type(m));

    assert_int_equal(manifest_index_match(m, "linux", "amd64", NULL), 0);
    assert_int_equal(manifest_index_match(m, "linux", "arm", NULL), 1);
    assert_int_equal(manifest_index_match(m, "linux", "arm", "v7"), 2);
    assert_int_equal(manifest_index_match(m, "linux", "arm", "v6"), 1);
    assert_int_equal(manifest_index_match(m, "linux", "arm", "v5"), -1);
    assert_int_equal(manifest_index_match(m, "linux", "arm64", NULL), 3);
    assert_int_equal(manifest_index_match(m, "linux", "arm64", "v8"), 3);
    assert_int_equal(manifest_index_match(m, "linux", "arm64", "v9"), -1);
    assert_int_equal(manifest_index_match(m, "windows", "amd64", NULL), -1);
    assert_int_equal(manifest_index_match(m, "linux", "s390x", NULL), -1);
    assert_int_equal(manifest_index_match(m, NULL, "amd64", NULL), -1);
    manifest_free(m);
}

static void test_docker_list(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, docker_list, MT_DOCKER_LIST), 0);
    assert_int_equal(m->kind, MT_KIND_INDEX);
    assert_string_equal(m->media_type, MT_DOCKER_LIST);
    assert_int_equal(m->n_manifests, 2);
    assert_string_equal(m->manifests[0].media_type, MT_DOCKER_MANIFEST);
    assert_int_equal(manifest_index_match(m, "linux", "amd64", NULL), 1);
    assert_int_equal(manifest_index_match(m, "linux", "ppc64le", NULL), 0);
    manifest_free(m);
    expect_rc(docker_list, MT_OCI_INDEX, BERR_MANIFEST_INVALID);
    expect_rc(docker_list, MT_DOCKER_MANIFEST, BERR_MANIFEST_INVALID);
}

static void test_schema1_refused(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, schema1_signed, NULL), BERR_UNSUPPORTED);
    assert_null(m);
    assert_non_null(strstr(berr_message(), "schema1"));
    expect_rc(schema1_signed, MT_DOCKER_SCHEMA1_SIGNED, BERR_UNSUPPORTED);
    expect_rc(schema1_signed, MT_DOCKER_SCHEMA1, BERR_UNSUPPORTED);
    /* a schema2-looking body sent as schema1 */
    expect_rc(oci_manifest, MT_DOCKER_SCHEMA1_SIGNED, BERR_UNSUPPORTED);
    /* body mediaType schema1 */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_SCHEMA1 "\"}", NULL,
              BERR_UNSUPPORTED);
    assert_non_null(strstr(berr_message(), "schema1"));
}

static void test_type_resolution(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    const char *img = "{\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"layers\":[]}";
    const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";

    /* no mediaType: Content-Type decides */
    assert_int_equal(parse(&m, img, MT_OCI_MANIFEST "; charset=utf-8"), 0);
    assert_string_equal(m->media_type, MT_OCI_MANIFEST);
    assert_int_equal(m->n_layers, 0);
    assert_null(m->layers);
    manifest_free(m);
    /* no mediaType, no useful Content-Type: heuristics */
    assert_int_equal(parse(&m, img, NULL), 0);
    assert_int_equal(m->kind, MT_KIND_IMAGE);
    assert_string_equal(m->media_type, MT_OCI_MANIFEST);
    manifest_free(m);
    assert_int_equal(parse(&m, idx, "application/octet-stream"), 0);
    assert_int_equal(m->kind, MT_KIND_INDEX);
    assert_string_equal(m->media_type, MT_OCI_INDEX);
    assert_int_equal(m->n_manifests, 0);
    manifest_free(m);
    /* Content-Type says index, body is an image manifest */
    expect_rc(img, MT_OCI_INDEX, BERR_MANIFEST_INVALID);
    expect_rc(idx, MT_OCI_MANIFEST, BERR_MANIFEST_INVALID);
    /* body mediaType vs Content-Type mismatch */
    expect_rc(oci_manifest, MT_OCI_INDEX, BERR_MANIFEST_INVALID);
    expect_rc(oci_manifest, MT_DOCKER_MANIFEST, BERR_MANIFEST_INVALID);
    expect_rc(oci_index, MT_OCI_MANIFEST, BERR_MANIFEST_INVALID);
    assert_non_null(strstr(berr_message(), "does not match"));
    /* unknown body media type */
    expect_rc(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\","
        "\"blobs\":[]}",
        NULL, BERR_UNSUPPORTED);
    /* known type but not its exact spelling in the body */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"Application/vnd.oci.image.index.v1+json\","
              "\"manifests\":[]}",
              NULL, BERR_UNSUPPORTED);
    expect_rc("{\"schemaVersion\":2,\"mediaType\":7," CONFIG(MT_OCI_CONFIG) ",\"layers\":[]}", NULL,
              BERR_MANIFEST_INVALID);
    /* ambiguous or empty bodies */
    expect_rc("{\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"manifests\":[]}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2}", NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"layers\":[]}", NULL, BERR_MANIFEST_INVALID);
    /* type confusion with an explicit type */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
              "\"," CONFIG(MT_OCI_CONFIG) ",\"layers\":[],\"manifests\":[]}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[],"
              "\"layers\":[]}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
              "\",\"manifests\":[]," CONFIG(MT_OCI_CONFIG) "}",
              NULL, BERR_MANIFEST_INVALID);
}

static void test_not_json_object(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "\"x\"",
                         "null",
                         "2",
                         "{}}",
                         "{} x",
                         "{'a':1}",
                         "\xef\xbb\xbf{}",
                         "{\"schemaVersion\":2,}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_rc(bad[i], MT_OCI_MANIFEST, BERR_MANIFEST_INVALID);
    /* embedded NUL inside the length */
    struct manifest *m = NULL;
    assert_int_equal(manifest_parse(&m, "{\"a\":1}\0{}", 10, NULL), BERR_MANIFEST_INVALID);
    assert_null(m);
    /* only `len` bytes are read */
    assert_int_equal(manifest_parse(&m, oci_index, strlen(oci_index) - 1, NULL),
                     BERR_MANIFEST_INVALID);
    /* duplicate keys are refused */
    expect_rc("{\"schemaVersion\":2,\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"layers\":[]}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
              "\",\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
              NULL, BERR_MANIFEST_INVALID);
}

static void test_schema_version(void **state)
{
    (void)state;
    expect_rc("{\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}", NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":3,\"manifests\":[]}", NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":\"2\",\"manifests\":[]}", NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2.0,\"manifests\":[]}", NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[]}", NULL, 0);
}

static void test_image_structure(void **state)
{
    (void)state;
    /* missing config */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}", NULL,
              BERR_MANIFEST_INVALID);
    assert_non_null(strstr(berr_message(), "config"));
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":null,"
              "\"layers\":[]}",
              NULL, BERR_MANIFEST_INVALID);
    /* layers missing or not an array */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
              "\"," CONFIG(MT_OCI_CONFIG) "}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"layers\":{}}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"layers\":[7]}", NULL,
              BERR_MANIFEST_INVALID);
    /* index manifests not an array */
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":{}}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}", NULL,
              BERR_MANIFEST_INVALID);
}

#define IMG_WITH_LAYER(layer)                                                                      \
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST                                        \
    "\"," CONFIG(MT_OCI_CONFIG) ",\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, D2, 1) "," layer "]}"

static void test_descriptor_checks(void **state)
{
    (void)state;
    /* bad digest in a layer: uppercase, short, missing, not a string */
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha256:"
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                             "\"size\":1}"),
              NULL, BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "layers[1]"));
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha256:abc\",\"size\":1}"), NULL,
              BERR_DIGEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"../../x\",\"size\":1}"), NULL,
              BERR_DIGEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"size\":1}"), NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":5,\"size\":1}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha384:abcd\",\"size\":1}"), NULL,
              BERR_UNSUPPORTED);
    /* sizes */
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":-1}"), NULL,
              BERR_MANIFEST_INVALID);
    assert_non_null(strstr(berr_message(), "size"));
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1.5}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":\"1\"}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\"}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3
                             "\",\"size\":99999999999999999999999}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3
                             "\",\"size\":9223372036854775807}"),
              NULL, 0);
    /* media types */
    expect_rc(IMG_WITH_LAYER("{\"digest\":\"" D3 "\",\"size\":1}"), NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"\",\"digest\":\"" D3 "\",\"size\":1}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"nosubtype\",\"digest\":\"" D3 "\",\"size\":1}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\\n\",\"digest\":\"" D3 "\",\"size\":1}"), NULL,
              BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":[],\"digest\":\"" D3 "\",\"size\":1}"), NULL,
              BERR_MANIFEST_INVALID);
    /* optional fields with the wrong type */
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"urls\":\"http://x\"}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"urls\":[1]}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"urls\":[\"https://example.com/l\"],\"data\":\"e30=\"}"),
              NULL, 0);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"data\":1}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"annotations\":{\"k\":1}}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"annotations\":[]}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":1,"
                             "\"artifactType\":\"not a type\"}"),
              NULL, BERR_MANIFEST_INVALID);
    expect_rc(IMG_WITH_LAYER("\"sha256:" H3 "\""), NULL, BERR_MANIFEST_INVALID);
    /* the config is checked like a layer */
    expect_rc("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:1\","
              "\"size\":1},\"layers\":[]}",
              NULL, BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "config"));
    /* index entry platform must be an object of strings */
    expect_rc("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" D1
              "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" D1
              "\",\"size\":1,\"platform\":{\"os\":1}}]}",
              NULL, BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" D1
              "\",\"size\":-5}]}",
              NULL, BERR_MANIFEST_INVALID);
    assert_non_null(strstr(berr_message(), "manifests[0]"));
}

static void test_subject_artifact(void **state)
{
    (void)state;
    const char *sig =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
        "\"artifactType\":\"application/vnd.example.sbom.v1\"," CONFIG(
            MT_OCI_EMPTY) ","
                          "\"layers\":[" LAYER("application/spdx+json", D2,
                                               12) "],"
                                                   "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST
                                                   "\",\"digest\":\"" D3 "\",\"size\":1234},"
                                                   "\"annotations\":{\"org.opencontainers.image."
                                                   "created\":\"2024-05-01T00:00:00Z\","
                                                   "\"b\":\"q\\\"uote\"}}";
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, sig, MT_OCI_MANIFEST), 0);
    assert_true(m->has_subject);
    assert_string_equal(m->subject.digest.str, D3);
    assert_string_equal(m->subject.media_type, MT_OCI_MANIFEST);
    assert_int_equal(m->subject.size, 1234);
    assert_string_equal(m->artifact_type, "application/vnd.example.sbom.v1");
    assert_string_equal(manifest_effective_artifact_type(m), "application/vnd.example.sbom.v1");
    assert_string_equal(m->annotations, "{\"b\":\"q\\\"uote\","
                                        "\"org.opencontainers.image.created\":"
                                        "\"2024-05-01T00:00:00Z\"}");
    manifest_free(m);

    /* subject on an index, artifactType on an index */
    const char *idx =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\","
        "\"artifactType\":\"application/vnd.example+type\",\"manifests\":[],"
        "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1}}";
    assert_int_equal(parse(&m, idx, NULL), 0);
    assert_true(m->has_subject);
    assert_string_equal(manifest_effective_artifact_type(m), "application/vnd.example+type");
    manifest_free(m);

    /* empty annotations are kept as NULL */
    const char *empty_ann = "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{}}";
    assert_int_equal(parse(&m, empty_ann, NULL), 0);
    assert_null(m->annotations);
    manifest_free(m);

    /* bad subject, bad top-level artifactType or annotations */
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST
              "\",\"digest\":\"sha256:x\",\"size\":1}}",
              NULL, BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "subject"));
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"subject\":\"" D1 "\"}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"artifactType\":5}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"artifactType\":\"x\"}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":{\"b\":\"c\"}}}", NULL,
              BERR_MANIFEST_INVALID);
    expect_rc("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":\"a=b\"}", NULL,
              BERR_MANIFEST_INVALID);
}

static void test_descriptor_helpers(void **state)
{
    (void)state;
    struct manifest *m = NULL;
    assert_int_equal(parse(&m, oci_index, NULL), 0);

    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(descriptor_write_json(&b, &m->manifests[2]), 0);
    assert_string_equal(buf_cstr(&b), "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3
                                      "\",\"size\":102,\"platform\":{\"architecture\":\"arm\","
                                      "\"os\":\"linux\",\"variant\":\"v7\"}}");
    buf_reset(&b);
    assert_int_equal(descriptor_write_json(&b, &m->manifests[4]), 0);
    assert_string_equal(buf_cstr(&b),
                        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2
                        "\",\"size\":104,\"annotations\":{\"vnd.docker.reference.type\":"
                        "\"attestation-manifest\"},\"platform\":{\"architecture\":\"unknown\","
                        "\"os\":\"unknown\"}}");

    /* copy is deep and fixes the digest's hex pointer */
    struct descriptor c;
    descriptor_copy(&c, &m->manifests[4]);
    manifest_free(m);
    assert_string_equal(c.digest.str, D2);
    assert_ptr_equal(c.digest.hex, c.digest.str + 7);
    assert_string_equal(c.platform.os, "unknown");
    buf_reset(&b);
    assert_int_equal(descriptor_write_json(&b, &c), 0);
    assert_non_null(strstr(buf_cstr(&b), "attestation-manifest"));

    /* strings are escaped; the output parses back as a descriptor */
    free(c.artifact_type);
    c.artifact_type = strdup("application/x\"y");
    free(c.platform.variant);
    c.platform.variant = strdup("v\n1\\");
    buf_reset(&b);
    assert_int_equal(descriptor_write_json(&b, &c), 0);
    assert_non_null(strstr(buf_cstr(&b), "\"artifactType\":\"application/x\\\"y\""));
    assert_non_null(strstr(buf_cstr(&b), "\"variant\":\"v\\u000a1\\\\\""));

    /* a capped buffer reports BERR_TOO_LARGE */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(descriptor_write_json(&small, &c), BERR_TOO_LARGE);
    buf_release(&small);

    descriptor_release(&c);
    assert_null(c.media_type);
    descriptor_release(&c);
    descriptor_release(NULL);
    buf_release(&b);
}

static void test_many_layers(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "{\"schemaVersion\":2," CONFIG(MT_OCI_CONFIG) ",\"layers\":["),
                     0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(buf_printf(&b, "%s" LAYER(MT_OCI_LAYER_GZIP, D2, 5), i ? "," : ""), 0);
    assert_int_equal(buf_puts(&b, "]}"), 0);
    struct manifest *m = NULL;
    assert_int_equal(manifest_parse(&m, b.data, b.len, MT_OCI_MANIFEST), 0);
    assert_int_equal(m->n_layers, 500);
    assert_string_equal(m->layers[499].digest.hex, H2);
    manifest_free(m);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_manifest),     cmocka_unit_test(test_docker_manifest),
        cmocka_unit_test(test_oci_index),        cmocka_unit_test(test_docker_list),
        cmocka_unit_test(test_schema1_refused),  cmocka_unit_test(test_type_resolution),
        cmocka_unit_test(test_not_json_object),  cmocka_unit_test(test_schema_version),
        cmocka_unit_test(test_image_structure),  cmocka_unit_test(test_descriptor_checks),
        cmocka_unit_test(test_subject_artifact), cmocka_unit_test(test_descriptor_helpers),
        cmocka_unit_test(test_many_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
