// A full disk under CredentialStore over RocksDB: the store refuses writes instead of aborting,
// restarts on the full disk, resumes once space is back, and keeps every acknowledged write.
//
// The work is done by full_disk_child (see there) on a small tmpfs. Mounting needs a mount
// namespace of its own, so the child runs under `unshare -m` (util-linux), as root — the tests
// run as root; the child exits 77 when it cannot mount, and this test fails saying so.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

// Runs `argv` with stdout and stderr going to `output`; its wait status.
int Run(const std::vector<std::string>& args, const std::string& output) {
  const pid_t child = fork();
  if (child == 0) {
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) _exit(126);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return -1;
  return status;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BOOST_AUTO_TEST_SUITE(full_disk)

// Runs full_disk_child in `mode` in a mount namespace of its own and checks that it succeeded.
void RunChild(const std::string& mode) {
  TempDir folder("credstore-full-disk");
  const std::string mount = (folder.path() / "mnt").string();
  const std::string output = (folder.path() / "output").string();
  std::filesystem::create_directory(mount);
  const int status = Run({"unshare", "-m", CREDSTORE_FULL_DISK_CHILD, mount, mode}, output);
  const std::string text = ReadAll(output);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST_REQUIRE(WIFEXITED(status), "full_disk_child died by signal "
                                            << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ":\n"
                                            << text);
  BOOST_TEST_REQUIRE(WEXITSTATUS(status) != 77,
                     "no tmpfs could be mounted (needs root and unshare -m):\n"
                         << text);
  BOOST_TEST(WEXITSTATUS(status) == 0, "full_disk_child failed:\n" << text);
  BOOST_TEST(text.find("full-disk: ok") != std::string::npos, text);
}

// Below the reserve: writes refused, a restart on the full disk opens read-only, writes come
// back by themselves once space is freed, nothing acknowledged is lost.
BOOST_AUTO_TEST_CASE(a_full_disk_refuses_writes_and_keeps_acknowledged_ones) {
  RunChild("reserve");
}

// Without a reserve, a synced write meets the full disk and fails: the backend stops writing to
// that RocksDB instance (7.8 would abort on its next write), serves reads from a read-only one,
// and reopens read-write once space is back.
BOOST_AUTO_TEST_CASE(a_write_that_met_the_full_disk_is_recovered_from_without_a_restart) {
  RunChild("no-reserve");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
