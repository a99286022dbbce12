// daemon_flags.h — credstored's command line: every flag, its help text, and the JSON --config
// file read under the flags (a flag given on both wins).
#ifndef CREDSTORE_HTTP_SRC_DAEMON_FLAGS_H_
#define CREDSTORE_HTTP_SRC_DAEMON_FLAGS_H_

#include "config.h"
#include "daemon_exit.h"

namespace credstore::http::daemon {

// Fills `config` from the flags, then from the config file under them. Stops with kExitOk after
// printing --help, with kExitConfig (said on stderr) for a flag or file it cannot use. Only
// parses: ValidateConfig checks what the values mean together.
Stop ParseFlags(int argc, char** argv, DaemonConfig& config);

}  // namespace credstore::http::daemon

#endif  // CREDSTORE_HTTP_SRC_DAEMON_FLAGS_H_
