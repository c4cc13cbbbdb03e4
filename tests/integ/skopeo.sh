#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317,SC2119 # jq programs in single quotes; functions called via check
# skopeo.sh: a real client against the registry. Every fixture image (tests/fixtures/mkimage) is
# copied in with skopeo and back out to a fresh oci: layout, then compared byte for byte; Docker
# schema2 push/pull, inspect, list-tags, delete, the >100 MiB layer, a referrer artifact, and two
# races: one blob pushed to two repositories at once (one copy on disk), one tag pushed at once
# (last writer wins, never torn).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

"$BERTH_ROOT/tests/fixtures/mkimage" || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"
ACCEPT_ALL=(-H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json')

SK=(skopeo --insecure-policy)
TLS=(--src-tls-verify=false --dest-tls-verify=false --src-no-creds --dest-no-creds)

# sk_copy LABEL SRC DST [flags...]: one check; skopeo's output goes to $T/skopeo.out.
sk_copy() {
    local label=$1 src=$2 dst=$3
    shift 3
    if "${SK[@]}" copy -q --retry-times 0 "${TLS[@]}" "$@" "$src" "$dst" >"$T/skopeo.out" 2>&1; then
        ok "skopeo copy $label"
    else
        fail "skopeo copy $label: $(tail -n 3 "$T/skopeo.out" | tr '\n' ' ')"
        return 1
    fi
}

# same_blobs A B: two oci layouts hold the same set of blobs; every blob in B matches its name.
same_blobs() {
    local f bad=
    if ! diff <(ls "$1/blobs/sha256") <(ls "$2/blobs/sha256") >"$T/diff.out"; then
        echo "blob sets differ: $(tr '\n' ' ' <"$T/diff.out")" >&2
        return 1
    fi
    for f in "$2"/blobs/sha256/*; do
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || bad="$bad ${f##*/}"
        cmp -s "$f" "$1/blobs/sha256/${f##*/}" || bad="$bad ${f##*/}"
    done
    [ -z "$bad" ] || echo "blobs differ:$bad" >&2
    [ -z "$bad" ]
}

# top_digest LAYOUT: digest of the first manifest in index.json.
top_digest() {
    jq -r '.manifests[0].digest' "$1/index.json"
}

# registry_manifest_is REPO REF DIGEST: the registry serves exactly DIGEST's bytes for REF.
registry_manifest_is() {
    req GET "/v2/$1/manifests/$2" "${ACCEPT_ALL[@]}"
    [ "$STATUS" = 200 ] && [ "$(sha256_of "$BODY")" = "$3" ] && [ "$(hdr Docker-Content-Digest)" = "$3" ]
}

# roundtrip NAME [--all]: oci:FX/NAME:latest -> registry sk/NAME:latest -> fresh oci: layout.
roundtrip() {
    local name=$1 back=$T/back-$1
    shift
    sk_copy "$name to the registry" "oci:$FX/$name:latest" "docker://$REG/sk/$name:latest" \
        --preserve-digests "$@" || return
    check "registry serves $name's manifest byte-exact" \
        registry_manifest_is "sk/$name" latest "$(top_digest "$FX/$name")"
    sk_copy "$name back to a fresh oci: layout" "docker://$REG/sk/$name:latest" "oci:$back:latest" \
        --preserve-digests "$@" || return
    check "$name: same top-level manifest digest after the round trip" \
        test "$(top_digest "$back")" = "$(top_digest "$FX/$name")"
    check "$name: manifests, configs and layers identical byte for byte" same_blobs "$FX/$name" "$back"
}

start_target || {
    fail "server did not start"
    finish
}
describe_target

# race 1: the same blobs pushed at once to two repositories -> both succeed, one copy on disk. First
# thing on a fresh registry, so that neither client can mount the blob from elsewhere.
big_size=$(file_size "$FX/big/blobs/sha256/${BIG_LAYER2#sha256:}")
"${SK[@]}" copy -q "${TLS[@]}" --preserve-digests "oci:$FX/big:latest" "docker://$REG/sk/race-a:latest" \
    >"$T/race-a.out" 2>&1 &
pa=$!
track_pid "$pa"
"${SK[@]}" copy -q "${TLS[@]}" --preserve-digests "oci:$FX/big:latest" "docker://$REG/sk/race-b:latest" \
    >"$T/race-b.out" 2>&1 &
pb=$!
track_pid "$pb"
wait "$pa"
ra=$?
wait "$pb"
rb=$?
if [ "$ra" = 0 ] && [ "$rb" = 0 ]; then
    ok "same blobs pushed concurrently to two repositories: both succeed"
else
    fail "concurrent push to two repositories: exit $ra / $rb: $(tail -n 2 "$T/race-a.out" "$T/race-b.out" | tr '\n' ' ')"
fi
check "race-a manifest intact" registry_manifest_is sk/race-a latest "$BIG_MANIFEST"
check "race-b manifest intact" registry_manifest_is sk/race-b latest "$BIG_MANIFEST"
for r in sk/race-a sk/race-b; do
    req GET "/v2/$r/blobs/$BIG_LAYER2"
    check "$r serves the big layer intact" test "$STATUS-$(sha256_of "$BODY")" = "200-$BIG_LAYER2"
done
# copies_on_disk DIGEST SIZE: number of files under the data dir holding exactly that blob
copies_on_disk() {
    local n=0 f
    while IFS= read -r -d '' f; do
        [ "$(sha256_of "$f")" = "$1" ] && n=$((n + 1))
    done < <(find "$SRV_DATA" -type f -size "$2c" -print0)
    printf '%s' "$n"
}
n=$(copies_on_disk "$BIG_LAYER2" "$big_size")
check "one copy of the big layer on disk (found $n)" test "$n" = 1
n=$(copies_on_disk "$SINGLE_LAYER1" "$(file_size "$FX/single/blobs/sha256/${SINGLE_LAYER1#sha256:}")")
check "one copy of the busybox layer on disk (found $n)" test "$n" = 1
if [ "$TARGET" = berthd ]; then
    n=$(find "$SRV_DATA/blobs" -type f -size "${big_size}c" 2>/dev/null | wc -l)
    check "the big layer is stored under DATA/blobs (found $n)" test "$n" = 1
fi

roundtrip single
roundtrip multi
roundtrip index --all
# the pulled multi-layer image unpacks and runs
if umoci unpack --rootless --image "$T/back-multi:latest" "$T/bundle" >"$T/umoci.out" 2>&1 &&
    [ "$("$T/bundle/rootfs/bin/echo" hello)" = hello ] && grep -q 'second layer' "$T/bundle/rootfs/etc/motd"; then
    ok "pulled multi-layer image unpacks (umoci) with both layers; its busybox runs"
else
    fail "pulled multi-layer image does not unpack or run: $(tail -n 2 "$T/umoci.out" | tr '\n' ' ')"
fi
rm -rf "$T/bundle"

# one platform of the index
sk_copy "arm64 instance of the index" "docker://$REG/sk/index:latest" "oci:$T/arm64:latest" \
    --override-arch arm64
check "arm64 instance is the arm64 manifest" test "$(top_digest "$T/arm64")" = "$ARM64_MANIFEST"

# >100 MiB layer
check "big layer is over 100 MiB ($big_size bytes)" test "$big_size" -gt $((100 * 1024 * 1024))
roundtrip big
req HEAD "/v2/sk/big/blobs/$BIG_LAYER2"
check_status 200 "big layer HEAD"
check_header Content-Length "$big_size"

# Docker schema2: converted on push, and pushed as-is from a dir: image
sk_copy "--format v2s2 (Docker schema2)" "oci:$FX/single:latest" "docker://$REG/sk/v2s2:latest" --format v2s2
req GET /v2/sk/v2s2/manifests/latest "${ACCEPT_ALL[@]}"
check_status 200 "schema2 manifest"
check_header Content-Type application/vnd.docker.distribution.manifest.v2+json
check "schema2 manifest is the one skopeo produced" cmp -s "$BODY" "$FX/docker-v2s2/manifest.json"
sk_copy "schema2 back to dir:" "docker://$REG/sk/v2s2:latest" "dir:$T/v2s2-back" --preserve-digests
check "pulled schema2 manifest byte-identical" cmp -s "$T/v2s2-back/manifest.json" "$FX/docker-v2s2/manifest.json"
for d in "$SINGLE_CONFIG" "$SINGLE_LAYER1"; do
    check "pulled schema2 blob ${d:7:12} identical" cmp -s "$T/v2s2-back/${d#sha256:}" \
        "$FX/single/blobs/sha256/${d#sha256:}"
done
sk_copy "Docker schema2 dir: image as-is" "dir:$FX/docker-v2s2" "docker://$REG/sk/v2s2dir:1.0" --preserve-digests
check "schema2 dir: image stored byte-exact" registry_manifest_is sk/v2s2dir 1.0 "$V2S2_MANIFEST"

# referrer artifact with a subject
sk_copy "referrer artifact" "oci:$FX/referrer:sbom" "docker://$REG/sk/single:sbom" --preserve-digests
check "artifact manifest stored byte-exact" registry_manifest_is sk/single sbom "$REF_SBOM_MANIFEST"
if berthd_only "referrers of an image pushed by skopeo"; then
    req GET "/v2/sk/single/referrers/$SINGLE_MANIFEST"
    check_status 200 "referrers"
    check_json "skopeo-pushed artifact listed" \
        '[.manifests[] | select(.digest == $d and .artifactType == $t)] | length == 1' \
        --arg d "$REF_SBOM_MANIFEST" --arg t "$REF_SBOM_TYPE"
fi

# inspect, list-tags
if "${SK[@]}" inspect --tls-verify=false --no-creds "docker://$REG/sk/single:latest" >"$T/inspect.json" 2>"$T/skopeo.out"; then
    check "skopeo inspect: digest, architecture, layers" jqf --arg d "$SINGLE_MANIFEST" --arg l "$SINGLE_LAYER1" \
        '.Digest == $d and .Architecture == "amd64" and .Os == "linux" and .Layers == [$l]' "$T/inspect.json"
else
    fail "skopeo inspect: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi
if "${SK[@]}" inspect --tls-verify=false --no-creds --raw "docker://$REG/sk/index:latest" >"$T/raw.json" 2>"$T/skopeo.out"; then
    check "skopeo inspect --raw returns the index bytes" cmp -s "$T/raw.json" "$FX/index/blobs/sha256/${INDEX_MANIFEST#sha256:}"
else
    fail "skopeo inspect --raw: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi
if "${SK[@]}" inspect --tls-verify=false --no-creds --override-arch arm64 "docker://$REG/sk/index:latest" \
    >"$T/inspect.json" 2>"$T/skopeo.out"; then
    check "skopeo inspect of the index for arm64" jqf '.Architecture == "arm64"' "$T/inspect.json"
else
    fail "skopeo inspect arm64: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi
if "${SK[@]}" list-tags --tls-verify=false --no-creds "docker://$REG/sk/single" >"$T/tags.json" 2>"$T/skopeo.out"; then
    check "skopeo list-tags" jqf '(.Tags | sort) == ["latest","sbom"]' "$T/tags.json"
else
    fail "skopeo list-tags: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi

# delete
sk_copy "image to delete" "oci:$FX/multi:latest" "docker://$REG/sk/del:latest" --preserve-digests
if "${SK[@]}" delete --tls-verify=false --no-creds "docker://$REG/sk/del:latest" >"$T/skopeo.out" 2>&1; then
    ok "skopeo delete"
else
    fail "skopeo delete: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi
req GET "/v2/sk/del/manifests/$MULTI_MANIFEST" "${ACCEPT_ALL[@]}"
check_status 404 "deleted manifest gone"
check_json_error MANIFEST_UNKNOWN
req GET /v2/sk/del/manifests/latest "${ACCEPT_ALL[@]}"
check_status 404 "tag of the deleted manifest gone"
if "${SK[@]}" inspect --tls-verify=false --no-creds "docker://$REG/sk/del:latest" >/dev/null 2>&1; then
    fail "skopeo inspect finds a deleted image"
else
    ok "skopeo inspect reports the deleted image missing"
fi
check "other repositories keep the same blobs" registry_manifest_is sk/multi latest "$MULTI_MANIFEST"

# race 2: the same tag pushed at once by two clients -> last writer wins, never torn
sk_copy "multi to race-tag (blobs first)" "oci:$FX/multi:latest" "docker://$REG/sk/race-tag:multi" --preserve-digests
sk_copy "single to race-tag (blobs first)" "oci:$FX/single:latest" "docker://$REG/sk/race-tag:single" --preserve-digests
"${SK[@]}" copy -q "${TLS[@]}" --preserve-digests "oci:$FX/single:latest" "docker://$REG/sk/race-tag:latest" \
    >"$T/race-a.out" 2>&1 &
pa=$!
track_pid "$pa"
"${SK[@]}" copy -q "${TLS[@]}" --preserve-digests "oci:$FX/multi:latest" "docker://$REG/sk/race-tag:latest" \
    >"$T/race-b.out" 2>&1 &
pb=$!
track_pid "$pb"
wait "$pa"
ra=$?
wait "$pb"
rb=$?
check "same tag pushed concurrently by two skopeo: both succeed (exit $ra/$rb)" test "$ra-$rb" = 0-0
req GET /v2/sk/race-tag/manifests/latest "${ACCEPT_ALL[@]}"
got=$(sha256_of "$BODY")
check "race-tag:latest is one of the two manifests, intact" \
    test "$STATUS" = 200 -a \( "$got" = "$SINGLE_MANIFEST" -o "$got" = "$MULTI_MANIFEST" \) -a "$(hdr Docker-Content-Digest)" = "$got"
sk_copy "race-tag:latest pulls back" "docker://$REG/sk/race-tag:latest" "oci:$T/race-back:latest" --preserve-digests
if [ "$got" = "$SINGLE_MANIFEST" ]; then src=single; else src=multi; fi
check "race-tag:latest content identical to $src" same_blobs "$FX/$src" "$T/race-back"

# tighter tag race at the HTTP level: 10 rounds of two simultaneous PUTs of different manifests
bad=
for i in $(seq 1 10); do
    curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$FX/single/blobs/sha256/${SINGLE_MANIFEST#sha256:}" \
        "$SRV_URL/v2/sk/race-tag/manifests/hot" >"$T/put-a" &
    pa=$!
    curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$FX/multi/blobs/sha256/${MULTI_MANIFEST#sha256:}" \
        "$SRV_URL/v2/sk/race-tag/manifests/hot" >"$T/put-b" &
    pb=$!
    wait "$pa" "$pb"
    [ "$(cat "$T/put-a")-$(cat "$T/put-b")" = 201-201 ] || bad="$bad round$i:$(cat "$T/put-a")/$(cat "$T/put-b")"
    req GET /v2/sk/race-tag/manifests/hot "${ACCEPT_ALL[@]}"
    got=$(sha256_of "$BODY")
    case "$got" in
    "$SINGLE_MANIFEST" | "$MULTI_MANIFEST") [ "$(hdr Docker-Content-Digest)" = "$got" ] || bad="$bad round$i:header" ;;
    *) bad="$bad round$i:torn($STATUS)" ;;
    esac
done
check "10 rounds of concurrent PUTs to one tag: all 201, tag always one intact manifest${bad:+ ($bad)}" test -z "$bad"

check_api_header_everywhere
finish
