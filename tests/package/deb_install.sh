# shellcheck shell=bash
# shellcheck disable=SC2154  # deb, WORK: set by deb.sh, which sources this file
# package.deb's CI part (sourced by deb.sh with CI=true, as root): apt-get install of the .deb
# in ${deb}, then remove and purge. The system is left as found: the package purged, the test's
# keyring and /etc/credstore gone, also when a check fails.

if dpkg-query --show --showformat='${db:Status-Status}' credstore 2>/dev/null | grep -qx installed ||
    [[ -e /etc/credstore ]]; then
  echo "package.deb: skipped: apt-get install (credstore or /etc/credstore is already on this system)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "package.deb: skipped: apt-get install (needs root)"
  exit 0
fi

apt_quiet() {
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 -y -q "$@" \
    >>"${WORK}/apt.log" 2>&1 || { cat "${WORK}/apt.log" >&2; fail "apt-get $* failed"; }
}
undo_install() {
  if dpkg-query --show credstore >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q purge credstore \
      >/dev/null 2>&1 || true
  fi
  rm -f /etc/credstore/credstore.keys
  rmdir /etc/credstore 2>/dev/null || true
}
# shellcheck disable=SC2034  # read by the exit trap of lib.sh
EXTRA_CLEANUP=undo_install

# Any process running the installed binary (other credstored processes on this machine run from
# build folders and are not looked at).
packaged_credstored_running() {
  local exe
  for exe in /proc/[0-9]*/exe; do
    [[ "$(readlink "${exe}" 2>/dev/null)" == /usr/bin/credstored ]] && return 0
  done
  return 1
}

apt_quiet install "${deb}"
[[ -x /usr/bin/credstored && -x /usr/bin/credstore ]] || fail "apt-get install left no binaries"
[[ -e /etc/credstore/credstored.json ]] || fail "apt-get install left no /etc/credstore/credstored.json"
[[ ! -e /etc/credstore/credstore.keys ]] || fail "the package created a keyring"
for wants in /etc/systemd/system/*.wants/credstored.service; do
  [[ ! -e "${wants}" ]] || fail "the package enabled the service: ${wants}"
done
! packaged_credstored_running || fail "the package started credstored"
verify_out="$(timeout 60 systemd-analyze verify --man=no /usr/lib/systemd/system/credstored.service 2>&1)" ||
  fail "systemd-analyze verify of the installed unit: ${verify_out}"
echo "package.deb: apt-get install: binaries, unit and config in place; not enabled, not started"

# The operator's keyring, made the documented way.
/usr/bin/credstore keys init /etc/credstore/credstore.keys
keyring_sum="$(sha256sum /etc/credstore/credstore.keys)"

apt_quiet remove credstore
[[ ! -e /usr/bin/credstored ]] || fail "apt-get remove left /usr/bin/credstored"
[[ "$(sha256sum /etc/credstore/credstore.keys 2>/dev/null)" == "${keyring_sum}" ]] ||
  fail "apt-get remove changed or deleted the keyring"
[[ -e /etc/credstore/credstored.json ]] || fail "apt-get remove deleted the conffile (purge's job)"

apt_quiet purge credstore
[[ "$(sha256sum /etc/credstore/credstore.keys 2>/dev/null)" == "${keyring_sum}" ]] ||
  fail "apt-get purge changed or deleted the keyring"
[[ ! -e /etc/credstore/credstored.json ]] || fail "apt-get purge left the conffile"
! dpkg-query --show credstore >/dev/null 2>&1 ||
  dpkg-query --show --showformat='${db:Status-Status}' credstore | grep -qx not-installed ||
  fail "credstore is still known to dpkg after purge"
echo "package.deb: apt-get remove and purge: the keyring survives both, purge drops the conffile"
