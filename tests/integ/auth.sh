#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317 # jq programs in single quotes; functions called via check
# auth.sh: authentication and access control end to end against the real berthd (issue 3,
# docs/auth.md), with real clients (skopeo, curl) and tokens crafted with the openssl CLI:
#   1. htpasswd mode: skopeo login / copy / delete, wrong password, anonymous pull of a public
#      repository, pushes denied by the rules (and nothing written), the filtered catalog, the
#      htpasswd file reloaded on change, failed logins slowed down (429 + Retry-After);
#   2. token mode with the built-in issuer: the exact Bearer challenges, the token endpoint (GET
#      with Basic and anonymous, OAuth2 POST password and refresh_token), skopeo login / copy /
#      delete, a token for A used on B, push with a pull-only token, forged and broken tokens
#      (expired, not yet valid, wrong iss/aud, bad signature, alg none, HS256 keyed with the public
#      key, truncated), 429 at the token endpoint, scopes naming host:port;
#   3. an external issuer: keys berthd did not generate (auth.token.key, and an x5c chain against
#      auth.token.rootcerts), configured with auth.issuer.enabled = false;
#   4. no password, token or key text in any server log;
#   5. the core API suite (tests/integ/api.sh) with auth.mode = htpasswd and credentials.
# Every server listens on 127.0.0.1 only. Deliberate failed logins come from other loopback source
# addresses (127.0.0.2-6) so that the per-address failure counter of 127.0.0.1 stays low.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

if [ "$TARGET" != berthd ]; then
    echo "auth.sh tests berthd's own authentication; BERTH_TEST_TARGET=$TARGET is not supported"
    skip "auth.sh (berthd only)"
    summary
    exit 0
fi
for tool in skopeo htpasswd openssl jq perl; do
    command -v "$tool" >/dev/null || {
        echo "auth.sh needs $tool (deploy/install-deps --test)" >&2
        exit 2
    }
done

"$BERTH_ROOT/tests/fixtures/mkimage" || exit 1
FX=$OUT/fixtures
# shellcheck source=/dev/null
. "$FX/digests.env"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
ACCEPT=(-H "Accept: $OCI_MANIFEST")
SK=(skopeo --insecure-policy)
NOTLS=(--tls-verify=false)

# Users and passwords: distinctive strings, looked for in the server logs at the end.
PW_ALICE='Alice-pw-Q7x2kv'
PW_BOB='Bob-pw-Z9k4rw'
PW_ADMIN='Admin-pw-M3v8tn'
PW_CAROL='Carol-pw-H5j1zq'
PW_WRONG='Wrong-pw-R2d8yc'
TYPED_AS_USER='Typed-pw-as-user-N4c6'
SECRETS=("$PW_ALICE" "$PW_BOB" "$PW_ADMIN" "$PW_CAROL" "$PW_WRONG" "$TYPED_AS_USER"
    "$(printf 'alice:%s' "$PW_ALICE" | base64)" "$(printf 'admin:%s' "$PW_ADMIN" | base64)")

HTP=$T/htpasswd
if ! { htpasswd -cbB "$HTP" alice "$PW_ALICE" && htpasswd -bB "$HTP" bob "$PW_BOB" &&
    htpasswd -bB "$HTP" admin "$PW_ADMIN"; } 2>/dev/null; then
    echo "htpasswd failed" >&2
    exit 2
fi

# The access rules of sections 1 and 2: alice (group devs) owns team-a/**, bob may only pull it,
# everybody may pull public/**, admin may do everything (private/** is admin-only).
RULES=(--auth.group 'devs: alice' --auth.rule '@devs team-a/** pull,push,delete'
    --auth.rule 'bob team-a/** pull' --auth.rule 'anonymous public/** pull' --auth.admin admin)

# --- helpers -----------------------------------------------------------------------------------

# start_auth [berthd args...]: berthd on a fresh data dir and free port prepared by _srv_prepare
# (call it first: the args may use SRV_URL); ready when /v2/ answers (401 is an answer).
start_auth() {
    READY_CODES="200 401"
    launch_berthd "$@"
}


# b64url: base64url without padding of stdin. b64url_dec: the reverse.
b64url() {
    openssl base64 -A | tr '+/' '-_' | tr -d '='
}
b64url_dec() {
    local s
    s=$(tr -- '-_' '+/')
    while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
    printf '%s' "$s" | openssl base64 -d -A
}

# ecdsa_raw N: the DER ECDSA signature on stdin as JOSE's raw r||s (N bytes each).
ecdsa_raw() {
    local hex
    hex=$(openssl asn1parse -inform DER 2>/dev/null | awk -F: '/INTEGER/ { print $NF }' |
        while read -r v; do
            v=${v#"${v%%[!0]*}"}
            printf '%*s' $(($1 * 2)) "$v" | tr ' ' 0
        done)
    perl -e 'print pack("H*", $ARGV[0])' "$hex"
}

# jws ALG KEYFILE HEADER CLAIMS: a compact JWS made with the openssl CLI only. ALG: RS256, ES256,
# HS256 (KEYFILE's bytes are the HMAC secret) or none (empty signature).
jws() {
    local alg=$1 key=$2 si sig=
    si="$(printf '%s' "$3" | b64url).$(printf '%s' "$4" | b64url)"
    case "$alg" in
    RS256) sig=$(printf '%s' "$si" | openssl dgst -sha256 -sign "$key" | b64url) ;;
    ES256) sig=$(printf '%s' "$si" | openssl dgst -sha256 -sign "$key" | ecdsa_raw 32 | b64url) ;;
    HS256)
        sig=$(printf '%s' "$si" | openssl dgst -sha256 -binary -mac HMAC \
            -macopt "hexkey:$(od -An -v -tx1 <"$key" | tr -d ' \n')" | b64url)
        ;;
    esac
    printf '%s.%s' "$si" "$sig"
}

# claims ISS AUD EXP_OFFSET NBF_OFFSET ACCESS_JSON [SUB]: a claim set relative to now.
claims() {
    local now
    now=$(date +%s)
    jq -cn --arg iss "$1" --arg aud "$2" --argjson exp $((now + $3)) --argjson nbf $((now + $4)) \
        --argjson access "$5" --arg sub "${6:-alice}" --arg jti "j$RANDOM$RANDOM" \
        '{iss: $iss, sub: $sub, aud: $aud, exp: $exp, nbf: $nbf, iat: $nbf, jti: $jti, access: $access}'
}

# access TYPE NAME ACTIONS: a one-entry access claim ("pull,push" -> ["pull","push"]).
access() {
    jq -cn --arg t "$1" --arg n "$2" --arg a "$3" '[{type: $t, name: $n, actions: ($a | split(","))}]'
}

# get_token ARGS...: GET /auth/token?ARGS with curl args before; sets TOKEN (and BODY).
get_token() {
    local query=$1
    shift
    req GET "/auth/token?$query" "$@"
    TOKEN=$(jq -r '.token // empty' "$BODY" 2>/dev/null)
}

# secret_free LABEL: no secret (SECRETS array) appears in any server log so far.
secret_free() {
    local s f found=
    for s in "${SECRETS[@]}"; do
        [ -n "$s" ] || continue
        for f in "$T"/server.*.log; do
            if grep -qF -- "$s" "$f"; then found="$found ${s:0:12}...(${f##*/})"; fi
        done
    done
    if [ -z "$found" ]; then
        ok "$1: none of ${#SECRETS[@]} secrets in the server logs"
    else
        fail "$1: secrets in server logs:$found"
    fi
}


# catalog_is CURL_ARGS... -- EXPECTED...: GET /v2/_catalog lists exactly EXPECTED (sorted).
catalog_is() {
    local args=() want
    while [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    want=$(printf '%s\n' "$@" | sort | jq -R . | jq -sc .)
    req GET /v2/_catalog "${args[@]}"
    [ "$STATUS" = 200 ] && [ "$(jq -c '.repositories | sort' "$BODY")" = "$want" ]
}

# tags_are CURL_ARGS... -- EXPECTED...: GET tags/list of REPO (first expected arg) is exactly
# the rest.
tags_are() {
    local args=() repo want
    while [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    repo=$1
    shift
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | jq -R . | jq -sc .)
    req GET "/v2/$repo/tags/list" "${args[@]}"
    [ "$STATUS" = 200 ] && [ "$(jq -c '.tags // [] | sort' "$BODY")" = "$want" ]
}

# www_auth_has TEXT: the last WWW-Authenticate header contains TEXT.
www_auth_has() {
    [[ "$(hdr WWW-Authenticate)" == *"$1"* ]]
}

# expect_401_invalid LABEL TOKEN: a request with TOKEN on team-a/app is 401 invalid_token.
expect_401_invalid() {
    req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $2"
    if [ "$STATUS" = 401 ] && www_auth_has 'error="invalid_token"' &&
        www_auth_has 'scope="repository:team-a/app:pull"'; then
        ok "$1 -> 401 invalid_token"
    else
        fail "$1: expected 401 with error=\"invalid_token\", got $STATUS '$(hdr WWW-Authenticate)'"
    fi
}

# ======================================================================================
# 1. htpasswd mode
# ======================================================================================
echo "# 1. htpasswd mode"
_srv_prepare "" "" || exit 1
start_auth --auth.mode htpasswd --auth.htpasswd "$HTP" --auth.basic-realm 'Berth test' \
    "${RULES[@]}" --auth.ratelimit.failures 5 --auth.ratelimit.window 60s || {
    fail "berthd did not start in htpasswd mode"
    finish
}
describe_target
ALICE=(-u "alice:$PW_ALICE")
BOB=(-u "bob:$PW_BOB")
ADMIN=(-u "admin:$PW_ADMIN")
AF=$T/auth-htpasswd.json # skopeo's auth file (never the default one in $HOME)

req GET /v2/
check_status 401 "no credentials"
check_header WWW-Authenticate 'Basic realm="Berth test"'
check_json_error UNAUTHORIZED
req GET /v2/ "${ALICE[@]}"
check_status 200 "alice"
req GET /v2/ -u "alice:$PW_WRONG" --interface 127.0.0.2
check_status 401 "wrong password"
check_header WWW-Authenticate 'Basic realm="Berth test"' "wrong password"
check_json "wrong password: clear message" '.errors[0].message | test("user name or password")'
req GET /v2/ -u "nobody:$PW_WRONG" --interface 127.0.0.2
check_status 401 "unknown user"
req GET /v2/ -H 'Authorization: Basic !!!not-base64' --interface 127.0.0.2
check_status 401 "garbled Basic credentials"
check_header WWW-Authenticate 'Basic realm="Berth test"' "garbled"
req GET /v2/ -H 'Authorization: Bearer abc.def.ghi' --interface 127.0.0.2
check_status 401 "Bearer in htpasswd mode"
req GET /v2/ -u "$TYPED_AS_USER:x" --interface 127.0.0.2
check_status 401 "password typed as the user name"

sk "login with a wrong password" fail login "${NOTLS[@]}" --authfile "$AF" -u alice \
    -p "$PW_WRONG" "$REG"
sk "login alice" ok login "${NOTLS[@]}" --authfile "$AF" -u alice -p "$PW_ALICE" "$REG"
check "skopeo auth file holds alice's entry for $REG" \
    jqf --arg r "$REG" '.auths[$r].auth | length > 0' "$AF"
sk "copy (alice, --authfile) to team-a/app:v1" ok copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-authfile "$AF" "oci:$FX/single:latest" "docker://$REG/team-a/app:v1"
req GET /v2/team-a/app/manifests/v1 "${ACCEPT[@]}" "${ADMIN[@]}"
check_status 200 "alice's push readable"
check_header Docker-Content-Digest "$SINGLE_MANIFEST"
sk "copy (admin, --dest-creds) to public/base:v1" ok copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-creds "admin:$PW_ADMIN" "oci:$FX/multi:latest" \
    "docker://$REG/public/base:v1"
sk "copy (admin) to private/secret:v1" ok copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-creds "admin:$PW_ADMIN" "oci:$FX/single:latest" "docker://$REG/private/secret:v1"

# anonymous pull of a public repository by a client that never logged in
sk "anonymous pull of public/base:v1" ok copy -q --retry-times 0 --src-tls-verify=false \
    --src-no-creds "docker://$REG/public/base:v1" "oci:$T/anon-pull:v1"
check "anonymous pull: same manifest digest" \
    test "$(jq -r '.manifests[0].digest' "$T/anon-pull/index.json")" = "$MULTI_MANIFEST"
req GET /v2/public/base/manifests/v1 "${ACCEPT[@]}"
check_status 200 "anonymous GET of a public manifest"
req GET /v2/team-a/app/manifests/v1 "${ACCEPT[@]}"
check_status 401 "anonymous GET outside the public rules"
check_header WWW-Authenticate 'Basic realm="Berth test"' "anonymous, team-a"
req POST /v2/public/base/blobs/uploads/
check_status 401 "anonymous push to public/"
sk "anonymous pull of team-a/app" fail copy -q --retry-times 0 --src-tls-verify=false \
    --src-no-creds "docker://$REG/team-a/app:v1" "oci:$T/anon-pull2:v1"

# pushes the rules deny: refused, and nothing written
sk "alice copy to other/app (no rule)" fail copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-authfile "$AF" "oci:$FX/single:latest" "docker://$REG/other/app:v1"
req POST /v2/other/app/blobs/uploads/ "${ALICE[@]}"
check_status 403 "alice POST upload to other/app"
check_json_error DENIED
upload_tmp=$T/blob.bin
printf 'denied blob %s' "$RANDOM" >"$upload_tmp"
req POST "/v2/other/app/blobs/uploads/?digest=$(sha256_of "$upload_tmp")" "${ALICE[@]}" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$upload_tmp"
check_status 403 "alice monolithic blob POST to other/app"
req PUT /v2/other/app/manifests/v1 "${ALICE[@]}" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$FX/single/blobs/sha256/${SINGLE_MANIFEST#sha256:}"
check_status 403 "alice PUT manifest to other/app"
sk "bob (pull-only) copy to team-a/app:bob" fail copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-creds "bob:$PW_BOB" "oci:$FX/single:latest" \
    "docker://$REG/team-a/app:bob"
req PUT /v2/team-a/app/manifests/bob "${BOB[@]}" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$FX/single/blobs/sha256/${SINGLE_MANIFEST#sha256:}"
check_status 403 "bob PUT manifest to team-a/app"
req HEAD "/v2/other/app/blobs/$(sha256_of "$upload_tmp")" "${ADMIN[@]}"
check_status 404 "denied blob was not stored"
req GET /v2/other/app/tags/list "${ADMIN[@]}"
check_status 404 "other/app does not exist after the denied pushes"
check "team-a/app still has only v1 (bob's push wrote nothing)" \
    tags_are "${ADMIN[@]}" -- team-a/app v1
sk "bob pulls team-a/app:v1" ok copy -q --retry-times 0 --src-tls-verify=false \
    --src-creds "bob:$PW_BOB" "docker://$REG/team-a/app:v1" "oci:$T/bob-pull:v1"

# the catalog lists only what the caller may pull
check "catalog (admin): every repository" \
    catalog_is "${ADMIN[@]}" -- private/secret public/base team-a/app
check "catalog (alice): team-a/app public/base" catalog_is "${ALICE[@]}" -- public/base team-a/app
check "catalog (bob): team-a/app public/base" catalog_is "${BOB[@]}" -- public/base team-a/app
check "catalog (anonymous): public/base" catalog_is -- public/base

# delete needs the delete action
sk "bob delete team-a/app:v1" fail delete "${NOTLS[@]}" --creds "bob:$PW_BOB" \
    "docker://$REG/team-a/app:v1"
sk "alice delete team-a/app:v1 (--authfile)" ok delete "${NOTLS[@]}" --authfile "$AF" \
    "docker://$REG/team-a/app:v1"
req GET /v2/team-a/app/manifests/v1 "${ACCEPT[@]}" "${ADMIN[@]}"
check_status 404 "team-a/app:v1 gone after delete"
sk "logout" ok logout --authfile "$AF" "$REG"

# the htpasswd file is re-read when it changes: a new user logs in without a restart
req GET /v2/ -u "carol:$PW_CAROL" --interface 127.0.0.3
check_status 401 "carol before she is added"
sleep 1.1
htpasswd -bB "$HTP" carol "$PW_CAROL" 2>/dev/null
req GET /v2/ -u "carol:$PW_CAROL" --interface 127.0.0.3
check_status 200 "carol after htpasswd added her (file reloaded)"
check "log says the htpasswd file was reloaded" grep -q 'htpasswd file .* reloaded' "$SRV_LOG"
# hashes other than bcrypt are refused, with a log line naming the entry (never the hash)
sleep 1.1
htpasswd -bm "$HTP" dave "$PW_CAROL" 2>/dev/null
req GET /v2/ -u "dave:$PW_CAROL" --interface 127.0.0.3
check_status 401 "user with an MD5 (apr1) hash cannot log in"
check "log names the refused apr1 entry" \
    grep -q 'user "dave" has an unsupported password hash (apr1-md5)' "$SRV_LOG"

# One wrong password sent on many requests (clients send credentials on every request, many in
# parallel) counts as one failed login: the right password still works afterwards.
for i in 1 2 3 4 5 6 7 8; do
    req GET /v2/ -u "alice:$PW_WRONG" --interface 127.0.0.4
    [ "$STATUS" = 401 ] || fail "repeated wrong password $i from 127.0.0.4: $STATUS, expected 401"
done
req GET /v2/ "${ALICE[@]}" --interface 127.0.0.4
check_status 200 "right password after one wrong password sent 8 times"
# repeated failed logins (distinct guesses) from one address: 429 TOOMANYREQUESTS with Retry-After
for i in 1 2 3 4; do
    req GET /v2/ -u "alice:$PW_WRONG-$i" --interface 127.0.0.4
    [ "$STATUS" = 401 ] || fail "failed login $i from 127.0.0.4: $STATUS, expected 401"
done
req GET /v2/ -u "alice:$PW_WRONG-5" --interface 127.0.0.4
check_status 429 "6th failed login from 127.0.0.4"
check_json_error TOOMANYREQUESTS
check_header_re Retry-After '^[1-9][0-9]*$'
req GET /v2/ "${ALICE[@]}" --interface 127.0.0.4
check_status 429 "right password from the blocked address (not even checked)"
req GET /v2/ "${ALICE[@]}"
check_status 200 "alice from 127.0.0.1 is not blocked (per address)"
req GET /v2/public/base/manifests/v1 "${ACCEPT[@]}" --interface 127.0.0.4
check_status 200 "requests without credentials from the blocked address"
check "log names the blocked address" grep -q 'client 127.0.0.4 blocked' "$SRV_LOG"
check "log says why the login failed, naming the user" \
    grep -q 'wrong password for user "alice" from 127.0.0.2' "$SRV_LOG"
secret_free "htpasswd mode"
check_clean_stop

# ======================================================================================
# 2. token mode, built-in issuer
# ======================================================================================
echo "# 2. token mode, built-in issuer"
_srv_prepare "" "" || exit 1
REALM=$SRV_URL/auth/token
SERVICE=berth-test
ISSUER=berth-test-issuer
start_auth --auth.mode token --auth.htpasswd "$HTP" --auth.token.realm "$REALM" \
    --auth.token.service "$SERVICE" --auth.token.issuer "$ISSUER" "${RULES[@]}" \
    --auth.ratelimit.failures 5 --auth.ratelimit.window 60s || {
    fail "berthd did not start in token mode"
    finish
}
describe_target
KEY=$SRV_DATA/token-key.pem
check "signing key generated (mode 0600) with its certificate" \
    test "$(stat -c %a "$KEY" 2>/dev/null)" = 600 -a -s "${KEY%.pem}.crt"
check "log names the key's path" grep -q "token signing key $KEY" "$SRV_LOG"
SECRETS+=("$(sed -n 2p "$KEY")" "$(sed -n 3p "$KEY")")
CHALLENGE="Bearer realm=\"$REALM\",service=\"$SERVICE\""

req GET /v2/
check_status 401 "no token"
check_header WWW-Authenticate "$CHALLENGE"
check_json_error UNAUTHORIZED
req GET "/v2/team-a/app/blobs/$SINGLE_LAYER1"
check_status 401 "blob GET without a token"
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:pull\""
req HEAD /v2/team-a/app/manifests/v1
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:pull\"" "HEAD"
req POST /v2/team-a/app/blobs/uploads/
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:pull,push\"" "upload"
req DELETE "/v2/team-a/app/manifests/$SINGLE_MANIFEST"
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:delete\"" "delete"
req GET /v2/_catalog
check_header WWW-Authenticate "$CHALLENGE,scope=\"registry:catalog:*\"" "catalog"
req GET /v2/team-a/app/tags/list -H 'Authorization: Bearer'
check_status 401 "empty Bearer"
req GET /v2/team-a/app/tags/list -u "alice:$PW_ALICE"
check_status 401 "Basic credentials on the registry in token mode"
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:pull\"" "Basic"

# the token endpoint: GET with Basic credentials
get_token "service=$SERVICE&scope=repository:team-a/app:pull,push" "${ALICE[@]}"
check_status 200 "token endpoint, GET with Basic (alice)"
check_json "token response fields" '(.token | length > 0) and .access_token == .token and
    .expires_in == 300 and (.issued_at | test("^[0-9]{4}-")) and
    .scope == "repository:team-a/app:pull,push" and (has("refresh_token") | not)'
check_header Cache-Control no-store
ALICE_PUSH=$TOKEN
HDR_JSON=$(printf '%s' "${TOKEN%%.*}" | b64url_dec)
CLAIMS_JSON=$(printf '%s' "$TOKEN" | cut -d. -f2 | b64url_dec)
KID=$(jq -r .kid <<<"$HDR_JSON")
check "issued token header: ES256 with a kid" jqf '.alg == "ES256" and (.kid | length > 20)' \
    <<<"$HDR_JSON"
check "issued token claims: iss, aud, sub, exp - iat = 300, access" jqf \
    --arg iss "$ISSUER" --arg aud "$SERVICE" '.iss == $iss and .aud == $aud and .sub == "alice" and
    .exp - .iat == 300 and .access == [{type: "repository", name: "team-a/app",
    actions: ["pull", "push"]}]' <<<"$CLAIMS_JSON"
SECRETS+=("$ALICE_PUSH")

# anonymous: what the anonymous rules give, and an empty grant otherwise (not an error)
get_token "service=$SERVICE&scope=repository:public/base:pull,push"
check_status 200 "token endpoint, anonymous GET"
check_json "anonymous gets pull on public/base only" '.scope == "repository:public/base:pull"'
ANON_PUBLIC=$TOKEN
get_token "service=$SERVICE&scope=repository:team-a/app:pull"
check_json "anonymous asking for team-a/app gets an empty grant" '.scope == ""'
ANON_NONE=$TOKEN
get_token "service=$SERVICE&scope=repository:team-a/app:pull" -u "alice:$PW_WRONG" \
    --interface 127.0.0.2
check_status 401 "token endpoint, GET with a wrong password"
check_header WWW-Authenticate 'Basic realm="berth"' "token endpoint"
get_token "service=other-service&scope=repository:team-a/app:pull" "${ALICE[@]}"
check_status 400 "token endpoint, unknown service"
get_token "service=$SERVICE&scope=repository:Bad_Name:pull" "${ALICE[@]}"
check_status 400 "token endpoint, malformed scope"
# several scopes ('+' is a space in a query) and names holding host:port
get_token "service=$SERVICE&scope=repository:team-a/app:pull+repository:public/x:pull" \
    "${ALICE[@]}"
check_json "two scopes in one parameter" \
    '.scope == "repository:team-a/app:pull repository:public/x:pull"'
get_token "service=$SERVICE&scope=repository:localhost:5000/team/app:pull,push&scope=repository:127.0.0.1:5000/x/y:delete" \
    "${ADMIN[@]}"
check_json "scopes naming host:port parsed (split on the first and last ':')" \
    '.scope == "repository:localhost:5000/team/app:pull,push repository:127.0.0.1:5000/x/y:delete"'
check "host:port scope: access claim names localhost:5000/team/app" jqf \
    '.access[0].name == "localhost:5000/team/app" and .access[0].actions == ["pull","push"]' \
    <<<"$(printf '%s' "$TOKEN" | cut -d. -f2 | b64url_dec)"

# OAuth2 POST: grant_type=password (offline: with a refresh token), then refresh_token
req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=alice \
    --data-urlencode "password=$PW_ALICE" --data-urlencode "service=$SERVICE" \
    --data-urlencode 'scope=repository:team-a/app:pull' --data-urlencode access_type=offline \
    --data-urlencode client_id=auth.sh
check_status 200 "token endpoint, POST grant_type=password"
check_json "password grant: token and refresh_token" \
    '(.token | length > 0) and (.refresh_token | length > 0) and .scope == "repository:team-a/app:pull"'
REFRESH=$(jq -r .refresh_token "$BODY")
SECRETS+=("$REFRESH" "$(jq -r .token "$BODY")")
req POST /auth/token --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$REFRESH" --data-urlencode "service=$SERVICE" \
    --data-urlencode 'scope=repository:team-a/app:pull,push,delete' \
    --data-urlencode client_id=auth.sh
check_status 200 "token endpoint, POST grant_type=refresh_token"
check_json "refresh grant: alice's full scope, same refresh token" \
    '.scope == "repository:team-a/app:pull,push,delete" and .refresh_token == $r' --arg r "$REFRESH"
ALICE_ALL=$(jq -r .token "$BODY")
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $REFRESH"
check_status 401 "a refresh token is not an access token"
req POST /auth/token --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$ALICE_PUSH" --interface 127.0.0.2
check_status 401 "an access token is not a refresh token"
req POST /auth/token --data-urlencode grant_type=refresh_token \
    --data-urlencode 'refresh_token=abc.def.ghi' --interface 127.0.0.2
check_status 401 "garbage refresh token"
req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=alice \
    --data-urlencode "password=$PW_WRONG" --interface 127.0.0.2
check_status 401 "POST grant_type=password with a wrong password"
req POST /auth/token --data-urlencode grant_type=client_credentials
check_status 400 "POST with an unsupported grant_type"
req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=alice
check_status 400 "POST grant_type=password without a password"

# real clients in token mode
AF2=$T/auth-token.json
sk "login alice (token mode)" ok login "${NOTLS[@]}" --authfile "$AF2" -u alice -p "$PW_ALICE" "$REG"
sk "login with a wrong password (token mode)" fail login "${NOTLS[@]}" --authfile "$T/x.json" \
    -u bob -p "$PW_WRONG" "$REG"
sk "copy (alice, token) to team-a/app:v1" ok copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-authfile "$AF2" "oci:$FX/single:latest" "docker://$REG/team-a/app:v1"
sk "copy (alice, token) to team-a/app:v2" ok copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-authfile "$AF2" "oci:$FX/multi:latest" "docker://$REG/team-a/app:v2"
sk "copy (admin, token) to public/base:v1" ok copy -q --retry-times 0 --dest-tls-verify=false \
    --dest-creds "admin:$PW_ADMIN" "oci:$FX/multi:latest" "docker://$REG/public/base:v1"
sk "copy (admin, token) to private/secret:v1" ok copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-creds "admin:$PW_ADMIN" "oci:$FX/single:latest" \
    "docker://$REG/private/secret:v1"
sk "copy back (alice, token)" ok copy -q --retry-times 0 --src-tls-verify=false \
    --src-authfile "$AF2" "docker://$REG/team-a/app:v1" "oci:$T/tok-back:v1"
check "copied back: same manifest digest" \
    test "$(jq -r '.manifests[0].digest' "$T/tok-back/index.json")" = "$SINGLE_MANIFEST"
sk "anonymous pull of public/base (token mode)" ok copy -q --retry-times 0 \
    --src-tls-verify=false --src-no-creds "docker://$REG/public/base:v1" "oci:$T/tok-anon:v1"
sk "anonymous pull of team-a/app (token mode)" fail copy -q --retry-times 0 \
    --src-tls-verify=false --src-no-creds "docker://$REG/team-a/app:v1" "oci:$T/tok-anon2:v1"
sk "alice copy to other/app (token mode, no rule)" fail copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-authfile "$AF2" "oci:$FX/single:latest" \
    "docker://$REG/other/app:v1"
sk "bob (pull-only) copy to team-a/app:bob (token mode)" fail copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-creds "bob:$PW_BOB" "oci:$FX/single:latest" \
    "docker://$REG/team-a/app:bob"
sk "delete team-a/app:v2 (alice, token)" ok delete "${NOTLS[@]}" --authfile "$AF2" \
    "docker://$REG/team-a/app:v2"
sk "bob delete team-a/app:v1 (token mode)" fail delete "${NOTLS[@]}" --creds "bob:$PW_BOB" \
    "docker://$REG/team-a/app:v1"

# tokens used directly
get_token "service=$SERVICE&scope=registry:catalog:*&scope=repository:team-a/app:pull,push,delete&scope=repository:other/app:pull,push" \
    "${ADMIN[@]}"
ADMIN_TOK=$TOKEN
AH=(-H "Authorization: Bearer $ADMIN_TOK")
SECRETS+=("$ADMIN_TOK")
check "team-a/app has v1 only (v2 deleted)" tags_are "${AH[@]}" -- team-a/app v1
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $ALICE_PUSH"
check_status 200 "alice's pull,push token on team-a/app"
req GET /v2/team-a/other/tags/list -H "Authorization: Bearer $ALICE_PUSH"
check_status 401 "token for team-a/app used on team-a/other"
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/other:pull\",error=\"insufficient_scope\""
req GET /v2/public/base/tags/list -H "Authorization: Bearer $ALICE_PUSH"
check_status 401 "token for team-a/app used on public/base"
req DELETE "/v2/team-a/app/manifests/$SINGLE_MANIFEST" -H "Authorization: Bearer $ALICE_PUSH"
check_status 401 "pull,push token used to delete"
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $ANON_NONE"
check_status 401 "empty-grant token"
req GET /v2/public/base/tags/list -H "Authorization: Bearer $ANON_PUBLIC"
check_status 200 "anonymous token on public/base"
req GET /v2/ -H "Authorization: Bearer $ANON_PUBLIC"
check_status 200 "/v2/ with any valid token"

# push with a pull-only token: refused, nothing written
get_token "service=$SERVICE&scope=repository:team-a/app:pull,push" "${BOB[@]}"
check_json "bob asks pull,push and gets pull" '.scope == "repository:team-a/app:pull"'
BOB_TOK=$TOKEN
BH=(-H "Authorization: Bearer $BOB_TOK")
req POST /v2/team-a/app/blobs/uploads/ "${BH[@]}"
check_status 401 "POST upload with a pull-only token"
check_header WWW-Authenticate "$CHALLENGE,scope=\"repository:team-a/app:pull,push\",error=\"insufficient_scope\""
printf 'pull-only blob %s' "$RANDOM" >"$upload_tmp"
req POST "/v2/team-a/app/blobs/uploads/?digest=$(sha256_of "$upload_tmp")" "${BH[@]}" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$upload_tmp"
check_status 401 "monolithic blob POST with a pull-only token"
req PUT /v2/team-a/app/manifests/bob "${BH[@]}" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$FX/single/blobs/sha256/${SINGLE_MANIFEST#sha256:}"
check_status 401 "manifest PUT with a pull-only token"
req GET /v2/team-a/app/tags/list "${BH[@]}"
check_status 200 "the pull-only token still pulls"
req HEAD "/v2/team-a/app/blobs/$(sha256_of "$upload_tmp")" "${AH[@]}"
check_status 404 "the refused blob was not stored"
check "nothing written: team-a/app still has v1 only" tags_are "${AH[@]}" -- team-a/app v1
req POST /v2/other/app/blobs/uploads/ -H "Authorization: Bearer $ALICE_ALL"
check_status 401 "alice's token on other/app"

# cross-repository mount: pull on the source is needed, otherwise a plain upload starts
get_token "service=$SERVICE&scope=repository:team-a/copy:pull,push&scope=repository:team-a/app:pull" \
    "${ALICE[@]}"
req POST "/v2/team-a/copy/blobs/uploads/?mount=$SINGLE_LAYER1&from=team-a/app" \
    -H "Authorization: Bearer $TOKEN"
check_status 201 "mount from team-a/app with pull on it"
get_token "service=$SERVICE&scope=repository:team-a/copy2:pull,push" "${ALICE[@]}"
req POST "/v2/team-a/copy2/blobs/uploads/?mount=$SINGLE_CONFIG&from=private/secret" \
    -H "Authorization: Bearer $TOKEN"
check_status 202 "mount from private/secret without pull on it: plain upload"

# the catalog lists only pullable repositories
for who in alice bob; do
    pw=PW_${who^^}
    get_token "service=$SERVICE&scope=registry:catalog:*" -u "$who:${!pw}"
    check_json "$who gets registry:catalog:*" '.scope == "registry:catalog:*"'
    check "catalog ($who, token): team-a/* and public/base, not private/secret" \
        catalog_is -H "Authorization: Bearer $TOKEN" -- public/base team-a/app team-a/copy
done
get_token "service=$SERVICE&scope=registry:catalog:*"
check "catalog (anonymous token): public/base" \
    catalog_is -H "Authorization: Bearer $TOKEN" -- public/base
check "catalog (admin token): every repository" \
    catalog_is "${AH[@]}" -- private/secret public/base team-a/app team-a/copy
req GET /v2/_catalog -H "Authorization: Bearer $ALICE_PUSH"
check_status 401 "catalog with a token lacking registry:catalog:*"

# forged and broken tokens, made with the openssl CLI
PUB=$T/token-pub.pem
openssl pkey -in "$KEY" -pubout -out "$PUB" 2>/dev/null
OTHER_EC=$T/other-ec.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OTHER_EC" 2>/dev/null
SECRETS+=("$(sed -n 2p "$OTHER_EC")")
H_ES="{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}"
A_PULL=$(access repository team-a/app pull)
GOOD=$(jws ES256 "$KEY" "$H_ES" "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $GOOD"
check_status 200 "a token crafted with openssl and the issuer's key (baseline)"
GOOD_NOKID=$(jws ES256 "$KEY" '{"alg":"ES256"}' "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $GOOD_NOKID"
check_status 200 "crafted token without kid or typ"
expect_401_invalid "expired token (exp 10 min ago)" \
    "$(jws ES256 "$KEY" "$H_ES" "$(claims "$ISSUER" "$SERVICE" -600 -900 "$A_PULL")")"
expect_401_invalid "token not yet valid (nbf in 10 min)" \
    "$(jws ES256 "$KEY" "$H_ES" "$(claims "$ISSUER" "$SERVICE" 1200 600 "$A_PULL")")"
expect_401_invalid "wrong issuer" \
    "$(jws ES256 "$KEY" "$H_ES" "$(claims evil-issuer "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "wrong audience" \
    "$(jws ES256 "$KEY" "$H_ES" "$(claims "$ISSUER" other-service 300 -10 "$A_PULL")")"
expect_401_invalid "signed by another key under the issuer's kid" \
    "$(jws ES256 "$OTHER_EC" "$H_ES" "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "signed by another key, no kid" \
    "$(jws ES256 "$OTHER_EC" '{"alg":"ES256","typ":"JWT"}' "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
TAMPERED="${GOOD%%.*}.$(claims "$ISSUER" "$SERVICE" 300 -10 "$(access repository team-a/app pull,push,delete)" | b64url).${GOOD##*.}"
expect_401_invalid "claims changed after signing" "$TAMPERED"
expect_401_invalid "alg none" \
    "$(jws none - '{"alg":"none","typ":"JWT"}' "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "alg none with the issuer's kid" \
    "$(jws none - "{\"alg\":\"none\",\"kid\":\"$KID\"}" "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "HS256 keyed with the issuer's public key (PEM)" \
    "$(jws HS256 "$PUB" '{"alg":"HS256","typ":"JWT"}' "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "HS256 keyed with the public key, issuer's kid" \
    "$(jws HS256 "$PUB" "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}" "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "truncated token (last 10 bytes cut)" "${GOOD:0:$((${#GOOD} - 10))}"
expect_401_invalid "truncated token (signature cut)" "${GOOD%.*}."
expect_401_invalid "truncated token (two segments)" "${GOOD%.*}"
expect_401_invalid "truncated token (half)" "${GOOD:0:$((${#GOOD} / 2))}"
expect_401_invalid "unknown kid" \
    "$(jws ES256 "$KEY" '{"alg":"ES256","kid":"NOPE:NOPE"}' "$(claims "$ISSUER" "$SERVICE" 300 -10 "$A_PULL")")"
expect_401_invalid "garbage" 'not-a-token'
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $GOOD"
check_status 200 "the baseline token still works"
check "log says why tokens were refused" \
    grep -qE 'token refused from 127.0.0.1: token expired' "$SRV_LOG"

# repeated failed logins at the token endpoint: 429 TOOMANYREQUESTS with Retry-After
for i in 1 2 3 4 5; do
    req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=bob \
        --data-urlencode "password=$PW_WRONG-$i" --interface 127.0.0.5
    [ "$STATUS" = 401 ] || fail "failed token login $i from 127.0.0.5: $STATUS, expected 401"
done
req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=bob \
    --data-urlencode "password=$PW_BOB" --interface 127.0.0.5
check_status 429 "token endpoint after 5 failures (right password)"
check_json_error TOOMANYREQUESTS
check_header_re Retry-After '^[1-9][0-9]*$'
get_token "service=$SERVICE&scope=repository:team-a/app:pull" "${BOB[@]}" --interface 127.0.0.5
check_status 429 "token endpoint GET with Basic from the blocked address"
req GET /v2/team-a/app/tags/list "${BH[@]}" --interface 127.0.0.5
check_status 200 "a valid token from the blocked address still works"
get_token "service=$SERVICE&scope=repository:team-a/app:pull" "${BOB[@]}"
check_status 200 "bob from 127.0.0.1 is not blocked"
# changing a password revokes the user's refresh tokens
req POST /auth/token --data-urlencode grant_type=password --data-urlencode username=carol \
    --data-urlencode "password=$PW_CAROL" --data-urlencode access_type=offline
CAROL_REFRESH=$(jq -r '.refresh_token // empty' "$BODY")
check "carol gets a refresh token" test -n "$CAROL_REFRESH"
req POST /auth/token --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$CAROL_REFRESH" --interface 127.0.0.6
check_status 200 "carol's refresh token before her password changes"
sleep 1.1
htpasswd -bB "$HTP" carol "$PW_WRONG" 2>/dev/null
req POST /auth/token --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$CAROL_REFRESH" --interface 127.0.0.6
check_status 401 "carol's refresh token after her password changed (revoked)"
check "log says the refresh token was revoked" grep -q 'refresh token revoked' "$SRV_LOG"
SECRETS+=("$BOB_TOK" "$GOOD" "$TOKEN" "$CAROL_REFRESH")
secret_free "token mode"
check_clean_stop

# ======================================================================================
# 3. external issuer: keys berthd did not generate
# ======================================================================================
echo "# 3. external issuer"
EXT_KEY=$T/ext-issuer.key
EXT_PUB=$T/ext-issuer.pub
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$EXT_KEY" 2>/dev/null
openssl pkey -in "$EXT_KEY" -pubout -out "$EXT_PUB" 2>/dev/null
# an x5c chain: CA -> leaf (EC), the CA given as auth.token.rootcerts
X=$T/x5c
mkdir -p "$X"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/ca.key" \
    -out "$X/ca.crt" -days 2 -subj '/CN=auth.sh token CA' \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/leaf.key" \
    -out "$X/leaf.csr" -subj '/CN=auth.sh token signer' 2>/dev/null
openssl x509 -req -in "$X/leaf.csr" -CA "$X/ca.crt" -CAkey "$X/ca.key" -CAcreateserial \
    -out "$X/leaf.crt" -days 2 2>/dev/null
# the same chain from a CA berthd does not trust
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$X/rogue-ca.key" \
    -out "$X/rogue-ca.crt" -days 2 -subj '/CN=rogue CA' \
    -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl x509 -req -in "$X/leaf.csr" -CA "$X/rogue-ca.crt" -CAkey "$X/rogue-ca.key" \
    -CAcreateserial -out "$X/rogue-leaf.crt" -days 2 2>/dev/null
SECRETS+=("$(sed -n 2p "$EXT_KEY")" "$(sed -n 2p "$X/leaf.key")")
der_b64() {
    openssl x509 -in "$1" -outform DER | openssl base64 -A
}
check "external keys made with openssl" test -s "$EXT_PUB" -a -s "$X/leaf.crt" -a -s "$X/rogue-leaf.crt"

_srv_prepare "" "" || exit 1
EXT_SERVICE=registry.ext.test
EXT_ISSUER=issuer.ext.test
EXT_REALM=https://auth.ext.test/token
start_auth --auth.mode token --auth.issuer.enabled false --auth.token.realm "$EXT_REALM" \
    --auth.token.service "$EXT_SERVICE" --auth.token.issuer "$EXT_ISSUER" \
    --auth.token.key "$EXT_PUB" --auth.token.rootcerts "$X/ca.crt" || {
    fail "berthd did not start with an external issuer"
    finish
}
describe_target
check "no signing key generated with auth.issuer.enabled = false" test ! -e "$SRV_DATA/token-key.pem"
req GET /v2/
check_status 401 "external issuer: no token"
check_header WWW-Authenticate "Bearer realm=\"$EXT_REALM\",service=\"$EXT_SERVICE\""
req GET "/auth/token?service=$EXT_SERVICE"
check_status 404 "no built-in token endpoint"
EXT_PUSH=$(jws RS256 "$EXT_KEY" '{"alg":"RS256","typ":"JWT"}' \
    "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull,push)" ci-bot)")
SECRETS+=("$EXT_PUSH")
req GET /v2/ -H "Authorization: Bearer $EXT_PUSH"
check_status 200 "RS256 token signed by the external key (no kid)"
sk "copy with the external token (--dest-registry-token)" ok copy -q --retry-times 0 \
    --dest-tls-verify=false --dest-registry-token "$EXT_PUSH" "oci:$FX/single:latest" \
    "docker://$REG/ext/app:v1"
req GET /v2/ext/app/manifests/v1 "${ACCEPT[@]}" -H "Authorization: Bearer $EXT_PUSH"
check_status 200 "external token pulls what it pushed"
check_header Docker-Content-Digest "$SINGLE_MANIFEST"
req GET /v2/ext/other/tags/list -H "Authorization: Bearer $EXT_PUSH"
check_status 401 "external token on another repository"
check_header WWW-Authenticate "Bearer realm=\"$EXT_REALM\",service=\"$EXT_SERVICE\",scope=\"repository:ext/other:pull\",error=\"insufficient_scope\""
EXT_PULL=$(jws RS256 "$EXT_KEY" '{"alg":"RS256"}' \
    "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")
req PUT /v2/ext/app/manifests/v2 -H "Authorization: Bearer $EXT_PULL" \
    -H "Content-Type: $OCI_MANIFEST" --data-binary "@$FX/single/blobs/sha256/${SINGLE_MANIFEST#sha256:}"
check_status 401 "external pull-only token cannot push"
check "nothing written: ext/app has v1 only" tags_are -H "Authorization: Bearer $EXT_PUSH" -- ext/app v1
req GET /v2/ext/app/tags/list -H "Authorization: Bearer $(jws RS256 "$EXT_KEY" \
    '{"alg":"RS256"}' "$(claims "$ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")"
check_status 401 "external key, but another issuer"
req GET /v2/ext/app/tags/list -H "Authorization: Bearer $(jws ES256 "$OTHER_EC" \
    '{"alg":"ES256"}' "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")"
check_status 401 "right claims, unknown key"
req GET /v2/ext/app/tags/list -H "Authorization: Bearer $(jws HS256 "$EXT_PUB" \
    '{"alg":"HS256"}' "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")"
check_status 401 "HS256 keyed with the external public key"
# x5c: the leaf certificate in the header, its chain checked against auth.token.rootcerts
X5C_HDR=$(jq -cn --arg c "$(der_b64 "$X/leaf.crt")" '{alg: "ES256", typ: "JWT", x5c: [$c]}')
X5C_TOK=$(jws ES256 "$X/leaf.key" "$X5C_HDR" \
    "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")
req GET /v2/ext/app/tags/list -H "Authorization: Bearer $X5C_TOK"
check_status 200 "x5c token whose chain leads to auth.token.rootcerts"
ROGUE_HDR=$(jq -cn --arg c "$(der_b64 "$X/rogue-leaf.crt")" --arg ca "$(der_b64 "$X/rogue-ca.crt")" \
    '{alg: "ES256", typ: "JWT", x5c: [$c, $ca]}')
req GET /v2/ext/app/tags/list -H "Authorization: Bearer $(jws ES256 "$X/leaf.key" "$ROGUE_HDR" \
    "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access repository ext/app pull)")")"
check_status 401 "x5c chain from an untrusted CA"
# with no local rules the issuer decides: its catalog grant lists everything
CAT=$(jws RS256 "$EXT_KEY" '{"alg":"RS256"}' \
    "$(claims "$EXT_ISSUER" "$EXT_SERVICE" 300 -10 "$(access registry catalog '*')")")
check "catalog with the issuer's registry:catalog:* grant" \
    catalog_is -H "Authorization: Bearer $CAT" -- ext/app
SECRETS+=("$X5C_TOK" "$CAT")
secret_free "external issuer"
check_clean_stop

# a signing key berthd did not generate, given as auth.issuer.key: used as is (RSA, RS256)
_srv_prepare "" "" || exit 1
cp "$EXT_KEY" "$T/own-issuer.key"
chmod 600 "$T/own-issuer.key"
start_auth --auth.mode token --auth.htpasswd "$HTP" --auth.token.realm "$SRV_URL/auth/token" \
    --auth.issuer.key "$T/own-issuer.key" --auth.issuer.ttl 2m "${RULES[@]}" || {
    fail "berthd did not start with a given issuer key"
    finish
}
get_token "service=berth&scope=repository:team-a/app:pull" "${ALICE[@]}"
check_json "auth.issuer.ttl = 2m: expires_in 120" '.expires_in == 120'
check "given RSA issuer key: RS256 tokens" \
    jqf '.alg == "RS256"' <<<"$(printf '%s' "${TOKEN%%.*}" | b64url_dec)"
req GET /v2/team-a/app/tags/list -H "Authorization: Bearer $TOKEN"
check_status 404 "RS256 token accepted (team-a/app does not exist here)"
check "key file left unchanged" cmp -s "$EXT_KEY" "$T/own-issuer.key"
SECRETS+=("$TOKEN")
check_clean_stop

# ======================================================================================
# 4. secrets, 5. the core API suite with auth on
# ======================================================================================
secret_free "all servers (${#SECRETS[@]} secrets)"

echo "# 5. tests/integ/api.sh with auth.mode = htpasswd and credentials"
htpasswd -cbB "$T/api-htpasswd" apiuser "$PW_ADMIN" 2>/dev/null
API_LOG=$T/api-with-auth.out
BERTH_AUTH_MODE=htpasswd BERTH_AUTH_HTPASSWD=$T/api-htpasswd BERTH_AUTH_ADMIN=apiuser \
    BERTH_TEST_CREDS="apiuser:$PW_ADMIN" BERTHD=$BERTHD bash "$BERTH_ROOT/tests/integ/api.sh" \
    >"$API_LOG" 2>&1
api_rc=$?
api_sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$API_LOG" | tail -n 1)
if [ "$api_rc" = 0 ] && [[ "$api_sum" == *" 0 failed" ]]; then
    ok "api.sh with auth.mode = htpasswd (admin credentials on every request): $api_sum"
else
    fail "api.sh with auth on: exit $api_rc, ${api_sum:-no summary}: $(grep -m 5 '^FAIL' "$API_LOG" | tr '\n' ' ')"
fi
finish
