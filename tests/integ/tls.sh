#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called via check
# tls.sh: berthd serving HTTPS (tls.cert / tls.key) with a self-signed CA made here with openssl,
# exactly as docs/auth.md tells a team to do it: skopeo with --cert-dir and TLS verification on
# (copy, inspect, login, in the open, htpasswd and token set-ups), curl --cacert, plain HTTP and
# old TLS versions refused on the TLS port, bad certificate/key pairs refused at start; every
# deploy/examples/*.conf parses and starts berthd (paths and address overridden); and berthd
# refusing to start without authentication on a non-loopback address (checked before it binds:
# nothing is ever started on 0.0.0.0).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

if [ "$TARGET" != berthd ]; then
    skip "tls.sh (berthd only)"
    summary
    exit 0
fi
for tool in skopeo htpasswd openssl jq; do
    command -v "$tool" >/dev/null || {
        echo "tls.sh needs $tool (deploy/install-deps --test)" >&2
        exit 2
    }
done

"$BERTH_ROOT/tests/fixtures/mkimage" || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"
SK=(skopeo --insecure-policy)

# --- a team CA and a server certificate for localhost / 127.0.0.1 (the commands of docs/auth.md) --
PKI=$T/pki
CERTS=$T/certs.d # what clients get: ca.crt only
mkdir -p "$PKI" "$CERTS"
(
    cd "$PKI" || exit 1
    openssl req -x509 -newkey rsa:3072 -sha256 -days 2 -nodes -keyout ca.key -out ca.crt \
        -subj '/CN=Berth test CA' -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign' &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout registry.key \
            -out registry.csr -subj '/CN=localhost' &&
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
            'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
            >registry.ext &&
        openssl x509 -req -sha256 -days 2 -in registry.csr -CA ca.crt -CAkey ca.key \
            -CAcreateserial -extfile registry.ext -out registry.crt &&
        cp ca.crt "$CERTS/ca.crt"
) >"$T/pki.log" 2>&1 || {
    echo "openssl failed: $(tail -n 5 "$T/pki.log")" >&2
    exit 2
}
# quiet CMD...: CMD without output. not CMD...: CMD fails.
quiet() {
    "$@" >/dev/null 2>&1
}
not() {
    ! "$@"
}

CRT=$PKI/registry.crt
KEY=$PKI/registry.key
CA=(--cacert "$CERTS/ca.crt")
PW='Tls-pw-K8s3qd'
HTP=$T/htpasswd
htpasswd -cbB "$HTP" alice "$PW" 2>/dev/null
check "server certificate verifies against the CA" \
    quiet openssl verify -CAfile "$PKI/ca.crt" -purpose sslserver "$CRT"

# start_tls [berthd args...]: berthd over HTTPS on 127.0.0.1; SRV_URL is https. Call _srv_prepare
# first (the args may use SRV_URL).
start_tls() {
    SRV_URL=https://127.0.0.1:$SRV_PORT
    start_srv --tls.cert "$CRT" --tls.key "$KEY" "$@"
}

# start_srv [berthd args...]: berthd on $REG (SRV_URL says http or https); ready when /v2/ answers.
start_srv() {
    READY_CODES="200 401"
    READY_CURL=("${CA[@]}")
    launch_berthd "$@"
}


# curl_rc ARGS...: curl's exit status for one request (no output).
curl_rc() {
    curl -s -o /dev/null --max-time 10 "$@" >/dev/null 2>&1
    echo $?
}

# handshake VERSION: 0 when an openssl client completes a handshake with that protocol version
# (tls1_1, tls1_2, tls1_3), at security level 0 so that only the server can refuse.
handshake() {
    openssl s_client -connect "$REG" "-$1" -cipher 'DEFAULT:@SECLEVEL=0' -CAfile "$CERTS/ca.crt" \
        -verify_return_error </dev/null >"$T/s_client.out" 2>&1 &&
        grep -q "Cipher is [A-Z]" "$T/s_client.out" && ! grep -q 'Cipher is (NONE)' "$T/s_client.out"
}

# refuses LABEL EXIT_RE MESSAGE_RE ARGS...: berthd with ARGS must exit with a status matching
# EXIT_RE and print MESSAGE_RE, within 10 s (a berthd that starts anyway is killed then).
refuses() {
    local label=$1 exit_re=$2 msg=$3 out=$T/refuse.out rc
    shift 3
    timeout 10 "$BERTHD" --data "$(new_data_dir)" "$@" </dev/null >"$out" 2>&1
    rc=$?
    if [[ "$rc" =~ ^($exit_re)$ ]] && grep -qE -- "$msg" "$out"; then
        ok "$label: exit $rc, '$(grep -m1 -oE -- "$msg" "$out")'"
    else
        fail "$label: exit $rc (want $exit_re), output: $(tail -n 3 "$out" | tr '\n' ' ')"
    fi
}

# ======================================================================================
# 1. HTTPS, no authentication (loopback)
# ======================================================================================
_srv_prepare "" "" || exit 1
start_tls || {
    fail "berthd did not start with TLS"
    finish
}
describe_target
req GET /v2/ "${CA[@]}"
check_status 200 "https with --cacert"
req GET "https://localhost:$SRV_PORT/v2/" "${CA[@]}"
check_status 200 "https://localhost (DNS name in the certificate)"
check "log says https" grep -q "listening on https://127.0.0.1:$SRV_PORT" "$SRV_LOG"
rc=$(curl_rc "$SRV_URL/v2/")
check "curl without the CA: certificate not trusted (curl exit $rc)" test "$rc" = 60
rc=$(curl_rc "http://127.0.0.1:$SRV_PORT/v2/")
check "plain http to the TLS port gets no HTTP answer (curl exit $rc)" test "$rc" = 52 -o "$rc" = 56
code=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' "http://127.0.0.1:$SRV_PORT/v2/" 2>/dev/null)
check "plain http: no status line (got '$code')" test "$code" = 000
check "TLS 1.2 handshake" handshake tls1_2
check "TLS 1.3 handshake" handshake tls1_3
check "TLS 1.1 refused" not handshake tls1_1
check "served certificate is registry.crt" test \
    "$(openssl s_client -connect "$REG" -CAfile "$CERTS/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null)" = \
    "$(openssl x509 -in "$CRT" -noout -fingerprint -sha256)"

sk "copy with --dest-cert-dir (verification on)" ok copy -q --retry-times 0 \
    --dest-cert-dir "$CERTS" --dest-no-creds "oci:$FX/single:latest" "docker://$REG/tls/app:v1"
sk "copy without the CA" fail copy -q --retry-times 0 --dest-no-creds \
    "oci:$FX/single:latest" "docker://$REG/tls/app:v2"
sk "copy to localhost:PORT with --dest-cert-dir" ok copy -q --retry-times 0 \
    --dest-cert-dir "$CERTS" --dest-no-creds "oci:$FX/multi:latest" \
    "docker://localhost:$SRV_PORT/tls/multi:v1"
sk "copy back with --src-cert-dir" ok copy -q --retry-times 0 --src-cert-dir "$CERTS" \
    --src-no-creds "docker://$REG/tls/app:v1" "oci:$T/back:v1"
check "copied back: same manifest digest" \
    test "$(jq -r '.manifests[0].digest' "$T/back/index.json")" = "$SINGLE_MANIFEST"
if "${SK[@]}" inspect --cert-dir "$CERTS" --no-creds "docker://$REG/tls/multi:v1" >"$T/inspect.json" 2>&1; then
    check "skopeo inspect --cert-dir: digest" \
        test "$(jq -r .Digest "$T/inspect.json")" = "$MULTI_MANIFEST"
else
    fail "skopeo inspect --cert-dir: $(tail -n 2 "$T/inspect.json" | tr '\n' ' ')"
fi
check_clean_stop

# ======================================================================================
# 2. HTTPS + htpasswd
# ======================================================================================
_srv_prepare "" "" || exit 1
start_tls --auth.mode htpasswd --auth.htpasswd "$HTP" --auth.rule 'alice team/** pull,push,delete' \
    --auth.rule 'anonymous public/** pull' || {
    fail "berthd did not start with TLS and htpasswd"
    finish
}
describe_target
req GET /v2/ "${CA[@]}"
check_status 401 "https, no credentials"
check_header WWW-Authenticate 'Basic realm="berth"'
req GET /v2/ "${CA[@]}" -u "alice:$PW"
check_status 200 "https, alice"
req GET /v2/ "${CA[@]}" -u "alice:wrong-$PW"
check_status 401 "https, wrong password"
AF=$T/auth.json
sk "login --cert-dir (verification on)" ok login --cert-dir "$CERTS" --authfile "$AF" -u alice \
    -p "$PW" "$REG"
sk "login without the CA" fail login --authfile "$T/x.json" -u alice -p "$PW" "$REG"
sk "copy over https with credentials" ok copy -q --retry-times 0 --dest-cert-dir "$CERTS" \
    --dest-authfile "$AF" "oci:$FX/single:latest" "docker://$REG/team/app:v1"
sk "copy over https, wrong password" fail copy -q --retry-times 0 --dest-cert-dir "$CERTS" \
    --dest-creds "alice:wrong-$PW" "oci:$FX/single:latest" "docker://$REG/team/app:v2"
sk "delete over https" ok delete --cert-dir "$CERTS" --authfile "$AF" "docker://$REG/team/app:v1"
check "password not in the log" not grep -qF -- "$PW" "$SRV_LOG"
check_clean_stop

# ======================================================================================
# 3. HTTPS + token mode with the built-in issuer (realm on the same https port)
# ======================================================================================
_srv_prepare "" "" || exit 1
start_tls --auth.mode token --auth.htpasswd "$HTP" \
    --auth.token.realm "https://127.0.0.1:$SRV_PORT/auth/token" \
    --auth.rule 'alice team/** pull,push,delete' || {
    fail "berthd did not start with TLS and tokens"
    finish
}
describe_target
req GET /v2/ "${CA[@]}"
check_header WWW-Authenticate "Bearer realm=\"https://127.0.0.1:$SRV_PORT/auth/token\",service=\"berth\""
req GET "/auth/token?service=berth&scope=repository:team/app:pull" "${CA[@]}" -u "alice:$PW"
check_json "token over https" '.scope == "repository:team/app:pull"'
AF2=$T/auth-token.json
sk "login --cert-dir (token mode)" ok login --cert-dir "$CERTS" --authfile "$AF2" -u alice \
    -p "$PW" "$REG"
sk "copy over https (token mode)" ok copy -q --retry-times 0 --dest-cert-dir "$CERTS" \
    --dest-authfile "$AF2" "oci:$FX/single:latest" "docker://$REG/team/app:v1"
sk "delete over https (token mode)" ok delete --cert-dir "$CERTS" --authfile "$AF2" \
    "docker://$REG/team/app:v1"
check "TLS key not in the log" not grep -qF -- "$(sed -n 2p "$KEY")" "$SRV_LOG"
check_clean_stop

# ======================================================================================
# 4. every example configuration parses and starts (paths and address overridden)
# ======================================================================================
EXT_KEY=$T/ext.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$EXT_KEY" 2>/dev/null
openssl pkey -in "$EXT_KEY" -pubout -out "$T/ext.pub" 2>/dev/null
for f in "$BERTH_ROOT"/deploy/examples/*.conf; do
    name=deploy/examples/${f##*/}
    check "$name parses (--print-config)" quiet "$BERTHD" --config "$f" --print-config
    _srv_prepare "" "" || exit 1
    over=(--config "$f" --auth.htpasswd "$HTP" --auth.issuer.key "$SRV_DATA/token-key.pem"
        --auth.token.key "$T/ext.pub")
    if grep -q '^tls\.cert' "$f"; then
        start_tls "${over[@]}"
    else
        start_srv "${over[@]}"
    fi
    started=$?
    check "$name starts berthd (listen, data and file paths overridden)" test "$started" = 0
    [ "$started" = 0 ] && check_clean_stop
    SRV_PID=
done

# ======================================================================================
# 5. refusals at start
# ======================================================================================
P=$(free_port) || exit 1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
refuses "certificate and a key that does not match" '1|2' 'tls: .*do not match' \
    --listen "127.0.0.1:$P" --tls.cert "$CRT" --tls.key "$T/other.key"
refuses "certificate and key swapped" '1|2' 'tls: cannot use tls.cert' \
    --listen "127.0.0.1:$P" --tls.cert "$KEY" --tls.key "$CRT"
refuses "tls.cert without tls.key" '1|2' 'tls.cert and tls.key' \
    --listen "127.0.0.1:$P" --tls.cert "$CRT"
refuses "tls.key without tls.cert" '1|2' 'tls.cert and tls.key' \
    --listen "127.0.0.1:$P" --tls.key "$KEY"
refuses "missing certificate file" '1|2' 'tls: cannot read' \
    --listen "127.0.0.1:$P" --tls.cert "$T/nonexistent.crt" --tls.key "$KEY"
# No authentication on a non-loopback address: refused before any socket is bound. (With
# auth.force-open it would start and listen on every interface, so that is never run here.)
refuses "auth.mode none on 0.0.0.0" 2 'refusing to serve without authentication' \
    --listen "0.0.0.0:$P"
refuses "auth.mode none on [::]" 2 'refusing to serve without authentication' \
    --listen "[::]:$P"
refuses "auth.mode none on 127.0.0.1 and 0.0.0.0" 2 'refusing to serve without authentication' \
    --listen "127.0.0.1:$P,0.0.0.0:$P"
refuses "auth.mode none on 0.0.0.0 with TLS (TLS is not authentication)" 2 \
    'refusing to serve without authentication' --listen "0.0.0.0:$P" --tls.cert "$CRT" \
    --tls.key "$KEY"
refuses "auth.mode none on :PORT (all interfaces)" 2 'refusing to serve without authentication' \
    --listen ":$P"
finish
