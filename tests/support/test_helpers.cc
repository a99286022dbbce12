#include "support/test_helpers.h"

#include <stdexcept>
#include <system_error>

#include "support/backend_harness.h"

#include <stdlib.h>

namespace credstore::testing {

BackendHarness& Harness() {
  static std::unique_ptr<BackendHarness> harness = MakeBackendHarness();
  return *harness;
}

TempDir::TempDir(const std::string& tag) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace credstore::testing
