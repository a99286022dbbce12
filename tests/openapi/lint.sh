#!/usr/bin/env bash
# ctest's openapi.lint: lints docs/openapi.yaml with the @redocly/cli that package.json and
# package-lock.json pin, under redocly.yaml (recommended-strict: any warning fails).
#
#   tests/openapi/lint.sh SOURCE_DIR WORK_DIR
#
# `npm ci` installs the pinned version into WORK_DIR (the build tree, so the source tree stays
# clean), once per lockfile: a stamp of the lockfile's hash skips it on later runs. Without node
# or npm this fails, loudly: the lint is part of the tests, not optional. Redocly's telemetry and
# update check are off (they would reach out of the machine); the notice Redocly prints about
# Node.js 20's end of life is a runtime notice, not a finding of the lint.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
work=$2

for tool in node npm npx; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "FAIL: ${tool} is not installed: openapi.lint runs @redocly/cli on Node.js" >&2
    exit 1
  fi
done

mkdir -p "${work}"
work=$(cd "${work}" && pwd)
stamp="${work}/.package-lock.sha256"
wanted=$(sha256sum "${root}/package-lock.json" | cut -d' ' -f1)
if [[ ! -x "${work}/node_modules/.bin/redocly" || "$(cat "${stamp}" 2>/dev/null)" != "${wanted}" ]]; then
  cp "${root}/package.json" "${root}/package-lock.json" "${work}/"
  rm -f "${stamp}"
  (cd "${work}" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  printf '%s\n' "${wanted}" >"${stamp}"
fi

cd "${work}"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
echo "@redocly/cli $(node -p "require('./node_modules/@redocly/cli/package.json').version")"
npx --no-install redocly lint --config "${root}/redocly.yaml" "${root}/docs/openapi.yaml"
