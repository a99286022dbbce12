// daemon_exit.h — credstored's exit statuses, which its tests and operators' scripts rely on.
#ifndef CREDSTORE_HTTP_SRC_DAEMON_EXIT_H_
#define CREDSTORE_HTTP_SRC_DAEMON_EXIT_H_

#include <optional>

namespace credstore::http::daemon {

inline constexpr int kExitOk = 0;       // a clean stop (SIGINT, SIGTERM), or --help
inline constexpr int kExitFailure = 1;  // serving failed: a listener, storage unreachable
inline constexpr int kExitConfig = 2;   // a configuration error, or data written under other keys

// What a startup step returns: nullopt to go on, or the status to exit with (the step has
// already said why, on stderr or in the log).
using Stop = std::optional<int>;

}  // namespace credstore::http::daemon

#endif  // CREDSTORE_HTTP_SRC_DAEMON_EXIT_H_
