#include "credstore/backends/open_backend.h"

#include <cstddef>
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

// A count in 1..max, digits only; nullopt otherwise.
std::optional<std::size_t> ParseCount(std::string_view text, std::size_t max) {
  std::size_t value = 0;
  if (text.empty() || text.size() > 12) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::size_t>(c - '0');
  }
  if (value < 1 || value > max) return std::nullopt;
  return value;
}

// `rest` is what follows "rocksdb://": the folder, then optionally ?block_cache_mb=N.
Result<std::shared_ptr<StorageBackend>> OpenRocksDb(std::string_view rest) {
  constexpr std::string_view kCacheParameter = "block_cache_mb=";
  constexpr std::size_t kMaxCacheMib = std::size_t{1} << 20;  // 1 TiB
  const std::size_t question = rest.find('?');
  const std::string_view path = rest.substr(0, question);
  if (path.empty()) {
    return Status::InvalidArgument("rocksdb URI needs a folder: rocksdb:///var/lib/credstore");
  }
  std::optional<std::size_t> cache_mib;
  if (question != std::string_view::npos) {
    const std::string_view query = rest.substr(question + 1);
    if (query.substr(0, kCacheParameter.size()) != kCacheParameter) {
      return Status::InvalidArgument("the only rocksdb URI parameter is block_cache_mb=N");
    }
    cache_mib = ParseCount(query.substr(kCacheParameter.size()), kMaxCacheMib);
    if (!cache_mib) {
      return Status::InvalidArgument("rocksdb block_cache_mb must be a number of MiB, 1 to " +
                                     std::to_string(kMaxCacheMib));
    }
  }
#if CREDSTORE_HAVE_ROCKSDB
  RocksDbOptions options;
  options.path = std::string(path);
  if (cache_mib) options.block_cache_bytes = *cache_mib << 20;
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
  if (scheme == "redis" || scheme == "redis+unix") return CREDSTORE_HAVE_REDIS != 0;
  return false;
}

Result<std::shared_ptr<StorageBackend>> OpenBackend(std::string_view uri,
                                                    const OpenBackendOptions& options) {
  const std::size_t separator = uri.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return Status::InvalidArgument(
        "storage URI must look like memory://, rocksdb:///path, redis://host:port or "
        "redis+unix:///path");
  }
  const std::string_view scheme = uri.substr(0, separator);
  const std::string_view rest = uri.substr(separator + 3);
  if (scheme == "memory") {
    if (!rest.empty()) return Status::InvalidArgument("memory:// takes nothing after the scheme");
    return std::shared_ptr<StorageBackend>(std::make_shared<MemoryBackend>());
  }
  if (scheme == "rocksdb") return OpenRocksDb(rest);
  if (scheme == "redis" || scheme == "redis+unix") return OpenRedis(uri, options);
  // Only the scheme is echoed: the rest of an unknown URI could hold a password.
  return Status::InvalidArgument("unknown storage scheme '" + std::string(scheme) +
                                 "' (expected memory, rocksdb, redis or redis+unix)");
}

}  // namespace credstore
