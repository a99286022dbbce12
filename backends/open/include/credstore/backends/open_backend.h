// credstore/backends/open_backend.h — a StorageBackend from a URI.
//
// The one place that knows every backend, so hosts and credstored choose storage with a string:
//   memory://                                 in this process only (MemoryBackend)
//   rocksdb:///var/lib/credstore              an embedded RocksDB folder (absolute path), or
//   rocksdb://./data                          a path relative to the working directory
//   rocksdb:///var/lib/credstore?block_cache_mb=N
//                                             with a block cache of N MiB, 1..1048576 (default:
//                                             RocksDbOptions::DefaultBlockCacheBytes(), 1/8
//                                             of physical memory in [64 MiB, 4 GiB])
//   rocksdb:///var/lib/credstore?row_cache_mb=N
//                                             with a row cache of N MiB, 0..1048576 (default:
//                                             a quarter of the block cache; 0: none)
//   rocksdb:///var/lib/credstore?min_free_disk_mb=N
//                                             writes refused, and the store opened read-only,
//                                             while the disk has less than N MiB free, 0..1048576
//                                             (default: RocksDbOptions::DefaultMinFreeDiskBytes,
//                                             96 MiB; 0: no reserve). Parameters combine with
//                                             '&': ?block_cache_mb=256&min_free_disk_mb=512
//   redis://[:password@]host:port[/db]        a Redis server over TCP
//   redis+unix:///path/redis.sock[?db=N]      a Redis server over a unix socket (see redis.h)
//   redis+cluster://[:password@]host:port[,host:port...]
//                                             a Redis Cluster, by its seed nodes (no /db)
// Backends not built into this copy of credstore (CREDSTORE_WITH_ROCKSDB/REDIS=OFF, or AUTO with
// the dependency missing) are reported by name.
//
// Thread safety: OpenBackend may be called from any thread.
#ifndef CREDSTORE_BACKENDS_OPEN_BACKEND_H_
#define CREDSTORE_BACKENDS_OPEN_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore {

// What a host may hand every backend it opens, whichever the URI names.
struct OpenBackendOptions {
  // Told once each time the backend's own health verdict changes (StorageBackend::CheckHealth):
  // the kUnavailable it now answers, or OK again; called on a thread of the backend, must not
  // throw. Only backends that watch something call it (Redis: its maxmemory-policy). Default:
  // not set, the backend's own default (see its header).
  std::function<void(const Status&)> on_health_change;

  // RocksDB only: the free-space reserve in bytes (RocksDbOptions::min_free_disk_bytes), used
  // when the URI sets no min_free_disk_mb (the URI wins). Default: not set, RocksDB's default.
  std::optional<std::uint64_t> min_free_disk_bytes = std::nullopt;

  // RocksDB only: create an empty store when the folder holds none
  // (RocksDbOptions::create_if_missing). Default: true. A tool that reads a store sets it false,
  // so a mistyped path fails (kNotFound) instead of leaving an empty store behind.
  bool create_if_missing = true;

  // RocksDB only: the folder checkpoints are made in (RocksDbOptions::backup_dir). Default:
  // empty, RocksDB's default (`backups` beside the data folder).
  std::string backup_dir = {};
};

// Opens the backend `uri` names. kInvalidArgument for an unknown scheme, a malformed URI or a
// backend that was not built (the message names it and never echoes a password); whatever the
// backend's own Open returns otherwise (e.g. kUnavailable when Redis cannot be reached).
Result<std::shared_ptr<StorageBackend>> OpenBackend(std::string_view uri,
                                                    const OpenBackendOptions& options = {});

// True iff this build includes the backend of `scheme` ("memory", "rocksdb", "redis").
bool IsBackendBuilt(std::string_view scheme);

}  // namespace credstore

#endif  // CREDSTORE_BACKENDS_OPEN_BACKEND_H_
