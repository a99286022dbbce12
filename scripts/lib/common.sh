# shellcheck shell=bash
# Helpers shared by credstore's scripts. Sourced, never run; callers have `set -euo pipefail`.

# The repository root, whatever the caller's working directory.
CREDSTORE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Every optional part is required (ON, not AUTO) in the scripted builds: the scripts install all
# dependencies first, so a part that is silently skipped would mean its tests silently vanish.
CREDSTORE_CMAKE_FEATURES=(
  -DCREDSTORE_WITH_ROCKSDB=ON
  -DCREDSTORE_WITH_REDIS=ON
  -DCREDSTORE_WITH_HTTP=ON
)

credstore_log() {
  printf '==> %s\n' "$*" >&2
}

credstore_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# "1m07s" for 67 seconds.
credstore_format_seconds() {
  local total=$1
  printf '%dm%02ds' $((total / 60)) $((total % 60))
}

# Runs a command as root: directly when we are root, through sudo otherwise. Environment
# variables are passed as leading NAME=value words, since sudo drops the caller's environment.
credstore_as_root() {
  if [[ ${EUID} -eq 0 ]]; then
    env "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo env "$@"
  else
    credstore_die "need root to run '$*': run as root, or install sudo"
  fi
}
