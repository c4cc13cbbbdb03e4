#!/usr/bin/env bash
# client.sh - integration tests of the `berth` client against a real registry: berthd, or the reference
# registry (Debian's docker-registry) with BERTH_TEST_TARGET=reference.
#
#   tests/integ/client.sh            BERTH=path/to/berth (default bin/berth), BERTHD=... for berthd
#
# Covers: push / pull with equal digests, skopeo in both directions, indexes and platforms, Docker
# schema2, cross-repository mount, tags / catalog / inspect / delete, local images / tag / rmi, rmi and
# prune deleting what no tag needs (also beside a running pull), exit codes and error messages, parallel
# pulls into one store, interrupted pushes (dropped connection, killed client), docker-save archives,
# Basic auth with login / logout / ~/.docker/config.json and credential helpers (a fake
# docker-credential-fake), the Bearer token flow, diff_ids verified by `run`, and `berth run` (exit
# codes, flags, whiteouts, zstd layers, hostile layers refused).
# One line per check; the last line is "N passed, N failed"; non-zero exit on any failure.
# `berth run` checks need root and runc; they are skipped otherwise.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

BERTH=${BERTH:-$BERTH_ROOT/bin/berth}
[ -x "$BERTH" ] || {
    echo "berth binary not found: $BERTH (make, or BERTH=...)" >&2
    exit 2
}
FIXDIR=$BERTH_ROOT/tests/fixtures/client
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json

export HOME=$T/home
export BERTH_HOME=$T/berth
export DOCKER_CONFIG=$HOME/.docker
unset BERTH_REGISTRY BERTH_AUTH_FILE XDG_CONFIG_HOME XDG_DATA_HOME BERTH_CHUNK_SIZE
mkdir -p "$HOME"
E=$T/stderr
O=$T/stdout

# b ARGS...: run berth; stdout in $O, stderr in $E, status in RC.
b() {
    "$BERTH" "$@" >"$O" 2>"$E" </dev/null
    RC=$?
}

# b_ok LABEL ARGS...: one check that berth succeeds.
b_ok() {
    local label=$1
    shift
    b "$@"
    if [ "$RC" = 0 ]; then ok "$label"; else fail "$label: exit $RC: $(head -c 300 "$E")"; fi
}

# b_fails LABEL STATUS PATTERN ARGS...: berth exits with STATUS and stderr matches PATTERN (ERE).
b_fails() {
    local label=$1 want=$2 pat=$3
    shift 3
    b "$@"
    if [ "$RC" = "$want" ] && { [ -z "$pat" ] || grep -qE -- "$pat" "$E"; }; then
        ok "$label (exit $RC: $(tail -n1 "$E"))"
    else
        fail "$label: expected exit $want and /$pat/, got exit $RC: $(head -c 300 "$E")"
    fi
}

# jqe FILE EXPR: jq -e EXPR on FILE is true.
jqe() {
    jq -e "$2" "$1" >/dev/null 2>&1
}

# check_eq LABEL GOT WANT
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# store_consistent HOME: every blob's content matches its name, no temporary files remain, index.json parses.
store_consistent() {
    local f bad=0
    jq -e '.manifests | type == "array"' "$1/store/index.json" >/dev/null || return 1
    for f in "$1"/store/blobs/sha256/*; do
        case "$f" in
        */[0-9a-f][0-9a-f][0-9a-f]*) ;;
        *) bad=1 ;; # a temporary file left behind
        esac
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=1
    done
    [ "$bad" = 0 ]
}

# --- images --------------------------------------------------------------------------------------

FX=$OUT/client-fixtures
BIG_LAYER_MIB=${BIG_LAYER_MIB:-12} BERTH_FIXTURE_CACHE=$OUT/client-cache \
    "$BERTH_ROOT/tests/fixtures/mkimage" "$FX" >/dev/null || {
    echo "tests/fixtures/mkimage failed" >&2
    exit 2
}
. "$FX/digests.env"
BUSYBOX_LAYER=$FX/single/blobs/sha256/${SINGLE_LAYER1#sha256:}

cc -O2 -o "$T/mktar" "$FIXDIR/mktar.c" || exit 2

# add_blob DIR FILE: copy FILE into layout DIR; sets D and S.
add_blob() {
    D=$(sha256_of "$2")
    S=$(file_size "$2")
    cp "$2" "$1/blobs/sha256/${D#sha256:}"
}

layer_mt() {
    case "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" in
    1f8b*) echo application/vnd.oci.image.layer.v1.tar+gzip ;;
    28b52ffd) echo application/vnd.oci.image.layer.v1.tar+zstd ;;
    *) echo application/vnd.oci.image.layer.v1.tar ;;
    esac
}

# diff_id LAYER: sha256 of the uncompressed layer (what rootfs.diff_ids lists).
diff_id() {
    case "$(layer_mt "$1")" in
    *gzip) gzip -dc "$1" ;;
    *zstd) zstd -q -dc "$1" ;;
    *) cat "$1" ;;
    esac | sha256sum | cut -d' ' -f1
}

# mk_image DIR ENTRYPOINT_JSON CMD_JSON LAYER...: an OCI layout holding one image tagged "latest"
# (config with that Entrypoint/Cmd and the layers' diff_ids, or $DIFF_IDS when set). Sets IMG
# (manifest digest).
mk_image() {
    local dir=$1 ep=$2 cmd=$3 layers="" ids="" f
    shift 3
    rm -rf "$dir"
    mkdir -p "$dir/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
    for f in "$@"; do
        add_blob "$dir" "$f"
        layers="$layers${layers:+,}{\"mediaType\":\"$(layer_mt "$f")\",\"digest\":\"$D\",\"size\":$S}"
        ids="$ids${ids:+,}\"sha256:$(diff_id "$f")\""
    done
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Cmd":%s,"Env":["PATH=/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":%s}}' \
        "$ep" "$cmd" "${DIFF_IDS:-[$ids]}" >"$T/config.json"
    add_blob "$dir" "$T/config.json"
    printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
        "$MT_MANIFEST" "$MT_CONFIG" "$D" "$S" "$layers" >"$T/manifest.json"
    add_blob "$dir" "$T/manifest.json"
    IMG=$D
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
        "$MT_MANIFEST" "$D" "$S" >"$dir/index.json"
}

# spec_layer OUT.tar.gz < SPEC: a gzip layer from a mktar spec.
spec_layer() {
    "$T/mktar" | gzip -n >"$1"
}

# --- target registry -------------------------------------------------------------------------------

start_target || {
    echo "cannot start the $TARGET registry" >&2
    exit 2
}
R=$REG
echo "# target: $TARGET at $R, berth: $BERTH"

# --- push / pull ----------------------------------------------------------------------------------

b_ok "push oci:DIR:TAG to $R/app:1.0" push oci:"$FX/single:latest" "$R/app:1.0"
check_eq "push prints the manifest digest" "$(cat "$O")" "$SINGLE_MANIFEST"
check "push without a TTY prints plain progress lines" grep -q "done" "$E"
b_ok "pull $R/app:1.0" pull "$R/app:1.0"
check_eq "pull prints the same digest" "$(cat "$O")" "$SINGLE_MANIFEST"
check "pulled blobs are in the store under their digests" \
    test -f "$BERTH_HOME/store/blobs/sha256/${SINGLE_LAYER1#sha256:}"
check "store is consistent after pull" store_consistent "$BERTH_HOME"
b_ok "pull again" pull "$R/app:1.0"
check "second pull skips present layers" grep -q "exists" "$E"
b_ok "pull -q" pull -q "$R/app:1.0"
check "pull -q prints only the digest" test "$(cat "$O")" = "$SINGLE_MANIFEST" -a ! -s "$E"
b_ok "images" images
check "images lists $R/app:1.0" grep -q "^$R/app:1.0 " "$O"
b_ok "tags" tags "$R/app"
check_eq "tags lists 1.0" "$(cat "$O")" "1.0"
b_ok "catalog" catalog "$R"
check "catalog lists app" grep -qx app "$O"
b_ok "inspect (local)" inspect "$R/app:1.0"
check "inspect shows the entrypoint" grep -q "Entrypoint  /bin/echo" "$O"
check "inspect lists the layer" grep -q "$SINGLE_LAYER1" "$O"
check "inspect shows the total size" grep -q "^Size" "$O"
b_ok "inspect --remote --raw" inspect --remote --raw "$R/app:1.0"
check_eq "raw manifest hashes to the digest" "sha256:$(head -c -1 "$O" | sha256sum | cut -d' ' -f1)" \
    "$SINGLE_MANIFEST"
b_ok "inspect --config" inspect --config "$R/app:1.0"
check "inspect --config prints the config JSON" jqe "$O" '.config.Entrypoint[0] == "/bin/echo"'

# --- errors and exit codes -------------------------------------------------------------------------

b_fails "pull of an unknown tag" 3 "manifest unknown: $R/app:2.0" pull "$R/app:2.0"
b_fails "pull of an unknown repository" 3 "(manifest|name) unknown: $R/nope:1" pull "$R/nope:1"
b_fails "malformed reference" 2 "invalid" pull "$R/UPPER:1"
b_fails "unknown command" 2 "unknown command" frobnicate
b_fails "unreachable registry" 5 "cannot reach 127.0.0.1:1" pull 127.0.0.1:1/app:1
b_fails "pull of a digest the registry lacks" 3 "unknown" \
    pull "$R/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"
b_fails "run of a local image that does not exist, --pull never" 125 "no local image" \
    run --pull never "$R/absent:1"

# --- skopeo both ways -----------------------------------------------------------------------------

SK=(skopeo --insecure-policy)
if "${SK[@]}" copy -q "oci:$FX/multi:latest" "docker://$R/sk:1" --dest-tls-verify=false >"$T/sk.log" 2>&1; then
    b_ok "pull of an image pushed by skopeo" pull "$R/sk:1"
    check_eq "digest equals skopeo's" "$(cat "$O")" "$MULTI_MANIFEST"
else
    fail "skopeo copy to $R/sk:1: $(tail -n 2 "$T/sk.log")"
fi
b_ok "push multi-layer image" push "oci:$FX/multi:latest" "$R/bp:1"
if "${SK[@]}" copy -q "docker://$R/bp:1" "oci:$T/back:1" --src-tls-verify=false >"$T/sk.log" 2>&1; then
    ok "skopeo pulls the image berth pushed"
    check_eq "skopeo's copy has the same manifest" \
        "$(jq -r '.manifests[0].digest' "$T/back/index.json")" "$MULTI_MANIFEST"
else
    fail "skopeo copy from $R/bp:1: $(tail -n 2 "$T/sk.log")"
fi
if "${SK[@]}" copy -q "dir:$FX/docker-v2s2" "docker://$R/v2s2:1" --dest-tls-verify=false \
    >"$T/sk.log" 2>&1; then
    b_ok "pull of a Docker schema2 image" pull "$R/v2s2:1"
    check_eq "schema2 digest" "$(cat "$O")" "sha256:$(sha256sum <"$FX/docker-v2s2/manifest.json" | cut -d' ' -f1)"
    b_ok "push a Docker schema2 image back" push "$R/v2s2:1" "$R/v2s2:copy"
else
    fail "skopeo copy of docker-v2s2: $(tail -n 2 "$T/sk.log")"
fi

# --- index and platforms --------------------------------------------------------------------------

b_ok "push an image index" push "oci:$FX/index:latest" "$R/idx:1"
check_eq "index digest" "$(cat "$O")" "$INDEX_MANIFEST"
b_ok "pull the index (this host: amd64)" pull "$R/idx:1"
b_ok "inspect picks the amd64 image" inspect "$R/idx:1"
check "inspect of the pulled index shows amd64" grep -q "linux/amd64" "$O"
rm -rf "$T/h-arm"
BERTH_HOME=$T/h-arm b_ok "pull --platform linux/arm64" pull --platform linux/arm64 "$R/idx:1"
check "the arm64 image was stored" test -f "$T/h-arm/store/blobs/sha256/${ARM64_MANIFEST#sha256:}"
BERTH_HOME=$T/h-arm b_fails "pull --platform with no match" 3 "no image for linux/s390x" \
    pull --platform linux/s390x "$R/idx:1"

# --- mount across repositories, local tags ---------------------------------------------------------

b_ok "push local image to another repository" push "$R/app:1.0" "$R/other:1"
check "blobs are mounted from app, not uploaded" grep -q "mounted" "$E"
b_ok "tag locally" tag "$R/app:1.0" "$R/app:copy"
b "images"
check "images lists the new tag" grep -q "^$R/app:copy " "$O"
b_ok "rmi" rmi "$R/app:copy"
b images
check "the tag is gone" bash -c "! grep -q '^$R/app:copy ' '$O'"
b_fails "rmi of an unknown image" 3 "no local image" rmi "$R/app:none"

# --- delete ---------------------------------------------------------------------------------------

b_ok "push a throw-away image" push "oci:$FX/single:latest" "$R/gone:1"
b_ok "delete by digest" delete "$R/gone@$SINGLE_MANIFEST"
b_fails "the deleted manifest is unknown" 3 "manifest unknown" pull "$R/gone:1"

# --- parallel pulls into one store ----------------------------------------------------------------

PH=$T/h-par
pids=()
for i in 1 2 3 4; do
    BERTH_HOME=$PH "$BERTH" pull "$R/bp:1" >"$T/par.$i.out" 2>"$T/par.$i.err" </dev/null &
    pids+=($!)
done
par_ok=1
for i in "${!pids[@]}"; do wait "${pids[$i]}" || par_ok=0; done
check "4 parallel pulls of one image all succeed" test "$par_ok" = 1
check "the store is consistent after parallel pulls" store_consistent "$PH"
check_eq "one index entry for the image" \
    "$(jq --arg r "$R/bp:1" '[.manifests[] | select(.annotations["io.containerd.image.name"] == $r)] | length' "$PH/store/index.json")" 1

# --- local store: rmi removes what no tag needs, prune --------------------------------------------------

# blob_list HOME: the blob digests in HOME's store, sorted, one line each.
blob_list() {
    ls "$1/store/blobs/sha256" 2>/dev/null | sed 's/^/sha256:/' | sort
}

# image_blobs HOME REF: manifest, config and layer digests of a local image, sorted.
image_blobs() {
    BERTH_HOME=$1 "$BERTH" inspect --raw "$2" 2>/dev/null |
        jq -r '.config.digest, .layers[].digest' 2>/dev/null
    BERTH_HOME=$1 "$BERTH" inspect "$2" 2>/dev/null | awk '/^Digest/ {print $2}'
}

# all_present HOME REF: every blob the local image REF needs is in the store.
all_present() {
    local d n=0
    for d in $(image_blobs "$1" "$2" | sort -u); do
        [ -f "$1/store/blobs/sha256/${d#sha256:}" ] || return 1
        n=$((n + 1))
    done
    [ "$n" -ge 3 ]
}

GH=$T/h-gc
BERTH_HOME=$GH b_ok "gc: pull $R/app:1.0" pull "$R/app:1.0"
BERTH_HOME=$GH b_ok "gc: pull $R/bp:1 (shares the busybox layer)" pull "$R/bp:1"
BERTH_HOME=$GH b_ok "gc: tag app:1.0 as app:copy" tag "$R/app:1.0" "$R/app:copy"
mkdir -p "$GH/rootfs/${SINGLE_MANIFEST#sha256:}" # as `run` would have left it
before=$(blob_list "$GH")
check_eq "gc: both images' blobs are in the store" "$(echo "$before" | wc -l)" 6
BERTH_HOME=$GH b_ok "rmi of one of two tags of an image" rmi "$R/app:1.0"
check_eq "rmi keeps what the other tag needs" "$(blob_list "$GH")" "$before"
check "rmi prints untagged" grep -qx "untagged $R/app:1.0" "$O"
check "the root filesystem stays while a tag names the image" test -d "$GH/rootfs/${SINGLE_MANIFEST#sha256:}"
BERTH_HOME=$GH b_ok "rmi of the last tag" rmi "$R/app:copy"
check "rmi deletes the image's manifest" test ! -e "$GH/store/blobs/sha256/${SINGLE_MANIFEST#sha256:}"
check "rmi deletes the image's config" test ! -e "$GH/store/blobs/sha256/${SINGLE_CONFIG#sha256:}"
check "rmi keeps the layer another image shares" test -f "$GH/store/blobs/sha256/${SINGLE_LAYER1#sha256:}"
check "rmi reports each deleted blob" \
    bash -c "grep -qx 'deleted $SINGLE_MANIFEST' '$O' && grep -qx 'deleted $SINGLE_CONFIG' '$O'"
check "rmi removes the cached root filesystem" test ! -e "$GH/rootfs/${SINGLE_MANIFEST#sha256:}"
check "the other image is complete" all_present "$GH" "$R/bp:1"
check "the store is consistent after rmi" store_consistent "$GH"
BERTH_HOME=$GH b_ok "rmi --no-prune" rmi --no-prune "$R/bp:1"
check_eq "rmi --no-prune keeps every blob" "$(blob_list "$GH" | wc -l)" 4
# leftovers of killed commands: a temporary blob file, a half-unpacked root filesystem
printf 'partial' >"$GH/store/blobs/sha256/.tmp-00000000000000aa"
mkdir -p "$GH/rootfs/${MULTI_MANIFEST#sha256:}.tmp.AbCdEf"
BERTH_HOME=$GH b_ok "prune" prune
check_eq "prune deletes every untagged blob" "$(blob_list "$GH")" ""
check "prune removes temporary files" test ! -e "$GH/store/blobs/sha256/.tmp-00000000000000aa"
check "prune removes half-unpacked root filesystems" test ! -e "$GH/rootfs/${MULTI_MANIFEST#sha256:}.tmp.AbCdEf"
check "prune reports the total" grep -qE "^4 blobs deleted, .* reclaimed" "$O"
BERTH_HOME=$GH b_ok "prune with nothing to do" prune
check "an empty prune says so" grep -qE "^0 blobs deleted" "$O"
BERTH_HOME=$GH b_ok "pull after prune" pull "$R/bp:1"
check "the pulled image is complete" all_present "$GH" "$R/bp:1"

# --- docker save archive ----------------------------------------------------------------------------

DA=$T/docker-archive
mkdir -p "$DA/d/layer1"
gzip -dc "$BUSYBOX_LAYER" >"$DA/d/layer1/layer.tar"
cp "$FX/single/blobs/sha256/${SINGLE_CONFIG#sha256:}" "$DA/d/${SINGLE_CONFIG#sha256:}.json"
printf '[{"Config":"%s.json","RepoTags":["%s/saved:1"],"Layers":["layer1/layer.tar"]}]' \
    "${SINGLE_CONFIG#sha256:}" "$R" >"$DA/d/manifest.json"
tar -C "$DA/d" -cf "$DA/image.tar" manifest.json "${SINGLE_CONFIG#sha256:}.json" layer1/layer.tar
b_ok "push a docker-save archive (RepoTags names the destination)" push "docker-archive:$DA/image.tar"
b_ok "pull the archive's image" pull "$R/saved:1"
b_ok "push a docker-save archive to an explicit REF" push "$DA/image.tar" "$R/saved:2"

# --- interrupted pushes --------------------------------------------------------------------------------

BIGDIR=$FX/big
PPORT=$(free_port)
perl "$FIXDIR/dropproxy.pl" "$PPORT" "$SRV_PORT" $((3 * 1024 * 1024)) "$T/proxy.log" &
track_pid $!
sleep 0.5
b_ok "push through a connection dropped mid-upload (chunked)" \
    push --chunk-size 1048576 "oci:$BIGDIR:latest" "127.0.0.1:$PPORT/resume:1"
check "the proxy did drop the connection" grep -q "dropped" "$T/proxy.log"
if grep -qE "interrupted|retrying" "$E"; then
    ok "berth noticed the drop and carried on"
    if berthd_only "the upload resumed from the registry's Range"; then
        check "resumed from the session status" grep -q "resumed" "$E"
    fi
else
    skip "the drop fell between requests and curl resent the request by itself"
fi
b_ok "the pushed image pulls back" pull "$R/resume:1"
check_eq "same digest after the interrupted push" "$(cat "$O")" "$BIG_MANIFEST"

# killed client: a throttled push is killed half way, the next push finishes the job. The layer is new
# to the registry (else it would be mounted from resume:1).
head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/rand.tar"
mk_image "$T/killed" '["/bin/true"]' 'null' "$BUSYBOX_LAYER" "$T/rand.tar"
KILLED=$IMG
"$BERTH" --limit-rate 1000000 push --chunk-size 1048576 "oci:$T/killed:latest" "$R/killed:1" \
    >"$T/kill.out" 2>"$T/kill.err" </dev/null &
kpid=$!
sleep 2.5
kill -9 "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
check "the throttled push was interrupted" bash -c "! grep -q sha256 '$T/kill.out'"
check "an unfinished upload session was remembered" bash -c "ls '$BERTH_HOME/uploads/' | grep -q ."
b_ok "push again after the client was killed" push --chunk-size 1048576 "oci:$T/killed:latest" "$R/killed:1"
check_eq "digest after the resumed push" "$(cat "$O")" "$KILLED"
check "the finished upload forgot its session" bash -c "! ls '$BERTH_HOME/uploads/' | grep -q ."
if berthd_only "a killed push resumes where the registry stopped"; then
    check "resumed from the saved session" grep -q "resumed" "$E"
fi

# --- local store: rmi and prune beside a running pull ----------------------------------------------------

# A prune or rmi that starts while a pull is half-way waits for it: the blobs the pull already wrote
# (or found present) are not yet tagged and must survive. $R/conc-big:1 is the busybox layer plus a
# 12 MiB one: throttled, its pull takes a few seconds.
CH=$T/h-conc
b_ok "conc: push the big image" push "oci:$FX/big:latest" "$R/conc-big:1"
BERTH_HOME=$CH b_ok "conc: pull $R/bp:1" pull "$R/bp:1"
# wait_pulling PID: until the pull has written a blob (or ended).
wait_pulling() {
    local i
    for i in $(seq 1 100); do
        ls -a "$CH/store/blobs/sha256" | grep -q '^\.tmp-' && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
BERTH_HOME=$CH "$BERTH" --limit-rate 4000000 pull "$R/conc-big:1" >"$T/conc.out" 2>"$T/conc.err" </dev/null &
cpid=$!
check "the throttled pull is downloading" wait_pulling "$cpid"
BERTH_HOME=$CH b_ok "rmi while a pull runs" rmi "$R/bp:1"
check "rmi waited for the pull" grep -q "waiting for other berth processes" "$E"
wait "$cpid"
check "the pull that ran beside rmi succeeded" test $? = 0
check "its image is complete (the layer it shares with the removed image survived)" \
    all_present "$CH" "$R/conc-big:1"
check "the removed image's own layer is gone" test ! -e "$CH/store/blobs/sha256/${MULTI_LAYER2#sha256:}"
BERTH_HOME=$CH b_ok "conc: rmi $R/conc-big:1" rmi -q "$R/conc-big:1"
check_eq "conc: the store is empty" "$(blob_list "$CH")" ""
BERTH_HOME=$CH "$BERTH" --limit-rate 4000000 pull "$R/conc-big:1" >"$T/conc.out" 2>"$T/conc.err" </dev/null &
cpid=$!
check "the throttled pull is downloading again" wait_pulling "$cpid"
BERTH_HOME=$CH b_ok "prune while a pull runs" prune
check "prune waited for the pull" grep -q "waiting for other berth processes" "$E"
check_eq "prune found nothing to delete" "$(head -c 7 "$O")" "0 blobs"
wait "$cpid"
check "the pull that ran beside prune succeeded" test $? = 0
check "its image is complete" all_present "$CH" "$R/conc-big:1"
check "the store is consistent" store_consistent "$CH"

# --- Basic authentication, login / logout, docker config ----------------------------------------------

AUTH_PORT=$(free_port)
AUTH_DATA=$T/auth-data
mkdir -p "$AUTH_DATA"
HASH=$(perl -e 'print crypt($ARGV[0], "\$2y\$05\$" . "berthsaltberthsaltberth")' s3cret)
printf 'alice:%s\n' "$HASH" >"$T/htpasswd"
A=127.0.0.1:$AUTH_PORT

# wait_status URL CODE: poll until URL answers CODE (30 s at most).
wait_status() {
    local i
    for i in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# start_auth_berthd PORT DATA ARGS...: a berthd with authentication (rate limiting off: the tests fail
# logins on purpose).
start_auth_berthd() {
    local port=$1 data=$2
    shift 2
    "$BERTHD" --listen "127.0.0.1:$port" --data "$data" --auth.htpasswd "$T/htpasswd" \
        --auth.admin alice --auth.ratelimit.failures 0 "$@" >"$T/auth-berthd.$port.log" 2>&1 </dev/null &
    track_pid $!
}

if [ "$TARGET" = berthd ]; then
    start_auth_berthd "$AUTH_PORT" "$AUTH_DATA" --auth.mode htpasswd --auth.issuer.enabled false
else
    cat >"$T/auth.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $AUTH_DATA
  delete:
    enabled: true
http:
  addr: $A
  secret: berth-client-tests
auth:
  htpasswd:
    realm: berth-test
    path: $T/htpasswd
EOF
    "$REFERENCE_REGISTRY" serve "$T/auth.yml" >"$T/auth.log" 2>&1 </dev/null &
    track_pid $!
fi
wait_status "http://$A/v2/" 401 || fail "the Basic-auth registry did not start"
b_fails "push without credentials" 4 "authentication required" push "oci:$FX/single:latest" "$A/app:1"
b_fails "login with a wrong password" 4 "wrong username or password" login -u alice -p wrong "$A"
check "a failed login saves nothing" test ! -e "$HOME/.config/berth/auth.json"
b_ok "login" login -u alice -p s3cret "$A"
check_eq "credential file mode" "$(stat -c %a "$HOME/.config/berth/auth.json")" 600
check "the password is not stored in clear" bash -c "! grep -q s3cret '$HOME/.config/berth/auth.json'"
b_ok "push with saved credentials" push "oci:$FX/single:latest" "$A/app:1"
rm -rf "$T/h-auth"
BERTH_HOME=$T/h-auth b_ok "pull with saved credentials" pull "$A/app:1"
b_ok "logout" logout "$A"
BERTH_HOME=$T/h-auth b_fails "pull after logout" 4 "authentication required" pull "$A/app:1"
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf 'alice:s3cret' | base64)" >"$DOCKER_CONFIG/config.json"
BERTH_HOME=$T/h-auth b_ok "pull with ~/.docker/config.json credentials" pull "$A/app:1"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf 'alice:nope' | base64)" >"$DOCKER_CONFIG/config.json"
BERTH_HOME=$T/h-auth b_fails "docker config with a wrong password" 4 "wrong username or password" \
    pull "$A/app:1"
rm -f "$DOCKER_CONFIG/config.json"

# credential helpers: docker-credential-fake, first on PATH, keeps one file per server URL in
# $FAKE_HELPER_DIR and logs "<verb> <server URL>" lines
HB=$T/helper-bin
HS=$T/helper-store
mkdir -p "$HB" "$HS"
cat >"$HB/docker-credential-fake" <<'EOF'
#!/bin/sh
d=${FAKE_HELPER_DIR:?}
in=$(cat)
case "$1" in
store) url=$(printf '%s' "$in" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/') ;;
*) url=$in ;;
esac
f=$d/$(printf '%s' "$url" | tr -c 'A-Za-z0-9' '_')
printf '%s %s\n' "$1" "$url" >>"$d/log"
case "$1" in
get) [ -f "$f" ] && exec cat "$f"; echo 'credentials not found in native keychain'; exit 1 ;;
store) printf '%s' "$in" >"$f" ;;
erase) [ -f "$f" ] || { echo 'credentials not found in native keychain'; exit 1; }; rm -f "$f" ;;
*) echo 'unknown action'; exit 1 ;;
esac
EOF
chmod +x "$HB/docker-credential-fake"
export FAKE_HELPER_DIR=$HS
OLD_PATH=$PATH
export PATH=$HB:$PATH
helper_file() { printf '%s/%s' "$HS" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '_')"; }
printf '{"credsStore":"fake"}' >"$DOCKER_CONFIG/config.json"
b_ok "login through a credential helper (credsStore)" login -u alice -p s3cret "$A"
check "login names the helper" grep -q "credentials kept by docker-credential-fake" "$O"
check "the helper was asked to store them for the host" grep -qx "store $A" "$HS/log"
check "the helper got username and secret" jqe "$(helper_file "$A")" '.Username == "alice" and .Secret == "s3cret"'
check "Berth's own file does not hold them" \
    bash -c "! grep -q '$A' '$HOME/.config/berth/auth.json' 2>/dev/null"
rm -rf "$T/h-auth"
BERTH_HOME=$T/h-auth b_ok "pull with credentials from the helper" pull "$A/app:1"
check "the helper was asked for the host's credentials" grep -qx "get $A" "$HS/log"
: >"$HS/log"
rm -rf "$T/h-anon"
BERTH_HOME=$T/h-anon b_ok "pull from a registry that asks for no credentials" pull "$R/app:1.0"
check "no helper runs for a registry that never asks" test ! -s "$HS/log"
b_ok "logout through the helper" logout "$A"
check "the helper was asked to erase them" grep -qx "erase $A" "$HS/log"
check "the helper's copy is gone" test ! -e "$(helper_file "$A")"
BERTH_HOME=$T/h-auth b_fails "pull after logout through the helper" 4 "authentication required" \
    pull "$A/app:1"
b_fails "logout again" 3 "not logged in" logout "$A"
# credHelpers names a helper for one host (credsStore's helper does not exist); credentials put
# there by hand, as `docker login` would have
printf '{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}' "$A" >"$(helper_file "$A")"
printf '{"credsStore":"missing","credHelpers":{"%s":"fake"}}' "$A" >"$DOCKER_CONFIG/config.json"
BERTH_HOME=$T/h-auth b_ok "pull with credHelpers" pull "$A/app:1"
printf '{"ServerURL":"%s","Username":"alice","Secret":"nope"}' "$A" >"$(helper_file "$A")"
BERTH_HOME=$T/h-auth b_fails "a helper's wrong password is refused" 4 "wrong username or password" \
    pull "$A/app:1"
printf '{"credsStore":"missing","auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf 'alice:s3cret' | base64)" \
    >"$DOCKER_CONFIG/config.json"
BERTH_HOME=$T/h-auth b_ok "a helper missing from PATH: auths are used" pull "$A/app:1"
check "with a warning naming it" grep -q "docker-credential-missing is not on PATH" "$E"
export PATH=$OLD_PATH
rm -f "$DOCKER_CONFIG/config.json"

printf 's3cret\n' | "$BERTH" login -u alice --password-stdin "$A" >"$O" 2>"$E"
check "login --password-stdin" test $? = 0
"$BERTH" logout "$A" >/dev/null 2>&1

# --- Bearer token flow -------------------------------------------------------------------------------

TREG_PORT=$(free_port)
TA=127.0.0.1:$TREG_PORT
if [ "$TARGET" = berthd ]; then
    # the built-in token issuer at /auth/token, users from the htpasswd file
    start_auth_berthd "$TREG_PORT" "$T/token-data" --auth.mode token \
        --auth.token.realm "http://$TA/auth/token"
    wait_status "http://$TA/v2/" 401 || fail "the token-auth berthd did not start"
else
    TOK_PORT=$(free_port)
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok.key" -out "$T/tok.crt" -days 2 \
        -subj "/CN=berth-test-token" >/dev/null 2>&1
    perl "$FIXDIR/tokensrv.pl" "$TOK_PORT" "$T/tok.key" "$T/tok.crt" alice s3cret berth-test-issuer \
        berth-test-registry >"$T/tokensrv.log" 2>&1 &
    track_pid $!
    cat >"$T/token.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/token-data
  delete:
    enabled: true
http:
  addr: $TA
  secret: berth-client-tests
auth:
  token:
    realm: http://127.0.0.1:$TOK_PORT/token
    service: berth-test-registry
    issuer: berth-test-issuer
    rootcertbundle: $T/tok.crt
EOF
    "$REFERENCE_REGISTRY" serve "$T/token.yml" >"$T/token.log" 2>&1 </dev/null &
    track_pid $!
    { wait_status "http://$TA/v2/" 401 && wait_status "http://127.0.0.1:$TOK_PORT/token" 200; } ||
        fail "the token-auth registry did not start"
fi
b_fails "token flow: wrong password" 4 "wrong username or password" \
    login -u alice -p wrong "$TA"
b_ok "token flow: login" login -u alice -p s3cret "$TA"
b_ok "token flow: push (challenge, token, retry)" push "oci:$FX/multi:latest" "$TA/tok/app:1"
rm -rf "$T/h-tok"
BERTH_HOME=$T/h-tok b_ok "token flow: pull with parallel layer downloads" pull "$TA/tok/app:1"
check_eq "token flow: digest" "$(cat "$O")" "$MULTI_MANIFEST"
b_ok "token flow: tags" tags "$TA/tok/app"
if [ "$TARGET" = reference ]; then
    check "the token server saw scoped requests" grep -q "scope=repository:tok/app:pull,push" "$T/tokensrv.log"
fi
"$BERTH" logout "$TA" >/dev/null 2>&1
BERTH_HOME=$T/h-tok b_fails "token flow: anonymous pull refused" 4 "authentication required" pull "$TA/tok/app:1"

# --- diff_ids: each uncompressed layer must match the image config -----------------------------------

# `run` hashes each layer as it unpacks it (before the runtime is needed: --runtime /bin/false)
DIFF_IDS="[\"sha256:$(printf x | sha256sum | cut -d' ' -f1)\"]" mk_image "$T/badid" '["/bin/true"]' 'null' \
    "$BUSYBOX_LAYER"
BADID=$IMG
b_ok "push an image whose config lists a wrong diff_id" push "oci:$T/badid:latest" "$R/badid:1"
b_fails "run refuses a layer that does not match its diff_id" 125 "uncompressed content is sha256:.*diff_id" \
    run --rm --runtime /bin/false "$R/badid:1"
check "no root filesystem is cached for it, not even half of one" \
    bash -c "! ls '$BERTH_HOME/rootfs' | grep -q '^${BADID#sha256:}'"
DIFF_IDS='[]' mk_image "$T/noid" '["/bin/true"]' 'null' "$BUSYBOX_LAYER"
b_ok "push an image whose config lists no diff_ids" push "oci:$T/noid:latest" "$R/noid:1"
b_fails "run refuses a config whose diff_ids do not match the layers" 125 "0 diff_ids for the manifest's 1 layers" \
    run --rm --runtime /bin/false "$R/noid:1"

# --- berth run ---------------------------------------------------------------------------------------

if [ "$(id -u)" != 0 ] || ! command -v runc >/dev/null; then
    skip "berth run checks (need root and runc)"
else
    b_ok "run the busybox image" run --rm "$R/app:1.0"
    check_eq "run prints the image's output" "$(cat "$O")" "hello"
    b_fails "run returns the container's exit code" 7 "" run --rm --entrypoint /bin/sh "$R/app:1.0" -c 'exit 7'
    b_ok "run with -e, -w and a command" run --rm -e FOO=bar -w /tmp --entrypoint /bin/sh \
        "$R/app:1.0" -c 'echo "$FOO $(pwd)"'
    check_eq "environment and working directory" "$(cat "$O")" "bar /tmp"
    b_ok "run -u 1000:1000" run --rm -u 1000:1000 --entrypoint /bin/sh "$R/app:1.0" -c 'id -u; id -g'
    check_eq "user and group" "$(tr '\n' ' ' <"$O")" "1000 1000 "
    b_ok "a container's writes stay in the container" run --rm --entrypoint /bin/sh "$R/app:1.0" \
        -c 'echo x > /bin/echo-was-here'
    check "the cached root filesystem is untouched" \
        test ! -e "$BERTH_HOME/rootfs/${SINGLE_MANIFEST#sha256:}/bin/echo-was-here"
    b_ok "nofile limit within the host's hard limit" run --rm --entrypoint /bin/sh "$R/app:1.0" -c 'ulimit -Hn'
    check "container hard nofile <= host hard nofile" test "$(cat "$O")" -le "$(ulimit -Hn)"
    rm -rf "$T/h-run"
    BERTH_HOME=$T/h-run b_ok "run pulls a missing image first" run --rm -q "$R/bp:1"
    check_eq "output of the pulled image" "$(cat "$O")" "hello"

    # whiteouts: layer 2 deletes /data/a and makes /opq opaque (keeping only what it adds itself)
    printf 'd data\nf data/a A\nf data/b B\nd opq\nf opq/old1 1\nd opq/olddir\nf opq/olddir/x x\n' |
        spec_layer "$T/wl1.tgz"
    printf 'f data/.wh.a\nf opq/new N\nf opq/.wh..wh..opq\nd opq/sub\nf opq/sub/y Y\n' | spec_layer "$T/wl2.tgz"
    mk_image "$T/wh" '["/bin/sh","-c"]' '["ls /data; echo --; ls -R /opq"]' "$BUSYBOX_LAYER" \
        "$T/wl1.tgz" "$T/wl2.tgz"
    b_ok "push the whiteout image" push "oci:$T/wh:latest" "$R/wh:1"
    b_ok "run the whiteout image" run --rm "$R/wh:1"
    check_eq "whiteout and opaque directory applied" "$(tr '\n' ' ' <"$O")" \
        "b -- /opq: new sub  /opq/sub: y "

    # zstd layer
    printf 'f zst/hello from-zstd\n' | "$T/mktar" | zstd -q -c >"$T/z.tar.zst"
    mk_image "$T/zs" '["/bin/cat"]' '["/zst/hello"]' "$BUSYBOX_LAYER" "$T/z.tar.zst"
    b_ok "push an image with a zstd layer" push "oci:$T/zs:latest" "$R/zs:1"
    b_ok "run the zstd image" run --rm "$R/zs:1"
    check_eq "zstd layer content" "$(cat "$O")" "from-zstd"

    # hostile layers: each must be refused and must leave nothing outside the root filesystem
    mkdir -p "$T/outside"
    hostile() {
        local name=$1 pat=$2
        spec_layer "$T/$name.tgz"
        mk_image "$T/$name" '["/bin/true"]' 'null' "$BUSYBOX_LAYER" "$T/$name.tgz"
        "$BERTH" push -q "oci:$T/$name:latest" "$R/hostile-$name:1" >/dev/null 2>"$E" ||
            fail "push hostile-$name: $(head -c 200 "$E")"
        b_fails "hostile layer refused: $name" 125 "$pat" run --rm "$R/hostile-$name:1"
        check "no root filesystem cached for hostile-$name" test ! -e "$BERTH_HOME/rootfs/${IMG#sha256:}"
    }
    printf 'f ../../../../../../../%s/escape-dotdot x\n' "${T#/}" | hostile dotdot "escapes the root"
    check "nothing written by ../" test ! -e "$T/escape-dotdot"
    printf 'f %s/escape-abs x\n' "$T" | hostile absolute "absolute"
    check "nothing written by an absolute path" test ! -e "$T/escape-abs"
    printf 'l evil %s/outside\nf evil/pwned x\n' "$T" | hostile symlink-write "symlink"
    check "nothing written through the symlink" test ! -e "$T/outside/pwned"
    printf 'h hl %s/outside/target\n' "$T" | hostile hardlink-abs "hard link"
    printf 'h hl ../../../../etc/passwd\n' | hostile hardlink-dotdot "hard link"
    printf 'l s /etc\nh hl s/passwd\n' | hostile hardlink-via-symlink "symlink"
    printf 'c dev/mem 1 1\n' | hostile device "device nodes are not allowed"
    check "the host's /etc/passwd is intact" grep -q '^root:' /etc/passwd
fi

finish
