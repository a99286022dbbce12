#include "keys_init.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "credstore/keyring.h"
#include "credstore/secret_string.h"

namespace credstore::cli {
namespace {

std::string ErrnoText(int error) { return std::generic_category().message(error); }

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

}  // namespace

std::string CreateKeyFile(const std::string& path) {
  if (path.empty()) return "the key file needs a path";
  // O_EXCL: never over an existing file, also when two commands race. O_NOFOLLOW: not through a
  // symlink someone planted at the path.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return path + " exists; a key file is never overwritten";
    return "cannot create " + path + ": " + ErrnoText(errno);
  }
  // open() applies the umask to 0600, which can only narrow it (0400 under umask 0277); the key
  // file is documented as 0600 whatever the caller's umask.
  int error = ::fchmod(fd, 0600) != 0 ? errno : 0;
  if (error == 0) {
    const SecretString text = Keyring::Generate().Serialize();
    error = WriteAll(fd, text.view());
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  ::close(fd);
  if (error != 0) {
    ::unlink(path.c_str());  // a half-written key file would read as corrupt, or as keys
    return "cannot write " + path + ": " + ErrnoText(error);
  }
  // The new name must survive a crash too.
  std::error_code ignored;
  const std::filesystem::path parent = std::filesystem::absolute(path, ignored).parent_path();
  const int dir_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

}  // namespace credstore::cli
