#include "daemon_notify.h"

#include <string>

#if defined(CREDSTORE_HAVE_SYSTEMD) && CREDSTORE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace credstore::http::daemon {

#if defined(CREDSTORE_HAVE_SYSTEMD) && CREDSTORE_HAVE_SYSTEMD

// unset_environment = 0: NOTIFY_SOCKET must stay set for the STOPPING=1 that follows. A failed
// notification is not an error for credstored: the manager's own timeout reports it.
void NotifyReady(std::string_view status) {
  const std::string message = "READY=1\nSTATUS=" + std::string(status);
  ::sd_notify(0, message.c_str());
}

void NotifyStopping() { ::sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

#else

void NotifyReady(std::string_view) {}
void NotifyStopping() {}

#endif

}  // namespace credstore::http::daemon
