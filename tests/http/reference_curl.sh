#!/usr/bin/env bash
# The reference pages' own requests (shared/reference/*.txt), sent with curl to a running
# credstored, each checked for the status it must get.
#
#   tests/http/reference_curl.sh BASE_URL
#     BASE_URL                   the public listener, e.g. http://127.0.0.1:8080
#     CREDSTORE_OPERATOR_URL     the operator listener (for page 003: creating an integrator)
#     CREDSTORE_OPERATOR_TOKEN   its token
#
# Each request is the page's curl command as printed, normalized only where the capture lost
# something: `https://{baseURL}` / `https://baseURL` become BASE_URL (plain HTTP on loopback),
# `{versionNumber}` / `versionNumber` become 1, `{Your_API_Key}` / `Your_API_Key` become a fresh
# key, and page 000's body gets back the braces the capture dropped (its URL too, which it lost
# entirely). Page 002's command passes "Content-type: application/json" without -H: curl takes
# it for a second URL (and fails on it) and sends the body as application/x-www-form-urlencoded,
# which credstore accepts when the body is JSON; the command is kept as printed. Page 003 shows
# no curl command; its request is built from the page and signed as docs/http.md says, with
# openssl. To each command the script adds only output options (-sS, -w) to read the status.
#
# The page examples' literal API key (yPMFGLgBoejrRoWS8qYS) is used as printed, so run this
# against a store where that key is not registered yet (ctest's http.reference_curl starts a
# fresh credstored). Needs curl and openssl.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BASE_URL" >&2
  exit 2
fi
base=${1%/}
for tool in curl openssl; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "FAIL: ${tool} is not installed (the reference requests need it)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
failures=0
checks=0

# A fresh API key: 20 characters of [A-Za-z0-9], like the pages' example key.
new_key() {
  local key=""
  while [[ ${#key} -lt 20 ]]; do
    key+=$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' || true)
  done
  printf '%s' "${key:0:20}"
}

# reference NAME EXPECTED_STATUS URL CURL_ARGUMENTS...
# Runs curl with the page's arguments (which include URL) and checks the status of the transfer
# to URL. The body of that transfer is left in ${work}/body.
reference() {
  local name=$1 expected=$2 url=$3
  shift 3
  checks=$((checks + 1))
  local marker="@@credstore-status@@"
  # -w prints one marker line per transfer; the body of each transfer precedes its marker.
  curl -sS -w "\n${marker} %{http_code} %{url_effective}\n" "$@" >"${work}/out" 2>"${work}/err" || true
  local status
  status=$(awk -v m="${marker}" -v u="${url}" '$1 == m && $3 == u { print $2 }' "${work}/out" | tail -n1)
  awk -v m="${marker}" -v u="${url}" '
    $1 == m { if ($3 == u) { printf "%s", body; found = 1 } body = ""; next }
    { body = body (body == "" ? "" : "\n") $0 }' "${work}/out" >"${work}/body"
  if [[ "${status}" == "${expected}" ]]; then
    printf 'ok    %-68s %s\n' "${name}" "${status}"
  else
    printf 'FAIL  %-68s expected %s, got %s\n' "${name}" "${expected}" "${status:-no answer}"
    printf '      body: %s\n' "$(head -c 600 "${work}/body")"
    sed 's/^/      curl: /' "${work}/err" | grep -v '^      curl: [<>*{}]' | head -n 8 || true
    failures=$((failures + 1))
  fi
}

# expect_in_body NAME TEXT: the last reference body contains TEXT.
expect_in_body() {
  checks=$((checks + 1))
  if grep -q -- "$2" "${work}/body"; then
    printf 'ok    %-68s has %s\n' "$1" "$2"
  else
    printf 'FAIL  %-68s lacks %s: %s\n' "$1" "$2" "$(head -c 600 "${work}/body")"
    failures=$((failures + 1))
  fi
}

# expect_not_in_body NAME TEXT
expect_not_in_body() {
  checks=$((checks + 1))
  if grep -q -- "$2" "${work}/body"; then
    printf 'FAIL  %-68s has %s: %s\n' "$1" "$2" "$(head -c 600 "${work}/body")"
    failures=$((failures + 1))
  else
    printf 'ok    %-68s has no %s\n' "$1" "$2"
  fi
}

# json_member NAME: a string member of the last body (values credstore generates have no quotes
# or backslashes).
json_member() {
  sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" "${work}/body" | head -n1
}

# ---- Page 002: Register Admin Key (locationHistory) --------------------------------------------
Your_API_Key=$(new_key)
url="${base}/locationHistory/1/register?key=${Your_API_Key}"
reference "002 curl command: register" 200 "${url}" \
  -XPOST "Content-type: application/json" -d \
  '{
 "secret": "your_secret"
 }' \
  "${url}"
expect_in_body "002 curl command: register" '"adminKey"'
reference "002 curl command again: one configuration per customer" 403 "${url}" \
  -XPOST "Content-type: application/json" -d \
  '{
 "secret": "your_secret"
 }' \
  "${url}"

# The page's example: POST https://api.tomtom.com/locationHistory/1/register?key={Your_API_Key}
# with {"secret": "My very secret secret"}, sent with the page's curl command format.
Your_API_Key=$(new_key)
url="${base}/locationHistory/1/register?key=${Your_API_Key}"
reference "002 example: register" 200 "${url}" \
  -XPOST "Content-type: application/json" -d \
  '{
 "secret": "My very secret secret"
 }' \
  "${url}"
expect_in_body "002 example: register" '"adminKey"'

# ---- Page 001: Regenerate Admin Key (geofencing) ------------------------------------------------
Your_API_Key=$(new_key)
url="${base}/geofencing/1/regenerateKey?key=${Your_API_Key}"
reference "001 curl command before the key is registered: secret invalid" 401 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
"secret": "secret_key"
}' \
  "${url}"
# Setup (not a page request): the customer registers with the secret the page uses.
setup_url="${base}/geofencing/1/register?key=${Your_API_Key}"
reference "setup: register the 001 customer" 200 "${setup_url}" \
  -XPOST -H "Content-type: application/json" -d '{"secret": "secret_key"}' "${setup_url}"
first_admin_key=$(json_member adminKey)
reference "001 curl command: regenerate the admin key" 200 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
"secret": "secret_key"
}' \
  "${url}"
expect_in_body "001 curl command: regenerate the admin key" '"adminKey"'
second_admin_key=$(json_member adminKey)
settings_url="${base}/geofencing/1/settings?key=${Your_API_Key}&adminKey=${first_admin_key}"
reference "001: the previous admin key is revoked" 401 "${settings_url}" "${settings_url}"
settings_url="${base}/geofencing/1/settings?key=${Your_API_Key}&adminKey=${second_admin_key}"
reference "001: the new admin key opens the settings" 200 "${settings_url}" "${settings_url}"
reference "001 curl command with a wrong secret" 401 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
"secret": "not_the_secret_key"
}' \
  "${url}"

# The page's example: https://baseURL/geofencing/1/regenerateKey?key=yPMFGLgBoejrRoWS8qYS
# with {"secret": "My very secret secret"}.
example_key=yPMFGLgBoejrRoWS8qYS
setup_url="${base}/geofencing/1/register?key=${example_key}"
reference "setup: register the examples' customer" 200 "${setup_url}" \
  -XPOST -H "Content-type: application/json" -d '{"secret": "My very secret secret"}' "${setup_url}"
url="${base}/geofencing/1/regenerateKey?key=${example_key}"
reference "001 example: regenerate the admin key" 200 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
"secret": "My very secret secret"
}' \
  "${url}"
expect_in_body "001 example: regenerate the admin key" '"adminKey"'

# ---- Page 000: Change customer secret (geofencing updateSecret) -------------------------------
Your_API_Key=$(new_key)
setup_url="${base}/geofencing/1/register?key=${Your_API_Key}"
reference "setup: register the 000 customer" 200 "${setup_url}" \
  -XPOST -H "Content-type: application/json" -d '{"secret": "Enter an old_secret"}' "${setup_url}"
admin_key=$(json_member adminKey)
url="${base}/geofencing/1/updateSecret?key=${Your_API_Key}"
reference "000 curl command: update the secret" 204 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
   "secret": "Enter an old_secret",
   "newSecret": "Enter a new_secret"
}' \
  "${url}"
reference "000 curl command again: the old secret is no longer valid" 401 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
   "secret": "Enter an old_secret",
   "newSecret": "Enter a new_secret"
}' \
  "${url}"
settings_url="${base}/geofencing/1/settings?key=${Your_API_Key}&adminKey=${admin_key}"
reference "000: the admin key is unchanged" 200 "${settings_url}" "${settings_url}"

# The page's example: {"secret": "My very secret secret", "newSecret": "My very secret newSecret"}
# for the examples' customer.
url="${base}/geofencing/1/updateSecret?key=${example_key}"
reference "000 example: update the secret" 204 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
  "secret": "My very secret secret",
  "newSecret": "My very secret newSecret"
}' \
  "${url}"
url="${base}/geofencing/1/regenerateKey?key=${example_key}"
reference "001 example after 000 example: the old secret is invalid" 401 "${url}" \
  -v -XPOST -H "Content-type: application/json" -d \
  '{
"secret": "My very secret secret"
}' \
  "${url}"

# ---- Page 003: Regenerate API secret (integrator, signed) --------------------------------------
if [[ -z "${CREDSTORE_OPERATOR_URL:-}" || -z "${CREDSTORE_OPERATOR_TOKEN:-}" ]]; then
  echo "FAIL: CREDSTORE_OPERATOR_URL and CREDSTORE_OPERATOR_TOKEN are needed for page 003" >&2
  checks=$((checks + 1))
  failures=$((failures + 1))
else
  operator_url="${CREDSTORE_OPERATOR_URL%/}/v1/integrators"
  reference "setup: the operator creates an integrator" 201 "${operator_url}" \
    -XPOST -H "Authorization: Bearer ${CREDSTORE_OPERATOR_TOKEN}" \
    -H "Content-Type: application/json" -d '{"label": "reference page 003"}' "${operator_url}"
  integrator_id=$(json_member integratorId)
  integrator_secret=$(json_member secret)

  path=/v1/integrator/regenerate-secret
  url="${base}${path}"
  # sign SECRET BODY: sets timestamp and signature (docs/http.md).
  sign() {
    timestamp=$(($(date +%s%N) / 1000000))
    local body_hash
    body_hash=$(printf '%s' "$2" | openssl dgst -sha256 -r | cut -d' ' -f1)
    signature="sha256=$(printf '%s' "${timestamp}.POST.${path}.${body_hash}" |
      openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1)"
  }

  reference "003: unsigned request" 401 "${url}" -XPOST "${url}"
  expect_in_body "003: unsigned request" '"realm"'

  body='{"oldSecretValidForSeconds": 60}'
  sign "${integrator_secret}" "${body}"
  signed_timestamp=${timestamp}
  signed_signature=${signature}
  reference "003: regenerate with a 60 s grace" 200 "${url}" \
    -XPOST -H "Content-Type: application/json" -H "X-Integrator-Key: ${integrator_id}" \
    -H "X-Timestamp: ${timestamp}" -H "X-Signature: ${signature}" -d "${body}" "${url}"
  expect_in_body "003: regenerate with a 60 s grace" '"oldSecretExpiresAt"'
  new_secret=$(json_member secret)
  reference "003: the same signed request replayed" 401 "${url}" \
    -XPOST -H "Content-Type: application/json" -H "X-Integrator-Key: ${integrator_id}" \
    -H "X-Timestamp: ${signed_timestamp}" -H "X-Signature: ${signed_signature}" -d "${body}" \
    "${url}"

  sign "${integrator_secret}" ""
  reference "003: the graced old secret may not rotate" 401 "${url}" \
    -XPOST -H "X-Integrator-Key: ${integrator_id}" \
    -H "X-Timestamp: ${timestamp}" -H "X-Signature: ${signature}" "${url}"

  sign "${new_secret}" ""
  reference "003: regenerate without a grace" 200 "${url}" \
    -XPOST -H "X-Integrator-Key: ${integrator_id}" \
    -H "X-Timestamp: ${timestamp}" -H "X-Signature: ${signature}" "${url}"
  expect_not_in_body "003: regenerate without a grace" '"oldSecretExpiresAt"'

  sign "${new_secret}" ""
  reference "003: the secret replaced without a grace is gone" 401 "${url}" \
    -XPOST -H "X-Integrator-Key: ${integrator_id}" \
    -H "X-Timestamp: ${timestamp}" -H "X-Signature: ${signature}" "${url}"
fi

echo "${checks} checks, ${failures} failed"
[[ ${failures} -eq 0 ]]
