# shellcheck shell=bash
# Shared helpers for the integration suites (tests/integ/*.sh). Source it, then:
#
#   start_target                 start the server under test (berthd, or the reference registry when
#                                BERTH_TEST_TARGET=reference) on a free loopback port, fresh data dir
#   req METHOD URL [curl args]   one HTTP request; sets STATUS, BODY (file), HDRS (file), LAST
#   check_status / check_header / check_json_error / check / ok / fail
#   finish                       stop every server (checking a clean exit), print the summary, exit
#
# Invariants: servers listen on 127.0.0.1 only; every process a suite starts is recorded and stopped by
# PID on exit; each check prints exactly one line ("ok ..." / "FAIL ..." / "skip ..."); the last line a
# suite prints is "N passed, N failed", and its exit status is non-zero on any failure.
set -u

BERTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${BERTH_TEST_TARGET:-berthd}
case "$TARGET" in
berthd | reference) ;;
*)
    echo "BERTH_TEST_TARGET must be berthd or reference, not '$TARGET'" >&2
    exit 2
    ;;
esac
BERTHD=${BERTHD:-$BERTH_ROOT/bin/berthd}
REFERENCE_REGISTRY=${REFERENCE_REGISTRY:-docker-registry}
OUT=${BERTH_TEST_OUT:-$BERTH_ROOT/tests/out}
READY_TIMEOUT=${READY_TIMEOUT:-30}
CURL_MAX_TIME=${CURL_MAX_TIME:-120}
# BERTH_TEST_CREDS=user:password: HTTP Basic credentials sent by req and wait_ready, to run a suite
# against a berthd with authentication on (tests/integ/auth.sh sets BERTH_AUTH_* and this).
CREDS=()
if [ -n "${BERTH_TEST_CREDS:-}" ]; then CREDS=(-u "$BERTH_TEST_CREDS"); fi

# Tests talk to loopback only: never through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1

PASS=0
FAIL=0
SKIP=0
PIDS=()
T=$(mktemp -d "${TMPDIR:-/tmp}/berth-test.XXXXXX") || exit 2
BODY=$T/body
HDRS=$T/hdrs
STATUS=000
LAST=
NREQ=0
NO_APIHDR=()

# SRV_* describe the running server under test.
SRV_PID=
SRV_PORT=
SRV_DATA=
SRV_LOG=
SRV_URL=
REG=

# --- checks ------------------------------------------------------------------------------------

ok() {
    PASS=$((PASS + 1))
    printf 'ok   %s\n' "$*"
}

fail() {
    FAIL=$((FAIL + 1))
    printf 'FAIL %s\n' "$*"
}

skip() {
    SKIP=$((SKIP + 1))
    printf 'skip %s\n' "$*"
}

# run_ok LABEL OUT CMD...: one check that CMD succeeds, its output in OUT (shown on failure).
run_ok() {
    local label=$1 out=$2
    shift 2
    if "$@" >"$out" 2>&1; then
        ok "$label"
    else
        fail "$label: $(tail -n 3 "$out" | tr '\n' ' ')"
        return 1
    fi
}

# run_refused LABEL OUT ERE CMD...: one check that CMD fails and says why (its output matches ERE).
run_refused() {
    local label=$1 out=$2 re=$3
    shift 3
    if "$@" >"$out" 2>&1; then
        fail "$label: succeeded"
    elif grep -qiE "$re" "$out"; then
        ok "$label: refused ($(grep -oiE "$re" "$out" | head -n 1))"
    else
        fail "$label: failed without /$re/: $(tail -n 2 "$out" | tr '\n' ' ')"
    fi
}

# jqf ARGS...: jq -e, quiet.
jqf() {
    jq -e "$@" >/dev/null 2>&1
}

# get_manifest REPO REF: GET the manifest (with the suite's ACCEPT_ALL) into $BODY (copied to
# $T/m.json); true on 200 with a Docker-Content-Digest equal to the body's digest. Sets MDIGEST.
get_manifest() {
    req GET "/v2/$1/manifests/$2" "${ACCEPT_ALL[@]}"
    cp "$BODY" "$T/m.json"
    MDIGEST=$(sha256_of "$BODY")
    [ "$STATUS" = 200 ] && [ "$(hdr Docker-Content-Digest)" = "$MDIGEST" ]
}

# blobs_intact REPO MANIFEST_FILE [EXPECTED_FN]: the config and every layer the manifest lists are
# served with the size and digest it names (and, with EXPECTED_FN, byte-identical to the file
# `EXPECTED_FN DIGEST` prints). Names the bad ones on stderr.
blobs_intact() {
    local d s bad=
    while read -r d s; do
        req GET "/v2/$1/blobs/$d"
        if [ "$STATUS" != 200 ] || [ "$(sha256_of "$BODY")" != "$d" ] || [ "$(file_size "$BODY")" != "$s" ] ||
            { [ -n "${3:-}" ] && ! cmp -s "$BODY" "$("$3" "$d")"; }; then
            bad="$bad ${d:7:12}($STATUS)"
        fi
    done < <(jq -r '(.config, .layers[]) | "\(.digest) \(.size)"' "$2")
    [ -z "$bad" ] || echo "blobs not intact:$bad" >&2
    [ -z "$bad" ] && [ -n "$(jq -r '.layers[0].digest // empty' "$2")" ]
}

# check LABEL CMD...: one check that passes when CMD succeeds.
check() {
    local label=$1
    shift
    if "$@"; then ok "$label"; else fail "$label"; fi
}

# berthd_only LABEL: true when the target is berthd; otherwise prints a skip line for LABEL.
# Use for behaviour the reference registry (Distribution 2.8) legitimately lacks.
berthd_only() {
    if [ "$TARGET" = berthd ]; then return 0; fi
    skip "$1 (berthd-only: reference registry deviates)"
    return 1
}

body_excerpt() {
    head -c 300 "$BODY" 2>/dev/null | tr '\n\r' '  '
}

# check_status EXPECTED [LABEL]: EXPECTED is a status or alternatives "400|404".
check_status() {
    local exp=$1 label=${2:-}
    if [[ "|$exp|" == *"|$STATUS|"* ]]; then
        ok "$LAST -> $STATUS${label:+ ($label)}"
    else
        fail "$LAST: expected $exp, got $STATUS${label:+ ($label)}: $(body_excerpt)"
    fi
}

# hdr NAME: value of response header NAME (last response block, trimmed); empty when absent.
hdr() {
    awk -v want="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        /^HTTP\// { delete v; next }
        { sub(/\r$/, "") }
        { i = index($0, ":"); if (i == 0) next
          n = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
          sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val)
          if (n == want) { if (n in v) val = v[n] ", " val; v[n] = val } }
        END { if (want in v) print v[want] }' "$HDRS"
}

has_hdr() {
    awk -v want="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        /^HTTP\// { f = 0; next }
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == want) f = 1 }
        END { exit !f }' "$HDRS"
}

# check_header NAME VALUE [LABEL]: header present with exactly VALUE.
check_header() {
    local got
    got=$(hdr "$1")
    if has_hdr "$1" && [ "$got" = "$2" ]; then
        ok "$LAST: $1: $2${3:+ ($3)}"
    else
        fail "$LAST: expected header '$1: $2', got '${got:-<absent>}'${3:+ ($3)}"
    fi
}

# check_header_re NAME ERE [LABEL]: header present and matching the extended regex.
check_header_re() {
    local got
    got=$(hdr "$1")
    if has_hdr "$1" && [[ "$got" =~ $2 ]]; then
        ok "$LAST: $1 ~ $2${3:+ ($3)}"
    else
        fail "$LAST: expected header '$1' matching '$2', got '${got:-<absent>}'${3:+ ($3)}"
    fi
}

check_header_absent() {
    if has_hdr "$1"; then
        fail "$LAST: header '$1' should be absent, got '$(hdr "$1")'${2:+ ($2)}"
    else
        ok "$LAST: no $1 header${2:+ ($2)}"
    fi
}

# check_json_error CODE[|CODE...]: the body is the spec's error JSON and lists CODE (or one of them).
check_json_error() {
    if jq -e --arg c "$1" '(.errors | type == "array")
            and (.errors | any(.code as $x | $c | split("|") | index([$x]) != null))' \
        "$BODY" >/dev/null 2>&1; then
        ok "$LAST: error $1"
    else
        fail "$LAST: expected error code $1, got $(body_excerpt)"
    fi
}

# check_json LABEL JQ_EXPR [JQ args]: jq -e JQ_EXPR on the body is true.
check_json() {
    local label=$1 expr=$2
    shift 2
    if jq -e "$@" "$expr" "$BODY" >/dev/null 2>&1; then
        ok "$LAST: $label"
    else
        fail "$LAST: $label: '$expr' false on $(body_excerpt)"
    fi
}

# --- HTTP ----------------------------------------------------------------------------------------

# abs_url LOCATION: absolute URL for a Location value (absolute or server-relative).
abs_url() {
    case "$1" in
    http://* | https://*) printf '%s' "$1" ;;
    /*) printf '%s%s' "$SRV_URL" "$1" ;;
    *) printf '%s/%s' "$SRV_URL" "$1" ;;
    esac
}

# add_query URL PARAM: URL with PARAM appended to its query string.
add_query() {
    case "$1" in
    *\?*) printf '%s&%s' "$1" "$2" ;;
    *) printf '%s?%s' "$1" "$2" ;;
    esac
}

# req METHOD URL [curl args...]: URL is absolute or a path on the server under test. Sets STATUS
# (000 when no response), BODY, HDRS, LAST; records responses lacking the API version header.
req() {
    local method=$1 url=$2
    shift 2
    case "$url" in
    http://* | https://*) ;;
    *) url=$SRV_URL$url ;;
    esac
    LAST="$method ${url#"$SRV_URL"}"
    [ "${#LAST}" -le 160 ] || LAST="${LAST:0:150}...(${#LAST} chars)"
    local re='^(.*_state=)[^&]*(.*)$'
    if [[ "$LAST" =~ $re ]]; then LAST="${BASH_REMATCH[1]}...${BASH_REMATCH[2]}"; fi
    : >"$HDRS"
    : >"$BODY"
    local m=(-X "$method" -o "$BODY")
    [ "$method" = HEAD ] && m=(--head -o /dev/null)
    STATUS=$(curl -sS -g --path-as-is -H 'Expect:' --max-time "$CURL_MAX_TIME" "${m[@]}" \
        -D "$HDRS" -w '%{http_code}' "${CREDS[@]}" "$@" "$url" 2>"$T/curl.err")
    [ -n "$STATUS" ] || STATUS=000
    NREQ=$((NREQ + 1))
    if [ "$STATUS" != 000 ] && [ "$(hdr Docker-Distribution-API-Version)" != registry/2.0 ]; then
        NO_APIHDR+=("$LAST -> $STATUS")
    fi
}

# check_api_header_everywhere: one check over every response req has seen so far.
check_api_header_everywhere() {
    if [ "${#NO_APIHDR[@]}" -eq 0 ] && [ "$NREQ" -gt 0 ]; then
        ok "Docker-Distribution-API-Version: registry/2.0 on all $NREQ responses"
    else
        fail "Docker-Distribution-API-Version missing on ${#NO_APIHDR[@]} of $NREQ responses:" \
            "$(printf '[%s] ' "${NO_APIHDR[@]:0:8}")"
    fi
}

# sha256_of FILE: "sha256:<hex>".
sha256_of() {
    local h
    h=$(sha256sum <"$1") || return 1
    printf 'sha256:%s' "${h%% *}"
}

file_size() {
    stat -c %s "$1"
}

# --- blob and manifest helpers (return non-zero on failure; callers turn that into a check) -----

# upload_blob REPO FILE: POST then PUT ?digest= with the whole body. Sets DIGEST.
upload_blob() {
    local repo=$1 file=$2 loc
    DIGEST=$(sha256_of "$file")
    req POST "/v2/$repo/blobs/uploads/"
    [ "$STATUS" = 202 ] || return 1
    loc=$(abs_url "$(hdr Location)")
    req PUT "$(add_query "$loc" "digest=$DIGEST")" -H 'Content-Type: application/octet-stream' \
        --data-binary "@$file"
    [ "$STATUS" = 201 ]
}

# put_manifest REPO REF FILE MEDIATYPE: PUT the exact bytes of FILE.
put_manifest() {
    req PUT "/v2/$1/manifests/$2" -H "Content-Type: $4" --data-binary "@$3"
    [ "$STATUS" = 201 ]
}

# --- processes -----------------------------------------------------------------------------------

track_pid() {
    PIDS+=("$1")
}

# proc_alive PID: running and not a zombie.
proc_alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# stop_pid PID [SIGNAL [TIMEOUT]]: signal PID, wait up to TIMEOUT seconds, then SIGKILL.
# Sets STOP_RC to the exit status (128+n when killed by signal n).
stop_pid() {
    local pid=$1 sig=${2:-TERM} timeout=${3:-20} i=0
    STOP_RC=
    kill -s "$sig" "$pid" 2>/dev/null
    while proc_alive "$pid" && [ "$i" -lt $((timeout * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if proc_alive "$pid"; then
        echo "pid $pid still alive ${timeout}s after SIG$sig; killing" >&2
        kill -s KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    STOP_RC=$?
}

# free_port: a loopback TCP port that nobody is bound to right now (outside the ephemeral range).
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        if perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                LocalPort => $ARGV[0], Proto => "tcp", Listen => 1) or exit 1' "$p" 2>/dev/null; then
            printf '%s' "$p"
            return 0
        fi
    done
    echo "free_port: no free port found" >&2
    return 1
}

# wait_ready: poll /v2/ until it answers one of READY_CODES (default 200; a suite whose server
# asks for credentials sets "200 401") while the server process lives. READY_CURL: extra curl
# arguments (a CA for https).
READY_CODES="200"
READY_CURL=()
wait_ready() {
    local i=0 code
    while [ "$i" -lt $((READY_TIMEOUT * 10)) ]; do
        if ! proc_alive "$SRV_PID"; then
            echo "server exited during start-up; log tail:" >&2
            tail -n 20 "$SRV_LOG" >&2
            return 1
        fi
        code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "${READY_CURL[@]}" "${CREDS[@]}" \
            "$SRV_URL/v2/" 2>/dev/null)
        case " $READY_CODES " in *" $code "*) return 0 ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    echo "server not ready after ${READY_TIMEOUT}s; log tail:" >&2
    tail -n 20 "$SRV_LOG" >&2
    return 1
}

new_data_dir() {
    mktemp -d "$T/data.XXXXXX"
}

_srv_prepare() {
    SRV_DATA=${1:-$(new_data_dir)}
    SRV_PORT=${2:-$(free_port)} || return 1
    SRV_URL=http://127.0.0.1:$SRV_PORT
    REG=127.0.0.1:$SRV_PORT
    SRV_LOG=$T/server.$SRV_PORT.log
}

# start_berthd [DATA_DIR [PORT [extra berthd args...]]]: fresh dir and free port unless given.
start_berthd() {
    _srv_prepare "${1:-}" "${2:-}" || return 1
    shift $(($# > 2 ? 2 : $#))
    launch_berthd "$@"
}

# launch_berthd [berthd args...]: berthd on the prepared $REG / $SRV_DATA (SRV_URL says http or
# https), logging to $SRV_LOG; returns once it is ready (wait_ready).
launch_berthd() {
    if [ ! -x "$BERTHD" ]; then
        echo "berthd binary not found: $BERTHD (build it with make, or set BERTHD=...)" >&2
        return 1
    fi
    echo "== start $BERTHD --listen $REG --data $SRV_DATA $*" >>"$SRV_LOG"
    "$BERTHD" --listen "$REG" --data "$SRV_DATA" "$@" </dev/null >>"$SRV_LOG" 2>&1 &
    SRV_PID=$!
    track_pid "$SRV_PID"
    wait_ready
}

# start_reference [DATA_DIR [PORT]]: CNCF Distribution with filesystem storage and delete enabled.
start_reference() {
    _srv_prepare "${1:-}" "${2:-}" || return 1
    local cfg=$T/reference.$SRV_PORT.yml
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $SRV_DATA
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REG
  secret: berth-integration-tests
  draintimeout: 30s
EOF
    echo "== start $REFERENCE_REGISTRY serve $cfg" >>"$SRV_LOG"
    "$REFERENCE_REGISTRY" serve "$cfg" </dev/null >>"$SRV_LOG" 2>&1 &
    SRV_PID=$!
    track_pid "$SRV_PID"
    wait_ready
}

# start_target [DATA_DIR [PORT]]: the server selected by BERTH_TEST_TARGET.
start_target() {
    if [ "$TARGET" = reference ]; then start_reference "$@"; else start_berthd "$@"; fi
}

# stop_server [SIGNAL]: stop the current server; sets STOP_RC.
stop_server() {
    [ -n "$SRV_PID" ] || return 0
    stop_pid "$SRV_PID" "${1:-TERM}" "${STOP_TIMEOUT:-30}"
    SRV_PID=
}

# check_clean_stop: SIGTERM the current server; it must exit 0 without sanitizer reports.
check_clean_stop() {
    [ -n "$SRV_PID" ] || return 0
    local pid=$SRV_PID
    stop_server TERM
    if [ "$STOP_RC" = 0 ]; then
        ok "server (pid $pid) exits 0 on SIGTERM"
    else
        fail "server (pid $pid) exit status $STOP_RC on SIGTERM; log tail: $(tail -n 5 "$SRV_LOG" | tr '\n' ' ')"
    fi
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
        "$SRV_LOG"; then
        fail "sanitizer report in server log $SRV_LOG: $(grep -m1 -E 'ERROR:|runtime error:' "$SRV_LOG")"
    fi
}

_cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if proc_alive "$p"; then stop_pid "$p" TERM 10; fi
    done
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# summary: print "N passed, N failed" (after the number of skipped checks, if any); returns
# non-zero when a check failed or none passed.
summary() {
    if [ "$SKIP" -gt 0 ]; then echo "$SKIP checks skipped"; fi
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
}

# finish: stop the server cleanly (a check), keep the server logs of a failed run in tests/out/logs,
# print the summary and exit with its status.
finish() {
    local suite f
    check_clean_stop
    if [ "$FAIL" -gt 0 ]; then
        suite=$(basename "$0" .sh)
        for f in "$T"/server.*.log; do
            [ -f "$f" ] && cp "$f" "$OUT/logs/$suite.$TARGET.${f##*/}"
        done
        echo "server logs kept in $OUT/logs/$suite.$TARGET.server.*.log" >&2
    fi
    summary
    exit $?
}

# describe_target: one comment line naming the server under test.
describe_target() {
    if [ "$TARGET" = reference ]; then
        echo "# target: reference registry ($REFERENCE_REGISTRY) at $SRV_URL"
    else
        echo "# target: berthd ($BERTHD) at $SRV_URL"
    fi
}

mkdir -p "$OUT/logs"

# sk LABEL EXPECT(ok|fail) CMD...: run skopeo (the array SK, e.g. SK=(skopeo --tls-verify=false))
# with CMD as one check; output in $T/skopeo.out. A refusal names what skopeo reported.
SK_REFUSED='x509: [a-z ]+|unauthorized|denied|401|403|invalid username/password|authentication required|insufficient_scope|http: server gave HTTP response to HTTPS client'
sk() {
    local label=$1 want=$2
    shift 2
    if "${SK[@]}" "$@" >"$T/skopeo.out" 2>&1; then
        if [ "$want" = ok ]; then ok "skopeo $label"; else fail "skopeo $label: succeeded"; fi
    elif [ "$want" = fail ]; then
        ok "skopeo $label: refused ($(grep -oE "$SK_REFUSED" "$T/skopeo.out" | sort -u | tr '\n' ' '))"
    else
        fail "skopeo $label: $(tail -n 3 "$T/skopeo.out" | tr '\n' ' ')"
    fi
}
