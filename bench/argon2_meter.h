// argon2_meter.h — how long this thread has spent inside Argon2id.
//
// The benchmark executable defines libsodium's two Argon2id entry points that credstore calls
// (crypto_pwhash_str_alg and crypto_pwhash_str_verify) itself: the linker binds the statically
// linked core's calls to these definitions, which time the call and forward it to libsodium's
// own (found with dlsym(RTLD_NEXT)). The share of a call's time spent in Argon2id is then read
// inside that very call, so the machine's noise (here: page faults of 64 MiB per hash, whose
// cost swings by tens of percent from one run to the next) hits both sides of the ratio alike.
#ifndef CREDSTORE_BENCH_ARGON2_METER_H_
#define CREDSTORE_BENCH_ARGON2_METER_H_

#include <chrono>
#include <cstdint>

namespace credstore::bench {

// Time this thread spent inside Argon2id since it started, and how many calls made it.
std::chrono::nanoseconds Argon2TimeOnThisThread();
std::uint64_t Argon2CallsOnThisThread();

}  // namespace credstore::bench

#endif  // CREDSTORE_BENCH_ARGON2_METER_H_
