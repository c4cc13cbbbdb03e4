#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2119,SC2016 # functions called via check; a bash -c program
# gc.sh: garbage collection against the real berthd, with skopeo and curl as clients.
#   1. the rule: shared layers survive the deletion of one image, an index keeps its children,
#      referrers of a kept subject stay and those of a deleted one go, untagged manifests go only
#      with --delete-untagged, --dry-run changes nothing; exit codes; online collection;
#   2. stress: pushes and deletes in parallel while `berthd gc` and the online collector run in a
#      loop; then every surviving image is pulled and every digest checked (zero losses), and
#      everything unreachable is reclaimed;
#   3. kill -9 during a collection (the `berthd gc` process, then berthd's online collector),
#      restart, `berthd fsck`: no errors, and the next collection finishes the job.
# Environment: STRESS_SECONDS (default 30), STRESS_WORKERS (4), GARBAGE (1500 blobs for the kill
# tests), KILL_ROUNDS (3).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

STRESS_SECONDS=${STRESS_SECONDS:-30}
STRESS_WORKERS=${STRESS_WORKERS:-4}
STRESS_GRACE=${STRESS_GRACE:-5}
GARBAGE=${GARBAGE:-1500}
KILL_ROUNDS=${KILL_ROUNDS:-3}

if [ "$TARGET" != berthd ]; then
    echo "gc.sh tests berthd's own collector; BERTH_TEST_TARGET=$TARGET is not supported"
    exit 2
fi
"$BERTH_ROOT/tests/fixtures/mkimage" || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"

SK=(skopeo --insecure-policy)
TLS=(--src-tls-verify=false --dest-tls-verify=false --src-no-creds --dest-no-creds)
ACCEPT_ALL=(-H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json')
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# --- helpers ---------------------------------------------------------------------------------

# gc [ARGS...]: one `berthd gc` on the current data directory; output in $T/gc.out, GC_RC.
gc() {
    "$BERTHD" gc --data "$SRV_DATA" --log-level warn "$@" >"$T/gc.out" 2>"$T/gc.err"
    GC_RC=$?
}

# gcval NAME: the first number of the "NAME: N (...)" line of the last gc output.
gcval() {
    awk -v n="$1" 'index($0, n ": ") == 1 { split(substr($0, length(n) + 3), a, " "); print a[1]; exit }' "$T/gc.out"
}

# fsck [ARGS...]: `berthd fsck`; output in $T/fsck.out, FSCK_RC.
fsck() {
    "$BERTHD" fsck --data "$SRV_DATA" --log-level warn "$@" >"$T/fsck.out" 2>&1
    FSCK_RC=$?
}

fsckval() {
    awk -v n="$1" 'index($0, n ": ") == 1 { split(substr($0, length(n) + 3), a, " "); print a[1]; exit }' "$T/fsck.out"
}

# settle: make everything pushed so far older than a zero grace period (times are seconds).
settle() {
    sleep 1.1
}

# sk_push [skopeo copy args...]: output in $SK_OUT (default $T/skopeo.out).
sk_push() {
    "${SK[@]}" copy -q --retry-times 0 "${TLS[@]}" "$@" >"${SK_OUT:-$T/skopeo.out}" 2>&1
}

# status METHOD PATH [curl args]: the HTTP status only.
status() {
    local meth=$1 p=$2
    shift 2
    if [ "$meth" = HEAD ]; then
        curl -s -g -o /dev/null --head -w '%{http_code}' "$@" "$SRV_URL$p"
    else
        curl -s -g -o /dev/null -X "$meth" -w '%{http_code}' "$@" "$SRV_URL$p"
    fi
}

blob_file() {
    printf '%s/blobs/sha256/%s/%s' "$SRV_DATA" "${1:7:2}" "${1#sha256:}"
}

blob_files() {
    find "$SRV_DATA/blobs" -type f 2>/dev/null | wc -l
}

# verify_pull URL REPO REF [DIGEST]: GET the manifest (and, for an index, its children), then every
# blob it references; every digest must match the bytes. Returns non-zero on the first mismatch.
verify_pull() {
    local url=$1 repo=$2 ref=$3 want=${4:-} f got b code
    f=$(mktemp "$T/vp.XXXXXX")
    code=$(curl -sS -g -o "$f" -w '%{http_code}' "${ACCEPT_ALL[@]}" "$url/v2/$repo/manifests/$ref")
    if [ "$code" != 200 ]; then
        echo "manifest $repo:$ref -> $code" >&2
        return 1
    fi
    got=$(sha256_of "$f")
    if [ -n "$want" ] && [ "$got" != "$want" ]; then
        echo "manifest $repo:$ref is $got, not $want" >&2
        return 1
    fi
    if jq -e '.manifests' "$f" >/dev/null 2>&1; then
        for b in $(jq -r '.manifests[].digest' "$f"); do
            verify_pull "$url" "$repo" "$b" "$b" || return 1
        done
        return 0
    fi
    for b in $(jq -r '.config.digest, (.layers // [])[].digest' "$f"); do
        code=$(curl -sS -g -o "$f.blob" -w '%{http_code}' "$url/v2/$repo/blobs/$b")
        if [ "$code" != 200 ] || [ "$(sha256_of "$f.blob")" != "$b" ]; then
            echo "blob $b of $repo:$ref -> $code, $(sha256_of "$f.blob" 2>/dev/null)" >&2
            return 1
        fi
    done
    rm -f "$f" "$f.blob"
}

# push_blob URL REPO FILE: monolithic upload (POST ?digest=). Sets PB_DIGEST.
push_blob() {
    local code
    PB_DIGEST=$(sha256_of "$3")
    code=$(curl -s -g -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary "@$3" "$1/v2/$2/blobs/uploads/?digest=$PB_DIGEST")
    [ "$code" = 201 ]
}

# push_random_image URL REPO TAG DIR: a small image made of the shared busybox layer (uploaded only
# when HEAD says it is missing, as clients do), a random layer and a unique config; TAG "" pushes
# by digest. Sets PI_DIGEST, PI_BLOBS (config and own layer) and PI_CODE (the manifest PUT status).
push_random_image() {
    local url=$1 repo=$2 tag=$3 dir=$4 cd cs ld lsz code mf ref
    head -c $((RANDOM % 8192 + 64)) /dev/urandom >"$dir/layer"
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"%s"}' \
        "$repo $tag $RANDOM$RANDOM$RANDOM" >"$dir/config"
    push_blob "$url" "$repo" "$dir/layer" || return 1
    ld=$PB_DIGEST
    lsz=$(file_size "$dir/layer")
    push_blob "$url" "$repo" "$dir/config" || return 1
    cd=$PB_DIGEST
    cs=$(file_size "$dir/config")
    code=$(curl -s -g -o /dev/null --head -w '%{http_code}' "$url/v2/$repo/blobs/$SINGLE_LAYER1")
    if [ "$code" != 200 ]; then
        push_blob "$url" "$repo" "$FX/single/blobs/sha256/${SINGLE_LAYER1#sha256:}" || return 1
    fi
    mf=$dir/manifest
    jq -cn --arg cd "$cd" --argjson cs "$cs" --arg sd "$SINGLE_LAYER1" \
        --argjson ss "$(file_size "$FX/single/blobs/sha256/${SINGLE_LAYER1#sha256:}")" \
        --arg ld "$ld" --argjson ls "$lsz" '{schemaVersion: 2,
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
            layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $sd, size: $ss},
                     {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]}' >"$mf"
    PI_DIGEST=$(sha256_of "$mf")
    PI_BLOBS="$cd $ld"
    ref=${tag:-$PI_DIGEST}
    PI_CODE=$(curl -s -g -o "$dir/put.body" -w '%{http_code}' -X PUT -H "Content-Type: $OCI_MANIFEST" \
        --data-binary "@$mf" "$url/v2/$repo/manifests/$ref")
    [ "$PI_CODE" = 201 ]
}

# put_layout_manifest REPO LAYOUT DIGEST REF: push a manifest of an OCI layout (and its blobs) by
# the API; REF may be a digest.
put_layout_manifest() {
    local repo=$1 lay=$2 d=$3 ref=$4 f b
    f=$lay/blobs/sha256/${d#sha256:}
    for b in $(jq -r '.config.digest, .layers[].digest' "$f"); do
        push_blob "$SRV_URL" "$repo" "$lay/blobs/sha256/${b#sha256:}" || return 1
    done
    [ "$(status PUT "/v2/$repo/manifests/$ref" -H "Content-Type: $(jq -r .mediaType "$f")" \
        --data-binary "@$f")" = 201 ]
}

# state_hash: every file under the data directory (name and content) and every metadata row -
# what --dry-run must not change.
state_hash() {
    (
        cd "$SRV_DATA" || exit 1
        find blobs uploads trash -type f 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum
        if command -v sqlite3 >/dev/null; then
            sqlite3 "file:$SRV_DATA/metadata.db?mode=ro" .dump
        else
            "$BERTHD" gc --data "$SRV_DATA" --log-level warn --dry-run --grace 0s -v | grep -v '^time:'
        fi
    ) | sha256sum
}

# make_garbage N REPO: N random unreferenced blobs, 8 uploads at a time.
make_garbage() {
    local n=$1 repo=$2
    mkdir -p "$T/garbage"
    export -f push_blob sha256_of
    seq 1 "$n" | xargs -P 8 -I{} bash -c '
        f='"$T"'/garbage/{}; head -c 256 /dev/urandom >"$f"
        push_blob "$0" "$1" "$f" || echo "upload {} failed" >&2; rm -f "$f"' "$SRV_URL" "$repo"
}

# === 1. the rule ==================================================================================

start_berthd "" "" --gc.enabled false || {
    fail "berthd did not start"
    finish
}
DATA=$SRV_DATA

check "skopeo copy single -> app:v1" sk_push "oci:$FX/single:latest" "docker://$REG/app:v1"
check "skopeo copy multi -> app:v2 (shares the busybox layer)" sk_push "oci:$FX/multi:latest" \
    "docker://$REG/app:v2"
check "skopeo copy --all index -> multi:latest" sk_push --all "oci:$FX/index:latest" \
    "docker://$REG/multi:latest"
check "skopeo copy single -> signed:latest" sk_push "oci:$FX/single:latest" "docker://$REG/signed:latest"
check "referrer sbom pushed by digest (subject signed:latest)" put_layout_manifest signed \
    "$FX/referrer" "$REF_SBOM_MANIFEST" "$REF_SBOM_MANIFEST"
check "referrer sig pushed by digest" put_layout_manifest signed "$FX/referrer" "$REF_SIG_MANIFEST" \
    "$REF_SIG_MANIFEST"
check "untagged image pushed by digest" put_layout_manifest untagged "$FX/multi" "$MULTI_MANIFEST" \
    "$MULTI_MANIFEST"
check "a layer uploaded, its manifest never pushed" push_blob "$SRV_URL" app "$FX/big/blobs/sha256/${BIG_CONFIG#sha256:}"

settle
gc --grace 24h
check "gc with the default grace: nothing is old enough (blobs: $(gcval blobs))" \
    test "$GC_RC" = 0 -a "$(gcval blobs)" = 0 -a "$(gcval links)" = 0

gc --grace 0s --dry-run
check "dry run: only the unreferenced upload is garbage (links $(gcval links), blobs $(gcval blobs))" \
    test "$(gcval links)" = 1 -a "$(gcval blobs)" = 1 -a "$(gcval manifests)" = 0

# Delete app:v2: its config and second layer go, the shared busybox layer stays.
check "DELETE app@multi -> 202" test "$(status DELETE "/v2/app/manifests/$MULTI_MANIFEST")" = 202
before=$(state_hash)
gc --grace 0s --dry-run -v
cp "$T/gc.out" "$T/dry.out"
# app loses three links (multi's config and layer, the stray upload); multi's blobs stay for the
# untagged image in another repository, so only the stray upload's blob goes.
check "dry run reports app's links, and only the stray upload's blob (links $(gcval links), blobs $(gcval blobs))" \
    test "$(gcval links)" = 3 -a "$(gcval blobs)" = 1
check "dry run -v has a line for repository app" grep -q '^repository app: manifests 0 (0 bytes), links 3' "$T/gc.out"
check "--dry-run changes nothing (files, rows)" test "$(state_hash)" = "$before"
files_before=$(blob_files)
gc --grace 0s -v
check "gc exits 0" test "$GC_RC" = 0
check "gc deleted what the dry run announced" diff <(grep -E '^(manifests|links|blobs|orphan files|repository)' "$T/dry.out") \
    <(grep -E '^(manifests|links|blobs|orphan files|repository)' "$T/gc.out")
check "gc printed counts and bytes ($(grep '^blobs:' "$T/gc.out"))" grep -qE '^blobs: 1 \([0-9]+ bytes\)$' "$T/gc.out"
check "one blob file fewer on disk ($files_before -> $(blob_files))" test "$(blob_files)" = $((files_before - 1))
check "the stray upload's file is gone from disk" test ! -e "$(blob_file "$BIG_CONFIG")"
check "app: multi's config is gone (404)" test "$(status HEAD "/v2/app/blobs/$MULTI_CONFIG")" = 404
check "app: multi's second layer is gone (404)" test "$(status HEAD "/v2/app/blobs/$MULTI_LAYER2")" = 404
check "app: the shared busybox layer stays (200)" test "$(status HEAD "/v2/app/blobs/$SINGLE_LAYER1")" = 200
check "untagged: multi's layer stays for the untagged image" test "$(status HEAD "/v2/untagged/blobs/$MULTI_LAYER2")" = 200
check "app:v1 pulls back intact (every digest)" verify_pull "$SRV_URL" app v1 "$SINGLE_MANIFEST"
check "skopeo copy app:v1 back out" sk_push "docker://$REG/app:v1" "oci:$T/pulled:v1"
check "untagged manifest kept without --delete-untagged" test "$(status HEAD "/v2/untagged/manifests/$MULTI_MANIFEST" "${ACCEPT_ALL[@]}")" = 200

# Untagged manifests go only with the flag; an index keeps its children; a kept subject keeps its
# referrers.
gc --grace 0s --delete-untagged
check "gc --delete-untagged exits 0 (manifests: $(gcval manifests))" test "$GC_RC" = 0 -a "$(gcval manifests)" = 1
check "untagged manifest gone with --delete-untagged" test "$(status HEAD "/v2/untagged/manifests/$MULTI_MANIFEST" "${ACCEPT_ALL[@]}")" = 404
check "untagged: its blobs gone (blobs: $(gcval blobs))" test "$(status HEAD "/v2/untagged/blobs/$MULTI_LAYER2")" = 404 -a "$(gcval blobs)" = 2
check "multi's second layer file is gone from disk" test ! -e "$(blob_file "$MULTI_LAYER2")"
check "multi:latest index intact with its children (amd64, arm64)" verify_pull "$SRV_URL" multi latest "$INDEX_MANIFEST"
check "referrers of signed:latest still listed (2)" test "$(curl -s "$SRV_URL/v2/signed/referrers/$SINGLE_MANIFEST" | jq '.manifests | length')" = 2
check "referrer sig intact" verify_pull "$SRV_URL" signed "$REF_SIG_MANIFEST" "$REF_SIG_MANIFEST"

# The subject goes: its referrers go, without --delete-untagged.
check "DELETE signed@subject -> 202" test "$(status DELETE "/v2/signed/manifests/$SINGLE_MANIFEST")" = 202
gc --grace 0s
check "gc collects the referrers of the deleted subject (manifests: $(gcval manifests))" test "$(gcval manifests)" = 2
check "referrer sbom gone" test "$(status HEAD "/v2/signed/manifests/$REF_SBOM_MANIFEST" "${ACCEPT_ALL[@]}")" = 404
check "referrer sig's blob gone" test "$(status HEAD "/v2/signed/blobs/$REF_SIG_BLOB")" = 404
check "the busybox layer stays (app and multi use it)" test -e "$(blob_file "$SINGLE_LAYER1")"

gc --grace 0s --dry-run
check "nothing left to collect" test "$(gcval manifests)$(gcval links)$(gcval blobs)$(gcval 'orphan files')" = 0000
fsck --deep
check "fsck --deep: no errors (exit $FSCK_RC, $(fsckval 'blob rows checked') rows)" test "$FSCK_RC" = 0 -a "$(fsckval errors)" = 0

# Exit codes.
"$BERTHD" gc --data "$T/nowhere" >/dev/null 2>&1
check "gc on a directory without a registry exits 3" test $? = 3
"$BERTHD" gc --data "$DATA" --no-such-flag >/dev/null 2>&1
check "gc with an unknown flag exits 2" test $? = 2
"$BERTHD" gc --data "$DATA" --grace soon >/dev/null 2>&1
check "gc with a bad --grace exits 2" test $? = 2
"$BERTHD" fsck --data "$T/nowhere" >/dev/null 2>&1
check "fsck on a directory without a registry exits 3" test $? = 3
mv "$(blob_file "$SINGLE_CONFIG")" "$T/config.aside"
fsck
check "fsck finds a missing file and exits 1 ($(fsckval 'missing files') missing)" test "$FSCK_RC" = 1 -a "$(fsckval 'missing files')" = 1
fsck --repair
check "fsck --repair never invents a file (still exit 1)" test "$FSCK_RC" = 1
mv "$T/config.aside" "$(blob_file "$SINGLE_CONFIG")"
fsck
check "fsck clean again (exit 0)" test "$FSCK_RC" = 0

# Online collection: a short interval, a zero grace.
stop_server TERM
start_berthd "$DATA" "$SRV_PORT" --gc.interval 1s --gc.grace 0s || fail "berthd did not restart"
push_blob "$SRV_URL" app "$FX/big/blobs/sha256/${BIG_CONFIG#sha256:}"
online_gone=
for _ in $(seq 1 50); do
    if [ "$(status HEAD "/v2/app/blobs/$BIG_CONFIG")" = 404 ] && [ ! -e "$(blob_file "$BIG_CONFIG")" ]; then
        online_gone=1
        break
    fi
    sleep 0.2
done
check "online collector reclaims an unreferenced upload within 10 s" test -n "$online_gone"
check "online collector logs one line per collection" grep -qE 'gc: deleted [0-9]+ manifest.*[0-9]+ ms' "$SRV_LOG"
check "app:v1 still intact after online collections" verify_pull "$SRV_URL" app v1 "$SINGLE_MANIFEST"
check_clean_stop

# A client that finds a blob (HEAD) and skips its upload relies on its link until the manifest
# arrives: a HEAD of a link older than half the grace renews it. Two unreferenced uploads, both
# older than the grace when the collector runs; only the one a client found meanwhile stays.
start_berthd "$DATA" "$SRV_PORT" --gc.enabled false --gc.grace 6s || fail "berthd did not restart"
head -c 3000 /dev/urandom >"$T/renew.a"
head -c 3000 /dev/urandom >"$T/renew.b"
push_blob "$SRV_URL" renew "$T/renew.a" && RENEW_A=$PB_DIGEST
push_blob "$SRV_URL" renew "$T/renew.b" && RENEW_B=$PB_DIGEST
sleep 5.1 # older than 4 s (the collector's grace below), and than half of the server's 6 s
check "HEAD of an old link answers 200" test "$(status HEAD "/v2/renew/blobs/$RENEW_A")" = 200
gc --grace 4s
check "gc collects the old link nobody looked at ($(gcval links) link(s))" \
    test "$(status HEAD "/v2/renew/blobs/$RENEW_B")" = 404 -a ! -e "$(blob_file "$RENEW_B")"
check "gc keeps the link a HEAD renewed, and its file" \
    test "$(status HEAD "/v2/renew/blobs/$RENEW_A")" = 200 -a -e "$(blob_file "$RENEW_A")"
check_clean_stop

# === 2. stress ====================================================================================

start_berthd "" "" --gc.interval 1s --gc.grace "${STRESS_GRACE}s" --threads 8 || {
    fail "berthd did not start for the stress test"
    finish
}
DATA=$SRV_DATA

stress_worker() {
    local k=$1 end=$2 dir=$T/w$1 i=0 repo=stress/w$1 n pick line tries drepo ddigest dkind
    local -a live=()
    local SK_OUT=$T/w$1/skopeo.out
    mkdir -p "$dir"
    : >"$dir/errors"
    : >"$dir/clean-failures"
    while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        local tag=t$i
        [ $((i % 7)) = 0 ] && tag=
        tries=0
        until push_random_image "$SRV_URL" "$repo" "$tag" "$dir"; do
            tries=$((tries + 1))
            if [ "${PI_CODE:-}" = 400 ] && grep -q MANIFEST_BLOB_UNKNOWN "$dir/put.body" 2>/dev/null; then
                echo "$repo ${tag:-@} $(cat "$dir/put.body")" >>"$dir/clean-failures"
            else
                echo "push $repo ${tag:-@}: manifest PUT ${PI_CODE:-none}" >>"$dir/errors"
            fi
            [ "$tries" -lt 3 ] || continue 2
        done
        live+=("$repo ${tag:-@} $PI_DIGEST $PI_BLOBS")
        if [ $((i % 5)) = 0 ]; then
            if sk_push "oci:$FX/single:latest" "docker://$REG/stress/sk$k:t$i" 2>/dev/null; then
                live+=("stress/sk$k t$i $SINGLE_MANIFEST sk")
            else
                echo "skopeo push stress/sk$k:t$i: $(tail -n1 "$SK_OUT")" >>"$dir/errors"
            fi
        fi
        if [ $((i % 3)) = 0 ] && [ "${#live[@]}" -gt 2 ]; then
            pick=$((RANDOM % ${#live[@]}))
            line=${live[$pick]}
            read -r drepo _ ddigest dkind _ <<<"$line"
            if [ "$dkind" != sk ] && [ "$(status DELETE "/v2/$drepo/manifests/$ddigest")" = 202 ]; then
                echo "$line" >>"$dir/deleted"
                live=("${live[@]:0:$pick}" "${live[@]:$((pick + 1))}")
            fi
        fi
    done
    printf '%s\n' "${live[@]}" >"$dir/live"
    n=${#live[@]}
    echo "$n" >"$dir/done"
}

stress_end=$(($(date +%s) + STRESS_SECONDS))
workers=()
for k in $(seq 1 "$STRESS_WORKERS"); do
    stress_worker "$k" "$stress_end" &
    workers+=($!)
done
# The offline collector in a loop, beside the online one (interval 1 s).
(
    runs=0 bad=0
    while [ ! -e "$T/stop-gc" ]; do
        "$BERTHD" gc --data "$DATA" --log-level warn --grace "${STRESS_GRACE}s" >>"$T/gcloop.out" 2>>"$T/gcloop.err"
        rc=$?
        runs=$((runs + 1))
        [ "$rc" = 0 ] || bad=$((bad + 1))
    done
    echo "$runs $bad" >"$T/gcloop.result"
) &
gcloop=$!
wait "${workers[@]}"
touch "$T/stop-gc"
wait "$gcloop"
read -r gc_runs gc_bad <"$T/gcloop.result"
check "offline collector ran $gc_runs times during the stress, none failed" test "$gc_runs" -gt 3 -a "$gc_bad" = 0
online_runs=$(grep -c 'gc: deleted' "$SRV_LOG")
check "online collector ran $online_runs times during the stress" test "$online_runs" -gt 3
errors=$(cat "$T"/w*/errors)
check "every push succeeded or failed cleanly${errors:+: $(echo "$errors" | head -n3 | tr '\n' ' ')}" test -z "$errors"
clean=$(cat "$T"/w*/clean-failures | wc -l)
ok "manifest PUTs refused cleanly (MANIFEST_BLOB_UNKNOWN, retried): $clean"
cat "$T"/w*/live >"$T/live"
cat "$T"/w*/deleted >"$T/deleted" 2>/dev/null
nlive=$(wc -l <"$T/live")
ndel=$(wc -l <"$T/deleted")
check "stress pushed $nlive surviving images and deleted $ndel" test "$nlive" -gt 20 -a "$ndel" -gt 5

lost=0
while read -r repo tag digest rest; do
    ref=$tag
    [ "$ref" = @ ] && ref=$digest
    if [ "$rest" = sk ]; then
        if ! sk_push "docker://$REG/$repo:$tag" "oci:$T/skpull:x" ||
            ! verify_pull "$SRV_URL" "$repo" "$tag" "$digest" 2>>"$T/lost"; then
            lost=$((lost + 1))
        fi
        rm -rf "$T/skpull"
    elif ! verify_pull "$SRV_URL" "$repo" "$ref" "$digest" 2>>"$T/lost"; then
        lost=$((lost + 1))
    fi
done <"$T/live"
check "every surviving image pulls back with every digest intact: $lost lost of $nlive$([ "$lost" = 0 ] || echo ": $(head -n3 "$T/lost" | tr '\n' ' ')")" test "$lost" = 0

# Everything unreachable is reclaimed once older than the grace period.
sleep $((STRESS_GRACE + 1))
gc --grace "${STRESS_GRACE}s"
gc --grace "${STRESS_GRACE}s" --dry-run
check "after the stress nothing unreachable is left (manifests/links/blobs/orphans: $(gcval manifests)/$(gcval links)/$(gcval blobs)/$(gcval 'orphan files'))" \
    test "$(gcval manifests)$(gcval links)$(gcval blobs)$(gcval 'orphan files')" = 0000
left=0
while read -r repo tag digest c l; do
    [ "$l" = "" ] && continue
    for b in $c $l; do
        if [ -e "$(blob_file "$b")" ] || [ "$(status HEAD "/v2/$repo/blobs/$b")" != 404 ]; then
            left=$((left + 1))
        fi
    done
done <"$T/deleted"
check "the unique blobs of all $ndel deleted images are gone from disk and API ($left left)" test "$left" = 0
check "the shared busybox layer is still there" test -e "$(blob_file "$SINGLE_LAYER1")"
fsck --deep
check "fsck --deep after the stress: no errors (exit $FSCK_RC)" test "$FSCK_RC" = 0 -a "$(fsckval errors)" = 0
check_clean_stop

# === 3. kill -9 during a collection ======================================================================

# kill_when_collecting PID: SIGKILL PID a few random milliseconds after blob files start to
# disappear (a collection is under way). Non-zero when that never happened within 20 s.
kill_when_collecting() {
    local pid=$1 n0 i
    n0=$(blob_files)
    for i in $(seq 1 2000); do
        proc_alive "$pid" || return 1
        if [ "$(blob_files)" -lt "$n0" ]; then
            sleep "0.0$((RANDOM % 10))"
            kill -9 "$pid" 2>/dev/null
            return 0
        fi
        sleep 0.01
    done
    kill -9 "$pid" 2>/dev/null
    return 1
}

start_berthd "" "" --gc.enabled false || {
    fail "berthd did not start for the kill tests"
    finish
}
DATA=$SRV_DATA
KPORT=$SRV_PORT
check "skopeo copy index -> keep:latest" sk_push --all "oci:$FX/index:latest" "docker://$REG/keep:latest"

# kill_during_gc: garbage, then `berthd gc` killed after DELAY seconds; prints "done total".
mid=0
for round in $(seq 1 "$KILL_ROUNDS"); do
    make_garbage "$GARBAGE" "kill/garbage$round"
    settle
    gc --grace 0s --dry-run
    total=$(gcval blobs)
    "$BERTHD" gc --data "$DATA" --log-level warn --grace 0s >"$T/kill.out" 2>&1 &
    victim=$!
    kill_when_collecting "$victim"
    wait "$victim" 2>/dev/null
    gc --grace 0s --dry-run
    remaining=$(gcval blobs)
    if [ "$remaining" -gt 0 ] && [ "$remaining" -lt "$total" ]; then mid=$((mid + 1)); fi
    fsck
    ok "round $round: berthd gc killed with $remaining of $total garbage blobs left; fsck before restart: $(fsckval 'files in trash with a row') in trash, $(fsckval 'missing files') missing"
    check "round $round: no row without its bytes (missing files: $(fsckval 'missing files'))" test "$(fsckval 'missing files')" = 0
    stop_server KILL
    start_berthd "$DATA" "$KPORT" --gc.enabled false || fail "berthd did not restart"
    fsck
    check "round $round: after restart fsck finds no errors (exit $FSCK_RC)" test "$FSCK_RC" = 0
    gc --grace 0s
    check "round $round: the next collection finishes the job (exit $GC_RC)" test "$GC_RC" = 0
    gc --grace 0s --dry-run
    check "round $round: nothing left ($(gcval blobs) blobs)" test "$(gcval blobs)$(gcval links)" = 00
done
check "at least one kill landed in the middle of a collection ($mid of $KILL_ROUNDS)" test "$mid" -gt 0

# berthd itself killed while its online collector runs.
omid=0
for round in $(seq 1 "$KILL_ROUNDS"); do
    make_garbage "$GARBAGE" "kill/online$round"
    settle
    stop_server TERM
    start_berthd "$DATA" "$KPORT" --gc.interval 1s --gc.grace 0s || fail "berthd did not restart"
    gc --grace 0s --dry-run
    total=$(gcval blobs)
    kill_when_collecting "$SRV_PID"
    stop_server KILL
    gc --grace 0s --dry-run
    remaining=$(gcval blobs)
    if [ "$remaining" -gt 0 ] && [ "$remaining" -lt "$total" ]; then omid=$((omid + 1)); fi
    ok "online round $round: berthd killed with $remaining of $total garbage blobs left"
    fsck
    check "online round $round: no row without its bytes" test "$(fsckval 'missing files')" = 0
    start_berthd "$DATA" "$KPORT" --gc.enabled false || fail "berthd did not restart"
    fsck --deep
    check "online round $round: after restart fsck --deep finds no errors (exit $FSCK_RC)" test "$FSCK_RC" = 0
    gc --grace 0s
    gc --grace 0s --dry-run
    check "online round $round: the next collection finishes the job" test "$(gcval blobs)$(gcval links)" = 00
done
check "at least one kill of berthd landed in the middle of its collection ($omid of $KILL_ROUNDS)" test "$omid" -gt 0
check "keep:latest pulls back intact after every kill" verify_pull "$SRV_URL" keep latest "$INDEX_MANIFEST"
finish
