#include "readiness.h"

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>

#include "prepared_calls.h"
#include "responses.h"

namespace credstore::http {

namespace beast_http = boost::beast::http;

Routed Health(const RequestMeta& meta) {
  return Answer(kHealthPath, NoStoreJson(beast_http::status::ok, {{"status", "ok"}}, meta));
}

Routed Readiness(CredentialStore& store, const RequestMeta& meta, ReadinessDetail detail) {
  const WorkClass work = store.NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  return Prepare(kReadyPath, work, [store = &store, meta, detail]() -> Response {
    const Status ready = store->CheckReady();
    if (ready.ok()) {
      // Reads are served: stay in service (pulling the only RocksDB server out of its load
      // balancer would refuse the reads too), and say whether writes are.
      const Status writes = store->CheckWrites();
      boost::json::object body{{"status", "ready"},
                               {"writes", writes.ok() ? "available" : "unavailable"}};
      if (!writes.ok() && detail == ReadinessDetail::kOperator) {
        body["writes_detail"] = writes.message();
      }
      return NoStoreJson(beast_http::status::ok, body, meta);
    }
    ProblemExtras extras;
    extras.retry_after = RetryAfterSeconds(ready.retry_after());
    return MakeProblem(beast_http::status::service_unavailable,
                       detail == ReadinessDetail::kPublic ? "storage unavailable" : ready.message(),
                       meta, extras);
  });
}

}  // namespace credstore::http
