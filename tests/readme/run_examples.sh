#!/usr/bin/env bash
# Runs the README's shell examples (the ```sh blocks after a `<!-- readme-example: NAME -->`
# line) against a real credstored, so what the README shows keeps working as shown.
#
#   tests/readme/run_examples.sh README CREDSTORED CREDSTORE_CLI
#
# Each block runs in bash -e with only these rewrites, which put it on this test's own ports
# and files: 127.0.0.1:8080 and :8081 become two free loopback ports; `./scripts/serve` (which
# builds and runs credstored on ./data) becomes the built credstored on a temporary RocksDB
# folder; `./build-serve/adapters/cli/credstore` becomes the built command. The customer
# example runs against a credstored this script starts; the integrator example starts its own.
# The printed `# …` lines are what each block shows; the script checks the same outcomes.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 README CREDSTORED CREDSTORE_CLI" >&2
  exit 2
fi
readme=$1 credstored=$2 cli=$3
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n ${server_pid} ]]; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  rm -rf -- "${work}"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
port=$(free_port)
operator_port=$(free_port)

# The block after `<!-- readme-example: NAME`, rewritten onto this test's ports and binaries.
example() {
  local name=$1
  awk -v name="${name}" '
    index($0, "<!-- readme-example: " name " ") == 1 { found = 1; next }
    found && /^```sh$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' "${readme}" >"${work}/${name}.raw"
  [[ -s ${work}/${name}.raw ]] || fail "README.md has no '${name}' example"
  local serve="'${credstored}' --listen 127.0.0.1:${port} --operator-listen 127.0.0.1:${operator_port}"
  serve+=" --storage rocksdb://${work}/${name}-data --key-file ${work}/${name}.keys --argon2 minimum"
  sed -e "s|127\.0\.0\.1:8080|127.0.0.1:${port}|g" \
    -e "s|127\.0\.0\.1:8081|127.0.0.1:${operator_port}|g" \
    -e "s|\./scripts/serve|${serve}|g" \
    -e "s|\./build-serve/adapters/cli/credstore|'${cli}' --operator 127.0.0.1:${operator_port}|g" \
    "${work}/${name}.raw" >"${work}/${name}.sh"
}

# The customer example, against a credstored started here.
example customer
"${credstored}" --listen "127.0.0.1:${port}" --storage "rocksdb://${work}/data" \
  --key-file "${work}/credstore.keys" --argon2 minimum 2>"${work}/server.log" &
server_pid=$!
for ((tenths = 0; tenths < 300; tenths++)); do
  curl -fsS -o /dev/null "http://127.0.0.1:${port}/readyz" 2>/dev/null && break
  kill -0 "${server_pid}" 2>/dev/null || fail "credstored exited: $(tail -n 5 "${work}/server.log")"
  sleep 0.1
done
out=$(timeout 60 bash -e "${work}/customer.sh") || fail "the customer example failed: ${out}"
# curl -s adds no newline: the three answers come out as one line, in order.
[[ ${out} =~ ^\{\"adminKey\":\"[A-Za-z0-9]{48}\"\}\{\}204$ ]] ||
  fail "expected register's admin key, then {} from the settings GET, then 204; got: ${out}"
kill -TERM "${server_pid}"
wait "${server_pid}" || fail "credstored did not exit 0 on SIGTERM"
server_pid=""
echo "ok: the customer example"

# The integrator example starts (and stops) its own credstored.
example integrator
# Output to files, not a pipe: a credstored the block failed to stop would hold a pipe open.
status=0
timeout 120 bash -e -m "${work}/integrator.sh" >"${work}/integrator.out" \
  2>"${work}/integrator.err" || status=$?
# Whatever the block did, no credstored of its own outlives it.
pkill -f -- "${work}/integrator.keys" 2>/dev/null || true
[[ ${status} -eq 0 ]] ||
  fail "the integrator example failed (exit ${status}): $(tail -n 5 "${work}/integrator.err")"
grep -Eq '^\{"integratorId":"int_[A-Za-z0-9]+","secret":"[^"]+"\}$' "${work}/integrator.out" ||
  fail "no integrator was created (the answer is not printed: it holds a secret)"
echo "ok: the integrator example"
