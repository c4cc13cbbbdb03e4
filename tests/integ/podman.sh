#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317,SC2119 # jq programs in single quotes; functions called via check
# podman.sh: Debian's podman (4.3) against the registry, as a user drives it. Images are built with
# `podman build` from busybox-static (FROM scratch, two layers); then: push by tag, the manifest and
# every blob checked against what podman reports and against the files the image was built from;
# the same push again (no blob uploaded), a push to a second repository (layer mounted across
# repositories, one copy on disk), pull into a fresh store (same manifest digest, image ID and
# diff_ids), pull by digest, Docker schema2 and zstd pushes, tag listing (`podman search
# --list-tags`), a multi-arch list (`podman manifest create/add/push --all`, pulled per platform),
# `podman run --rm` of the pulled image (output, second layer, exit status), deletes followed by
# pulls that fail with "manifest unknown", and with htpasswd authentication: `podman login` with a
# wrong password refused, push/pull after login, a pull-only user's push denied, logout.
#
# Isolation: every podman store (--root/--runroot, vfs driver), containers.conf, storage.conf,
# registries.conf, policy.json and auth file lives in the suite's temp dir. What podman, c/image
# and runc still write to fixed paths when run as root (the blob-info cache in /var/lib/containers,
# /run/containers, /run/runc) and the system's /etc/containers are covered by empty tmpfs mounts
# in a private mount namespace (unshare) that ends with the suite, so nothing outside the temp
# dir is read or left behind. Needs root (podman with vfs storage and runc as root).
# One line per check; the last line is "N passed, N failed"; non-zero exit on any failure.

# --- private mount namespace ----------------------------------------------------------------------
# The directories hidden behind tmpfs; a missing one is created as a mount point and removed after.
NS_DIRS=(/etc/containers /var/lib/containers /run/containers /run/runc)
if [ -z "${BERTH_PODMAN_NS:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "podman.sh: needs root (podman with vfs storage and runc run as root); skipped"
        echo "skip podman.sh (not root)"
        echo "1 checks skipped"
        echo "0 passed, 0 failed"
        exit 0
    fi
    for tool in podman unshare runc skopeo curl jq htpasswd; do
        command -v "$tool" >/dev/null || {
            echo "podman.sh needs $tool (deploy/install-deps --test)" >&2
            exit 2
        }
    done
    made=()
    for d in "${NS_DIRS[@]}"; do
        if [ ! -d "$d" ]; then
            mkdir "$d" || exit 2
            made+=("$d")
        fi
    done
    BERTH_PODMAN_NS=1 unshare --mount --propagation private bash "$0" "$@"
    rc=$?
    for d in "${made[@]}"; do rmdir "$d" 2>/dev/null; done
    exit "$rc"
fi
for d in "${NS_DIRS[@]}"; do
    mount -t tmpfs -o mode=0755 berth-podman-test "$d" || {
        echo "podman.sh: cannot mount a tmpfs on $d in a private mount namespace" >&2
        exit 2
    }
done

# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

# pm_cleanup: unmount what podman may have left mounted under $T (a container's shm after a failed
# run), then common.sh's _cleanup (servers stopped by PID, $T removed).
pm_cleanup() {
    local m
    findmnt -rn -o TARGET | grep -F "$T/" | sort -r | while read -r m; do umount -l "$m"; done
    _cleanup
}
trap pm_cleanup EXIT

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
V2S2_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
V2S2_LIST=application/vnd.docker.distribution.manifest.list.v2+json
ACCEPT_ALL=(-H "Accept: $OCI_MANIFEST, $OCI_INDEX, $V2S2_MANIFEST, $V2S2_LIST")
BUSYBOX=${BUSYBOX:-/bin/busybox}
MOTD='hello from the second layer, built by podman'
[ -x "$BUSYBOX" ] || {
    echo "podman.sh: no $BUSYBOX (apt-get install busybox-static)" >&2
    exit 2
}

# --- podman's private configuration ---------------------------------------------------------------
PMC=$T/podman-conf
mkdir -p "$PMC" "$T/home" "$T/tmp" || exit 2
cat >"$PMC/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
image_copy_tmp_dir = "$T/tmp"
[network]
network_config_dir = "$PMC/networks"
EOF
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$PMC/policy.json"
cp "$PMC/policy.json" /etc/containers/policy.json || exit 2 # the tmpfs: read by `manifest push`
printf 'unqualified-search-registries = []\n' >"$PMC/registries.conf"
printf '{"auths":{}}\n' >"$T/auth.json"
export CONTAINERS_CONF=$PMC/containers.conf
export CONTAINERS_REGISTRIES_CONF=$PMC/registries.conf REGISTRIES_CONFIG_PATH=$PMC/registries.conf
# Not exported: docker-registry (the reference target) would read REGISTRY_* as configuration.
AUTHFILE=$T/auth.json
export HOME=$T/home TMPDIR=$T/tmp
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_RUNTIME_DIR DOCKER_CONFIG

# pm STORE ARGS...: podman with its own store $T/pm-STORE (vfs), state and tmp dirs.
pm() {
    local s=$T/pm-$1
    shift
    if [ ! -d "$s" ]; then
        mkdir -p "$s/tmp" || return 1
        printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' "$s" "$s" \
            >"$s/storage.conf"
    fi
    REGISTRY_AUTH_FILE=$AUTHFILE CONTAINERS_STORAGE_CONF=$s/storage.conf podman --root "$s/root" \
        --runroot "$s/run" --storage-driver vfs --tmpdir "$s/tmp" --runtime runc \
        --cgroup-manager cgroupfs --events-backend file "$@" </dev/null
}

# pm_ok LABEL STORE ARGS...: one check that podman succeeds; output in $T/pm.out.
pm_ok() {
    run_ok "podman $1" "$T/pm.out" pm "$2" "${@:3}"
}

# pm_refused LABEL STORE ERE ARGS...: one check that podman fails and says why (output matches ERE).
pm_refused() {
    run_refused "podman $1" "$T/pm.out" "$3" pm "$2" "${@:4}"
}

# img STORE IMAGE GO_TEMPLATE: one field of `podman image inspect`.
img() {
    pm "$1" image inspect --format "$3" "$2" 2>/dev/null
}

# layer_file REPO MANIFEST_FILE N PATH: print file PATH of layer N (gzip or zstd) as served.
layer_file() {
    local d
    d=$(jq -r --argjson n "$3" '.layers[$n].digest' "$2")
    req GET "/v2/$1/blobs/$d"
    [ "$STATUS" = 200 ] || return 1
    case "$(jq -r --argjson n "$3" '.layers[$n].mediaType' "$2")" in
    *zstd) zstd -dc <"$BODY" ;;
    *) gzip -dc <"$BODY" ;;
    esac | tar -xOf - --wildcards "$4" "./$4" 2>/dev/null
}

# log_mark: the number of lines in the server log now. log_since MARK ERE: matching lines after MARK.
log_mark() {
    wc -l <"$SRV_LOG"
}
log_since() {
    tail -n "+$(($1 + 1))" "$SRV_LOG" | grep -cE "$2"
}

# --- the images: podman build from busybox-static --------------------------------------------------
CTX=$T/ctx
mkdir -p "$CTX/rootfs/bin" "$CTX/rootfs/tmp" "$CTX/rootfs/etc" || exit 2
cp "$BUSYBOX" "$CTX/rootfs/bin/busybox" || exit 2
for a in sh echo cat ls true; do ln -s busybox "$CTX/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/:/bin/sh\n' >"$CTX/rootfs/etc/passwd"
printf '%s\n' "$MOTD" >"$CTX/motd"
cat >"$CTX/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY motd /etc/motd
ENV PATH=/bin
CMD ["echo", "hello from berth"]
EOF

start_target || {
    fail "server did not start"
    finish
}
describe_target
echo "# $(podman --version), $(runc --version | head -n 1)"
APP=localhost/berth-test/app:1.0
ARM=localhost/berth-test/app:arm64

pm_ok "build $APP (FROM scratch, busybox + motd: two layers)" A build -q -f "$CTX/Containerfile" -t "$APP" "$CTX"
APP_ID=sha256:$(img A "$APP" '{{.Id}}')
APP_DIFFIDS=$(img A "$APP" '{{json .RootFS.Layers}}')
check "$APP has two layers" jqf 'length == 2' <<<"$APP_DIFFIDS"
pm_ok "build $ARM (--platform linux/arm64/v8, metadata only)" A build -q --no-cache \
    --platform linux/arm64/v8 -f "$CTX/Containerfile" -t "$ARM" "$CTX"
ARM_ID=sha256:$(img A "$ARM" '{{.Id}}')
check "arm64 image: architecture arm64, its own image ID" \
    test "$(img A "$ARM" '{{.Architecture}}')" = arm64 -a "$ARM_ID" != "$APP_ID"

# --- push by tag ---------------------------------------------------------------------------------
echo "# push"
mark=$(log_mark)
pm_ok "push $APP to $REG/pm/app:1.0" A push --tls-verify=false --digestfile "$T/d.push1" "$APP" "$REG/pm/app:1.0"
PUSHED=$(cat "$T/d.push1" 2>/dev/null)
check "registry serves pm/app:1.0 with the digest podman reported ($PUSHED)" \
    eval 'get_manifest pm/app 1.0 && [ "$MDIGEST" = "$PUSHED" ]'
cp "$T/m.json" "$T/app.json"
check "manifest: OCI, config is the local image ($APP_ID), two layers" \
    jqf --arg c "$APP_ID" --arg m "$OCI_MANIFEST" \
    '.mediaType == $m and .config.digest == $c and (.layers | length) == 2' "$T/app.json"
check "config and both layers served intact (size and digest)" blobs_intact pm/app "$T/app.json"
layer_file pm/app "$T/app.json" 0 bin/busybox >"$T/busybox.out"
check "layer 1 as served holds bin/busybox identical to $BUSYBOX" cmp -s "$T/busybox.out" "$BUSYBOX"
check "layer 2 as served holds etc/motd" test "$(layer_file pm/app "$T/app.json" 1 etc/motd)" = "$MOTD"
req GET "/v2/pm/app/blobs/$APP_ID"
check "config blob as served is the image's config (architecture, diff_ids)" \
    jqf --argjson ids "$APP_DIFFIDS" '.architecture == "amd64" and .rootfs.diff_ids == $ids' "$BODY"
if berthd_only "upload requests of the push (read from berthd's access log)"; then
    n=$(log_since "$mark" 'POST /v2/pm/app/blobs/uploads/ 202')-$(log_since "$mark" 'PATCH /v2/pm/app/blobs/uploads/[^ ]+ 202')-$(log_since "$mark" 'PUT /v2/pm/app/blobs/uploads/[^ ]+ 201')
    check "push streamed 3 blobs: POST 202, PATCH 202, PUT 201 for each (got $n)" test "$n" = 3-3-3
fi

# the same image again: every blob exists, nothing is uploaded, same digest
mark=$(log_mark)
pm_ok "push the same image to pm/app:1.0 again" A push --tls-verify=false --digestfile "$T/d.push2" "$APP" "$REG/pm/app:1.0"
check "second push: same manifest digest" test "$(cat "$T/d.push2" 2>/dev/null)" = "$PUSHED"
if berthd_only "second push uploads no blob (read from berthd's access log)"; then
    n_post=$(log_since "$mark" 'POST /v2/pm/app/blobs/uploads/')
    n_head=$(log_since "$mark" 'HEAD /v2/pm/app/blobs/sha256:[0-9a-f]{64} 200')
    check "second push: no upload started ($n_post), blobs found by HEAD 200 ($n_head)" \
        test "$n_post" = 0 -a "$n_head" -ge 3
fi

# a second repository: the layers are mounted from pm/app, not uploaded
mark=$(log_mark)
pm_ok "push $APP to a second repository pm/app-copy:1.0" A push --tls-verify=false \
    --digestfile "$T/d.copy" "$APP" "$REG/pm/app-copy:1.0"
check "pm/app-copy:1.0 has the same digest" \
    eval 'get_manifest pm/app-copy 1.0 && [ "$MDIGEST" = "$PUSHED" ] && [ "$(cat "$T/d.copy")" = "$PUSHED" ]'
check "pm/app-copy serves every blob intact" blobs_intact pm/app-copy "$T/app.json"
if berthd_only "cross-repository mount (read from berthd's access log)"; then
    n_mount=$(log_since "$mark" 'POST /v2/pm/app-copy/blobs/uploads/ 201')
    n_patch=$(log_since "$mark" 'PATCH /v2/pm/app-copy/blobs/uploads/')
    check "both layers mounted from pm/app (POST 201: $n_mount), only the config streamed (PATCH: $n_patch)" \
        test "$n_mount" = 2 -a "$n_patch" -le 1
fi
L1=$(jq -r '.layers[0].digest' "$T/app.json")
n=0
while IFS= read -r -d '' f; do
    [ "$(sha256_of "$f")" = "$L1" ] && n=$((n + 1))
done < <(find "$SRV_DATA" -type f -size "$(jq -r '.layers[0].size' "$T/app.json")c" -print0)
check "the busybox layer is stored once on disk (found $n)" test "$n" = 1

# --- pull into fresh stores ---------------------------------------------------------------------
echo "# pull"
pm_ok "pull $REG/pm/app:1.0 into a fresh store" B pull -q --tls-verify=false "$REG/pm/app:1.0"
check "pulled image: manifest digest $PUSHED" test "$(img B "$REG/pm/app:1.0" '{{.Digest}}')" = "$PUSHED"
check "pulled image: same image ID as the pushed one" \
    test "sha256:$(img B "$REG/pm/app:1.0" '{{.Id}}')" = "$APP_ID"
check "pulled image: same diff_ids (uncompressed layer digests)" \
    test "$(img B "$REG/pm/app:1.0" '{{json .RootFS.Layers}}')" = "$APP_DIFFIDS"
img B "$REG/pm/app:1.0" '{{json .RepoDigests}}' >"$T/repodigests.json"
check "pulled image: RepoDigests name $REG/pm/app@$PUSHED" \
    jqf --arg r "$REG/pm/app@$PUSHED" 'index($r) != null' "$T/repodigests.json"

pm_ok "pull by digest pm/app-copy@$PUSHED" C pull -q --tls-verify=false "$REG/pm/app-copy@$PUSHED"
check "pulled by digest: digest and image ID" \
    test "$(img C "$REG/pm/app-copy@$PUSHED" '{{.Digest}} sha256:{{.Id}}')" = "$PUSHED $APP_ID"
pm_refused "pull by a digest the repository lacks" C 'manifest unknown' pull -q --tls-verify=false \
    "$REG/pm/app-copy@sha256:$(printf 'no such manifest' | sha256sum | cut -d' ' -f1)"

# --- run the pulled image -----------------------------------------------------------------------
echo "# run"
out=$(pm B run --rm --network none "$REG/pm/app:1.0" 2>"$T/run.err")
check "podman run --rm (runc): the image's CMD prints 'hello from berth'${out:+ (got '$out')}" \
    test "$out" = "hello from berth"
[ "$out" = "hello from berth" ] || echo "  $(tail -n 2 "$T/run.err" | tr '\n' ' ')"
out=$(pm B run --rm --network none "$REG/pm/app:1.0" cat /etc/motd 2>"$T/run.err")
check "podman run: /etc/motd from the second layer" test "$out" = "$MOTD"
pm B run --rm --network none "$REG/pm/app:1.0" sh -c 'exit 7' >/dev/null 2>&1
rc=$?
check "podman run: the container's exit status comes back (7, got $rc)" test "$rc" = 7
check "podman run --rm left no container" eval 'out=$(pm B ps -aq) && [ -z "$out" ]'

# --- other formats ------------------------------------------------------------------------------
echo "# formats"
pm_ok "push --format v2s2 (Docker schema2) to pm/app:v2s2" A push --tls-verify=false --format v2s2 \
    --digestfile "$T/d.v2s2" "$APP" "$REG/pm/app:v2s2"
V2S2=$(cat "$T/d.v2s2" 2>/dev/null)
check "registry serves the schema2 manifest with its media type and podman's digest" \
    eval 'get_manifest pm/app v2s2 && [ "$MDIGEST" = "$V2S2" ] && [ "$(hdr Content-Type)" = "$V2S2_MANIFEST" ]'
check "schema2 manifest: Docker media types, same config" \
    jqf --arg m "$V2S2_MANIFEST" --arg c "$APP_ID" '.mediaType == $m and .config.digest == $c and
        .config.mediaType == "application/vnd.docker.container.image.v1+json"' "$T/m.json"
pm_ok "pull the schema2 image into a fresh store" S2 pull -q --tls-verify=false "$REG/pm/app:v2s2"
check "schema2 pull: digest and image ID" \
    test "$(img S2 "$REG/pm/app:v2s2" '{{.Digest}} sha256:{{.Id}}')" = "$V2S2 $APP_ID"

# c/image reuses the gzip layers its blob-info cache knows (podman 4.3 has no --force-compression):
# this push gets an empty cache, a second tmpfs stacked on /var/lib/containers for its duration.
if mount -t tmpfs berth-podman-test /var/lib/containers; then
    pm_ok "push --compression-format zstd to pm/app-zstd:1.0" A push --tls-verify=false \
        --compression-format zstd --digestfile "$T/d.zstd" "$APP" "$REG/pm/app-zstd:1.0"
    umount /var/lib/containers
else
    fail "cannot mount an empty blob-info cache for the zstd push"
fi
ZSTD=$(cat "$T/d.zstd" 2>/dev/null)
check "zstd manifest served with podman's digest" eval 'get_manifest pm/app-zstd 1.0 && [ "$MDIGEST" = "$ZSTD" ]'
cp "$T/m.json" "$T/zstd.json"
check "zstd manifest: both layers tar+zstd" \
    jqf '[.layers[].mediaType] == ["application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.v1.tar+zstd"]' "$T/zstd.json"
check "zstd layers served intact" blobs_intact pm/app-zstd "$T/zstd.json"
if command -v zstd >/dev/null; then
    layer_file pm/app-zstd "$T/zstd.json" 0 bin/busybox >"$T/busybox.out"
    check "zstd layer 1 holds bin/busybox identical to $BUSYBOX" cmp -s "$T/busybox.out" "$BUSYBOX"
fi
pm_ok "pull the zstd image into a fresh store" D pull -q --tls-verify=false "$REG/pm/app-zstd:1.0"
check "zstd pull: digest, image ID and diff_ids" \
    test "$(img D "$REG/pm/app-zstd:1.0" '{{.Digest}} sha256:{{.Id}} {{json .RootFS.Layers}}')" = \
    "$ZSTD $APP_ID $APP_DIFFIDS"
out=$(pm D run --rm --network none "$REG/pm/app-zstd:1.0" cat /etc/motd 2>&1)
check "podman run of the zstd image: /etc/motd" test "$out" = "$MOTD"

# --- tags -------------------------------------------------------------------------------------
echo "# tags"
pm_ok "push a second tag pm/app:1.1" A push -q --tls-verify=false "$APP" "$REG/pm/app:1.1"
pm A search --list-tags --format json --tls-verify=false "$REG/pm/app" >"$T/tags.json" 2>"$T/pm.out"
check "podman search --list-tags: 1.0 1.1 v2s2" \
    jqf --arg n "$REG/pm/app" '.[0].Name == $n and (.[0].Tags | sort) == ["1.0","1.1","v2s2"]' "$T/tags.json"
req GET /v2/pm/app/tags/list
check_json "tags/list agrees" '(.tags | sort) == ["1.0","1.1","v2s2"]'
pm A search --list-tags --format json --tls-verify=false "$REG/pm/no-such-repo" >"$T/tags.json" 2>"$T/pm.out"
rc=$?
check "podman search --list-tags of a missing repository: error or no tags" \
    eval '[ "$rc" != 0 ] || jqf "(.[0].Tags // []) | length == 0" "$T/tags.json"'

# --- multi-arch list ------------------------------------------------------------------------------
echo "# manifest list"
LIST=localhost/berth-test/list:1
pm_ok "manifest create $LIST" A manifest create "$LIST"
pm_ok "manifest add (amd64 image)" A manifest add "$LIST" "containers-storage:$APP"
pm_ok "manifest add (arm64 image)" A manifest add "$LIST" "containers-storage:$ARM"
pm_ok "manifest push --all to pm/multi:1" A manifest push --all --tls-verify=false --digestfile "$T/d.list" \
    "$LIST" "docker://$REG/pm/multi:1"
LISTD=$(cat "$T/d.list" 2>/dev/null)
check "registry serves the list with podman's digest" eval 'get_manifest pm/multi 1 && [ "$MDIGEST" = "$LISTD" ]'
cp "$T/m.json" "$T/list.json"
ctype=$(hdr Content-Type)
check "list: an index ($ctype) whose media type matches its Content-Type" \
    jqf --arg t "$ctype" '.mediaType == $t and ($t | test("index|list"))' "$T/list.json"
check "list: amd64 and arm64/v8 entries" \
    jqf '[.manifests[].platform | "\(.os)/\(.architecture)\(if .variant then "/" + .variant else "" end)"] | sort
        == ["linux/amd64", "linux/arm64/v8"]' "$T/list.json"
bad=
while read -r d arch; do
    if ! get_manifest pm/multi "$d" || [ "$MDIGEST" != "$d" ] || ! blobs_intact pm/multi "$T/m.json"; then
        bad="$bad $arch:manifest"
        continue
    fi
    req GET "/v2/pm/multi/blobs/$(jq -r .config.digest "$T/m.json")"
    jqf --arg a "$arch" '.architecture == $a' "$BODY" || bad="$bad $arch:config"
done < <(jq -r '.manifests[] | "\(.digest) \(.platform.architecture)"' "$T/list.json")
check "each platform's manifest and blobs pushed by --all, configs match their platform${bad:+ ($bad)}" \
    test -z "$bad"
printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REG" \
    >"$PMC/registries-insecure.conf"
CONTAINERS_REGISTRIES_CONF=$PMC/registries-insecure.conf pm A manifest inspect "$REG/pm/multi:1" \
    >"$T/minspect.json" 2>"$T/pm.out"
check "podman manifest inspect of the pushed list: the same two entries" \
    jqf --slurpfile l "$T/list.json" '[.manifests[].digest] == [$l[0].manifests[].digest] and
        (.manifests | length) == 2' "$T/minspect.json"
pm_ok "pull --arch arm64 pm/multi:1" E pull -q --tls-verify=false --arch arm64 "$REG/pm/multi:1"
check "arm64 pull: the arm64 image (same image ID as built)" \
    test "$(img E "$REG/pm/multi:1" '{{.Architecture}} sha256:{{.Id}}')" = "arm64 $ARM_ID"
pm_ok "pull --arch amd64 pm/multi:1 into a fresh store" F pull -q --tls-verify=false --arch amd64 "$REG/pm/multi:1"
check "amd64 pull: the amd64 image, list digest recorded" \
    test "$(img F "$REG/pm/multi:1" '{{.Architecture}} sha256:{{.Id}} {{.Digest}}')" = "amd64 $APP_ID $LISTD"

# --- delete, then pull fails ----------------------------------------------------------------------
echo "# delete"
if skopeo delete --tls-verify=false --no-creds "docker://$REG/pm/app-copy:1.0" >"$T/skopeo.out" 2>&1; then
    ok "skopeo delete pm/app-copy:1.0"
else
    fail "skopeo delete pm/app-copy:1.0: $(tail -n 2 "$T/skopeo.out" | tr '\n' ' ')"
fi
req GET /v2/pm/app-copy/manifests/1.0 "${ACCEPT_ALL[@]}"
check_status 404 "deleted manifest's tag"
check_json_error MANIFEST_UNKNOWN
pm_refused "pull of the deleted pm/app-copy:1.0" G 'manifest unknown' pull -q --tls-verify=false "$REG/pm/app-copy:1.0"
pm_refused "pull of the deleted manifest by digest" G 'manifest unknown' pull -q --tls-verify=false \
    "$REG/pm/app-copy@$PUSHED"
pm_ok "pm/app:1.0, which shares the deleted manifest's blobs, still pulls" G pull -q --tls-verify=false "$REG/pm/app:1.0"
check "pm/app:1.0 still pulls the same image" \
    test "$(img G "$REG/pm/app:1.0" '{{.Digest}} sha256:{{.Id}}')" = "$PUSHED $APP_ID"
if berthd_only "DELETE of a tag with curl"; then
    req DELETE /v2/pm/app/manifests/1.1
    check_status 202 "delete tag 1.1"
    pm A search --list-tags --format json --tls-verify=false "$REG/pm/app" >"$T/tags.json" 2>"$T/pm.out"
    check "podman search --list-tags after deleting 1.1: 1.0 v2s2" \
        jqf '(.[0].Tags | sort) == ["1.0","v2s2"]' "$T/tags.json"
    pm_refused "pull of the deleted tag 1.1" G 'manifest unknown' pull -q --tls-verify=false "$REG/pm/app:1.1"
fi
pm_refused "pull from a repository that never existed" G 'manifest unknown|name unknown' pull -q \
    --tls-verify=false "$REG/pm/never-pushed:1.0"
check_api_header_everywhere

# --- authentication: htpasswd --------------------------------------------------------------------
if [ "$TARGET" != berthd ]; then
    skip "podman login against htpasswd auth (berthd-only section)"
    finish
fi
echo "# htpasswd authentication"
check_clean_stop
PW_ALICE='Alice-pm-pw-T6q1'
PW_BOB='Bob-pm-pw-W3e7'
PW_WRONG='Wrong-pm-pw-K8s2'
HTP=$T/htpasswd
if ! { htpasswd -cbB "$HTP" alice "$PW_ALICE" && htpasswd -bB "$HTP" bob "$PW_BOB"; } 2>/dev/null; then
    fail "htpasswd could not create $HTP"
    finish
fi
CREDS=(-u "alice:$PW_ALICE") # wait_ready polls /v2/ with them
start_berthd "" "" --auth.mode htpasswd --auth.htpasswd "$HTP" --auth.rule 'alice pm/** pull,push,delete' \
    --auth.rule 'bob pm/** pull' || {
    fail "berthd with htpasswd auth did not start"
    finish
}
CREDS=()
code=$(curl -s -o /dev/null -w '%{http_code}' "$SRV_URL/v2/")
if [ "$code" != 401 ]; then
    fail "berthd with htpasswd auth: GET /v2/ without credentials gave $code, not 401"
    finish
fi
ok "berthd with htpasswd auth on $REG: anonymous GET /v2/ -> 401"

pm_refused "push without logging in" A 'unauthorized|authentication required' push -q --tls-verify=false \
    "$APP" "$REG/pm/secure:1.0"
pm_refused "login alice with a wrong password" A 'invalid username/password' login --tls-verify=false \
    -u alice -p "$PW_WRONG" "$REG"
check "no entry for $REG in the auth file after the failed login" \
    jqf --arg r "$REG" '.auths[$r] == null' "$AUTHFILE"
pm_ok "login alice" A login --tls-verify=false -u alice -p "$PW_ALICE" "$REG"
check "auth file holds alice's credentials for $REG" \
    jqf --arg r "$REG" --arg a "$(printf 'alice:%s' "$PW_ALICE" | base64 -w0)" '.auths[$r].auth == $a' "$AUTHFILE"
pm_ok "push as alice to pm/secure:1.0" A push --tls-verify=false --digestfile "$T/d.secure" "$APP" "$REG/pm/secure:1.0"
SECURE=$(cat "$T/d.secure" 2>/dev/null)
req GET /v2/pm/secure/manifests/1.0 "${ACCEPT_ALL[@]}" -u "alice:$PW_ALICE"
check "alice's push stored: digest $SECURE" \
    test "$STATUS $(sha256_of "$BODY")" = "200 $SECURE" -a "$SECURE" = "$PUSHED"
req GET /v2/pm/secure/manifests/1.0 "${ACCEPT_ALL[@]}"
check_status 401 "anonymous GET of alice's image"
pm_ok "pull as alice into a fresh store" H pull -q --tls-verify=false "$REG/pm/secure:1.0"
check "alice's pull: digest and image ID" \
    test "$(img H "$REG/pm/secure:1.0" '{{.Digest}} sha256:{{.Id}}')" = "$SECURE $APP_ID"
out=$(pm H run --rm --network none "$REG/pm/secure:1.0" 2>&1)
check "podman run of the image pulled with credentials" test "$out" = "hello from berth"

pm_ok "login bob (pull only)" A login --tls-verify=false -u bob -p "$PW_BOB" "$REG"
pm_refused "push as bob (pull-only rule)" A 'denied|unauthorized|forbidden|403' push -q --tls-verify=false \
    "$APP" "$REG/pm/secure:bob"
req GET /v2/pm/secure/manifests/bob "${ACCEPT_ALL[@]}" -u "alice:$PW_ALICE"
check_status 404 "nothing written by bob's refused push"
pm_ok "pull as bob" I pull -q --tls-verify=false "$REG/pm/secure:1.0"
check "bob's pull: digest" test "$(img I "$REG/pm/secure:1.0" '{{.Digest}}')" = "$SECURE"
pm_ok "logout" A logout "$REG"
check "auth file has no entry for $REG after logout" jqf --arg r "$REG" '.auths[$r] == null' "$AUTHFILE"
pm_refused "pull after logout" J 'unauthorized|authentication required' pull -q --tls-verify=false "$REG/pm/secure:1.0"
leaked=
for s in "$PW_ALICE" "$PW_BOB" "$PW_WRONG" "$(printf 'alice:%s' "$PW_ALICE" | base64 -w0)"; do
    grep -qF -- "$s" "$SRV_LOG" && leaked="$leaked ${s:0:6}..."
done
check "no password in the server log${leaked:+ (found$leaked)}" test -z "$leaked"
finish
