#include "credstore/http/http_api.h"

#include <utility>

namespace credstore::http {

Response HttpApi::Handle(Request& request, const RequestMeta& meta) const {
  Routed routed = Route(request, meta);
  if (!routed.call) return std::move(*routed.answer);
  if (routed.work == WorkClass::kStorage) {
    if (auto answer = routed.call->TryRunInline()) return std::move(*answer);
  }
  if (routed.work == WorkClass::kHashing) {
    if (auto answer = routed.call->Reserve()) return std::move(*answer);
  }
  return routed.call->Run();
}

}  // namespace credstore::http
