#include "credstore/backends/open_backend.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "credstore/backends/memory.h"
#if CREDSTORE_HAVE_ROCKSDB
#include "credstore/backends/rocksdb.h"
#endif
#if CREDSTORE_HAVE_REDIS
#include "credstore/backends/redis.h"
#endif

namespace credstore {
namespace {

[[maybe_unused]] Status NotBuilt(std::string_view name, std::string_view option) {
  return Status::InvalidArgument("the " + std::string(name) +
                                 " backend is not built into this credstore (configure with " +
                                 std::string(option) + "=ON)");
}

// A count in min..max, digits only; nullopt otherwise.
std::optional<std::size_t> ParseCount(std::string_view text, std::size_t min, std::size_t max) {
  std::size_t value = 0;
  if (text.empty() || text.size() > 12) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::size_t>(c - '0');
  }
  if (value < min || value > max) return std::nullopt;
  return value;
}

// The parameters a rocksdb:// URI may carry, as MiB counts.
struct RocksDbUriParameters {
  std::optional<std::size_t> block_cache_mib;
  std::optional<std::size_t> row_cache_mib;
  std::optional<std::size_t> min_free_disk_mib;
};

// `query` is what follows the '?': name=value pairs joined by '&', each name at most once.
Result<RocksDbUriParameters> ParseRocksDbQuery(std::string_view query) {
  constexpr std::size_t kMaxMib = std::size_t{1} << 20;  // 1 TiB
  RocksDbUriParameters parameters;
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t equals = pair.find('=');
    const std::string_view name = pair.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    std::optional<std::size_t>* slot = nullptr;
    std::size_t min = 1;
    if (name == "block_cache_mb") {
      slot = &parameters.block_cache_mib;
    } else if (name == "row_cache_mb") {
      slot = &parameters.row_cache_mib;
      min = 0;  // 0: no row cache
    } else if (name == "min_free_disk_mb") {
      slot = &parameters.min_free_disk_mib;
      min = 0;  // 0: no reserve
    } else {
      return Status::InvalidArgument(
          "rocksdb URI parameters are block_cache_mb=N, row_cache_mb=N and min_free_disk_mb=N");
    }
    if (slot->has_value()) {
      return Status::InvalidArgument("rocksdb URI parameter " + std::string(name) + " is repeated");
    }
    *slot = ParseCount(value, min, kMaxMib);
    if (!*slot) {
      return Status::InvalidArgument("rocksdb " + std::string(name) + " must be a number of MiB, " +
                                     std::to_string(min) + " to " + std::to_string(kMaxMib));
    }
    if (amp == std::string_view::npos) return parameters;
    query.remove_prefix(amp + 1);
  }
}

// `rest` is what follows "rocksdb://": the folder, then optionally ?name=N&name=N.
Result<std::shared_ptr<StorageBackend>> OpenRocksDb(
    std::string_view rest, [[maybe_unused]] const OpenBackendOptions& open) {
  const std::size_t question = rest.find('?');
  const std::string_view path = rest.substr(0, question);
  if (path.empty()) {
    return Status::InvalidArgument("rocksdb URI needs a folder: rocksdb:///var/lib/credstore");
  }
  RocksDbUriParameters parameters;
  if (question != std::string_view::npos) {
    auto parsed = ParseRocksDbQuery(rest.substr(question + 1));
    if (!parsed.ok()) return parsed.status();
    parameters = *parsed;
  }
#if CREDSTORE_HAVE_ROCKSDB
  RocksDbOptions options;
  options.path = std::string(path);
  if (parameters.block_cache_mib) options.block_cache_bytes = *parameters.block_cache_mib << 20;
  if (parameters.row_cache_mib) options.row_cache_bytes = *parameters.row_cache_mib << 20;
  if (parameters.min_free_disk_mib) {
    options.min_free_disk_bytes = static_cast<std::uint64_t>(*parameters.min_free_disk_mib) << 20;
  } else if (open.min_free_disk_bytes) {
    options.min_free_disk_bytes = open.min_free_disk_bytes;
  }
  options.backup_dir = open.backup_dir;
  options.create_if_missing = open.create_if_missing;
  auto opened = RocksDbBackend::Open(options);
  if (!opened.ok()) return opened.status();
  return std::shared_ptr<StorageBackend>(std::move(opened).value());
#else
  return NotBuilt("rocksdb", "CREDSTORE_WITH_ROCKSDB");
#endif
}

Result<std::shared_ptr<StorageBackend>> OpenRedis([[maybe_unused]] std::string_view uri,
                                                  [[maybe_unused]] const OpenBackendOptions& open) {
#if CREDSTORE_HAVE_REDIS
  auto options = RedisBackend::ParseUri(uri);
  if (!options.ok()) return options.status();
  if (open.on_health_change) options->on_health_change = open.on_health_change;
  auto opened = RedisBackend::Open(*options);
  if (!opened.ok()) return opened.status();
  return std::shared_ptr<StorageBackend>(std::move(opened).value());
#else
  return NotBuilt("redis", "CREDSTORE_WITH_REDIS");
#endif
}

}  // namespace

bool IsBackendBuilt(std::string_view scheme) {
  if (scheme == "memory") return true;
  if (scheme == "rocksdb") return CREDSTORE_HAVE_ROCKSDB != 0;
  if (scheme == "redis" || scheme == "redis+unix" || scheme == "redis+cluster") {
    return CREDSTORE_HAVE_REDIS != 0;
  }
  return false;
}

Result<std::shared_ptr<StorageBackend>> OpenBackend(std::string_view uri,
                                                    const OpenBackendOptions& options) {
  const std::size_t separator = uri.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return Status::InvalidArgument(
        "storage URI must look like memory://, rocksdb:///path, redis://host:port, "
        "redis+unix:///path or redis+cluster://host:port,host:port");
  }
  const std::string_view scheme = uri.substr(0, separator);
  const std::string_view rest = uri.substr(separator + 3);
  if (scheme == "memory") {
    if (!rest.empty()) return Status::InvalidArgument("memory:// takes nothing after the scheme");
    return std::shared_ptr<StorageBackend>(std::make_shared<MemoryBackend>());
  }
  if (scheme == "rocksdb") return OpenRocksDb(rest, options);
  if (scheme == "redis" || scheme == "redis+unix" || scheme == "redis+cluster") {
    return OpenRedis(uri, options);
  }
  // Only the scheme is echoed: the rest of an unknown URI could hold a password.
  return Status::InvalidArgument(
      "unknown storage scheme '" + std::string(scheme) +
      "' (expected memory, rocksdb, redis, redis+unix or redis+cluster)");
}

}  // namespace credstore
