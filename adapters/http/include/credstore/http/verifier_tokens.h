// credstore/http/verifier_tokens.h — the bearer tokens of the verify routes (verify_api.h).
//
// A verifier token is a service-to-service credential that can do one thing: ask whether an
// admin key or a signed request is valid. It never works on any other route, and no other
// token (the operator token included) works on the verify routes.
//
// Source format: one token a line, three fields separated by spaces or tabs:
//
//   label scope token
//   billing geofencing,locationHistory+signatures 6c0b7f...(at least 32 characters)
//
//   label  1..64 characters of [A-Za-z0-9_.-]; unique within a set. For people and logs: the
//          token itself is never logged.
//   scope  services ["+signatures"]  |  "+signatures"
//          services = "*" (every service) | name ("," name)*, each name 1..64 characters of
//          [A-Za-z0-9_.-], none twice. The token may check admin keys of the services named;
//          with "+signatures" it may also check integrators' signed requests.
//   token  32..1024 visible ASCII characters (0x21..0x7E); unique within a set.
//
// Blank lines and lines whose first non-blank character is '#' are ignored; a trailing "\r" is
// dropped (CRLF files). Any other line that does not parse refuses the whole set, naming the
// source and the line number, never the line's text (it may hold a token).
//
// Only keyed BLAKE2b-256 digests of the tokens are kept, under a random key drawn for each set,
// and a presented token is compared with every entry in constant time (crypto_verify_32 over
// digests of equal length, no early exit), so neither which entry matched nor how much of a
// token was right shows in timing.
//
// Thread safety: VerifierTokenSet is an immutable value. VerifierTokens' methods may be called
// from many threads at once; Replace() takes effect for every Check() and Snapshot() that starts
// after it.
#ifndef CREDSTORE_HTTP_VERIFIER_TOKENS_H_
#define CREDSTORE_HTTP_VERIFIER_TOKENS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/status.h"

namespace credstore::http {

// The outcome of presenting a token (VerifierTokens::Check).
enum class VerifierAccess {
  kAllowed,       // a token of the set, whose scope covers what was asked
  kUnknownToken,  // missing, or no token of the set (HTTP 401)
  kOutOfScope,    // a token of the set whose scope does not cover what was asked (HTTP 403)
};

// What a token may check.
struct VerifierScope {
  bool all_services = false;          // "*"
  std::vector<std::string> services;  // the services named (empty with "*")
  bool signatures = false;            // "+signatures"

  // True iff the scope covers `service` ("" asks about no service: true).
  bool CoversService(std::string_view service) const;

  // What the scope allows for a question about `service` ("" names none) and, when
  // `wants_signatures`, about signed requests: kAllowed or kOutOfScope.
  VerifierAccess Access(std::string_view service, bool wants_signatures) const;
};

// Parses a scope as the file format above defines it. kInvalidArgument otherwise.
Result<VerifierScope> ParseVerifierScope(std::string_view text);

struct VerifierCheck {
  VerifierAccess access = VerifierAccess::kUnknownToken;
  std::string label;  // the token's label when it is one of the set; empty otherwise
};

// An immutable set of verifier tokens, held as digests.
class VerifierTokenSet {
 public:
  // The empty set: no token is valid.
  VerifierTokenSet();

  // Parses `text` in the source format; `source` names it in errors ("--verifier-token-file",
  // "CREDSTORE_VERIFIER_TOKENS"). When `known_services` is not empty, every service a scope
  // names must be one of them (a typo would otherwise silently grant nothing). kInvalidArgument
  // for any malformed line, a token shorter than 32 characters, a bad scope, a duplicate label
  // or a duplicate token.
  static Result<VerifierTokenSet> Parse(std::string_view text, std::string_view source,
                                        std::span<const std::string> known_services = {});

  // Parse() of the whole file at `path`. kInvalidArgument when it cannot be read (the message
  // names the path), or as Parse().
  static Result<VerifierTokenSet> ReadFile(const std::string& path,
                                           std::span<const std::string> known_services = {});

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }

  // As VerifierTokens::Check.
  VerifierCheck Check(std::string_view token, std::string_view service,
                      bool wants_signatures) const;

  // True iff `token` is one of the set (constant time, as Check).
  bool Contains(std::string_view token) const;

  // The scope of `token` when it is one of the set, else null (constant time, as Check). The
  // scope lives as long as the set. For a caller that asks several questions of one token: one
  // digest, then VerifierScope::Access for each.
  const VerifierScope* ScopeOf(std::string_view token) const;

 private:
  friend Result<VerifierTokenSet> LoadVerifierTokens(std::string_view file_path,
                                                     std::string_view env_value,
                                                     std::string_view operator_token,
                                                     std::span<const std::string> known_services);
  // One text of the source format and the name its errors give it.
  struct Source {
    std::string_view name;
    std::string_view text;
  };
  // Parse() of several sources as one set (duplicates across them refused).
  static Result<VerifierTokenSet> ParseSources(std::span<const Source> sources,
                                               std::span<const std::string> known_services);

  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    std::string label;
    VerifierScope scope;
    Digest digest{};
  };
  Digest DigestOf(std::string_view token) const;
  // The matching entry, or null; compares with every entry.
  const Entry* Find(std::string_view token) const;

  // Per-set random key for the digests: a digest in memory says nothing on its own.
  std::shared_ptr<const std::array<unsigned char, 32>> key_;
  std::vector<Entry> entries_;
};

// What credstored loads, in one call: the file at `file_path` (skipped when empty) and the
// newline-separated lines of `env_value` (CREDSTORE_VERIFIER_TOKENS; skipped when empty), as
// one set: a label or token in both is a duplicate. Refuses (kInvalidArgument) a set holding
// `operator_token` when it is not empty, so the operator token can never work on the verify
// routes. `known_services` as in Parse(). The same call serves a reload (SIGHUP).
Result<VerifierTokenSet> LoadVerifierTokens(std::string_view file_path, std::string_view env_value,
                                            std::string_view operator_token,
                                            std::span<const std::string> known_services);

// The live token set of a server: read by every verify request, replaced on reload.
class VerifierTokens {
 public:
  // Empty until Replace(): the verify routes answer 404.
  VerifierTokens() : set_(std::make_shared<const VerifierTokenSet>()), empty_(true) {}
  explicit VerifierTokens(VerifierTokenSet set)
      : set_(std::make_shared<const VerifierTokenSet>(std::move(set))), empty_(set_->empty()) {}
  VerifierTokens(const VerifierTokens&) = delete;
  VerifierTokens& operator=(const VerifierTokens&) = delete;

  // Makes `set` the live set. Checks already running finish against the old set.
  void Replace(VerifierTokenSet set);

  // True iff there is no token (the verify routes are then absent: 404). Reads one atomic
  // flag: a check that races a Replace() sees either set's answer.
  bool empty() const { return empty_.load(std::memory_order_acquire); }

  // The live set, held for as long as the caller keeps it: questions asked of one snapshot get
  // answers from one set even when a Replace() comes between them.
  std::shared_ptr<const VerifierTokenSet> Snapshot() const;

  // Presents `token` (the bearer token, "" when there was none) to ask about `service` (""
  // when the question names no service) and, when `wants_signatures`, about signed requests.
  VerifierCheck Check(std::string_view token, std::string_view service,
                      bool wants_signatures) const;

 private:
  mutable std::mutex mutex_;  // guards set_ (the pointer, not the set: that is immutable)
  std::shared_ptr<const VerifierTokenSet> set_;
  std::atomic<bool> empty_;  // set_->empty(), written with it
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_VERIFIER_TOKENS_H_
