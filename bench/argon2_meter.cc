#include "argon2_meter.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace credstore::bench {
namespace {

thread_local std::chrono::nanoseconds argon2_time{0};
thread_local std::uint64_t argon2_calls = 0;

// libsodium's own definition of `name`: the next one after this executable's.
template <typename Function>
Function* Real(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "argon2 meter: libsodium's %s not found\n", name);
    std::abort();
  }
  return reinterpret_cast<Function*>(symbol);
}

// Runs `call`, adding its duration to this thread's Argon2id time.
template <typename Call>
int Timed(Call&& call) {
  const auto start = std::chrono::steady_clock::now();
  const int result = call();
  argon2_time += std::chrono::steady_clock::now() - start;
  ++argon2_calls;
  return result;
}

}  // namespace

std::chrono::nanoseconds Argon2TimeOnThisThread() { return argon2_time; }
std::uint64_t Argon2CallsOnThisThread() { return argon2_calls; }

}  // namespace credstore::bench

// The interposed entry points; signatures exactly as in sodium/crypto_pwhash.h.
extern "C" int crypto_pwhash_str_alg(char out[], const char* const passwd,
                                     unsigned long long passwdlen, unsigned long long opslimit,
                                     size_t memlimit, int alg) {
  using Function = int(char[], const char*, unsigned long long, unsigned long long, size_t, int);
  static Function* const real = credstore::bench::Real<Function>("crypto_pwhash_str_alg");
  return credstore::bench::Timed(
      [&] { return real(out, passwd, passwdlen, opslimit, memlimit, alg); });
}

extern "C" int crypto_pwhash_str_verify(const char* str, const char* const passwd,
                                        unsigned long long passwdlen) {
  using Function = int(const char*, const char*, unsigned long long);
  static Function* const real = credstore::bench::Real<Function>("crypto_pwhash_str_verify");
  return credstore::bench::Timed([&] { return real(str, passwd, passwdlen); });
}
