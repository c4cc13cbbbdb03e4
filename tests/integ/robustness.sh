#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2119 # functions called via check
# robustness.sh: berthd under stress and bad luck. Clients that disconnect mid-upload; SIGTERM during
# an upload (the request finishes, exit 0); SIGKILL at random moments while pushing (everything
# acknowledged survives intact); upload sessions that survive a restart; a 1 GiB streamed push and
# pull with RSS sampled from /proc; 32 concurrent uploads; blobs served without a file descriptor
# (--storage.driver mem: full GETs, ranges, HEAD and 416 through read_at).
# Written for berthd; BERTH_TEST_TARGET=reference runs it against Distribution to validate the suite.
#   KILL_ROUNDS (default 8)   SIGKILL rounds
#   RSS_LIMIT_MIB (default 8) allowed growth of VmRSS/VmHWM during the 1 GiB push and pull
#   BIG_PUSH_MIB (default 1024)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

KILL_ROUNDS=${KILL_ROUNDS:-8}
RSS_LIMIT_MIB=${RSS_LIMIT_MIB:-8}
BIG_PUSH_MIB=${BIG_PUSH_MIB:-1024}
CONCURRENT=${CONCURRENT:-32}
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# === abandoned uploads expire (berthd-only) =======================================================
# A second berthd with a 60 s upload expiry gets two abandoned sessions now; they are checked at
# the end, while the other tests run in between.
EXP=
if berthd_only "abandoned upload sessions expire and leave nothing"; then
    if start_berthd "" "" --upload.expiry 60s --upload.sweep 1s; then
        EXP=1
        EXP_PID=$SRV_PID EXP_URL=$SRV_URL EXP_DATA=$SRV_DATA EXP_LOG=$SRV_LOG EXP_PORT=$SRV_PORT
        head -c $((2 * 1024 * 1024)) /dev/urandom >"$T/2m"
        D2=$(sha256_of "$T/2m")
        req POST /v2/rb/expiry/blobs/uploads/
        exp_loc1=$(abs_url "$(hdr Location)")
        head -c 1048576 "$T/2m" >"$T/2m.a"
        req PATCH "$exp_loc1" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-1048575' \
            --data-binary "@$T/2m.a"
        check_status 202 "session abandoned after one chunk"
        exp_loc1=$(abs_url "$(hdr Location)")
        req POST /v2/rb/expiry/blobs/uploads/
        exp_loc2=$(abs_url "$(hdr Location)")
        curl -s -o /dev/null --limit-rate 512K --max-time 1 -X PUT -H 'Content-Type: application/octet-stream' \
            --data-binary "@$T/2m" "$(add_query "$exp_loc2" "digest=$D2")"
        exp_t0=$(date +%s)
        n=$(find "$EXP_DATA/uploads" -type f 2>/dev/null | wc -l)
        check "abandoned sessions have staged bytes under DATA/uploads ($n files)" test "$n" -ge 1
    else
        fail "berthd with --upload.expiry 60s did not start"
    fi
    SRV_PID=
fi

# === idle footprint (berthd-only) =================================================================
# After start-up berthd holds no SQLite connection (the start-up one is closed, its memory given
# back) and runs the HTTP threads and the main thread only; a collection adds libuv's pool of one
# thread, the first write one io thread, and a burst of writes no more than --io-threads. RSS itself is left to tests/bench: shared-library pages make it vary
# by tens of KiB from one start to the next.
if berthd_only "idle footprint: no database connection, no extra threads"; then
    # task_count: threads of the server.
    task_count() { find "/proc/$SRV_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }
    if start_berthd "" "" --threads 4 --gc.enabled false; then
        req GET /v2/
        check "idle after start-up: no database connection (no metadata.db-shm mapped)" \
            test "$(grep -c 'metadata\.db-shm' "/proc/$SRV_PID/maps")" = 0
        check "idle after start-up: 4 http threads + main = $(task_count) threads" test "$(task_count)" = 5
        check_clean_stop
    else
        fail "berthd did not start for the idle footprint checks"
    fi
    # --threads is the total over the listen addresses: localhost is two daemons of two threads.
    if _srv_prepare "" "" && launch_berthd --threads 4 --gc.enabled false --listen "localhost:$SRV_PORT"; then
        check "idle on localhost (127.0.0.1 + ::1): 2 + 2 http threads + main = $(task_count) threads" \
            test "$(task_count)" = 5
        check_clean_stop
    else
        fail "berthd did not start on localhost for the thread split check"
    fi
    if start_berthd "" "" --threads 4 --io-threads 2 --gc.interval 1s; then
        for _ in $(seq 1 50); do
            [ "$(grep -c 'gc: deleted' "$SRV_LOG")" -ge 2 ] && break
            sleep 0.1
        done
        req POST /v2/rb/threads/blobs/uploads/
        check_status 202 "a write after the collections"
        check "after $(grep -c 'gc: deleted' "$SRV_LOG") online collections and a write: $(task_count) threads = 4 http + main + 1 gc + 1 io" \
            test "$(task_count)" -eq 7
        burst=()
        for _ in $(seq 1 16); do
            curl -s -o /dev/null -X POST "$SRV_URL/v2/rb/threads/blobs/uploads/" &
            burst+=($!)
        done
        wait "${burst[@]}"
        check "after 16 parallel writes: $(task_count) threads <= 4 http + main + 1 gc + 2 io (--io-threads 2)" \
            test "$(task_count)" -le 8
        check_clean_stop
    else
        fail "berthd did not start for the collector thread check"
    fi
fi

start_target || {
    fail "server did not start"
    finish
}
describe_target
PORT=$SRV_PORT
DATA=$SRV_DATA

# restart [SIGNAL]: stop the server (TERM: must exit 0) and start it again on the same port and data.
restart() {
    local sig=${1:-TERM} pid=$SRV_PID
    stop_server "$sig"
    if [ "$sig" = TERM ] && [ "$STOP_RC" != 0 ]; then
        fail "server (pid $pid) exit status $STOP_RC on SIGTERM"
    fi
    start_target "$DATA" "$PORT"
}

# alive: the server answers /v2/.
alive() {
    [ "$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$SRV_URL/v2/")" = 200 ]
}

# push_file REPO FILE DIGEST [CHUNKS]: POST, then CHUNKS PATCHes with Content-Range (0: one PUT with
# the body), then PUT ?digest=. Plain curl with private temp files: safe in background subshells.
# Prints nothing; returns 0 only on a final 201.
push_file() {
    local repo=$1 file=$2 dg=$3 chunks=${4:-0} h loc size off n i code
    h=$(mktemp "$T/push.XXXXXX")
    curl -s -o /dev/null -D "$h" --max-time 60 -X POST "$SRV_URL/v2/$repo/blobs/uploads/" || {
        rm -f "$h"
        return 1
    }
    loc=$(HDRS=$h hdr Location)
    [ -n "$loc" ] || {
        rm -f "$h"
        return 1
    }
    loc=$(abs_url "$loc")
    if [ "$chunks" -gt 0 ]; then
        size=$(file_size "$file")
        n=$(((size + chunks - 1) / chunks))
        off=0
        for ((i = 0; i < chunks && off < size; i++)); do
            [ $((off + n)) -le "$size" ] || n=$((size - off))
            code=$(tail -c +$((off + 1)) "$file" | head -c "$n" |
                curl -s -o /dev/null -D "$h" --max-time 60 -w '%{http_code}' -X PATCH \
                    -H 'Content-Type: application/octet-stream' -H "Content-Range: $off-$((off + n - 1))" \
                    --data-binary @- "$loc")
            [ "$code" = 202 ] || {
                rm -f "$h"
                return 1
            }
            loc=$(abs_url "$(HDRS=$h hdr Location)")
            off=$((off + n))
        done
        code=$(curl -s -o /dev/null --max-time 60 -w '%{http_code}' -X PUT "$(add_query "$loc" "digest=$dg")")
    else
        code=$(curl -s -o /dev/null --max-time 60 -w '%{http_code}' -X PUT \
            -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$(add_query "$loc" "digest=$dg")")
    fi
    rm -f "$h"
    [ "$code" = 201 ]
}

# blob_intact REPO DIGEST: GET returns 200 and bytes whose sha256 is DIGEST.
blob_intact() {
    local f=$T/intact.bin code rc
    code=$(curl -s --max-time 120 -o "$f" -w '%{http_code}' "$SRV_URL/v2/$1/blobs/$2")
    [ "$code" = 200 ] && [ "$(sha256_of "$f")" = "$2" ]
    rc=$?
    rm -f "$f"
    return "$rc"
}

# === client disconnects mid-upload =============================================================
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/8m"
D8=$(sha256_of "$T/8m")
req POST /v2/rb/abort/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
curl -s -o /dev/null --limit-rate 1M --max-time 2 -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/8m" "$(add_query "$loc" "digest=$D8")"
check "client gave up mid-PUT (curl timeout)" test $? = 28
req HEAD "/v2/rb/abort/blobs/$D8"
check_status 404 "blob of an aborted PUT not visible"
req PUT "$(add_query "$loc" "digest=$D8")"
check_status "400|404|416" "completing an aborted upload without the rest of the data fails"
req HEAD "/v2/rb/abort/blobs/$D8"
check_status 404 "still not visible"

req POST /v2/rb/abort/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
curl -s -o /dev/null --limit-rate 1M --max-time 30 -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/8m" "$loc" &
cpid=$!
track_pid "$cpid"
sleep 1
kill -9 "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
check "client killed mid-PATCH" test $? = 137
sleep 0.5
req HEAD "/v2/rb/abort/blobs/$D8"
check_status 404 "blob of a killed PATCH not visible"
check "server alive after client disconnects" alive

# A client whose request headers (and a first piece of body) arrive together with its close: the
# request must end at once and free its upload session, so the client's retry is not refused as
# "in use" (libmicrohttpd misses such a close on its own; server/http.c checks for it).
for piece in "" "first bytes of the body"; do
    req POST /v2/rb/abort/blobs/uploads/
    loc=$(abs_url "$(hdr Location)")
    if exec 3<>"/dev/tcp/127.0.0.1/$SRV_PORT"; then
        printf 'PATCH /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n%s' \
            "${loc#*://*/}" "$piece" >&3
        exec 3>&-
    fi
    # As a resuming client does: ask where the session stands (the body piece may or may not have
    # been stored before the close was seen), then continue from there.
    t=$(curl -s -D "$T/status.hdr" -o /dev/null -w '%{http_code} %{time_total}' "$loc")
    check "status right after a close behind the headers${piece:+ and a body piece} answers at once ($t s)" \
        awk -v t="$t" 'BEGIN { split(t, a, " "); exit !(a[1] == 204 && a[2] < 2) }'
    end=$(tr -d '\r' <"$T/status.hdr" | awk -F'[-: ]+' 'tolower($1) == "range" { print $3 }')
    start=$((${end:--1} + 1))
    [ "$start" -eq 1 ] && start=0 # "0-0" is what an empty session reports
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: $start-$((start + 4))" --data-binary 'hello' "$loc")
    check "the retry continues at byte $start at once ($t s)" \
        awk -v t="$t" 'BEGIN { split(t, a, " "); exit !(a[1] == 202 && a[2] < 2) }'
done

if berthd_only "disconnect during a single-request POST ?digest="; then
    curl -s -o /dev/null --limit-rate 1M --max-time 2 -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary "@$T/8m" "$SRV_URL/v2/rb/abort/blobs/uploads/?digest=$D8"
    check "client gave up mid-POST" test $? = 28
    req HEAD "/v2/rb/abort/blobs/$D8"
    check_status 404 "blob of an aborted single-request POST not visible"
fi

# === SIGTERM during an in-flight upload ========================================================
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/12m"
D12=$(sha256_of "$T/12m")
req POST /v2/rb/term/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
curl -s -o /dev/null --limit-rate 4M --max-time 60 -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/octet-stream' --data-binary "@$T/12m" "$(add_query "$loc" "digest=$D12")" >"$T/term.code" &
cpid=$!
track_pid "$cpid"
sleep 1
spid=$SRV_PID
kill -TERM "$spid"
sleep 0.5
code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$SRV_URL/v2/")
check "no new requests served while draining (got ${code:-none})" test "$code" != 200
wait "$cpid"
check "in-flight upload completes after SIGTERM (got $(cat "$T/term.code"))" test "$(cat "$T/term.code")" = 201
stop_pid "$spid" 0 30
check "server exits 0 after draining (status $STOP_RC)" test "$STOP_RC" = 0
SRV_PID=
start_target "$DATA" "$PORT" || fail "restart after SIGTERM"
check "blob uploaded during shutdown is intact after restart" blob_intact rb/term "$D12"

# === upload sessions survive a restart ==========================================================
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/3m"
D3=$(sha256_of "$T/3m")
head -c 1048576 "$T/3m" >"$T/3m.a"
tail -c +1048577 "$T/3m" >"$T/3m.b"
for sig in TERM KILL; do
    req POST /v2/rb/resume/blobs/uploads/
    loc=$(abs_url "$(hdr Location)")
    req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-1048575' \
        --data-binary "@$T/3m.a"
    check_status 202 "first part before a SIG$sig restart"
    loc=$(abs_url "$(hdr Location)")
    restart "$sig" || fail "restart after SIG$sig"
    req GET "$loc"
    check_status 204 "upload status after a SIG$sig restart"
    check_header Range 0-1048575 "offset survives SIG$sig"
    req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H "Content-Range: 1048576-$((3 * 1048576 - 1))" \
        --data-binary "@$T/3m.b"
    check_status 202 "rest of the upload after SIG$sig"
    check_header Range "0-$((3 * 1048576 - 1))"
    loc=$(abs_url "$(hdr Location)")
    req PUT "$(add_query "$loc" "digest=$D3")"
    check_status 201 "resumed upload completes after SIG$sig"
    check "resumed blob intact (SIG$sig)" blob_intact rb/resume "$D3"
done

# === SIGKILL at random moments while pushing =====================================================
mkdir -p "$T/pool"
for i in 0 1 2 3 4 5 6 7; do
    head -c $((1024 + RANDOM * 64)) /dev/urandom >"$T/pool/$i"
done
printf '{}' >"$T/empty.json"
EMPTY=$(sha256_of "$T/empty.json")
ACKS=$T/acks
: >"$ACKS"

# pusher ROUND: push until a request fails; append "blob REPO DIGEST" / "manifest REPO TAG DIGEST" to
# $ACKS only after the server acknowledged it (201).
pusher() {
    local round=$1 i=0 f dg repo m mdg
    repo=rb/kill$((round % 3))
    push_file "$repo" "$T/empty.json" "$EMPTY" || return 0
    while [ "$i" -lt 2000 ]; do
        i=$((i + 1))
        f=$T/pusher.$round.blob
        { printf 'round %s item %s\n' "$round" "$i"; cat "$T/pool/$((i % 8))"; } >"$f"
        dg=$(sha256_of "$f")
        push_file "$repo" "$f" "$dg" $((i % 3)) || return 0
        echo "blob $repo $dg" >>"$ACKS"
        if [ $((i % 2)) = 0 ]; then
            m=$T/pusher.$round.manifest
            printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}],"annotations":{"round":"%s","item":"%s"}}' \
                "$OCI_MANIFEST" "$EMPTY" "$dg" "$(file_size "$f")" "$round" "$i" >"$m"
            mdg=$(sha256_of "$m")
            [ "$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' -X PUT -H "Content-Type: $OCI_MANIFEST" \
                --data-binary "@$m" "$SRV_URL/v2/$repo/manifests/r$round-$i")" = 201 ] || return 0
            echo "manifest $repo r$round-$i $mdg" >>"$ACKS"
        fi
    done
}

# verify_acks FROM_LINE: every acknowledged item from that line of $ACKS on is intact.
verify_acks() {
    local kind repo a b bad=0 n=0
    while read -r kind repo a b; do
        n=$((n + 1))
        if [ "$kind" = blob ]; then
            blob_intact "$repo" "$a" || {
                bad=$((bad + 1))
                echo "lost or damaged blob $repo $a" >&2
            }
        else
            req GET "/v2/$repo/manifests/$a" -H "Accept: $OCI_MANIFEST"
            if [ "$STATUS" != 200 ] || [ "$(sha256_of "$BODY")" != "$b" ]; then
                bad=$((bad + 1))
                echo "lost or damaged manifest $repo:$a ($STATUS)" >&2
            fi
            req HEAD "/v2/$repo/manifests/$b" -H "Accept: $OCI_MANIFEST"
            [ "$STATUS" = 200 ] || bad=$((bad + 1))
        fi
    done < <(tail -n +"$1" "$ACKS")
    VERIFIED=$n
    [ "$bad" = 0 ]
}

for round in $(seq 1 "$KILL_ROUNDS"); do
    from=$(($(wc -l <"$ACKS") + 1))
    pusher "$round" &
    ppid=$!
    track_pid "$ppid"
    ms=$((RANDOM % 1700 + 300))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    stop_server KILL
    wait "$ppid"
    if ! start_target "$DATA" "$PORT"; then
        fail "SIGKILL round $round: server does not start again"
        break
    fi
    if verify_acks "$from"; then
        ok "SIGKILL round $round: all $VERIFIED items acknowledged this round intact after restart"
    else
        fail "SIGKILL round $round: acknowledged items lost or damaged (see stderr)"
    fi
done
if verify_acks 1; then
    ok "after $KILL_ROUNDS SIGKILLs: all $VERIFIED acknowledged blobs and manifests intact"
else
    fail "after $KILL_ROUNDS SIGKILLs: acknowledged items lost or damaged"
fi
check "SIGKILL rounds acknowledged something ($(wc -l <"$ACKS") items)" test "$(wc -l <"$ACKS")" -gt "$KILL_ROUNDS"
req GET /v2/rb/kill1/tags/list
check_status 200 "tags list after the SIGKILL rounds"
if [ "$TARGET" = berthd ]; then
    ic=$(sqlite3 -readonly "$DATA/metadata.db" 'PRAGMA integrity_check;' 2>&1)
    check "metadata.db integrity_check after the SIGKILL rounds: $ic" test "$ic" = ok
fi

# === memory stays flat: 1 GiB streamed push and pull ===========================================
# rss_kib FIELD: VmRSS or VmHWM of the server, in KiB.
rss_kib() {
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SRV_PID/status" 2>/dev/null
}
# warm up: a 16 MiB push and pull, so pools, caches and threads exist before the baseline
head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/16m"
push_file rb/mem "$T/16m" "$(sha256_of "$T/16m")" 2 || fail "warm-up push"
blob_intact rb/mem "$(sha256_of "$T/16m")" || fail "warm-up pull"
push_file rb/mem "$T/16m" "$(sha256_of "$T/16m")" 0 || fail "warm-up push 2"
rm -f "$T/16m"
base_rss=$(rss_kib VmRSS)
base_hwm=$(rss_kib VmHWM)
(
    while :; do
        rss_kib VmRSS >>"$T/rss.samples"
        sleep 0.1
    done
) &
sampler=$!
track_pid "$sampler"
BIG_BYTES=$((BIG_PUSH_MIB * 1024 * 1024))
DBIG=sha256:$(head -c "$BIG_BYTES" /dev/zero | sha256sum | cut -d' ' -f1)
req POST /v2/rb/mem/blobs/uploads/
loc=$(abs_url "$(hdr Location)")
t0=$(date +%s)
req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' -T - \
    < <(head -c "$BIG_BYTES" /dev/zero)
check_status 202 "$BIG_PUSH_MIB MiB streamed PATCH"
check_header Range "0-$((BIG_BYTES - 1))"
loc=$(abs_url "$(hdr Location)")
req PUT "$(add_query "$loc" "digest=$DBIG")"
check_status 201 "$BIG_PUSH_MIB MiB upload committed"
t1=$(date +%s)
got=$(curl -s --max-time 300 "$SRV_URL/v2/rb/mem/blobs/$DBIG" | sha256sum | cut -d' ' -f1)
check "$BIG_PUSH_MIB MiB blob pulled back intact" test "sha256:$got" = "$DBIG"
t2=$(date +%s)
stop_pid "$sampler" KILL 5
max_rss=$(sort -n "$T/rss.samples" | tail -n 1)
end_hwm=$(rss_kib VmHWM)
echo "# rss: baseline ${base_rss} KiB, max sampled ${max_rss} KiB; hwm ${base_hwm} -> ${end_hwm} KiB;" \
    "push $((t1 - t0)) s, pull $((t2 - t1)) s"
limit=$((RSS_LIMIT_MIB * 1024))
check "VmRSS growth during $BIG_PUSH_MIB MiB push+pull $(((max_rss - base_rss) / 1024)) MiB <= $RSS_LIMIT_MIB MiB" \
    test $((max_rss - base_rss)) -le "$limit"
check "VmHWM growth $(((end_hwm - base_hwm) / 1024)) MiB <= $RSS_LIMIT_MIB MiB" \
    test $((end_hwm - base_hwm)) -le "$limit"
req DELETE "/v2/rb/mem/blobs/$DBIG"

# === many concurrent uploads ======================================================================
mkdir -p "$T/conc"
pids=()
for i in $(seq 1 "$CONCURRENT"); do
    head -c $((65536 + RANDOM * 32)) /dev/urandom >"$T/conc/$i"
done
for i in $(seq 1 "$CONCURRENT"); do
    (
        f=$T/conc/$i
        if push_file "rb/conc$((i % 4))" "$f" "$(sha256_of "$f")" $((i % 3)); then echo ok >"$f.res"; fi
    ) &
    pids+=($!)
    track_pid "$!"
done
wait "${pids[@]}"
n=0
for i in $(seq 1 "$CONCURRENT"); do
    [ -f "$T/conc/$i.res" ] && blob_intact "rb/conc$((i % 4))" "$(sha256_of "$T/conc/$i")" && n=$((n + 1))
done
check "$CONCURRENT concurrent uploads: $n succeeded and are intact" test "$n" = "$CONCURRENT"
check "server alive after the concurrent uploads" alive

if berthd_only "a second berthd on a port in use fails instead of sharing it"; then
    timeout 20 "$BERTHD" --listen "127.0.0.1:$SRV_PORT" --data "$T/second" >"$T/second.log" 2>&1
    rc=$?
    check "a second berthd on port $SRV_PORT exits 1 (exit $rc)" test "$rc" = 1
    check "it says the address is in use" grep -q "cannot listen on 127.0.0.1:$SRV_PORT: Address already in use" "$T/second.log"
    check "the first server still answers" alive
fi

# === blobs without a file descriptor (berthd-only) ================================================
# --storage.driver mem keeps blobs in memory: its readers have no fd, so GET goes through the
# read_at path an object-store driver takes (blocks of 256 KiB) instead of sendfile. Full GETs,
# ranges, HEAD and 416 must be byte-for-byte what the filesystem driver serves.
if berthd_only "blobs served by read_at (--storage.driver mem)"; then
    MAIN_PID=$SRV_PID MAIN_URL=$SRV_URL MAIN_DATA=$SRV_DATA MAIN_LOG=$SRV_LOG MAIN_PORT=$SRV_PORT
    if start_berthd "" "" --storage.driver mem; then
        check "the server says blobs live in memory" grep -q "storage.driver mem" "$SRV_LOG"
        size=$((5 * 1024 * 1024 + 12345))
        head -c "$size" /dev/urandom >"$T/mem.blob"
        DM=$(sha256_of "$T/mem.blob")
        check "push a $size-byte blob in 3 chunks" push_file rb/mem "$T/mem.blob" "$DM" 3
        check "no blob file under DATA/blobs" test "$(find "$SRV_DATA" -path '*blobs*' -type f | wc -l)" = 0
        req GET "/v2/rb/mem/blobs/$DM"
        check_status 200 "full GET"
        check "full GET: same bytes" cmp -s "$BODY" "$T/mem.blob"
        check_header Content-Length "$size"
        # mem_range RANGE FIRST LAST: a 206 with bytes FIRST..LAST of the blob.
        mem_range() {
            req GET "/v2/rb/mem/blobs/$DM" -H "Range: bytes=$1"
            check_status 206 "Range $1"
            check_header Content-Range "bytes $2-$3/$size"
            tail -c +$(($2 + 1)) "$T/mem.blob" | head -c $(($3 - $2 + 1)) >"$T/mem.want"
            check "Range $1: same bytes" cmp -s "$BODY" "$T/mem.want"
        }
        mem_range 0-0 0 0
        mem_range 1000000-3999999 1000000 3999999
        mem_range 262143-262144 262143 262144
        mem_range "$((size - 1))-" $((size - 1)) $((size - 1))
        mem_range 4000000- 4000000 $((size - 1))
        mem_range -700000 $((size - 700000)) $((size - 1))
        mem_range "0-$((size + 100))" 0 $((size - 1))
        req HEAD "/v2/rb/mem/blobs/$DM"
        check_status 200 "HEAD"
        check_header Content-Length "$size"
        req GET "/v2/rb/mem/blobs/$DM" -H "Range: bytes=$size-"
        check_status 416 "Range past the end"
        check_header Content-Range "bytes */$size"
        # Concurrent pulls of the same blob, each through its own reader.
        pids=()
        for i in 1 2 3 4; do
            curl -s --max-time 60 -o "$T/mem.par$i" "$SRV_URL/v2/rb/mem/blobs/$DM" &
            pids+=($!)
        done
        wait "${pids[@]}"
        n=0
        for i in 1 2 3 4; do cmp -s "$T/mem.par$i" "$T/mem.blob" && n=$((n + 1)); done
        check "4 concurrent GETs: $n intact" test "$n" = 4
        check_clean_stop
    else
        fail "berthd --storage.driver mem did not start"
    fi
    SRV_PID=$MAIN_PID SRV_URL=$MAIN_URL SRV_DATA=$MAIN_DATA SRV_LOG=$MAIN_LOG SRV_PORT=$MAIN_PORT
fi

if [ -n "$EXP" ]; then
    while [ $(($(date +%s) - exp_t0)) -lt 75 ]; do sleep 1; done
    MAIN_PID=$SRV_PID MAIN_URL=$SRV_URL MAIN_DATA=$SRV_DATA MAIN_LOG=$SRV_LOG MAIN_PORT=$SRV_PORT
    SRV_PID=$EXP_PID SRV_URL=$EXP_URL SRV_DATA=$EXP_DATA SRV_LOG=$EXP_LOG SRV_PORT=$EXP_PORT
    req GET "$exp_loc1"
    check_status 404 "abandoned session gone after expiry"
    check_json_error BLOB_UPLOAD_UNKNOWN
    req GET "$exp_loc2"
    check_status 404 "session of a disconnected client gone after expiry"
    req HEAD "/v2/rb/expiry/blobs/$D2"
    check_status 404 "no blob from abandoned sessions"
    n=$(find "$EXP_DATA/uploads" -type f 2>/dev/null | wc -l)
    check "no staged bytes left after expiry ($n files under DATA/uploads)" test "$n" = 0
    check_clean_stop
    SRV_PID=$MAIN_PID SRV_URL=$MAIN_URL SRV_DATA=$MAIN_DATA SRV_LOG=$MAIN_LOG SRV_PORT=$MAIN_PORT
fi

finish
