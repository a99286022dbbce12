// Helpers shared by credstore's tests.
#ifndef CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_
#define CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_

#include <filesystem>
#include <string>

namespace credstore::testing {

// A new empty folder under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "credstore");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_
