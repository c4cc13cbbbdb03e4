#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317,SC2119 # jq programs in single quotes; functions called via check
# containerd.sh: Debian's containerd (1.6, driven with `ctr`) against the registry. The fixture images
# (tests/fixtures/mkimage: busybox-static, two layers; an amd64 + arm64 index) are imported from a
# tar of their OCI layout; then: push by tag (the registry's manifest digest equals the one
# containerd reports, blobs intact, /bin/busybox in the layer as served identical to Debian's), the
# same push again (no blob uploaded), pull into a fresh containerd (same digest, content complete,
# layers byte-identical, the unpacked snapshot mounted and /bin/busybox compared), pull by digest,
# a push from the pulled store to a second repository (layers mounted across repositories), the
# multi-platform index pushed whole and pulled per platform, pulls of a missing tag, digest and
# repository failing with "not found", and with htpasswd authentication: `ctr --user` push and
# pull, a wrong password and no credentials refused.
#
# Isolation: each containerd this suite starts (as root) has its own config, --root, --state,
# socket and TMPDIR under the suite's temp dir, with the native snapshotter and the CRI, /opt
# installer, task/runtime and other unneeded plugins disabled; it is stopped by PID. It runs in a
# private mount namespace (unshare) so the snapshot bind mounts of unpack and `ctr images mount`
# never reach the host; a check at the end confirms /run/containerd, /var/lib/containerd and
# /opt/containerd were not created. Network: the registry on 127.0.0.1 only (--plain-http).
# One line per check; the last line is "N passed, N failed"; non-zero exit on any failure.

# --- private mount namespace ----------------------------------------------------------------------
if [ -z "${BERTH_CTRD_NS:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "containerd.sh: needs root (containerd runs as root); skipped"
        echo "skip containerd.sh (not root)"
        echo "1 checks skipped"
        echo "0 passed, 0 failed"
        exit 0
    fi
    for tool in containerd ctr unshare skopeo curl jq htpasswd tar; do
        command -v "$tool" >/dev/null || {
            echo "containerd.sh needs $tool (deploy/install-deps --test)" >&2
            exit 2
        }
    done
    BERTH_CTRD_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

# The fixed paths a default containerd would use: none may appear because of this suite.
FIXED_DIRS=(/run/containerd /var/lib/containerd /opt/containerd)
FIXED_BEFORE=
for d in "${FIXED_DIRS[@]}"; do [ -e "$d" ] && FIXED_BEFORE="$FIXED_BEFORE $d"; done

# ct_cleanup: stop every containerd (by PID, via _cleanup), then unmount what is left under $T.
ct_cleanup() {
    local p m
    for p in "${PIDS[@]}"; do
        if proc_alive "$p"; then stop_pid "$p" TERM 10; fi
    done
    findmnt -rn -o TARGET | grep -F "$T/" | sort -r | while read -r m; do umount -l "$m"; done
    _cleanup
}
trap ct_cleanup EXIT

"$BERTH_ROOT/tests/fixtures/mkimage" >/dev/null || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
ACCEPT_ALL=(-H "Accept: $OCI_MANIFEST, $OCI_INDEX, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
BUSYBOX=${BUSYBOX:-/bin/busybox}
export CONTAINERD_SNAPSHOTTER=native
export HOME=$T/home
mkdir -p "$HOME" || exit 2

# --- containerd -----------------------------------------------------------------------------------
# ctrd_start NAME: a private containerd in $T/ctrd-NAME; waits until it answers `ctr version`.
ctrd_start() {
    local d=$T/ctrd-$1 i=0 pid
    mkdir -p "$d/root" "$d/state" "$d/tmp" || return 1
    cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.overlayfs", "io.containerd.runtime.v1.linux",
    "io.containerd.runtime.v2.task", "io.containerd.monitor.v1.cgroups",
    "io.containerd.internal.v1.restart", "io.containerd.service.v1.tasks-service",
    "io.containerd.grpc.v1.tasks"]
[grpc]
  address = "$d/containerd.sock"
EOF
    TMPDIR=$d/tmp containerd --config "$d/containerd.toml" --root "$d/root" --state "$d/state" \
        --address "$d/containerd.sock" </dev/null >"$d/containerd.log" 2>&1 &
    pid=$!
    track_pid "$pid"
    eval "CTRD_PID_$1=$pid"
    while [ "$i" -lt 300 ]; do
        proc_alive "$pid" || break
        if [ -S "$d/containerd.sock" ] && c "$1" version >/dev/null 2>&1; then return 0; fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "containerd $1 did not start: $(tail -n 3 "$d/containerd.log")" >&2
    return 1
}

# ctrd_stop NAME: SIGTERM that containerd (by PID); true when it exited 0.
ctrd_stop() {
    local v=CTRD_PID_$1
    [ -n "${!v:-}" ] || return 1
    stop_pid "${!v}" TERM 10
    [ "$STOP_RC" = 0 ]
}

# c NAME ARGS...: ctr against containerd NAME, namespace "berth".
c() {
    local n=$1
    shift
    ctr --address "$T/ctrd-$n/containerd.sock" --namespace berth "$@" </dev/null
}

# c_ok LABEL NAME ARGS...: one check that ctr succeeds; output in $T/ctr.out.
c_ok() {
    run_ok "ctr $1" "$T/ctr.out" c "$2" "${@:3}"
}

# c_refused LABEL NAME ERE ARGS...: one check that ctr fails and says why (output matches ERE).
c_refused() {
    run_refused "ctr $1" "$T/ctr.out" "$3" c "$2" "${@:4}"
}

# image_digest NAME REF: the target digest containerd NAME records for image REF.
image_digest() {
    c "$1" images ls 2>/dev/null | awk -v r="$2" '$1 == r { print $3 }'
}

# complete NAME REF: `ctr images check` reports REF's content complete and unpacked.
complete() {
    c "$1" images check 2>/dev/null | awk -v r="$2" '$1 == r { print }' |
        grep -qE ' complete \(([0-9]+)/\1\) .* true *$'
}

# same_content NAME DIGEST...: each blob in containerd NAME's content store has the bytes of the
# fixture blob of that digest.
same_content() {
    local n=$1 d bad=
    shift
    for d in "$@"; do
        c "$n" content get "$d" >"$T/blob" 2>/dev/null
        cmp -s "$T/blob" "$(fx_blob "$d")" || bad="$bad ${d:7:12}"
    done
    [ -z "$bad" ] || echo "content differs:$bad" >&2
    [ -z "$bad" ]
}

# fx_blob DIGEST: the fixture file holding DIGEST (every fixture blob is in one of these layouts).
fx_blob() {
    local l
    for l in multi index single; do
        [ -f "$FX/$l/blobs/sha256/${1#sha256:}" ] && {
            printf '%s' "$FX/$l/blobs/sha256/${1#sha256:}"
            return 0
        }
    done
    printf '/nonexistent'
}

# chain_id NAME CONFIG: the chain ID of the image whose config is CONFIG (from its diff_ids), which
# names the top snapshot of the unpacked image.
chain_id() {
    local d chain=
    while read -r d; do
        if [ -z "$chain" ]; then
            chain=$d
        else
            chain=sha256:$(printf '%s %s' "$chain" "$d" | sha256sum | cut -d' ' -f1)
        fi
    done < <(c "$1" content get "$2" 2>/dev/null | jq -r '.rootfs.diff_ids[]')
    printf '%s' "$chain"
}

# mounted_busybox NAME CONFIG [motd]: the image with config CONFIG is unpacked in containerd NAME:
# its top snapshot (the chain ID of the config's diff_ids) is committed; a read-only view of it,
# mounted, holds Debian's /bin/busybox, and with "motd" /etc/motd from the fixture's second layer.
# (`ctr images mount` of containerd 1.6 ignores --snapshotter; this goes through `ctr snapshots`.)
mounted_busybox() {
    local n=$1 m=$T/mnt-$1 key=berth-view-$1 chain mnt rc=0
    chain=$(chain_id "$n" "$2")
    if [ -z "$chain" ] || ! c "$n" snapshots --snapshotter native ls | grep -qE "^$chain .* Committed"; then
        echo "no committed snapshot ${chain:-<no diff_ids>} for config $2" >&2
        return 1
    fi
    mkdir -p "$m" || return 1
    if ! mnt=$(c "$n" snapshots --snapshotter native view --mounts "$key" "$chain" 2>"$T/mount.out") ||
        ! mount -t "$(jq -r '.[0] | .type // .Type' <<<"$mnt")" \
            -o "$(jq -r '.[0] | .options // .Options | join(",")' <<<"$mnt")" \
            "$(jq -r '.[0] | .source // .Source' <<<"$mnt")" "$m" 2>>"$T/mount.out"; then
        echo "view of $chain: $(tail -n 2 "$T/mount.out")" >&2
        c "$n" snapshots --snapshotter native rm "$key" >/dev/null 2>&1
        return 1
    fi
    cmp -s "$m/bin/busybox" "$BUSYBOX" || rc=1
    if [ "${3:-}" = motd ]; then grep -q . "$m/etc/motd" 2>/dev/null || rc=1; fi
    umount "$m" || rc=1
    c "$n" snapshots --snapshotter native rm "$key" >/dev/null 2>&1 || rc=1
    return "$rc"
}

# log_mark: the number of lines in the server log now. log_since MARK ERE: matching lines after MARK.
log_mark() {
    wc -l <"$SRV_LOG"
}
log_since() {
    tail -n "+$(($1 + 1))" "$SRV_LOG" | grep -cE "$2"
}

start_target || {
    fail "server did not start"
    finish
}
describe_target
echo "# $(containerd --version)"
ctrd_start A || {
    fail "containerd A did not start"
    finish
}
ok "private containerd A started (socket, root and state under the temp dir)"

# --- import -------------------------------------------------------------------------------------
echo "# import"
tar -C "$FX/multi" -cf "$T/multi.tar" . || exit 2
tar -C "$FX/index" -cf "$T/index.tar" . || exit 2
LOCAL=berth.test/ctr/app
c_ok "images import of the two-layer fixture (tar of its OCI layout)" A images import \
    --base-name "$LOCAL" "$T/multi.tar"
check "imported image $LOCAL:latest has the fixture's manifest digest" \
    test "$(image_digest A "$LOCAL:latest")" = "$MULTI_MANIFEST"
check "imported image complete and unpacked" complete A "$LOCAL:latest"

# --- push by tag --------------------------------------------------------------------------------
echo "# push"
mark=$(log_mark)
c_ok "push --plain-http $REG/ctr/app:1.0" A images push --plain-http "$REG/ctr/app:1.0" "$LOCAL:latest"
PUSHED=$(image_digest A "$LOCAL:latest")
check "registry serves ctr/app:1.0 with the digest containerd reports ($PUSHED)" \
    eval 'get_manifest ctr/app 1.0 && [ "$MDIGEST" = "$PUSHED" ] && [ "$PUSHED" = "$MULTI_MANIFEST" ]'
cp "$T/m.json" "$T/app.json"
check "manifest byte-identical to the fixture's" cmp -s "$T/app.json" "$(fx_blob "$MULTI_MANIFEST")"
check "config and both layers served intact (size, digest, bytes)" blobs_intact ctr/app "$T/app.json" fx_blob
req GET "/v2/ctr/app/blobs/$MULTI_LAYER1"
gzip -dc <"$BODY" 2>/dev/null | tar -xOf - ./bin/busybox bin/busybox 2>/dev/null >"$T/busybox.out"
check "layer 1 as served holds bin/busybox identical to $BUSYBOX" cmp -s "$T/busybox.out" "$BUSYBOX"
if berthd_only "upload requests of the push (read from berthd's access log)"; then
    n=$(log_since "$mark" 'POST /v2/ctr/app/blobs/uploads/ 202')-$(log_since "$mark" 'PUT /v2/ctr/app/blobs/uploads/[^ ]+ 201')-$(log_since "$mark" 'PUT /v2/ctr/app/manifests/1.0 201')
    check "push uploaded 3 blobs (POST 202, PUT 201 each) and the manifest by tag (got $n)" test "$n" = 3-3-1
fi

mark=$(log_mark)
c_ok "push the same image to ctr/app:1.0 again" A images push --plain-http "$REG/ctr/app:1.0" "$LOCAL:latest"
check "second push: registry digest unchanged" eval 'get_manifest ctr/app 1.0 && [ "$MDIGEST" = "$PUSHED" ]'
if berthd_only "second push uploads no blob (read from berthd's access log)"; then
    n_post=$(log_since "$mark" 'POST /v2/ctr/app/blobs/uploads/')
    n_head=$(log_since "$mark" 'HEAD /v2/ctr/app/blobs/sha256:[0-9a-f]{64} 200')
    check "second push: no upload started ($n_post), blobs found by HEAD 200 ($n_head)" \
        test "$n_post" = 0 -a "$n_head" -ge 3
fi

# --- pull into a fresh containerd -----------------------------------------------------------------
echo "# pull"
ctrd_start B || fail "containerd B did not start"
c_ok "pull --plain-http $REG/ctr/app:1.0 into a fresh containerd" B images pull --plain-http "$REG/ctr/app:1.0"
check "pulled image: manifest digest $PUSHED" test "$(image_digest B "$REG/ctr/app:1.0")" = "$PUSHED"
check "ctr images check: pulled content complete and unpacked" complete B "$REG/ctr/app:1.0"
check "content store: manifest, config and both layers byte-identical to the fixture" \
    same_content B "$MULTI_MANIFEST" "$MULTI_CONFIG" "$MULTI_LAYER1" "$MULTI_LAYER2"
check "unpacked: top snapshot is the config's chain ID; mounted, /bin/busybox identical, /etc/motd there" \
    mounted_busybox B "$MULTI_CONFIG" motd

ctrd_start C || fail "containerd C did not start"
c_ok "pull by digest ctr/app@$PUSHED" C images pull --plain-http "$REG/ctr/app@$PUSHED"
check "pulled by digest: digest and content" \
    eval '[ "$(image_digest C "$REG/ctr/app@$PUSHED")" = "$PUSHED" ] && same_content C "$MULTI_LAYER1" "$MULTI_LAYER2"'

# --- a second repository: containerd mounts the layers it pulled from ctr/app -------------------------
mark=$(log_mark)
c_ok "tag the pulled image for a second repository" B images tag "$REG/ctr/app:1.0" "$REG/ctr/app-copy:1.0"
c_ok "push to ctr/app-copy:1.0 from the store that pulled ctr/app" B images push --plain-http \
    --http-dump "$REG/ctr/app-copy:1.0"
cp "$T/ctr.out" "$T/copy-push.out"
check "ctr/app-copy:1.0 has the same digest" eval 'get_manifest ctr/app-copy 1.0 && [ "$MDIGEST" = "$PUSHED" ]'
check "ctr/app-copy serves every blob intact" blobs_intact ctr/app-copy "$T/app.json" fx_blob
# containerd asks for a mount when its content carries the distribution-source label of the pull.
n_ask=$(grep -cE 'POST /v2/ctr/app-copy/blobs/uploads/\?(mount=sha256:[0-9a-f]{64}&from=ctr(/|%2F)app|from=ctr(/|%2F)app&mount=sha256:[0-9a-f]{64}) ' \
    "$T/copy-push.out")
check "ctr asked to mount config and layers from ctr/app (POST ?mount=&from=, per --http-dump: $n_ask)" \
    test "$n_ask" = 3
if berthd_only "cross-repository mount (read from berthd's access log)"; then
    n_mount=$(log_since "$mark" 'POST /v2/ctr/app-copy/blobs/uploads/ 201')
    n_put=$(log_since "$mark" '(PUT|PATCH) /v2/ctr/app-copy/blobs/uploads/')
    check "registry mounted all 3 blobs (POST 201: $n_mount), none uploaded (PUT/PATCH: $n_put)" \
        test "$n_mount" = 3 -a "$n_put" = 0
fi
L1=$MULTI_LAYER1
n=0
while IFS= read -r -d '' f; do
    [ "$(sha256_of "$f")" = "$L1" ] && n=$((n + 1))
done < <(find "$SRV_DATA" -type f -size "$(jq -r '.layers[0].size' "$T/app.json")c" -print0)
check "the busybox layer is stored once on disk (found $n)" test "$n" = 1

# --- multi-platform index -------------------------------------------------------------------------
echo "# index"
c_ok "images import --all-platforms of the amd64 + arm64 index" A images import --all-platforms \
    --base-name berth.test/ctr/multi "$T/index.tar"
c_ok "push the index to ctr/multi:1" A images push --plain-http "$REG/ctr/multi:1" berth.test/ctr/multi:latest
check "registry serves the index with the digest containerd reports ($INDEX_MANIFEST)" \
    eval 'get_manifest ctr/multi 1 && [ "$MDIGEST" = "$(image_digest A berth.test/ctr/multi:latest)" ] &&
        [ "$MDIGEST" = "$INDEX_MANIFEST" ] && [ "$(hdr Content-Type)" = "$OCI_INDEX" ]'
cp "$T/m.json" "$T/index.json"
bad=
while read -r d; do
    if ! get_manifest ctr/multi "$d" || [ "$MDIGEST" != "$d" ] || ! blobs_intact ctr/multi "$T/m.json" fx_blob; then
        bad="$bad ${d:7:12}"
    fi
done < <(jq -r '.manifests[].digest' "$T/index.json")
check "both platforms' manifests, configs and layers pushed intact${bad:+ (bad:$bad)}" \
    eval '[ -z "$bad" ] && [ "$(jq ".manifests | length" "$T/index.json")" = 2 ]'
ctrd_start D || fail "containerd D did not start"
c_ok "pull --platform linux/arm64 ctr/multi:1 into a fresh containerd" D images pull --plain-http \
    --platform linux/arm64 "$REG/ctr/multi:1"
check "arm64 pull: index digest recorded, arm64 manifest and config fetched, amd64 config not" \
    eval '[ "$(image_digest D "$REG/ctr/multi:1")" = "$INDEX_MANIFEST" ] &&
        same_content D "$ARM64_MANIFEST" "$ARM64_CONFIG" "$ARM64_LAYER1" &&
        ! c D content get "$AMD64_CONFIG" >/dev/null 2>&1'
c_ok "pull --platform linux/amd64 ctr/multi:1 into a fresh containerd" C images pull --plain-http \
    --platform linux/amd64 "$REG/ctr/multi:1"
check "amd64 pull: complete and unpacked, /bin/busybox identical" \
    eval 'complete C "$REG/ctr/multi:1" && same_content C "$AMD64_MANIFEST" "$AMD64_CONFIG" &&
        mounted_busybox C "$AMD64_CONFIG"'

# --- what is not there ----------------------------------------------------------------------------
echo "# missing"
c_refused "pull of a missing tag ctr/app:nope" C 'not found' images pull --plain-http "$REG/ctr/app:nope"
c_refused "pull of a digest the repository lacks" C 'not found' images pull --plain-http \
    "$REG/ctr/app@sha256:$(printf 'no such manifest' | sha256sum | cut -d' ' -f1)"
c_refused "pull from a repository that never existed" C 'not found' images pull --plain-http \
    "$REG/ctr/never-pushed:1.0"
check "no image recorded for the failed pulls" \
    eval '[ -z "$(image_digest C "$REG/ctr/app:nope")$(image_digest C "$REG/ctr/never-pushed:1.0")" ]'
check_api_header_everywhere

# --- authentication: htpasswd --------------------------------------------------------------------
if [ "$TARGET" != berthd ]; then
    skip "ctr --user against htpasswd auth (berthd-only section)"
else
    echo "# htpasswd authentication"
    check_clean_stop
    PW_ALICE='Alice-ctr-pw-R5t2'
    PW_WRONG='Wrong-ctr-pw-Z9p4'
    HTP=$T/htpasswd
    if ! htpasswd -cbB "$HTP" alice "$PW_ALICE" 2>/dev/null; then
        fail "htpasswd could not create $HTP"
    else
        CREDS=(-u "alice:$PW_ALICE") # wait_ready polls /v2/ with them
        # ctr sends a wrong password on every one of its ~10 parallel requests. With the default
        # failed-login limit (5 a minute) that must count as one failure, or the refusals below would
        # turn into 429 and lock out the good pushes that follow (auth/ratelimit.h).
        if start_berthd "" "" --auth.mode htpasswd --auth.htpasswd "$HTP" \
            --auth.rule 'alice ctr/** pull,push,delete'; then
            CREDS=()
            ok "berthd with htpasswd auth on $REG"
            c_refused "push without credentials" A 'unauthorized|401' images push --plain-http \
                "$REG/ctr/secure:1.0" "$LOCAL:latest"
            c_refused "push with a wrong password" A 'unauthorized|401' images push --plain-http \
                --user "alice:$PW_WRONG" "$REG/ctr/secure:1.0" "$LOCAL:latest"
            req GET /v2/ctr/secure/manifests/1.0 "${ACCEPT_ALL[@]}" -u "alice:$PW_ALICE"
            check_status 404 "nothing written by the refused pushes"
            c_ok "push --user alice to ctr/secure:1.0" A images push --plain-http --user "alice:$PW_ALICE" \
                "$REG/ctr/secure:1.0" "$LOCAL:latest"
            req GET /v2/ctr/secure/manifests/1.0 "${ACCEPT_ALL[@]}" -u "alice:$PW_ALICE"
            check "alice's push stored with containerd's digest" test "$STATUS $(sha256_of "$BODY")" = "200 $PUSHED"
            req GET /v2/ctr/secure/manifests/1.0 "${ACCEPT_ALL[@]}"
            check_status 401 "anonymous GET of alice's image"
            ctrd_start E || fail "containerd E did not start"
            c_refused "pull with a wrong password" E 'unauthorized|401' images pull --plain-http \
                --user "alice:$PW_WRONG" "$REG/ctr/secure:1.0"
            c_refused "pull without credentials" E 'unauthorized|401' images pull --plain-http \
                "$REG/ctr/secure:1.0"
            c_ok "pull --user alice into a fresh containerd" E images pull --plain-http --user "alice:$PW_ALICE" \
                "$REG/ctr/secure:1.0"
            check "alice's pull: digest, content and unpacked /bin/busybox" \
                eval '[ "$(image_digest E "$REG/ctr/secure:1.0")" = "$PUSHED" ] &&
                    same_content E "$MULTI_LAYER1" "$MULTI_LAYER2" && mounted_busybox E "$MULTI_CONFIG" motd'
            leaked=
            for s in "$PW_ALICE" "$PW_WRONG" "$(printf 'alice:%s' "$PW_ALICE" | base64 -w0)"; do
                grep -qF -- "$s" "$SRV_LOG" && leaked="$leaked ${s:0:6}..."
            done
            check "no password in the server log${leaked:+ (found$leaked)}" test -z "$leaked"
        else
            CREDS=()
            fail "berthd with htpasswd auth did not start"
        fi
    fi
fi

# --- clean up: containerd stopped by PID, nothing left at the fixed paths -----------------------------
bad=
for n in A B C D E; do
    v=CTRD_PID_$n
    [ -n "${!v:-}" ] || continue
    ctrd_stop "$n" || bad="$bad $n($STOP_RC)"
done
check "every containerd exits 0 on SIGTERM${bad:+ (not:$bad)}" test -z "$bad"
after=
for d in "${FIXED_DIRS[@]}"; do [ -e "$d" ] && after="$after $d"; done
check "nothing created at containerd's default paths (${FIXED_DIRS[*]})${after:+ (present:$after)}" \
    test "$after" = "$FIXED_BEFORE"
finish
