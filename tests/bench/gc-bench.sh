#!/usr/bin/env bash
# gc-bench.sh: the figures of docs/gc.md.
#   1. time to collect MANIFESTS manifests (default 1000, pushed by digest, untagged) and the
#      10 blobs each references (10 000 blobs, 1 KiB each) with `berthd gc --delete-untagged`;
#   2. push latency (blob + config + manifest PUT, PUSHERS concurrent clients) without any
#      collection, then while `berthd gc` collects the same amount of garbage: p50, p99, max.
# Starts its own berthd (BERTHD, default bin/berthd) on a free loopback port with a temp data dir
# and stops it by PID. Prints one line per figure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BERTHD=${BERTHD:-$ROOT/bin/berthd}
MANIFESTS=${MANIFESTS:-1000}
PER_MANIFEST=10
PUSHERS=${PUSHERS:-4}
PUSHES=${PUSHES:-150} # per pusher and phase
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

W=$(mktemp -d "${TMPDIR:-/tmp}/gc-bench.XXXXXX") || exit 2
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

PORT=$(perl -MIO::Socket::INET -e 'for (1..200) { my $p = 20000 + int(rand(12000));
    if (IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p, Listen => 1)) { print $p; exit } }')
URL=http://127.0.0.1:$PORT
DATA=$W/data
"$BERTHD" --listen "127.0.0.1:$PORT" --data "$DATA" --gc.enabled false --access-log false \
    --threads 4 >"$W/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "$URL/v2/" && break
    sleep 0.1
done

# garbage_job I: upload 10 random 1 KiB blobs and an untagged manifest (9 layers + config).
garbage_job() {
    local i=$1 d=$W/g$1 j dg layers="" cfg
    mkdir -p "$d"
    for j in $(seq 1 $((PER_MANIFEST - 1))); do
        head -c 1024 /dev/urandom >"$d/$j"
        dg=sha256:$(sha256sum <"$d/$j" | cut -d' ' -f1)
        curl -s -o /dev/null -X POST --data-binary "@$d/$j" -H 'Content-Type: application/octet-stream' \
            "$URL/v2/bench/r$((i % 10))/blobs/uploads/?digest=$dg"
        layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$dg\",\"size\":1024}"
    done
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d,"r":"%s"}' \
        "$i" "$(head -c 600 /dev/urandom | base64 -w0)" >"$d/c"
    cfg=sha256:$(sha256sum <"$d/c" | cut -d' ' -f1)
    curl -s -o /dev/null -X POST --data-binary "@$d/c" -H 'Content-Type: application/octet-stream' \
        "$URL/v2/bench/r$((i % 10))/blobs/uploads/?digest=$cfg"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}' \
        "$cfg" "$(stat -c %s "$d/c")" "$layers" >"$d/m"
    dg=sha256:$(sha256sum <"$d/m" | cut -d' ' -f1)
    curl -s -o /dev/null -X PUT --data-binary "@$d/m" \
        -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$URL/v2/bench/r$((i % 10))/manifests/$dg"
    rm -rf "$d"
}
export -f garbage_job
export W URL PER_MANIFEST

make_garbage() {
    seq 1 "$MANIFESTS" | xargs -P 8 -I{} bash -c 'garbage_job {}'
    sleep 1.1 # older than a zero grace
}

# pusher K N [STOP]: N pushes of a small image into bench/liveK (fewer when the file STOP appears);
# one line per push with its milliseconds.
pusher() {
    local k=$1 n=$2 stop=${3:-/nonexistent} d=$W/p$1 i t l c m dg cd
    mkdir -p "$d"
    for i in $(seq 1 "$n"); do
        [ -e "$stop" ] && break
        head -c 2048 /dev/urandom >"$d/l"
        printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"p":"%s %s %s"}' \
            "$k" "$i" "$RANDOM$RANDOM" >"$d/c"
        dg=sha256:$(sha256sum <"$d/l" | cut -d' ' -f1)
        cd=sha256:$(sha256sum <"$d/c" | cut -d' ' -f1)
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":2048}]}' \
            "$cd" "$(stat -c %s "$d/c")" "$dg" >"$d/m"
        l=$(curl -s -o /dev/null -w '%{time_total}' -X POST --data-binary "@$d/l" \
            -H 'Content-Type: application/octet-stream' "$URL/v2/bench/live$k/blobs/uploads/?digest=$dg")
        c=$(curl -s -o /dev/null -w '%{time_total}' -X POST --data-binary "@$d/c" \
            -H 'Content-Type: application/octet-stream' "$URL/v2/bench/live$k/blobs/uploads/?digest=$cd")
        m=$(curl -s -o /dev/null -w '%{time_total}' -X PUT --data-binary "@$d/m" \
            -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$URL/v2/bench/live$k/manifests/t$i")
        t=$(echo "$l + $c + $m" | bc -l)
        printf '%.3f\n' "$(echo "$t * 1000" | bc -l)"
    done
}

# pushes OUT N [STOP]: PUSHERS pushers in parallel, latencies (ms) into OUT.
pushes() {
    local k pids=()
    for k in $(seq 1 "$PUSHERS"); do
        pusher "$k" "$2" "${3:-}" >"$1.$k" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$1".* >"$1"
}

# pct FILE: "p50 X ms, p99 Y ms, max Z ms (N pushes)".
pct() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)];
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d pushes)", p50, p99, v[NR], NR }'
}

echo "berthd: $BERTHD; $(nproc) cpus; data on $(df -T "$W" | awk 'NR == 2 { print $2 }')"

# --- 1. collection time ---------------------------------------------------------------------------
t0=$(date +%s.%N)
make_garbage
t1=$(date +%s.%N)
printf 'setup: %d manifests, %d blobs pushed in %.1f s\n' "$MANIFESTS" $((MANIFESTS * PER_MANIFEST)) \
    "$(echo "$t1 - $t0" | bc -l)"
"$BERTHD" gc --data "$DATA" --log-level warn --grace 0s --delete-untagged --dry-run >"$W/dry.out"
grep -E '^(manifests|links|blobs):' "$W/dry.out" | sed 's/^/dry run: /'
echo "dry run (the mark, no write lock): $(grep '^time:' "$W/dry.out")"
t0=$(date +%s.%N)
"$BERTHD" gc --data "$DATA" --log-level warn --grace 0s --delete-untagged >"$W/gc.out"
t1=$(date +%s.%N)
printf 'collect %s manifests + %s blobs: %.2f s wall (%s)\n' "$(awk '/^manifests:/ { print $2 }' "$W/gc.out")" \
    "$(awk '/^blobs:/ { print $2 }' "$W/gc.out")" "$(echo "$t1 - $t0" | bc -l)" "$(grep '^time:' "$W/gc.out")"

# --- 2. push latency with and without a collection --------------------------------------------------
pushes "$W/quiet" "$PUSHES"
echo "push latency, no collection: $(pct "$W/quiet")"

# The same pushes while a collection of the same size runs; they stop when it ends, so every
# sample overlaps it.
make_garbage
pushes "$W/busy" 1000000 "$W/stop" &
pushpid=$!
sleep 0.5
"$BERTHD" gc --data "$DATA" --log-level warn --grace 0s --delete-untagged >"$W/gc2.out"
touch "$W/stop"
wait "$pushpid"
echo "push latency, during a collection: $(pct "$W/busy")"
echo "  that collection: $(grep -E '^(manifests|blobs):' "$W/gc2.out" | tr '\n' ' ')$(grep '^time:' "$W/gc2.out")"
