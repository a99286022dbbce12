// Internal to credstore::redis: the query part of a backend URI (`?name=value&...`), shared by
// every scheme RedisBackend::ParseUri reads.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_URI_QUERY_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_URI_QUERY_H_

#include <optional>
#include <string_view>

#include "credstore/backends/redis.h"

namespace credstore::redis_internal {

// `text` as a decimal number in [low, high]; nullopt for anything else (signs, spaces, empty).
std::optional<int> ParseBoundedInt(std::string_view text, int low, int high);

// Applies `query` (what follows '?', possibly empty) to `options`: `wait_replicas`,
// `wait_timeout_ms`, `wait_pool_size`, and `db` when `takes_db`. Each at most once; the wait
// options are then checked as Open checks them (ValidateReplicaWait). kInvalidArgument naming the
// parameter that is wrong, never echoing a value or an unknown name (a mistyped URI can put the
// password anywhere).
Status ApplyUriQuery(std::string_view query, bool takes_db, RedisOptions& options);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_URI_QUERY_H_
