// readiness.h — the /healthz and /readyz answers, the same on the public and operator listeners.
//
// /healthz says the process answers: it needs nothing, so it never leaves the I/O thread.
// /readyz says whether this server should get traffic: CredentialStore::CheckReady (the backend
// reports itself healthy, and the keycheck record is there under the server's keys). It reads
// storage, so it runs on the storage pool unless the store never blocks. Neither needs a token:
// load balancers and orchestrators probe them.
#ifndef CREDSTORE_HTTP_SRC_READINESS_H_
#define CREDSTORE_HTTP_SRC_READINESS_H_

#include <string_view>

#include "credstore/credential_store.h"
#include "credstore/http/http_api.h"
#include "credstore/http/problem.h"

namespace credstore::http {

inline constexpr std::string_view kHealthPath = "/healthz";
inline constexpr std::string_view kReadyPath = "/readyz";

// 200 {"status":"ok"}.
Routed Health(const RequestMeta& meta);

// Who reads a /readyz refusal. The public sees only "storage unavailable": why a backend fails
// tells an anonymous client which one runs and how. The operator listener shows the core's
// message (a stopped Redis, an evicting policy, a lost keycheck record).
enum class ReadinessDetail { kPublic, kOperator };

// 200 {"status":"ready","writes":"available"}, or 503 with Retry-After, whatever the reason
// (storage down, unhealthy, data lost or written under other keys): any of them means "send
// traffic elsewhere". A store that serves reads but refuses writes (CredentialStore::CheckWrites:
// RocksDB below its free-space reserve) stays ready — 200 with "writes":"unavailable", and on
// the operator listener "writes_detail", the reason — because taking it out of service would
// refuse its reads too, and writes answer 503 with Retry-After by themselves.
Routed Readiness(CredentialStore& store, const RequestMeta& meta, ReadinessDetail detail);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_READINESS_H_
