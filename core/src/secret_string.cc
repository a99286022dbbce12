#include "credstore/secret_string.h"

#include <sodium.h>

namespace credstore {

SecretString::SecretString(std::string_view text) : text_(text) {}

SecretString::~SecretString() { Wipe(); }

SecretString::SecretString(SecretString&& other) noexcept : text_(std::move(other.text_)) {
  // A moved-from std::string may keep its bytes (small-string buffer): wipe them too.
  other.Wipe();
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    text_ = std::move(other.text_);
    other.Wipe();
  }
  return *this;
}

void SecretString::Wipe() {
  // Wipe the whole capacity, not just size(): earlier contents may linger past the end.
  text_.resize(text_.capacity());
  sodium_memzero(text_.data(), text_.size());
  text_.clear();
}

}  // namespace credstore
