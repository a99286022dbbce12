// Verifier tokens: parsing the source format, digests, and the live set's swap.
#include "credstore/http/verifier_tokens.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>

namespace credstore::http {
namespace {

constexpr std::size_t kMinTokenLength = 32;
constexpr std::size_t kMaxTokenLength = 1024;
constexpr std::size_t kMaxNameLength = 64;
constexpr std::string_view kSignatures = "+signatures";

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// A label or a service name: 1..64 characters of [A-Za-z0-9_.-].
bool IsName(std::string_view text) {
  return !text.empty() && text.size() <= kMaxNameLength &&
         std::all_of(text.begin(), text.end(), IsNameChar);
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// The blank-separated fields of `line`.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool IsTokenText(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

}  // namespace

bool VerifierScope::CoversService(std::string_view service) const {
  if (service.empty() || all_services) return true;
  return std::find(services.begin(), services.end(), service) != services.end();
}

VerifierAccess VerifierScope::Access(std::string_view service, bool wants_signatures) const {
  const bool covered = CoversService(service) && (!wants_signatures || signatures);
  return covered ? VerifierAccess::kAllowed : VerifierAccess::kOutOfScope;
}

Result<VerifierScope> ParseVerifierScope(std::string_view text) {
  VerifierScope scope;
  if (text.ends_with(kSignatures)) {
    scope.signatures = true;
    text.remove_suffix(kSignatures.size());
    if (text.empty()) return scope;  // "+signatures": signed requests only
  }
  if (text == "*") {
    scope.all_services = true;
    return scope;
  }
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    if (!IsName(name)) {
      return Status::InvalidArgument(
          "a scope is '*' or service names separated by commas, optionally followed by "
          "'+signatures'");
    }
    if (std::find(scope.services.begin(), scope.services.end(), name) != scope.services.end()) {
      return Status::InvalidArgument("a scope names service '" + std::string(name) + "' twice");
    }
    scope.services.emplace_back(name);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return scope;
}

VerifierTokenSet::VerifierTokenSet() {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work without a random source
  auto key = std::make_shared<std::array<unsigned char, 32>>();
  randombytes_buf(key->data(), key->size());
  key_ = std::move(key);
}

VerifierTokenSet::Digest VerifierTokenSet::DigestOf(std::string_view token) const {
  static_assert(crypto_generichash_KEYBYTES == 32 && crypto_generichash_BYTES == 32);
  Digest digest{};
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                     key_->data(), key_->size());
  return digest;
}

const VerifierTokenSet::Entry* VerifierTokenSet::Find(std::string_view token) const {
  // Every entry is compared, whatever matched before, so timing tells neither which entry
  // matched nor whether one did; digests of equal length hide the token's length too.
  const Digest digest = DigestOf(token);
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    static_assert(sizeof(Digest) == crypto_verify_32_BYTES);
    const bool equal = crypto_verify_32(digest.data(), entry.digest.data()) == 0;
    if (equal) found = &entry;
  }
  return token.empty() ? nullptr : found;
}

bool VerifierTokenSet::Contains(std::string_view token) const { return Find(token) != nullptr; }

const VerifierScope* VerifierTokenSet::ScopeOf(std::string_view token) const {
  const Entry* entry = Find(token);
  return entry == nullptr ? nullptr : &entry->scope;
}

VerifierCheck VerifierTokenSet::Check(std::string_view token, std::string_view service,
                                      bool wants_signatures) const {
  const Entry* entry = Find(token);
  if (entry == nullptr) return {};
  return VerifierCheck{entry->scope.Access(service, wants_signatures), entry->label};
}

Result<VerifierTokenSet> VerifierTokenSet::ParseSources(
    std::span<const Source> sources, std::span<const std::string> known_services) {
  VerifierTokenSet set;
  for (const Source& source : sources) {
    std::string_view rest = source.text;
    std::size_t line_number = 0;
    while (!rest.empty()) {
      ++line_number;
      const std::size_t newline = rest.find('\n');
      std::string_view line = rest.substr(0, newline);
      rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
      if (line.ends_with('\r')) line.remove_suffix(1);
      const std::vector<std::string_view> fields = Fields(line);
      if (fields.empty() || fields.front().starts_with('#')) continue;
      // Errors name where, never what: the line may hold a token.
      auto refuse = [&](std::string_view why) {
        return Status::InvalidArgument(std::string(source.name) + " line " +
                                       std::to_string(line_number) + ": " + std::string(why));
      };
      if (fields.size() != 3) return refuse("expected 'label scope token'");
      const std::string_view label = fields[0];
      const std::string_view token = fields[2];
      if (!IsName(label)) return refuse("a label is 1-64 characters of [A-Za-z0-9_.-]");
      auto scope = ParseVerifierScope(fields[1]);
      if (!scope.ok()) return refuse(scope.status().message());
      if (!known_services.empty()) {
        for (const std::string& service : scope->services) {
          if (std::find(known_services.begin(), known_services.end(), service) ==
              known_services.end()) {
            return refuse("unknown service '" + service + "' in the scope");
          }
        }
      }
      if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
        return refuse("a verifier token is 32-1024 characters");
      }
      if (!IsTokenText(token)) return refuse("a verifier token is visible ASCII");
      for (const Entry& entry : set.entries_) {
        if (entry.label == label) return refuse("label '" + std::string(label) + "' appears twice");
      }
      if (set.Contains(token)) return refuse("the token appears twice");
      set.entries_.push_back(
          Entry{std::string(label), std::move(scope).value(), set.DigestOf(token)});
    }
  }
  return set;
}

Result<VerifierTokenSet> VerifierTokenSet::Parse(std::string_view text, std::string_view source,
                                                 std::span<const std::string> known_services) {
  const Source sources[] = {{source, text}};
  return ParseSources(sources, known_services);
}

namespace {

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    sodium_memzero(text.data(), text.size());
    return std::nullopt;
  }
  return text;
}

}  // namespace

Result<VerifierTokenSet> VerifierTokenSet::ReadFile(const std::string& path,
                                                    std::span<const std::string> known_services) {
  return LoadVerifierTokens(path, {}, {}, known_services);
}

Result<VerifierTokenSet> LoadVerifierTokens(std::string_view file_path, std::string_view env_value,
                                            std::string_view operator_token,
                                            std::span<const std::string> known_services) {
  std::optional<std::string> file_text;
  std::vector<VerifierTokenSet::Source> sources;
  if (!file_path.empty()) {
    file_text = ReadWhole(std::string(file_path));
    if (!file_text) {
      return Status::InvalidArgument("cannot read the verifier token file " +
                                     std::string(file_path));
    }
    sources.push_back({file_path, *file_text});
  }
  if (!env_value.empty()) sources.push_back({"CREDSTORE_VERIFIER_TOKENS", env_value});
  auto set = VerifierTokenSet::ParseSources(sources, known_services);
  if (file_text) sodium_memzero(file_text->data(), file_text->size());
  if (!set.ok()) return set.status();
  if (!operator_token.empty() && set->Contains(operator_token)) {
    return Status::InvalidArgument("a verifier token must not be the operator token");
  }
  return set;
}

void VerifierTokens::Replace(VerifierTokenSet set) {
  auto fresh = std::make_shared<const VerifierTokenSet>(std::move(set));
  std::lock_guard lock(mutex_);
  set_.swap(fresh);
  empty_.store(set_->empty(), std::memory_order_release);
  // The old set is released outside the lock (by `fresh`), or by the last check still using it.
}

std::shared_ptr<const VerifierTokenSet> VerifierTokens::Snapshot() const {
  std::lock_guard lock(mutex_);
  return set_;
}

VerifierCheck VerifierTokens::Check(std::string_view token, std::string_view service,
                                    bool wants_signatures) const {
  return Snapshot()->Check(token, service, wants_signatures);
}

}  // namespace credstore::http
