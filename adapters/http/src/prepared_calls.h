// prepared_calls.h — PreparedCall from lambdas, so each route states its call in one place.
//
// A route's lambdas capture by value everything the call needs (the store by reference: it
// outlives every API), since the call may run later on a worker thread.
#ifndef CREDSTORE_HTTP_SRC_PREPARED_CALLS_H_
#define CREDSTORE_HTTP_SRC_PREPARED_CALLS_H_

#include <memory>
#include <optional>
#include <utility>

#include "credstore/http/http_api.h"

namespace credstore::http {

namespace prepared_detail {

template <class RunFn>
class CallOf final : public PreparedCall {
 public:
  explicit CallOf(RunFn run) : run_(std::move(run)) {}
  Response Run() override { return run_(); }

 private:
  RunFn run_;
};

template <class TryFn, class RunFn>
class ReadCallOf final : public PreparedCall {
 public:
  ReadCallOf(TryFn try_run, RunFn run) : try_run_(std::move(try_run)), run_(std::move(run)) {}
  std::optional<Response> TryRunInline() override { return try_run_(); }
  Response Run() override { return run_(); }

 private:
  TryFn try_run_;
  RunFn run_;
};

}  // namespace prepared_detail

// A call whose work is `run` (Response()), in `work`.
template <class RunFn>
Routed Prepare(std::string_view route_template, WorkClass work, RunFn run) {
  Routed routed;
  routed.route_template = route_template;
  routed.work = work;
  routed.call = std::make_unique<prepared_detail::CallOf<RunFn>>(std::move(run));
  return routed;
}

// A read that may be answered inline: `try_run` (std::optional<Response>()) on the I/O thread,
// then `run` on the storage pool when it would block.
template <class TryFn, class RunFn>
Routed PrepareRead(std::string_view route_template, TryFn try_run, RunFn run) {
  Routed routed;
  routed.route_template = route_template;
  routed.work = WorkClass::kStorage;
  routed.call = std::make_unique<prepared_detail::ReadCallOf<TryFn, RunFn>>(std::move(try_run),
                                                                           std::move(run));
  return routed;
}

// An answer with no call behind it (404, 405, 401, 400, /healthz).
inline Routed Answer(std::string_view route_template, Response response) {
  Routed routed;
  routed.route_template = route_template;
  routed.answer = std::move(response);
  return routed;
}

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_PREPARED_CALLS_H_
