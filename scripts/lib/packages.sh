# shellcheck shell=bash
# The Debian 12 packages credstore needs to build, test and serve: the one list, so a new
# dependency is added here once and every script that sources this file picks it up.
# Sourced after scripts/lib/common.sh.

CREDSTORE_APT_PACKAGES=(
  cmake g++ make pkg-config
  libsodium-dev                     # the core
  librocksdb-dev                    # the RocksDB backend
  libhiredis-dev redis-server       # the Redis backend, and the server its tests start
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev  # the HTTP server and credstored
  libssl-dev                        # TLS in the HTTP server
  libsystemd-dev                    # sd_notify: credstored's READY=1 for the Type=notify unit
  libboost-test1.81-dev             # every test suite
  strace                            # system-call tracing for tests and diagnostics
  curl                              # the reference pages' curl examples, run as a test
  nginx wrk jq python3              # bench/http_bench: the floor server, the load, its smoke test
  python3-jsonschema python3-yaml   # openapi.conformance: answers checked against docs/openapi.yaml
)
# Not listed: Node.js and npm, which openapi.lint runs @redocly/cli on (package-lock.json pins
# it; `npm ci` installs it). They come with the machine; Debian 12's own nodejs (18) is too old
# for the pinned @redocly/cli, which needs Node.js 20.19 or later.

# What bench/run and bench/http_bench need on top: the report's plots, RocksDB's own benchmark.
# shellcheck disable=SC2034  # used by bench/run and bench/http_bench
CREDSTORE_BENCH_APT_PACKAGES=(
  gnuplot-nox                       # the plots of docs/benchmarks.md
  rocksdb-tools                     # db_bench: the fillsync floor of durable writes
)

# What the fuzzing phase of .ci/run needs on top: libFuzzer comes with clang, and its runtime
# (with ASan's and UBSan's) is packaged apart from the compiler. docs/fuzzing.md.
# shellcheck disable=SC2034  # used by .ci/run
CREDSTORE_FUZZ_APT_PACKAGES=(
  clang-14 libclang-rt-14-dev       # clang++-14 -fsanitize=fuzzer,address,undefined
)

# Prints the given packages that are not installed, one per line.
credstore_missing_packages() {
  local package state
  for package in "$@"; do
    # Unknown packages make dpkg-query fail; they are as missing as not-installed ones.
    state="$(dpkg-query --show --showformat='${db:Status-Status}' "${package}" 2>/dev/null || true)"
    if [[ "${state}" != "installed" ]]; then
      printf '%s\n' "${package}"
    fi
  done
}

# Installs whatever is missing of CREDSTORE_APT_PACKAGES and the packages given as arguments.
# Touches apt only when something is missing, so a machine that is already set up needs neither
# root nor the network. Services the packages bring (nginx, redis-server) are not started: a
# temporary policy-rc.d refuses every start while apt runs.
credstore_ensure_packages() {
  local wanted=("${CREDSTORE_APT_PACKAGES[@]}" "$@")
  if ! command -v dpkg-query >/dev/null 2>&1; then
    credstore_log "not a Debian system (no dpkg-query): assuming these are installed:" \
      "${wanted[*]}"
    return 0
  fi
  local missing=()
  mapfile -t missing < <(credstore_missing_packages "${wanted[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
    credstore_log "all ${#wanted[@]} required packages are installed"
    return 0
  fi
  credstore_log "installing missing packages: ${missing[*]}"
  # The lock timeout waits out an unattended-upgrades run instead of failing at once.
  credstore_as_root DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 update
  credstore_without_service_starts credstore_as_root DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
  mapfile -t missing < <(credstore_missing_packages "${wanted[@]}")
  if [[ ${#missing[@]} -ne 0 ]]; then
    credstore_die "still missing after apt-get install: ${missing[*]}"
  fi
}

# Runs a command with service starts refused (invoke-rc.d consults /usr/sbin/policy-rc.d; exit
# 101 means "not allowed"), so installing nginx or redis-server does not leave a system daemon
# on ports 80 or 6379. A policy-rc.d that was already there is left alone.
credstore_without_service_starts() {
  local policy=/usr/sbin/policy-rc.d
  if [[ -e "${policy}" ]]; then
    "$@"
    return
  fi
  credstore_as_root sh -c "printf '#!/bin/sh\nexit 101\n' > ${policy} && chmod 755 ${policy}"
  local status=0
  "$@" || status=$?
  credstore_as_root rm -f "${policy}"
  return "${status}"
}
