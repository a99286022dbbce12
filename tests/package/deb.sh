#!/usr/bin/env bash
# package.deb: `cpack -G DEB` builds the .deb, whose control data (dpkg-deb -I) and files
# (dpkg-deb -c) are checked; extracted with dpkg -x, its credstored starts with the packaged
# example configuration and a key file from its own `credstore keys init`, and answers /readyz
# on both listeners. Only with CI=true (this test also runs on developers' machines, and it
# changes the system): apt-get install of the .deb, which must neither enable nor start the
# service, then remove and purge, after which an operator's keyring in /etc/credstore is still
# there. Otherwise that part prints "skipped".
#
# Usage: deb.sh CPACK BUILD_DIR WORK_DIR [SKIP_REASON]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cpack_command=$1 build_dir=$2
package_work "$3"

if [[ -n "${4:-}" ]]; then
  echo "package.deb: skipped: $4"
  exit 0
fi
if ! command -v dpkg-deb >/dev/null; then
  echo "package.deb: skipped: not a Debian system (no dpkg-deb)"
  exit 0
fi

# The package folder (-B) is this test's own, so CPack's staging never meets another run's.
timeout 600 "${cpack_command}" -G DEB --config "${build_dir}/CPackConfig.cmake" \
  -B "${WORK}/cpack" >"${WORK}/cpack.log" 2>&1 || { cat "${WORK}/cpack.log"; fail "cpack failed"; }
debs=("${WORK}"/cpack/credstore_*.deb)
[[ -f "${debs[0]}" ]] || fail "cpack made no credstore_*.deb: $(ls "${WORK}/cpack")"
deb="${debs[0]}"
echo "package.deb: built $(basename "${deb}") ($(du -k "${deb}" | cut -f1) KiB)"

# Control data: the name, dependencies found by dpkg-shlibdeps, the maintainer scripts.
info="$(dpkg-deb -I "${deb}")"
grep -q '^ Package: credstore$' <<<"${info}" || fail "not package credstore: ${info}"
depends="$(dpkg-deb -f "${deb}" Depends)"
for library in libc6 libsodium23 libsystemd0 libssl3 libstdc++6 librocksdb7.8; do
  grep -q "${library}" <<<"${depends}" || fail "Depends lacks ${library}: ${depends}"
done
echo "package.deb: Depends: ${depends}"
mkdir "${WORK}/control"
dpkg-deb -e "${deb}" "${WORK}/control"
for script in postinst prerm postrm conffiles; do
  [[ -f "${WORK}/control/${script}" ]] || fail "the package has no ${script}"
done
grep -qx /etc/credstore/credstored.json "${WORK}/control/conffiles" ||
  fail "credstored.json is not a conffile"
# The postinst never enables nor starts the service; nothing deletes a keyring.
if grep -E 'systemctl[^#]*(enable|start|restart)|deb-systemd-(helper|invoke)' \
    "${WORK}/control/postinst"; then
  fail "the postinst enables or starts a service"
fi
if grep -E 'rm .*(keyring|/etc/credstore|/var/lib)' "${WORK}/control/postrm" "${WORK}/control/prerm"; then
  fail "a maintainer script deletes keys or data"
fi

# Files.
contents="$(dpkg-deb -c "${deb}" | awk '{print $NF}')"
for path in ./usr/bin/credstored ./usr/bin/credstore ./usr/lib/systemd/system/credstored.service \
    ./etc/credstore/credstored.json ./usr/share/doc/credstore/README.md \
    ./usr/share/doc/credstore/credstored.example.json \
    ./usr/share/doc/credstore/docs/operations.md ./usr/include/credstore/keyring.h \
    ./usr/lib/cmake/credstore/credstoreConfig.cmake; do
  grep -qxF "${path}" <<<"${contents}" || fail "the package lacks ${path}"
done
if grep -E '(\.keys|\.token|\.tokens)$' <<<"${contents}"; then
  fail "the package ships a key or token file"
fi
root="${WORK}/root"
dpkg -x "${deb}" "${root}"
# shellcheck disable=SC1003  # a literal backslash: the line continues in the unit
grep -qx 'ExecStart=/usr/bin/credstored --config /etc/credstore/credstored.json \\' \
  "${root}/usr/lib/systemd/system/credstored.service" ||
  fail "the packaged unit does not run /usr/bin/credstored with /etc/credstore/credstored.json"
echo "package.deb: control data and $(wc -l <<<"${contents}") entries checked"

# The extracted credstored, on the packaged configuration. Only what a test cannot take from
# it is overridden (flags win over --config): the data folder, free ports, the port files.
keyring="${WORK}/credstore.keys"
"${root}/usr/bin/credstore" keys init "${keyring}"
# As the unit's comment says to make them; an empty verifier token file means none.
(umask 077 && head -c 32 /dev/urandom | base64 >"${WORK}/operator.token" &&
  touch "${WORK}/verifier.tokens")
env -u CREDSTORE_KEYRING -u CREDSTORE_OPERATOR_TOKEN -u CREDSTORE_VERIFIER_TOKENS \
  "${root}/usr/bin/credstored" --config "${root}/etc/credstore/credstored.json" \
  --storage "rocksdb://${WORK}/data" --listen 127.0.0.1:0 --port-file "${WORK}/port" \
  --operator-listen 127.0.0.1:0 --operator-port-file "${WORK}/operator-port" \
  --key-file "${keyring}" --operator-token-file "${WORK}/operator.token" \
  --verifier-token-file "${WORK}/verifier.tokens" </dev/null >"${WORK}/credstored.log" 2>&1 &
CREDSTORED_PID=$!
wait_for_file "${WORK}/port" 30
wait_for_file "${WORK}/operator-port" 30
for port in "$(cat "${WORK}/port")" "$(cat "${WORK}/operator-port")"; do
  status="$(readyz "${port}")"
  [[ "${status}" == 200 ]] || fail "the extracted credstored answered /readyz on ${port} with ${status}"
done
stop_credstored
echo "package.deb: the extracted credstored served /readyz 200 on both listeners, stopped with 0"

if [[ "${CI:-}" != true ]]; then
  echo "package.deb: skipped: apt-get install/remove/purge of the .deb (runs only with CI=true)"
  exit 0
fi
# shellcheck source-path=SCRIPTDIR source=deb_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/deb_install.sh"
