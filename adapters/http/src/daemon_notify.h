// daemon_notify.h — tells a service manager (systemd's Type=notify) when credstored is ready
// and when it begins to stop.
//
// Through sd_notify(3) when credstored is built with libsystemd: it writes to the datagram
// socket named by $NOTIFY_SOCKET, and does nothing when that variable is unset, so credstored
// started by hand, by a test or by another supervisor behaves as without it. Built without
// libsystemd, both calls do nothing (the unit's Type=notify then never sees READY=1: the
// package is always built with it).
//
// Thread safety: each call opens its own socket; callable from any thread.
#ifndef CREDSTORE_HTTP_SRC_DAEMON_NOTIFY_H_
#define CREDSTORE_HTTP_SRC_DAEMON_NOTIFY_H_

#include <string_view>

namespace credstore::http::daemon {

// READY=1 with a STATUS= line for `systemctl status`. Call once the listeners are bound and the
// store has opened with matching keys: from then on a connection is served.
void NotifyReady(std::string_view status);

// STOPPING=1: the stop has begun (requests in flight get the shutdown grace).
void NotifyStopping();

}  // namespace credstore::http::daemon

#endif  // CREDSTORE_HTTP_SRC_DAEMON_NOTIFY_H_
