#!/usr/bin/env bash
# package.systemd_unit: `cmake --install` into a fresh prefix lays out bin/, lib/, include/,
# lib/cmake/, share/doc/credstore/, etc/credstore/ and lib/systemd/system/credstored.service;
# the unit names that prefix's paths, passes `systemd-analyze verify`, and
# `systemd-analyze security --offline=true` rates it at most MAX_EXPOSURE ("OK").
# Needs no running systemd: both analyses read the unit file alone.
#
# Usage: systemd_unit.sh CMAKE BUILD_DIR LIBDIR WORK_DIR
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cmake_command=$1 build_dir=$2 libdir=$3
package_work "$4"
readonly MAX_EXPOSURE=2.5

if ! command -v systemd-analyze >/dev/null; then
  echo "package.systemd_unit: skipped: no systemd-analyze (Debian: systemd)"
  exit 0
fi

prefix="${WORK}/prefix"
timeout 300 "${cmake_command}" --install "${build_dir}" --prefix "${prefix}" >"${WORK}/install.log"

for path in bin/credstored bin/credstore include/credstore/keyring.h \
    "${libdir}/cmake/credstore/credstoreConfig.cmake" "${libdir}/libcredstore_core.a" \
    share/doc/credstore/README.md share/doc/credstore/credstored.example.json \
    share/doc/credstore/docs/operations.md etc/credstore/credstored.json \
    lib/systemd/system/credstored.service; do
  [[ -e "${prefix}/${path}" ]] || fail "cmake --install did not install ${path}"
done
# Keys are the operator's to create (credstore keys init): no install ever ships one.
if find "${prefix}" -name '*.keys' -o -name '*.token' -o -name '*.tokens' | grep -q .; then
  fail "the install contains a key file"
fi

unit="${prefix}/lib/systemd/system/credstored.service"
grep -qx "ExecStart=${prefix}/bin/credstored --config ${prefix}/etc/credstore/credstored.json \\\\" \
  "${unit}" || fail "ExecStart does not name this prefix's credstored and config"
for directive in Type=notify DynamicUser=yes StateDirectory=credstore StateDirectoryMode=0700 \
    UMask=0077 "LoadCredential=keyring:${prefix}/etc/credstore/credstore.keys" \
    "LoadCredential=operator-token:${prefix}/etc/credstore/operator.token" \
    "LoadCredential=verifier-tokens:${prefix}/etc/credstore/verifier.tokens" \
    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    MemoryDenyWriteExecute=yes "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    SystemCallFilter=@system-service CapabilityBoundingSet= LockPersonality=yes; do
  grep -qxF -- "${directive}" "${unit}" || fail "the unit lacks ${directive}"
done
grep -q -- '--key-file %d/keyring' "${unit}" || fail "the key file is not read from %d"

# verify: syntax, known directives, and the executable exists. Any remark fails the test.
verify_out="$(timeout 60 systemd-analyze verify --man=no "${unit}" 2>&1)" ||
  fail "systemd-analyze verify failed: ${verify_out}"
[[ -z "${verify_out}" ]] || fail "systemd-analyze verify remarks: ${verify_out}"
# ...and it does look: the same unit with a missing executable is refused.
sed "s|^ExecStart=${prefix}/bin/credstored|ExecStart=${WORK}/missing/credstored|" "${unit}" \
  >"${WORK}/credstored.service"
if timeout 60 systemd-analyze verify --man=no "${WORK}/credstored.service" >/dev/null 2>&1; then
  fail "systemd-analyze verify accepted a unit whose executable is missing"
fi

security_out="$(timeout 60 systemd-analyze security --offline=true --no-pager "${unit}" 2>&1)" ||
  fail "systemd-analyze security failed: ${security_out}"
overall="$(grep 'Overall exposure level for credstored.service' <<<"${security_out}")" ||
  fail "no overall exposure level in: ${security_out}"
score="$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"${overall}")"
echo "package.systemd_unit: ${overall}"
awk -v s="${score}" -v max="${MAX_EXPOSURE}" 'BEGIN { exit !(s <= max) }' ||
  fail "exposure ${score} is above ${MAX_EXPOSURE}; what is not hardened:
$(grep '✗' <<<"${security_out}")"
grep -q ' OK ' <<<"${overall}" || fail "the exposure level is not rated OK"
echo "package.systemd_unit: install layout, unit paths, verify and security (${score} <= ${MAX_EXPOSURE}) pass"
