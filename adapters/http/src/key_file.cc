#include "key_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

namespace credstore::http {
namespace {

namespace fs = std::filesystem;

// Holds bytes read from a secret file and wipes them when it goes.
class WipedBuffer {
 public:
  WipedBuffer() = default;
  ~WipedBuffer() {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

std::string ErrnoText(int error) { return std::generic_category().message(error); }

// Reads all of `fd` into `out`. Returns 0 or an errno value.
int ReadAll(int fd, std::string& out) {
  // Reserve once: growing a string would leave copies of the secret in freed memory.
  struct stat info {};
  if (::fstat(fd, &info) != 0) return errno;
  constexpr off_t kMaxSecretFile = 64 * 1024;
  if (info.st_size > kMaxSecretFile) return EFBIG;
  out.reserve(static_cast<std::size_t>(info.st_size) + 1);
  char chunk[512];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(chunk, sizeof(chunk));
      return errno;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > out.capacity()) {
      OPENSSL_cleanse(chunk, sizeof(chunk));
      return EFBIG;  // the file grew while being read
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
  return 0;
}

// 0 or an errno value.
int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

fs::path Resolved(const std::string& path) {
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, error), error);
  if (error) resolved = fs::absolute(path, error).lexically_normal();
  return resolved;
}

Result<Keyring> ParseKeyFile(const std::string& path, std::string_view text) {
  auto keyring = Keyring::Parse(text);
  if (!keyring.ok()) {
    return Status::InvalidArgument("key file " + path + ": " + keyring.status().message());
  }
  return std::move(keyring).value();
}

}  // namespace

bool IsInsideFolder(const std::string& path, const std::string& folder) {
  const fs::path file = Resolved(path);
  const fs::path base = Resolved(folder);
  auto file_it = file.begin();
  for (auto base_it = base.begin(); base_it != base.end(); ++base_it, ++file_it) {
    if (base_it->empty()) continue;  // a trailing separator
    if (file_it == file.end() || *file_it != *base_it) return false;
  }
  return true;
}

Result<SecretString> ReadSecretFile(const std::string& path, std::string* warning) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::InvalidArgument("cannot read " + path + ": " + ErrnoText(errno));
  struct stat info {};
  if (::fstat(fd, &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0 && warning) {
    *warning = path + " is readable by group or others; chmod 600 it";
  }
  WipedBuffer buffer;
  const int error = ReadAll(fd, buffer.bytes());
  ::close(fd);
  if (error != 0) return Status::InvalidArgument("cannot read " + path + ": " + ErrnoText(error));
  std::string_view text = buffer.bytes();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return Status::InvalidArgument(path + " is empty");
  return SecretString(text);
}

Result<LoadedKeyring> LoadOrCreateKeyring(const std::string& path,
                                          const std::optional<SecretString>& environment_text,
                                          const std::string& rocksdb_folder) {
  if (environment_text) {
    auto keyring = Keyring::Parse(environment_text->view());
    if (!keyring.ok()) {
      return Status::InvalidArgument("CREDSTORE_KEYRING: " + keyring.status().message());
    }
    return LoadedKeyring{std::move(keyring).value(), "environment", false, ""};
  }

  if (!rocksdb_folder.empty() && IsInsideFolder(path, rocksdb_folder)) {
    return Status::InvalidArgument("the key file " + path + " is inside the data folder " +
                                   rocksdb_folder +
                                   ": keep the keys where copies of the data do not go");
  }

  // Create it only if absent (O_EXCL): an existing key file is never overwritten, also when
  // two servers start at once.
  const int created_fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (created_fd >= 0) {
    const SecretString text = Keyring::Generate().Serialize();
    int error = WriteAll(created_fd, text.view());
    if (error == 0 && ::fsync(created_fd) != 0) error = errno;
    ::close(created_fd);
    if (error != 0) {
      ::unlink(path.c_str());  // a half-written key file would be read as corrupt next time
      return Status::Internal("cannot write the key file " + path + ": " + ErrnoText(error));
    }
    // Make the new name durable too.
    const fs::path parent = fs::absolute(path).parent_path();
    const int dir_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    auto keyring = ParseKeyFile(path, text.view());
    if (!keyring.ok()) return keyring.status();
    return LoadedKeyring{std::move(keyring).value(), path, true, ""};
  }
  if (errno != EEXIST) {
    return Status::InvalidArgument("cannot create the key file " + path + ": " + ErrnoText(errno));
  }

  std::string warning;
  auto text = ReadSecretFile(path, &warning);
  if (!text.ok()) return text.status();
  auto keyring = ParseKeyFile(path, text->view());
  if (!keyring.ok()) return keyring.status();
  return LoadedKeyring{std::move(keyring).value(), path, false, std::move(warning)};
}

}  // namespace credstore::http
