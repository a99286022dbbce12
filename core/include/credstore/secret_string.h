// credstore/secret_string.h — an owned string that is wiped when it dies.
//
// credstore returns freshly minted admin keys and integrator secrets in a SecretString so that
// the bytes are zeroed (sodium_memzero) when the caller is done with them, instead of lingering
// in freed heap memory. Copying is explicit (`Clone()`), so a secret is not duplicated by
// accident.
//
// Thread safety: a plain value; not synchronised.
#ifndef CREDSTORE_SECRET_STRING_H_
#define CREDSTORE_SECRET_STRING_H_

#include <string>
#include <string_view>

namespace credstore {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text);
  ~SecretString();

  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  SecretString Clone() const { return SecretString(view()); }

  std::string_view view() const { return text_; }
  std::size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }

  // Zeroes the bytes and leaves the string empty.
  void Wipe();

 private:
  std::string text_;
};

}  // namespace credstore

#endif  // CREDSTORE_SECRET_STRING_H_
