// The verifier's threads; the operations themselves are templates in the header.
#include "credstore/http/async_verify.h"

#include <algorithm>

namespace credstore::http {

VerifyExecutor::VerifyExecutor(std::size_t threads) : pool_(std::max<std::size_t>(threads, 1)) {}

// thread_pool's own destructor stops and joins it: queued checks are dropped (see the header).
VerifyExecutor::~VerifyExecutor() = default;

void VerifyExecutor::Join() { pool_.join(); }

}  // namespace credstore::http
