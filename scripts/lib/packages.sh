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
  libboost-test1.81-dev             # every test suite
  strace                            # system-call tracing for tests and diagnostics
  curl                              # the reference pages' curl examples, run as a test
)

# Prints the packages of CREDSTORE_APT_PACKAGES that are not installed, one per line.
credstore_missing_packages() {
  local package state
  for package in "${CREDSTORE_APT_PACKAGES[@]}"; do
    # Unknown packages make dpkg-query fail; they are as missing as not-installed ones.
    state="$(dpkg-query --show --showformat='${db:Status-Status}' "${package}" 2>/dev/null || true)"
    if [[ "${state}" != "installed" ]]; then
      printf '%s\n' "${package}"
    fi
  done
}

# Installs whatever is missing. Touches apt only when something is missing, so a machine that
# is already set up needs neither root nor the network.
credstore_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    credstore_log "not a Debian system (no dpkg-query): assuming these are installed:" \
      "${CREDSTORE_APT_PACKAGES[*]}"
    return 0
  fi
  local missing=()
  mapfile -t missing < <(credstore_missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    credstore_log "all ${#CREDSTORE_APT_PACKAGES[@]} required packages are installed"
    return 0
  fi
  credstore_log "installing missing packages: ${missing[*]}"
  # The lock timeout waits out an unattended-upgrades run instead of failing at once.
  credstore_as_root DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 update
  credstore_as_root DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
  mapfile -t missing < <(credstore_missing_packages)
  if [[ ${#missing[@]} -ne 0 ]]; then
    credstore_die "still missing after apt-get install: ${missing[*]}"
  fi
}
