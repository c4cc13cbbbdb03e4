#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317,SC2119 # jq programs in single quotes; functions called via check
# api.sh: curl-level conformance with the OCI Distribution Specification v1.1 (see
# ../shared/specs/PROTOCOL.md): uploads, blobs, mounts, manifests of all four media types, tags,
# catalog, referrers, names and digests, error bodies, status codes and headers.
# Runs against berthd (default) or the reference registry (BERTH_TEST_TARGET=reference); checks the
# reference legitimately fails (Distribution 2.8 has no referrers API, ...) are berthd-only.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

"$BERTH_ROOT/tests/fixtures/mkimage" || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
ACCEPT_ALL=(-H "Accept: $OCI_MANIFEST, $OCI_INDEX, $DOCKER_MANIFEST, $DOCKER_LIST")
OCTET=(-H 'Content-Type: application/octet-stream')
ZERO=sha256:0000000000000000000000000000000000000000000000000000000000000000

# blob FIXTURE DIGEST: path of a fixture blob.
blob() {
    printf '%s/%s/blobs/sha256/%s' "$FX" "$1" "${2#sha256:}"
}

# body_is FILE: the last response body is byte-identical to FILE.
body_is() {
    cmp -s "$BODY" "$1"
}

body_digest_is() {
    [ "$(sha256_of "$BODY")" = "$1" ]
}

# The data directory sits alone inside a "jail" directory: no request may create or change anything
# in the jail outside the data directory.
JAIL=$T/jail
mkdir -p "$JAIL"
start_target "$JAIL/data" || {
    fail "server did not start"
    finish
}
describe_target

# === base ======================================================================================
req GET /v2/
check_status 200 "API base"
check_header Docker-Distribution-API-Version registry/2.0
req HEAD /v2/
check_status 200
check_header Docker-Distribution-API-Version registry/2.0

# === uploads ===================================================================================
head -c 300000 /dev/urandom >"$T/rand1"
R1=$(sha256_of "$T/rand1")
R1_SIZE=$(file_size "$T/rand1")

# POST then PUT
req POST /v2/api/up/blobs/uploads/
check_status 202 "start upload"
check_header_re Location '^(https?://[^/]+)?/v2/api/up/blobs/uploads/.+'
check_header_re Docker-Upload-UUID '^.+$'
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$R1")" "${OCTET[@]}" --data-binary "@$T/rand1"
check_status 201 "POST then PUT with the whole body"
check_header Docker-Content-Digest "$R1"
check_header_re Location "/v2/api/up/blobs/$R1\$"
req GET "$(abs_url "$(hdr Location)")"
check_status 200 "GET the Location of the new blob"
check "GET returns the uploaded bytes" body_is "$T/rand1"

# single-request monolithic POST ?digest=
head -c 5000 /dev/urandom >"$T/mono"
MONO=$(sha256_of "$T/mono")
req POST "/v2/api/up/blobs/uploads/?digest=$MONO" "${OCTET[@]}" --data-binary "@$T/mono"
if berthd_only "single-request POST ?digest= -> 201"; then
    check_status 201 "single-request upload"
    check_header Docker-Content-Digest "$MONO"
    check_header_re Location "/v2/api/up/blobs/$MONO\$"
    req GET "/v2/api/up/blobs/$MONO"
    check_status 200
    check "monolithic upload content" body_is "$T/mono"
fi

# chunked PATCH with Content-Range, upload status, PUT without body
head -c 250000 /dev/urandom >"$T/chunked"
CH=$(sha256_of "$T/chunked")
split -b 100000 -d "$T/chunked" "$T/chunk."
req POST /v2/api/up/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
off=0
for c in "$T"/chunk.*; do
    n=$(file_size "$c")
    req PATCH "$loc" "${OCTET[@]}" -H "Content-Range: $off-$((off + n - 1))" --data-binary "@$c"
    check_status 202 "chunk $off-$((off + n - 1))"
    check_header Range "0-$((off + n - 1))"
    check_header_re Location '/v2/api/up/blobs/uploads/.+'
    check_header_re Docker-Upload-UUID '^.+$'
    loc=$(abs_url "$(hdr Location)")
    off=$((off + n))
done
req GET "$loc"
check_status 204 "upload status"
check_header Range "0-$((off - 1))"
check_header_re Location '/v2/api/up/blobs/uploads/.+'
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$CH")"
check_status 201 "PUT closes a chunked upload"
check_header Docker-Content-Digest "$CH"
req GET "/v2/api/up/blobs/$CH"
check "chunked upload content" body_is "$T/chunked"

# streamed PATCH without Content-Range (chunked transfer encoding, as docker pushes)
head -c 700000 /dev/urandom >"$T/streamed"
ST=$(sha256_of "$T/streamed")
req POST /v2/api/up/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${OCTET[@]}" -H 'Transfer-Encoding: chunked' -T - <"$T/streamed"
check_status 202 "streamed PATCH"
check_header Range "0-$((700000 - 1))"
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$ST")"
check_status 201 "PUT after a streamed PATCH"
req GET "/v2/api/up/blobs/$ST"
check "streamed upload content" body_is "$T/streamed"

# PATCH then PUT carrying the final chunk
head -c 150000 "$T/rand1" >"$T/part1"
tail -c +150001 "$T/rand1" >"$T/part2"
req POST /v2/api/final/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 0-149999' --data-binary "@$T/part1"
check_status 202
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$R1")" "${OCTET[@]}" --data-binary "@$T/part2"
check_status 201 "PUT with the final chunk"
req GET "/v2/api/final/blobs/$R1"
check "PATCH + final-chunk PUT content" body_is "$T/rand1"

# out-of-order and overlapping chunks -> 416 with the current Range; the session stays usable
printf '0123456789abcdefghij' >"$T/twenty"
TW=$(sha256_of "$T/twenty")
req POST /v2/api/ooo/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 0-9' --data-binary 0123456789
check_status 202
loc=$(abs_url "$(hdr Location)")
if berthd_only "416 on out-of-order / overlapping Content-Range"; then
    req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 15-19' --data-binary fghij
    check_status 416 "chunk past the end"
    check_header Range 0-9
    req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 5-14' --data-binary 56789abcde
    check_status 416 "overlapping chunk"
    check_header Range 0-9
    req GET "$loc"
    check_status 204 "status after refused chunks"
    check_header Range 0-9
fi
req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 10-19' --data-binary abcdefghij
check_status 202 "in-order chunk after refusals"
check_header Range 0-19
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$TW")"
check_status 201
req GET "/v2/api/ooo/blobs/$TW"
check "content after refused chunks" body_is "$T/twenty"

# cancel
req POST /v2/api/cancel/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 0-9' --data-binary 0123456789
loc=$(abs_url "$(hdr Location)")
req DELETE "$loc"
check_status 204 "cancel upload"
req GET "$loc"
check_status 404 "status of a cancelled upload"
check_json_error BLOB_UPLOAD_UNKNOWN
req PATCH "$loc" "${OCTET[@]}" -H 'Content-Range: 10-19' --data-binary 0123456789
check_status 404 "PATCH to a cancelled upload"
check_json_error BLOB_UPLOAD_UNKNOWN
req PUT "$(add_query "$loc" "digest=$TW")"
check_status 404 "PUT to a cancelled upload"
req GET "/v2/api/up/blobs/uploads/7a1c5d0e-0000-4000-8000-000000000000"
check_status 404 "status of an unknown upload id"
if berthd_only "unknown upload id -> BLOB_UPLOAD_UNKNOWN (reference: BLOB_UPLOAD_INVALID)"; then
    check_json_error BLOB_UPLOAD_UNKNOWN
fi

# wrong digest -> DIGEST_INVALID, nothing visible
req POST /v2/api/wrong/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$ZERO")" "${OCTET[@]}" --data-binary "@$T/twenty"
check_status 400 "PUT with a digest that does not match"
check_json_error DIGEST_INVALID
req HEAD "/v2/api/wrong/blobs/$ZERO"
check_status 404 "claimed digest not visible"
req HEAD "/v2/api/wrong/blobs/$TW"
check_status 404 "real digest not visible"
req POST /v2/api/wrong/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=sha256:nothex")" "${OCTET[@]}" --data-binary "@$T/twenty"
check_status 400 "PUT with a malformed digest"
check_json_error DIGEST_INVALID

# sha512
S512=sha512:$(sha512sum <"$T/twenty" | cut -d' ' -f1)
req POST /v2/api/sha512/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$S512")" "${OCTET[@]}" --data-binary "@$T/twenty"
check_status 201 "sha512 upload"
req GET "/v2/api/sha512/blobs/$S512"
check_status 200 "GET by sha512 digest"
check "sha512 blob content" body_is "$T/twenty"

# === blob GET / HEAD / Range / isolation / DELETE ================================================
req HEAD "/v2/api/up/blobs/$R1"
check_status 200 "blob HEAD"
check_header Content-Length "$R1_SIZE"
check_header Docker-Content-Digest "$R1"
req GET "/v2/api/up/blobs/$R1"
check_status 200 "blob GET"
check_header Content-Length "$R1_SIZE"
check_header Docker-Content-Digest "$R1"
check "blob GET body" body_is "$T/rand1"
req GET "/v2/api/up/blobs/$R1" -H 'Range: bytes=1000-1999'
check_status 206 "blob Range"
check_header Content-Range "bytes 1000-1999/$R1_SIZE"
check_header Content-Length 1000
tail -c +1001 "$T/rand1" | head -c 1000 >"$T/slice"
check "Range body is the slice" body_is "$T/slice"
req GET "/v2/api/up/blobs/$R1" -H 'Range: bytes=299000-'
check_status 206 "open-ended Range"
check_header Content-Range "bytes 299000-$((R1_SIZE - 1))/$R1_SIZE"
req GET "/v2/api/up/blobs/$R1" -H "Range: bytes=$R1_SIZE-"
check_status 416 "Range starting past the end"
req GET "/v2/api/up/blobs/$ZERO"
check_status 404 "unknown blob"
check_json_error BLOB_UNKNOWN
req HEAD "/v2/api/up/blobs/$ZERO"
check_status 404 "HEAD unknown blob"
req GET "/v2/api/other/blobs/$R1"
check_status 404 "blob of another repository (isolation)"
check_json_error BLOB_UNKNOWN
req HEAD "/v2/api/other/blobs/$R1"
check_status 404 "HEAD blob of another repository (isolation)"

# === mount =======================================================================================
req POST "/v2/api/mnt1/blobs/uploads/?mount=$R1&from=api/up"
check_status 201 "mount with from"
check_header Docker-Content-Digest "$R1"
check_header_re Location "/v2/api/mnt1/blobs/$R1\$"
req GET "/v2/api/mnt1/blobs/$R1"
check_status 200 "mounted blob readable"
check "mounted blob content" body_is "$T/rand1"
req POST "/v2/api/mnt2/blobs/uploads/?mount=$R1"
if berthd_only "mount without from -> 201"; then
    check_status 201 "mount without from (blob reachable)"
    check_header Docker-Content-Digest "$R1"
    req GET "/v2/api/mnt2/blobs/$R1"
    check_status 200 "blob mounted without from readable"
else
    check_status 202 "mount without from (reference: plain session)"
fi
req POST "/v2/api/mnt3/blobs/uploads/?mount=$ZERO&from=api/up"
check_status 202 "mount of an unknown blob starts a session"
check_header_re Location '/v2/api/mnt3/blobs/uploads/.+'
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$TW")" "${OCTET[@]}" --data-binary "@$T/twenty"
check_status 201 "the session of a failed mount is an ordinary upload"
req HEAD "/v2/api/mnt3/blobs/$ZERO"
check_status 404 "unknown blob not mounted"

# blob DELETE: per repository
req DELETE "/v2/api/mnt1/blobs/$R1"
check_status 202 "blob DELETE"
req GET "/v2/api/mnt1/blobs/$R1"
check_status 404 "deleted blob is gone"
check_json_error BLOB_UNKNOWN
req GET "/v2/api/up/blobs/$R1"
check_status 200 "blob still in the repository it was not deleted from"
req DELETE "/v2/api/mnt1/blobs/$R1"
check_status 404 "DELETE of a deleted blob"
check_json_error BLOB_UNKNOWN

# === manifests ===================================================================================
# push_blobs REPO FIXTURE DIGEST...: upload fixture blobs (one check).
push_blobs() {
    local repo=$1 fx=$2 d bad=
    shift 2
    for d in "$@"; do
        upload_blob "$repo" "$(blob "$fx" "$d")" || bad="$bad $d:$STATUS"
    done
    if [ -z "$bad" ]; then ok "pushed $# blobs to $repo"; else fail "blob push to $repo:$bad"; fi
}

# manifest_roundtrip REPO TAG FILE MEDIATYPE: PUT by tag, then GET/HEAD by tag and by digest.
manifest_roundtrip() {
    local repo=$1 tag=$2 file=$3 mt=$4 dg size
    dg=$(sha256_of "$file")
    size=$(file_size "$file")
    req PUT "/v2/$repo/manifests/$tag" -H "Content-Type: $mt" --data-binary "@$file"
    check_status 201 "PUT $mt by tag"
    check_header Docker-Content-Digest "$dg"
    check_header_re Location "/v2/$repo/manifests/.+"
    req GET "$(abs_url "$(hdr Location)")" "${ACCEPT_ALL[@]}"
    check_status 200 "GET the Location of the new manifest"
    check "$LAST: byte-exact" body_is "$file"
    for ref in "$tag" "$dg"; do
        req GET "/v2/$repo/manifests/$ref" "${ACCEPT_ALL[@]}"
        check_status 200
        check_header Content-Type "$mt"
        check_header Docker-Content-Digest "$dg"
        check_header Content-Length "$size"
        check "$LAST: body is byte-exact" body_is "$file"
        check "$LAST: sha256(body) = digest" body_digest_is "$dg"
        req HEAD "/v2/$repo/manifests/$ref" "${ACCEPT_ALL[@]}"
        check_status 200
        check_header Content-Type "$mt"
        check_header Docker-Content-Digest "$dg"
        check_header Content-Length "$size"
    done
    if berthd_only "Content-Type is the stored type whatever Accept says ($mt)"; then
        for acc in '' "Accept: */*" "Accept: $OCI_MANIFEST" "Accept: $DOCKER_MANIFEST" \
            "Accept: $OCI_INDEX" "Accept: $DOCKER_LIST"; do
            [ "$acc" = "Accept: $mt" ] && continue
            req GET "/v2/$repo/manifests/$tag" ${acc:+-H "$acc"}
            if [ "$STATUS" = 200 ] && [ "$(hdr Content-Type)" = "$mt" ] && body_is "$file"; then
                ok "$LAST (${acc:-no Accept}): 200, $mt, byte-exact"
            else
                fail "$LAST (${acc:-no Accept}): expected 200 $mt byte-exact, got $STATUS" \
                    "$(hdr Content-Type): $(body_excerpt)"
            fi
        done
    fi
}

# OCI image manifest
push_blobs api/img single "$SINGLE_LAYER1" "$SINGLE_CONFIG"
manifest_roundtrip api/img oci "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST"

# byte-exact storage of an unusually formatted manifest (indentation, key order, trailing newline)
jq -S --indent 3 . "$(blob single "$SINGLE_MANIFEST")" | sed 's/$/  /' >"$T/pretty.json"
printf '\n\n' >>"$T/pretty.json"
manifest_roundtrip api/img pretty "$T/pretty.json" "$OCI_MANIFEST"

# OCI index: children pushed by digest first
push_blobs api/img index "$ARM64_CONFIG"
req PUT "/v2/api/img/manifests/$ARM64_MANIFEST" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob index "$ARM64_MANIFEST")"
check_status 201 "PUT manifest by digest"
check_header Docker-Content-Digest "$ARM64_MANIFEST"
manifest_roundtrip api/img index "$(blob index "$INDEX_MANIFEST")" "$OCI_INDEX"

# Docker schema2 manifest (made by skopeo copy --format v2s2)
manifest_roundtrip api/img v2s2 "$FX/docker-v2s2/manifest.json" "$DOCKER_MANIFEST"

# Docker manifest list over the schema2 manifest
printf '{\n  "schemaVersion": 2,\n  "mediaType": "%s",\n  "manifests": [\n    {"mediaType": "%s", "digest": "%s", "size": %s, "platform": {"architecture": "amd64", "os": "linux"}}\n  ]\n}\n' \
    "$DOCKER_LIST" "$DOCKER_MANIFEST" "$V2S2_MANIFEST" "$(file_size "$FX/docker-v2s2/manifest.json")" \
    >"$T/list.json"
manifest_roundtrip api/img list "$T/list.json" "$DOCKER_LIST"

# a tag moves to the manifest pushed last
for f in "$T/pretty.json" "$(blob single "$SINGLE_MANIFEST")"; do
    put_manifest api/img moving "$f" "$OCI_MANIFEST"
    check_status 201 "PUT tag 'moving'"
    req GET /v2/api/img/manifests/moving "${ACCEPT_ALL[@]}"
    check "tag 'moving' now serves $(sha256_of "$f" | cut -c1-19)" body_is "$f"
done

# manifest PUT by a digest that does not match the body
req PUT "/v2/api/img/manifests/$ZERO" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob single "$SINGLE_MANIFEST")"
check_status 400 "PUT manifest under a wrong digest"
check_json_error DIGEST_INVALID

# unknown manifests
req GET /v2/api/img/manifests/nosuchtag "${ACCEPT_ALL[@]}"
check_status 404 "unknown tag"
check_json_error MANIFEST_UNKNOWN
req GET "/v2/api/img/manifests/$ZERO" "${ACCEPT_ALL[@]}"
check_status 404 "unknown manifest digest"
check_json_error MANIFEST_UNKNOWN
req HEAD "/v2/api/img/manifests/$ZERO" "${ACCEPT_ALL[@]}"
check_status 404 "HEAD unknown manifest digest"
req GET "/v2/api/other/manifests/$SINGLE_MANIFEST" "${ACCEPT_ALL[@]}"
check_status 404 "manifest of another repository (isolation)"
check_json_error MANIFEST_UNKNOWN

# references are checked
req PUT /v2/api/empty/manifests/latest -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob single "$SINGLE_MANIFEST")"
check_status 400 "manifest whose blobs the repository lacks"
check_json_error MANIFEST_BLOB_UNKNOWN
push_blobs api/half single "$SINGLE_CONFIG"
req PUT /v2/api/half/manifests/latest -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob single "$SINGLE_MANIFEST")"
check_status 400 "manifest with a missing layer (config present)"
check_json_error MANIFEST_BLOB_UNKNOWN
push_blobs api/halfidx single "$SINGLE_CONFIG" "$SINGLE_LAYER1"
req PUT "/v2/api/halfidx/manifests/$SINGLE_MANIFEST" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob single "$SINGLE_MANIFEST")"
check_status 201 "amd64 child pushed"
req PUT /v2/api/halfidx/manifests/latest -H "Content-Type: $OCI_INDEX" \
    --data-binary "@$(blob index "$INDEX_MANIFEST")"
check_status 400 "index with a missing child manifest"
check_json_error MANIFEST_BLOB_UNKNOWN
req PUT /v2/api/halfidx/manifests/list -H "Content-Type: $DOCKER_LIST" --data-binary "@$T/list.json"
check_status 400 "manifest list with a missing child manifest"
check_json_error MANIFEST_BLOB_UNKNOWN

# invalid manifests
req PUT /v2/api/img/manifests/garbage -H "Content-Type: $OCI_MANIFEST" --data-binary 'garbage{'
check_status 400 "garbage manifest"
check_json_error MANIFEST_INVALID
printf '{"schemaVersion":1,"name":"api/img","tag":"s1","architecture":"amd64","fsLayers":[{"blobSum":"%s"}],"history":[{"v1Compatibility":"{}"}],"signatures":[]}' \
    "$SINGLE_LAYER1" >"$T/schema1.json"
for mt in application/vnd.docker.distribution.manifest.v1+prettyjws \
    application/vnd.docker.distribution.manifest.v1+json; do
    req PUT /v2/api/img/manifests/s1 -H "Content-Type: $mt" --data-binary "@$T/schema1.json"
    check_status "400|415" "schema1 refused ($mt)"
    check_json_error "MANIFEST_INVALID|UNSUPPORTED"
done
req GET /v2/api/img/manifests/s1 "${ACCEPT_ALL[@]}"
check_status 404 "refused schema1 manifest not stored"

# size limit: 4 MiB accepted, one byte more refused
# padded_manifest SRC SIZE OUT: SRC's JSON with an annotation padding it to exactly SIZE bytes.
padded_manifest() {
    local base prefix suffix='"}}'
    base=$(cat "$1")
    base=${base%\}}
    prefix="$base,\"annotations\":{\"org.berth.test.pad\":\""
    {
        printf '%s' "$prefix"
        head -c $(($2 - ${#prefix} - ${#suffix})) /dev/zero | tr '\0' a
        printf '%s' "$suffix"
    } >"$3"
}
padded_manifest "$(blob single "$SINGLE_MANIFEST")" $((4 * 1024 * 1024)) "$T/4m.json"
check "4 MiB test manifest is valid JSON of 4194304 bytes" \
    test "$(jq -e .schemaVersion "$T/4m.json" 2>/dev/null)-$(file_size "$T/4m.json")" = 2-4194304
req PUT /v2/api/img/manifests/four-mib -H "Content-Type: $OCI_MANIFEST" --data-binary "@$T/4m.json"
check_status 201 "4 MiB manifest accepted"
req GET /v2/api/img/manifests/four-mib "${ACCEPT_ALL[@]}"
check_status 200
check "4 MiB manifest byte-exact" body_is "$T/4m.json"
padded_manifest "$(blob single "$SINGLE_MANIFEST")" $((4 * 1024 * 1024 + 1)) "$T/4m1.json"
req PUT /v2/api/img/manifests/too-big -H "Content-Type: $OCI_MANIFEST" --data-binary "@$T/4m1.json"
if [ "$TARGET" = berthd ]; then
    check_status 413 "manifest over 4 MiB"
else
    check_status 400 "manifest over 4 MiB (reference: 400 MANIFEST_INVALID)"
    check_json_error MANIFEST_INVALID
fi
req GET /v2/api/img/manifests/too-big "${ACCEPT_ALL[@]}"
check_status 404 "refused big manifest not stored"

# DELETE by tag removes only that tag; DELETE by digest removes the manifest
push_blobs api/del single "$SINGLE_LAYER1" "$SINGLE_CONFIG"
for t in t1 t2; do
    put_manifest api/del "$t" "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST"
    check_status 201 "tag $t"
done
# Every list below is asked right after a change to the list before it: a cached page must never
# outlive the change (server/listpage.c).
req GET /v2/api/del/tags/list
check_json "tags list is [t1, t2] before the deletes" '.tags == ["t1","t2"]'
if berthd_only "DELETE by tag (reference: 400 DIGEST_INVALID)"; then
    req DELETE /v2/api/del/manifests/t1
    check_status 202 "DELETE by tag"
    req GET /v2/api/del/manifests/t1 "${ACCEPT_ALL[@]}"
    check_status 404 "deleted tag is gone"
    check_json_error MANIFEST_UNKNOWN
    req GET /v2/api/del/manifests/t2 "${ACCEPT_ALL[@]}"
    check_status 200 "other tag of the same manifest stays"
    req GET "/v2/api/del/manifests/$SINGLE_MANIFEST" "${ACCEPT_ALL[@]}"
    check_status 200 "manifest stays after untagging"
    req GET /v2/api/del/tags/list
    check_json "tags list is [t2]" '.tags == ["t2"]'
    req DELETE /v2/api/del/manifests/t1
    check_status 404 "DELETE of a deleted tag"
    check_json_error MANIFEST_UNKNOWN
fi
req DELETE "/v2/api/del/manifests/$SINGLE_MANIFEST"
check_status 202 "DELETE by digest"
req GET "/v2/api/del/manifests/$SINGLE_MANIFEST" "${ACCEPT_ALL[@]}"
check_status 404 "deleted manifest is gone"
check_json_error MANIFEST_UNKNOWN
req GET /v2/api/del/manifests/t2 "${ACCEPT_ALL[@]}"
check_status 404 "tags of a deleted manifest are gone"
if berthd_only "tags list of a repository whose tags all went (reference: 404)"; then
    req GET /v2/api/del/tags/list
    check_json "tags list is empty after the manifest's deletion" '.tags == []'
    put_manifest api/del t3 "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST"
    check_status 201 "manifest pushed again as t3"
    req GET /v2/api/del/tags/list
    check_json "tags list is [t3] after the push" '.tags == ["t3"]'
    req DELETE "/v2/api/del/manifests/$SINGLE_MANIFEST"
    check_status 202 "DELETE by digest again"
fi
req DELETE "/v2/api/del/manifests/$SINGLE_MANIFEST"
check_status 404 "DELETE of a deleted manifest"
check_json_error MANIFEST_UNKNOWN
req GET "/v2/api/img/manifests/$SINGLE_MANIFEST" "${ACCEPT_ALL[@]}"
check_status 200 "same manifest in another repository unaffected"

# === tags ========================================================================================
TAGS=(b a c a-1 A0 z9 m 10 9 _u latest.x)
push_blobs api/tags single "$SINGLE_LAYER1" "$SINGLE_CONFIG"
bad=
for t in "${TAGS[@]}"; do
    put_manifest api/tags "$t" "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST" || bad="$bad $t:$STATUS"
done
if [ -z "$bad" ]; then ok "pushed ${#TAGS[@]} tags"; else fail "tag pushes failed:$bad"; fi
SORTED_TAGS=$(printf '%s\n' "${TAGS[@]}" | LC_ALL=C sort | jq -R . | jq -cs .)
req GET /v2/api/tags/tags/list
check_status 200 "tags list"
check_json "name is api/tags" '.name == "api/tags"'
check_json "all tags listed" '(.tags | sort) == ($w | sort)' --argjson w "$SORTED_TAGS"
if berthd_only "tags in lexical order, n/last pagination"; then
    check_json "tags in lexical (byte) order" '.tags == $w' --argjson w "$SORTED_TAGS"
fi

# paginate URL N EXPECTED_JSON_ARRAY KEY: follow Link headers from URL?n=N; checks page sizes, the
# Link format, and that the concatenation equals EXPECTED.
paginate() {
    local url=$1 n=$2 want=$3 key=$4 all='[]' pages=0 link next good=1
    next="$url?n=$n"
    while [ -n "$next" ] && [ "$pages" -lt 100 ]; do
        req GET "$next"
        pages=$((pages + 1))
        if [ "$STATUS" != 200 ]; then
            fail "$LAST: expected 200, got $STATUS: $(body_excerpt)"
            return
        fi
        jq -e --argjson n "$n" ".$key | length <= \$n" "$BODY" >/dev/null || good=
        all=$(jq -c --argjson a "$all" "\$a + .$key" "$BODY")
        link=$(hdr Link)
        next=
        if [ -n "$link" ]; then
            if [[ "$link" =~ ^\<([^>]+)\>\;\ *rel=\"next\"$ ]]; then
                next=${BASH_REMATCH[1]}
            else
                fail "$LAST: malformed Link header '$link'"
                return
            fi
        fi
    done
    if [ -n "$good" ] && [ "$all" = "$want" ]; then
        ok "pagination of $url with n=$n: $pages pages, Link rel=next, concatenation complete"
    else
        fail "pagination of $url with n=$n: pages within n: ${good:-no}; got $all, want $want"
    fi
    local len expect
    len=$(jq length <<<"$want")
    expect=$(((len + n - 1) / n))
    [ "$expect" -gt 0 ] || expect=1
    if [ "$TARGET" = berthd ] || [ "$pages" = "$expect" ]; then
        check "$url n=$n: $pages pages for $len entries, no Link on the last (expected $expect)" \
            test "$pages" = "$expect"
    else
        skip "$url n=$n: $pages pages for $len entries (reference adds a last empty page)"
    fi
}
if [ "$TARGET" = berthd ]; then
    paginate /v2/api/tags/tags/list 3 "$SORTED_TAGS" tags
    paginate /v2/api/tags/tags/list 1 "$SORTED_TAGS" tags
    req GET "/v2/api/tags/tags/list?n=2&last=a"
    check_status 200
    check_json "n=2&last=a gives the two tags after a" '.tags == ["a-1","b"]'
    check_header_re Link '^<[^>]*/v2/api/tags/tags/list\?[^>]*last=b[^>]*>; *rel="next"$'
    req GET "/v2/api/tags/tags/list?n=0"
    check_status 200 "n=0"
    check_json "n=0 gives an empty list" '.tags == []'
    check_header_absent Link "n=0"
    req GET "/v2/api/tags/tags/list?n=2&last=a0"
    check_status 200
    check_json "last= need not be a tag: n=2&last=a0 gives b, c" '.tags == ["b","c"]'
    req GET "/v2/api/tags/tags/list?n=1000"
    check_status 200 "n larger than the list"
    check_json "n=1000 gives every tag" '.tags == $w' --argjson w "$SORTED_TAGS"
    check_header_absent Link "n larger than the list"
    req GET "/v2/api/tags/tags/list?last=z9"
    check_status 200 "last= the last tag"
    check_json "nothing after the last tag" '.tags == []'
    # the same page again after a tag put and a tag delete (never a stale cached page)
    put_manifest api/tags zz "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST"
    check_status 201 "tag zz"
    req GET "/v2/api/tags/tags/list?last=z9"
    check_json "last=z9 after tagging zz gives [zz]" '.tags == ["zz"]'
    req GET "/v2/api/tags/tags/list?n=1000"
    check_json "n=1000 after tagging zz" '.tags == ($w + ["zz"])' --argjson w "$SORTED_TAGS"
    req DELETE /v2/api/tags/manifests/zz
    check_status 202 "DELETE tag zz"
    req GET "/v2/api/tags/tags/list?last=z9"
    check_json "last=z9 after deleting zz gives []" '.tags == []'
    req GET "/v2/api/tags/tags/list?n=1000"
    check_json "n=1000 after deleting zz" '.tags == $w' --argjson w "$SORTED_TAGS"
fi
req GET /v2/api/nosuchrepo/tags/list
check_status 404 "tags of an unknown repository"
check_json_error NAME_UNKNOWN

# === catalog =====================================================================================
for r in cat/ns cat/ns-a cat/ns/x cat/ns.b cat/nsa cat/ns/x/y; do
    upload_blob "$r" "$T/twenty" || fail "blob push to $r: $STATUS"
done
req GET /v2/_catalog
check_status 200 "catalog"
check_json "catalog lists the repositories" \
    '[.repositories[] | select(startswith("cat/"))] | sort == ["cat/ns","cat/ns-a","cat/ns.b","cat/ns/x","cat/ns/x/y","cat/nsa"]'
ALL_REPOS=$(jq -c .repositories "$BODY")
SORTED_REPOS=$(jq -c '.repositories' "$BODY" | jq -r '.[]' | LC_ALL=C sort | jq -R . | jq -cs .)
if berthd_only "catalog in byte order (reference walks directories: ns, ns/x, ns-a)"; then
    check_json "catalog in lexical (byte) order" '.repositories == $w' --argjson w "$SORTED_REPOS"
fi
paginate /v2/_catalog 4 "$ALL_REPOS" repositories
paginate /v2/_catalog 1 "$ALL_REPOS" repositories
req GET "/v2/_catalog?n=2&last=cat/ns-"
check_status 200
if berthd_only "catalog last= in byte order"; then
    check_json "catalog n=2&last=cat/ns- gives cat/ns-a, cat/ns.b" '.repositories == ["cat/ns-a","cat/ns.b"]'
fi
req GET "/v2/_catalog?n=0"
check_status 200 "catalog n=0"
check_json "catalog n=0 gives an empty list" '.repositories == []'
check_header_absent Link "catalog n=0"

# === referrers ===================================================================================
push_blobs api/ref single "$SINGLE_LAYER1" "$SINGLE_CONFIG"
put_manifest api/ref latest "$(blob single "$SINGLE_MANIFEST")" "$OCI_MANIFEST"
check_status 201 "subject pushed"
push_blobs api/ref referrer "$EMPTY_CONFIG" "$REF_SBOM_BLOB" "$REF_SIG_BLOB"
for kind in SBOM SIG; do
    mv=REF_${kind}_MANIFEST
    req PUT "/v2/api/ref/manifests/${kind,,}" -H "Content-Type: $OCI_MANIFEST" \
        --data-binary "@$(blob referrer "${!mv}")"
    check_status 201 "referrer ${kind,,} pushed"
    check_header Docker-Content-Digest "${!mv}"
    if berthd_only "OCI-Subject on PUT of a manifest with subject"; then
        check_header OCI-Subject "$SINGLE_MANIFEST"
    fi
done
req PUT /v2/api/ref/manifests/plain -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$(blob single "$SINGLE_MANIFEST")"
check_header_absent OCI-Subject "manifest without subject"
if berthd_only "referrers API"; then
    req GET "/v2/api/ref/referrers/$SINGLE_MANIFEST"
    check_status 200 "referrers"
    check_header Content-Type "$OCI_INDEX"
    check_json "referrers is an image index" \
        '.schemaVersion == 2 and .mediaType == "application/vnd.oci.image.index.v1+json"'
    check_json "two referrers listed" '.manifests | length == 2'
    for kind in SBOM SIG; do
        mv=REF_${kind}_MANIFEST
        tv=REF_${kind}_TYPE
        check_json "${kind,,} entry: digest, size, mediaType, artifactType, annotations" \
            '.manifests | any(.digest == $d and .size == $s and .mediaType == $mt
                and .artifactType == $at and .annotations["org.berth.test.kind"] == $k
                and .annotations["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z")' \
            --arg d "${!mv}" --argjson s "$(file_size "$(blob referrer "${!mv}")")" \
            --arg mt "$OCI_MANIFEST" --arg at "${!tv}" --arg k "${kind,,}"
    done
    check_header_absent OCI-Filters-Applied "no filter"
    req GET "/v2/api/ref/referrers/$SINGLE_MANIFEST?artifactType=$REF_SBOM_TYPE"
    check_status 200 "referrers filtered by artifactType"
    check_header OCI-Filters-Applied artifactType
    check_json "filter keeps only the sbom" '[.manifests[].digest] == [$d]' --arg d "$REF_SBOM_MANIFEST"
    req GET "/v2/api/ref/referrers/$SINGLE_MANIFEST?artifactType=application/vnd.nothing"
    check_status 200 "filter matching nothing"
    check_json "empty after filter" '.manifests == []'
    req GET "/v2/api/ref/referrers/$ZERO"
    check_status 200 "referrers of an unknown digest"
    check_header Content-Type "$OCI_INDEX"
    check_json "empty index for an unknown digest" '.schemaVersion == 2 and .manifests == []'
    req GET "/v2/api/other/referrers/$SINGLE_MANIFEST"
    check_status 200 "referrers in another repository"
    check_json "referrers are per repository" '.manifests == []'
    req GET /v2/api/ref/referrers/sha256:nothex
    check_status 400 "referrers of a malformed digest"
    check_json_error DIGEST_INVALID
    req GET "/v2/api/ref/referrers/$SINGLE_MANIFEST?artifactType=application%2Fvnd.berth.test.sbom.v1%2Bjson"
    check_status 200 "percent-encoded artifactType filter"
    check_header OCI-Filters-Applied artifactType
    check_json "encoded filter keeps only the sbom" '[.manifests[].digest] == [$d]' --arg d "$REF_SBOM_MANIFEST"
    # without artifactType the entry carries the config media type
    printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.berth.test.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":%s,"annotations":{"org.berth.test.kind":"config-typed"}}' \
        "$OCI_MANIFEST" "$EMPTY_CONFIG" "$EMPTY_CONFIG" \
        "$(jq -cn --arg d "$SINGLE_MANIFEST" --argjson s "$SINGLE_MANIFEST_SIZE" --arg m "$OCI_MANIFEST" \
            '{mediaType: $m, digest: $d, size: $s}')" >"$T/cfgref.json"
    push_blobs api/ref3 referrer "$EMPTY_CONFIG"
    req PUT /v2/api/ref3/manifests/cfgref -H "Content-Type: $OCI_MANIFEST" --data-binary "@$T/cfgref.json"
    check_status 201 "referrer without artifactType"
    check_header OCI-Subject "$SINGLE_MANIFEST"
    req GET "/v2/api/ref3/referrers/$SINGLE_MANIFEST"
    check_json "entry without artifactType carries the config media type" \
        '.manifests == [{mediaType: $m, digest: $d, size: $s,
            artifactType: "application/vnd.berth.test.config.v1+json",
            annotations: {"org.berth.test.kind": "config-typed"}}]' \
        --arg m "$OCI_MANIFEST" --arg d "$(sha256_of "$T/cfgref.json")" --argjson s "$(file_size "$T/cfgref.json")"
    req GET "/v2/api/ref3/referrers/$SINGLE_MANIFEST?artifactType=application/vnd.berth.test.config.v1%2Bjson"
    check_json "filter matches the config media type" '.manifests | length == 1'
    # a subject that is not pushed yet is accepted
    push_blobs api/ref2 referrer "$EMPTY_CONFIG" "$REF_SIG_BLOB"
    req PUT /v2/api/ref2/manifests/sig -H "Content-Type: $OCI_MANIFEST" \
        --data-binary "@$(blob referrer "$REF_SIG_MANIFEST")"
    check_status 201 "referrer whose subject is not pushed yet"
    check_header OCI-Subject "$SINGLE_MANIFEST"
    req GET "/v2/api/ref2/referrers/$SINGLE_MANIFEST"
    check_json "dangling-subject referrer listed" '[.manifests[].digest] == [$d]' --arg d "$REF_SIG_MANIFEST"
    # deleting a referrer removes it from the list
    req DELETE "/v2/api/ref/manifests/$REF_SIG_MANIFEST"
    check_status 202 "delete a referrer"
    req GET "/v2/api/ref/referrers/$SINGLE_MANIFEST"
    check_json "deleted referrer no longer listed" '[.manifests[].digest] == [$d]' --arg d "$REF_SBOM_MANIFEST"
fi

# === names, digests, routes ======================================================================
marker=$T/marker
touch "$marker"
sleep 1
berthd_only "bad-name status codes (reference: 301 for .. and //, 202 for UPPER/case, 500 for 256 chars)"
for name in ../x ../../escape a/../../b Foo UPPER/case a//b a/./b .a a- -a a__-b 'a%2f..%2f..%2fx' \
    "$(printf 'n%.0s' $(seq 1 256))"; do
    for r in "GET /v2/$name/tags/list" "POST /v2/$name/blobs/uploads/" \
        "PUT /v2/$name/manifests/latest" "GET /v2/$name/blobs/$R1"; do
        meth=${r%% *}
        u=${r#* }
        if [ "$meth" = PUT ]; then
            req PUT "$u" -H "Content-Type: $OCI_MANIFEST" --data-binary "@$(blob single "$SINGLE_MANIFEST")"
        else
            req "$meth" "$u"
        fi
        # Distribution redirects (301) paths with .. or //, accepts some upper-case names and
        # answers 500 to over-long ones: only the containment check below applies to it.
        [ "$TARGET" = reference ] && continue
        check_status "400|404" "bad name '${name:0:20}'"
        if [ "$STATUS" = 400 ]; then check_json_error NAME_INVALID; fi
    done
done
escaped=$(find "$JAIL" -mindepth 1 -path "$JAIL/data" -prune -o -print | head -n 5)
check "nothing created beside the data directory" test -z "$escaped"
escaped=$(find "$T" -mindepth 1 \( -path "$JAIL" -prune \) -o \( -newer "$marker" ! -type d \
    ! -name body ! -name hdrs ! -name curl.err ! -name 'server.*.log' -print \) | head -n 5)
check "no stray files outside the data directory ($escaped)" test -z "$escaped"

for d in sha256:abc "sha256:${ZERO#sha256:}0" sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000 \
    sha512:0000000000000000000000000000000000000000000000000000000000000000; do
    req GET "/v2/api/up/blobs/$d"
    check_status 400 "malformed blob digest"
    check_json_error DIGEST_INVALID
done
req GET "/v2/api/up/blobs/md5:00000000000000000000000000000000"
check_status 400 "unsupported digest algorithm"
check_json_error "DIGEST_INVALID|UNSUPPORTED"
req DELETE /v2/api/up/blobs/sha256:abc
check_status 400 "DELETE with a malformed digest"
check_json_error DIGEST_INVALID
if berthd_only "malformed manifest digest -> 400 (reference: 500)"; then
    req GET /v2/api/img/manifests/sha256:abc "${ACCEPT_ALL[@]}"
    check_status 400 "malformed manifest digest"
    check_json_error DIGEST_INVALID
    req GET /v2/api/img/manifests/-badtag "${ACCEPT_ALL[@]}"
    check_status "400|404" "malformed tag"
fi

# upload ids are validated: no traversal through them
for u in ..%2F..%2Fmetadata.db ..%2f..%2fblobs %2e%2e%2f%2e%2e%2fx not-a-uuid \
    ../../../metadata.db; do
    for meth in GET DELETE PATCH PUT; do
        if [ "$meth" = PUT ]; then
            req PUT "/v2/api/up/blobs/uploads/$u?digest=$TW" "${OCTET[@]}" --data-binary "@$T/twenty"
        elif [ "$meth" = PATCH ]; then
            req PATCH "/v2/api/up/blobs/uploads/$u" "${OCTET[@]}" --data-binary "@$T/twenty"
        else
            req "$meth" "/v2/api/up/blobs/uploads/$u"
        fi
        if [ "$TARGET" = reference ] && [ "$STATUS" = 301 ]; then continue; fi
        check_status "400|404" "bad upload id '$u'"
    done
done
req GET "/v2/api/up/blobs/$R1"
check "server data intact after upload-id traversal attempts" test "$STATUS" = 200
escaped=$(find "$JAIL" -mindepth 1 -path "$JAIL/data" -prune -o -print | head -n 5)
check "still nothing beside the data directory ($escaped)" test -z "$escaped"
if berthd_only "tag grammar"; then
    long=$(printf 't%.0s' $(seq 1 129))
    req PUT "/v2/api/img/manifests/$long" -H "Content-Type: $OCI_MANIFEST" \
        --data-binary "@$(blob single "$SINGLE_MANIFEST")"
    check_status "400|404" "129-character tag refused"
    req GET "/v2/api/img/manifests/${long:0:128}" "${ACCEPT_ALL[@]}"
    check_status 404 "128-character tag is valid (unknown)"
fi

for p in /v2/api/img/unknown /v2/api/img/blobs/ /v3/ /v2/api/img/manifests/ /nothing; do
    req GET "$p"
    check_status 404 "unknown path"
done
for r in "PUT /v2/api/img/tags/list" "DELETE /v2/_catalog" "PATCH /v2/api/img/manifests/oci" \
    "POST /v2/api/img/blobs/$R1" "PUT /v2/api/img/blobs/$R1"; do
    req "${r%% *}" "${r#* }"
    check_status 405 "wrong method"
    check_header_re Allow '^[A-Z]+(, *[A-Z]+)*$'
done

check_api_header_everywhere
finish
