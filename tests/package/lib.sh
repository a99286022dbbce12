# shellcheck shell=bash
# Helpers of the package tests (sourced): a work folder removed on exit, bounded waits, and a
# credstored that is always stopped.

set -euo pipefail

# package_work NAME: a fresh folder under the build folder's tests, removed on exit unless
# KEEP_WORK=1 (for a look after a failure).
package_work() {
  WORK="$1"
  rm -rf "${WORK}"
  mkdir -p "${WORK}"
}

CREDSTORED_PID=""
# A test that changes the system sets this to the function that undoes it.
EXTRA_CLEANUP=""
package_cleanup() {
  local status=$?
  if [[ -n "${EXTRA_CLEANUP}" ]]; then "${EXTRA_CLEANUP}" || status=1; fi
  if [[ -n "${CREDSTORED_PID}" ]] && kill -0 "${CREDSTORED_PID}" 2>/dev/null; then
    kill -TERM "${CREDSTORED_PID}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${CREDSTORED_PID}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${CREDSTORED_PID}" 2>/dev/null || true
  fi
  if [[ ${status} -ne 0 && -n "${WORK:-}" && -f "${WORK}/credstored.log" ]]; then
    echo "--- credstored's log:" >&2
    cat "${WORK}/credstored.log" >&2
  fi
  if [[ -n "${WORK:-}" && "${KEEP_WORK:-0}" != 1 ]]; then rm -rf "${WORK}"; fi
  return "${status}"
}
trap package_cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# wait_for_file PATH SECONDS
wait_for_file() {
  local deadline=$((SECONDS + $2))
  while [[ ! -s "$1" ]]; do
    [[ ${SECONDS} -lt ${deadline} ]] || fail "no $1 after $2 s"
    if [[ -n "${CREDSTORED_PID}" ]] && ! kill -0 "${CREDSTORED_PID}" 2>/dev/null; then
      fail "credstored exited before writing $1"
    fi
    sleep 0.1
  done
}

# readyz PORT: the HTTP status of GET /readyz on 127.0.0.1:PORT.
readyz() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/readyz" || true
}

# stop_credstored: SIGTERM, then up to 30 s for the exit; fails unless it exits 0.
stop_credstored() {
  kill -TERM "${CREDSTORED_PID}"
  local deadline=$((SECONDS + 30))
  while kill -0 "${CREDSTORED_PID}" 2>/dev/null; do
    [[ ${SECONDS} -lt ${deadline} ]] || fail "credstored did not stop within 30 s of SIGTERM"
    sleep 0.1
  done
  local status=0
  wait "${CREDSTORED_PID}" || status=$?
  CREDSTORED_PID=""
  [[ ${status} -eq 0 ]] || fail "credstored exited ${status} after SIGTERM"
}
