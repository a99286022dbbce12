#include "plaintext_scan.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace credstore::testing {
namespace {

// Reads in chunks, keeping the last needle.size() - 1 bytes of each chunk in front of the next,
// so a match that straddles two chunks is still found, with bounded memory for large files.
bool FileContains(const std::filesystem::path& file, std::string_view needle,
                  std::uintmax_t& bytes_read) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("plaintext scan: cannot open " + file.string());
  constexpr std::size_t kChunkBytes = std::size_t{1} << 20;
  std::string window;
  std::string chunk(kChunkBytes, '\0');
  bool found = false;
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    bytes_read += got;
    window.append(chunk.data(), got);
    if (!found && window.find(needle) != std::string::npos) found = true;
    const std::size_t keep = std::min(window.size(), needle.size() - 1);
    window.erase(0, window.size() - keep);
  }
  if (in.bad()) throw std::runtime_error("plaintext scan: cannot read " + file.string());
  return found;
}

}  // namespace

PlaintextScanResult ScanFolderForBytes(const std::filesystem::path& folder,
                                       std::string_view needle) {
  if (needle.empty()) throw std::invalid_argument("plaintext scan: the needle is empty");
  std::error_code error;
  std::filesystem::recursive_directory_iterator it(folder, error);
  if (error) {
    throw std::runtime_error("plaintext scan: cannot list " + folder.string() + ": " +
                             error.message());
  }
  std::vector<std::filesystem::path> files;
  const std::filesystem::recursive_directory_iterator end;
  while (true) {
    if (error) {
      throw std::runtime_error("plaintext scan: cannot list " + folder.string() + ": " +
                               error.message());
    }
    if (it == end) break;
    if (it->is_regular_file()) files.push_back(it->path());  // throws if it cannot tell
    it.increment(error);
  }
  std::sort(files.begin(), files.end());

  PlaintextScanResult result;
  for (const auto& file : files) {
    ++result.files_scanned;
    if (FileContains(file, needle, result.bytes_scanned)) result.files_containing.push_back(file);
  }
  return result;
}

}  // namespace credstore::testing
