#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called via check
# bench.sh: the benchmark itself (tests/bench/run, `make bench`) still works, in its quick mode,
# the way issue 6 asks it to be usable: against a registry URL with credentials (here a berthd with
# htpasswd auth started by this suite, its PID given for the CPU and RSS figures), side by side with
# the reference registry it starts itself. Checks that it exits 0, that the JSON has a number for
# every figure of both registries and a PASS or MISS for every ratio target, that the table ends
# with its PASS/MISS summary, and that the load really went to the registry under test (its tag
# list holds the bench's tags, its catalog the bench's repositories). A wrong password stops the
# benchmark at once with an error instead of measuring 401s. The figures themselves are not judged
# here: a test must not time (docs/benchmarks.md records them).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

if [ "$TARGET" != berthd ]; then
    skip "bench.sh (berthd only: the benchmark starts the reference registry itself)"
    summary
    exit 0
fi
for tool in wrk docker-registry jq perl gcc htpasswd; do
    command -v "$tool" >/dev/null || {
        echo "bench.sh needs $tool (deploy/install-deps --test)" >&2
        exit 2
    }
done

PW='Bench-pw-Q7x2kd'
HTP=$T/htpasswd
htpasswd -cbB "$HTP" bencher "$PW" 2>/dev/null || {
    echo "htpasswd failed" >&2
    exit 2
}

_srv_prepare "" "" || exit 2
READY_CODES="200 401"
if ! launch_berthd --auth.mode htpasswd --auth.htpasswd "$HTP" --auth.admin bencher \
    --access-log false --gc.enabled false; then
    fail "berthd with htpasswd auth did not start"
    summary
    exit 1
fi
BENCH=$BERTH_ROOT/tests/bench/run
JSON=$T/bench.json

# --- a wrong password: refused before any measurement -------------------------------------------
run_refused "benchmark with a wrong password" "$T/bench-wrong.out" '401|unauthorized|denied' \
    "$BENCH" --quick --no-null --no-reference --url "$SRV_URL" --user bencher --password wrong \
    --json "$T/wrong.json"

# --- the quick benchmark against this berthd, with credentials, beside Distribution ------------
if run_ok "tests/bench/run --quick --no-null --url (basic auth) --pid: exits 0" "$T/bench.out" \
    "$BENCH" --quick --no-null --url "$SRV_URL" --user bencher --password "$PW" --pid "$SRV_PID" \
    --json "$JSON"; then
    check "the JSON parses and names the registry under test" \
        jqf --arg u "$SRV_URL" '.subject_url == $u and .mode == "quick"' "$JSON"
    for reg in berthd distribution; do
        missing=$(jq -r --arg r "$reg" '.registries[$r] as $f
            | ["push_single_MBps", "push_chunked_MBps", "pull_MBps", "get32_rps", "get64_rps",
               "get64_p99_ms", "head64_rps", "small_push_rate", "manifest_put_rate",
               "tags_list_ms", "catalog_ms", "rss_idle_MiB", "rss_peak_MiB",
               "manifest_put_cpu_us", "small_push_cpu_us"][]
            | select(($f[.] | type) != "number" or $f[.] <= 0)' "$JSON" 2>/dev/null | tr '\n' ' ')
        check "$reg: every figure is a positive number${missing:+ (missing or bad: $missing)}" \
            test -z "$missing" -a -s "$JSON"
    done
    check "every small-write figure is the median of its runs (the runs are recorded)" \
        jqf '.registries.berthd.small_push_rates != null and .registries.distribution.manifest_put_rates != null' "$JSON"
    n_targets=$(jq '.targets | length' "$JSON" 2>/dev/null)
    check "18 targets of issue 6 ($n_targets)" test "$n_targets" = 18
    undecided=$(jq -r '.targets[] | select(.result != "PASS" and .result != "MISS")
        | select(.name | test("loopback") | not) | .name' "$JSON" 2>/dev/null | tr '\n' ';')
    check "every target but the null-server one is PASS or MISS${undecided:+ (undecided: $undecided)}" \
        test -z "$undecided"
    check "the table ends with its PASS / MISS summary" \
        grep -qE '^[0-9]+ PASS, [0-9]+ MISS, [0-9]+ n/a$' "$T/bench.out"
    # The load went to this berthd, through its authentication.
    tags=$(curl -s -u "bencher:$PW" "$SRV_URL/v2/bench/tags/tags/list" | jq '.tags | length')
    check "the registry under test holds the bench's 200 tags ($tags)" test "$tags" = 200
    repos=$(curl -s -u "bencher:$PW" "$SRV_URL/v2/_catalog?n=1000" |
        jq '[.repositories[] | select(startswith("bench/cat/"))] | length')
    check "and its 200 repositories ($repos)" test "$repos" = 200
fi
check_clean_stop
summary
