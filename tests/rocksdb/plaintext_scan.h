// Reads every byte a store left on disk, looking for a given byte string.
//
// A plaintext scan proves what reached the disk: a test writes values carrying a marker and asks
// which files hold it. Found means the bytes are stored as given (the RocksDB backend, which
// stores values as the core hands them over); not found, in a test that went through the core,
// means the core did not store the secret in the clear. Because a negative answer is the one
// that matters, the scan never skips a file it cannot read: it throws instead.
#ifndef CREDSTORE_TESTS_ROCKSDB_PLAINTEXT_SCAN_H_
#define CREDSTORE_TESTS_ROCKSDB_PLAINTEXT_SCAN_H_

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace credstore::testing {

struct PlaintextScanResult {
  std::size_t files_scanned = 0;
  std::uintmax_t bytes_scanned = 0;
  std::vector<std::filesystem::path> files_containing;  // in the order they were scanned

  bool found() const { return !files_containing.empty(); }
};

// Every regular file under `folder`, recursively, read in full and searched for `needle`
// (non-empty). Throws std::runtime_error if the folder or any file in it cannot be read.
PlaintextScanResult ScanFolderForBytes(const std::filesystem::path& folder,
                                       std::string_view needle);

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_ROCKSDB_PLAINTEXT_SCAN_H_
