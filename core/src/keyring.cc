#include "credstore/keyring.h"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

namespace credstore {
namespace {

constexpr std::string_view kHeader = "credstore-keyring v1";

KeyWithId RandomKey(std::uint32_t id) {
  KeyWithId key;
  key.id = id;
  randombytes_buf(key.bytes.data(), key.bytes.size());
  return key;
}

std::string KeyHex(const KeyBytes& bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.pop_back();
  return hex;
}

// Splits on ASCII whitespace.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

Result<KeyWithId> ParseKeyLine(const std::vector<std::string_view>& words, int line_number) {
  const std::string where = "key file line " + std::to_string(line_number);
  if (words.size() != 3) return Status::InvalidArgument(where + ": expected '<kind> <id> <hex>'");
  KeyWithId key;
  auto [end, ec] = std::from_chars(words[1].data(), words[1].data() + words[1].size(), key.id);
  if (ec != std::errc() || end != words[1].data() + words[1].size() || key.id == 0) {
    return Status::InvalidArgument(where + ": the key id must be a positive integer");
  }
  std::size_t written = 0;
  if (words[2].size() != kKeyBytes * 2 ||
      sodium_hex2bin(key.bytes.data(), key.bytes.size(), words[2].data(), words[2].size(), nullptr,
                     &written, nullptr) != 0 ||
      written != kKeyBytes) {
    sodium_memzero(key.bytes.data(), key.bytes.size());
    return Status::InvalidArgument(where + ": the key must be 64 hex digits (32 bytes)");
  }
  return key;
}

}  // namespace

Keyring Keyring::Generate() {
  Keyring keyring;
  keyring.pepper_ = RandomKey(1);
  keyring.masters_.push_back(RandomKey(1));
  return keyring;
}

Result<Keyring> Keyring::FromKeys(KeyWithId pepper, std::vector<KeyWithId> masters) {
  if (masters.empty()) return Status::InvalidArgument("a keyring needs at least one master key");
  std::sort(masters.begin(), masters.end(),
            [](const KeyWithId& a, const KeyWithId& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < masters.size(); ++i) {
    if (masters[i].id == masters[i - 1].id) {
      return Status::InvalidArgument("master key id " + std::to_string(masters[i].id) +
                                     " appears twice");
    }
  }
  Keyring keyring;
  keyring.pepper_ = pepper;
  keyring.masters_ = std::move(masters);
  return keyring;
}

Result<Keyring> Keyring::Parse(std::string_view text) {
  std::optional<KeyWithId> pepper;
  std::vector<KeyWithId> masters;
  int line_number = 0;
  bool saw_header = false;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    const auto words = Words(line);
    if (words.empty() || words[0].starts_with('#')) continue;
    if (!saw_header) {
      if (words.size() != 2 || words[0] != "credstore-keyring" || words[1] != "v1") {
        return Status::InvalidArgument("key file line " + std::to_string(line_number) +
                                       ": expected '" + std::string(kHeader) + "'");
      }
      saw_header = true;
      continue;
    }
    if (words[0] != "pepper" && words[0] != "master") {
      return Status::InvalidArgument("key file line " + std::to_string(line_number) +
                                     ": unknown entry (expected 'pepper' or 'master')");
    }
    auto key = ParseKeyLine(words, line_number);
    if (!key.ok()) return key.status();
    if (words[0] == "pepper") {
      if (pepper) return Status::InvalidArgument("key file: more than one pepper");
      pepper = *key;
    } else {
      masters.push_back(*key);
    }
  }
  if (!saw_header) return Status::InvalidArgument("key file: empty");
  if (!pepper) return Status::InvalidArgument("key file: no pepper");
  return FromKeys(*pepper, std::move(masters));
}

Keyring::Keyring(Keyring&& other) noexcept
    : pepper_(other.pepper_), masters_(std::move(other.masters_)) {
  other.Wipe();
}

Keyring& Keyring::operator=(Keyring&& other) noexcept {
  if (this != &other) {
    Wipe();
    pepper_ = other.pepper_;
    masters_ = std::move(other.masters_);
    other.Wipe();
  }
  return *this;
}

Keyring::~Keyring() { Wipe(); }

void Keyring::Wipe() {
  sodium_memzero(pepper_.bytes.data(), pepper_.bytes.size());
  for (auto& key : masters_) sodium_memzero(key.bytes.data(), key.bytes.size());
  masters_.clear();
}

SecretString Keyring::Serialize() const {
  std::string text(kHeader);
  text += "\npepper " + std::to_string(pepper_.id) + " " + KeyHex(pepper_.bytes) + "\n";
  for (const auto& key : masters_) {
    text += "master " + std::to_string(key.id) + " " + KeyHex(key.bytes) + "\n";
  }
  SecretString result(text);
  sodium_memzero(text.data(), text.size());
  return result;
}

Keyring Keyring::WithNewMasterKey() const {
  Keyring copy(*this);
  copy.masters_.push_back(RandomKey(masters_.back().id + 1));
  return copy;
}

const KeyWithId* Keyring::FindMaster(std::uint32_t id) const {
  for (const auto& key : masters_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

}  // namespace credstore
