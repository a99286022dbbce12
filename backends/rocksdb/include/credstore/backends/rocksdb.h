// credstore/backends/rocksdb.h — a StorageBackend kept in an embedded RocksDB database.
//
// One folder on local disk holds the whole store; it survives restarts and crashes of the
// process and of the machine (see Durability). RocksDB lets one process at a time open a folder:
// it takes the folder's LOCK file, so a second server, or an operator tool, must go through the
// process that holds it (docs/operations.md).
//
// What is stored: each record is one RocksDB key (the credstore key, unchanged) whose value is a
// small header — a format byte, flags, the version, the expiry if any — followed by the value
// bytes exactly as the core handed them over. The backend adds no encryption: the core stores
// only hashes, digests and sealed secrets, and that is what reaches the disk. Blocks are not
// compressed (those values are high-entropy and would not shrink). Keys starting with a NUL
// byte are reserved for the backend's own bookkeeping and are refused.
//
// Versions: one counter for the whole database. Every Create and CompareAndSwap writes the new
// version into a bookkeeping key in the same atomic RocksDB write batch as the record, through a
// "maximum" merge operator, so the stored counter is never below any version that reached the
// disk — after Erase, after a restart, after a crash. A version is therefore never given twice.
//
// Durability: `durable = true` writes, and every Erase, are synced to the write-ahead log
// (fdatasync) before the call returns. They go through a commit queue: one writer thread takes
// every durable write waiting at that moment, checks each in arrival order (two writes to one key
// in one group behave as if made one after the other), writes the group as one batch with one
// sync, and then answers each caller — so concurrent durable writers share a sync, and none is
// acknowledged before the sync that covers it. No reader ever sees a durable write before it is
// synced, so nothing a crash takes back has been read, compared against or answered from.
// `durable = false` writes are checked and written by the calling thread, never wait for the
// queue, and are not synced: they survive a crash of the process, and are lost in a crash of the
// machine only if no later synced write followed them. Recovery replays the log up to its last
// intact entry.
//
// Not blocking: TryGet answers from the memtables, the row and block caches and the index and
// Bloom filter blocks that every open table file keeps in memory (outside the caches), so an
// absent key is usually answered at once, and a present key once it or its block is cached
// (after any Get of it, or of a neighbour for the block). It takes no credstore lock (only an
// atomic count of the calls on the open RocksDB instance, see Full disk); inside RocksDB a cache
// lookup takes a cache shard's mutex, held for a hash-table probe. AnswersFromMemory() is false:
// Get, Scan and every write may do I/O.
//
// Memory: the block cache (block_cache_bytes), the row cache (row_cache_bytes), up to two write
// buffers of write_buffer_bytes being filled or flushed, and the index and filter blocks of the
// table files (a few bytes per record, outside the caches); docs/operations.md gives the whole
// bound.
//
// Full disk: RocksDB 7.8 must never meet a full disk with a write in hand — once a write to one
// of its files failed, its next write through that file fails an assertion and the process
// aborts (an unsynced write at ENOSPC, the next write after a synced one failed, even after
// DB::Resume() said OK; a read-write open on a full disk). So the backend keeps a free-space
// reserve (min_free_disk_bytes) on the file system of `path`, measured with statvfs and cached
// for at most 100 ms. Below it, every write (durable or not, and CollectExpired) fails with
// kUnavailable before it reaches RocksDB, and CheckWrites() says why, while every read keeps
// answering; Open opens the store read-only instead of trying a read-write open (and takes the
// folder's LOCK itself, so a second process is still refused). RocksDB's informational LOG is
// written by a logger of the backend's that drops lines the disk has no room for, since RocksDB's
// own aborts there too.
//
// Should a write reach RocksDB and fail anyway (the reserve is off, or was overrun between two
// measurements), writes are refused from then on, and the instance that failed is never written
// to again: it is swapped for a read-only one at once (reads go on). A flush or compaction that
// failed in the background refuses writes too, until DB::Resume() succeeds (asked again while
// RocksDB answers Busy, recovering on its own). A background thread looks every
// write_recovery_interval; once the reserve is free again it reopens a read-only store
// read-write — readers finish on the old instance, which then closes — or resumes the stopped
// one, and writes are accepted again. Nothing acknowledged is lost on the way: a refused write
// never reached RocksDB, a failed one was never acknowledged, and a read-only instance accepts
// none; the read-write open recovers the log up to its last intact entry.
//
// Expiry: visibility is decided by the `now` each call passes, never by this machine's clock. A
// compaction filter only collects garbage: it drops records whose `expires_at` is older than both
// the wall clock and the latest `now` this backend was given, by more than `expired_gc_grace`.
//
// Backups: Checkpoint(name) makes an online RocksDB checkpoint (rocksdb::Checkpoint) in
// `backup_dir`/name while the store serves: the write buffers are flushed, then every table file
// is hard-linked (copied when the backups folder is on another file system) and the manifest and
// the live part of the write-ahead log are copied, so the checkpoint is a complete store that
// RocksDbBackend::Open opens as it is. It holds the writes acknowledged before the call. Restoring
// it is the operator's (docs/operations.md, Backups): stop, put the folder in place of the data
// folder, start with the same key file.
//
// Thread safety: every method is safe to call from many threads at once; each call is atomic.
#ifndef CREDSTORE_BACKENDS_ROCKSDB_H_
#define CREDSTORE_BACKENDS_ROCKSDB_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/storage_backend.h"

namespace credstore {

struct RocksDbOptions {
  // 1/8 of the physical memory the kernel reports (sysconf; a container's cgroup limit is not
  // consulted, so set block_cache_bytes there), clamped to [64 MiB, 4 GiB]: enough for the hot
  // records of millions of customers without crowding the host on a small machine.
  static std::size_t DefaultBlockCacheBytes();

  // The database folder, e.g. "/var/lib/credstore". Required; no default.
  std::string path;

  // Create an empty store when `path` holds none. Default: true. When false, opening a folder
  // without a store fails with kNotFound.
  bool create_if_missing = true;

  // LRU cache for data blocks (uncompressed: blocks are not compressed). A record read from it,
  // or from a write buffer, needs no file I/O; TryGet answers only from memory. Default:
  // DefaultBlockCacheBytes(), 1/8 of this machine's physical memory clamped to [64 MiB, 4 GiB].
  std::size_t block_cache_bytes = DefaultBlockCacheBytes();

  // RocksDB's row cache: whole records that a Get or TryGet found in a table file, kept by key
  // (and file) in an LRU cache of their own. A hit skips the file's index and data block and the
  // record's copy out of the block, which is most of a cached read's cost; it is also answered
  // when the record's block has left the block cache. It needs no invalidation: an entry belongs
  // to one immutable table file, and a newer version of a record lives in a write buffer or a
  // newer file, which every read consults first. Records still in a write buffer are never in
  // it. An instance opened read-only (Full disk) has none: RocksDB 7.8 answers a read-only Get
  // from it as if the record were absent. Default (nullopt): a quarter of block_cache_bytes, so
  // 1/32 of physical memory within [16 MiB, 1 GiB] when that is the default too. 0 turns it off.
  std::optional<std::size_t> row_cache_bytes = std::nullopt;

  // Size of one in-memory write buffer (memtable) before it is flushed to a table file.
  // Default: 16 MiB.
  std::size_t write_buffer_bytes = std::size_t{16} << 20;

  // Number of mutexes that serialize the read-check-write of Create, CompareAndSwap and Erase;
  // each key maps to one by hash. Default: 256. Values below 1 count as 1.
  std::size_t lock_stripes = 256;

  // How long past its expiry (by both clocks, see Expiry above) a record is kept before
  // compaction may drop it; it covers callers whose `now` lags a little behind others'.
  // Default: 1 minute.
  std::chrono::milliseconds expired_gc_grace = std::chrono::minutes(1);

  // Threads RocksDB may use for flushes and compactions. Default: 2.
  int max_background_jobs = 2;

  // 2 × write_buffer_bytes + 64 MiB: room for both write buffers to be flushed, plus the write-
  // ahead log, manifest and compaction outputs that may be written before a refusal is noticed.
  static std::uint64_t DefaultMinFreeDiskBytes(std::size_t write_buffer_bytes);

  // Free space (bytes, as statvfs reports them to unprivileged processes) below which writes are
  // refused and Open opens read-only; see Full disk above. Default (nullopt):
  // DefaultMinFreeDiskBytes(write_buffer_bytes), 96 MiB with the default write buffer. 0 turns
  // the reserve off, and with it the protection: a full disk may then abort the process.
  std::optional<std::uint64_t> min_free_disk_bytes = std::nullopt;

  // How often the background thread looks whether refused writes can come back (Full disk).
  // Default: 250 ms. Values below 1 ms count as 1 ms.
  std::chrono::milliseconds write_recovery_interval = std::chrono::milliseconds(250);

  // The folder Checkpoint makes its checkpoints in, one subfolder per name. Created (mode 0700)
  // by the first checkpoint; its parent must exist. It may be neither inside the data folder
  // nor hold it (Open refuses both): a checkpoint must never land among the live files, nor
  // take the data folder's name. Default (empty): `backups` beside the data folder, i.e.
  // <parent of path>/backups (/var/lib/credstore/backups for /var/lib/credstore/data).
  std::string backup_dir = {};
};

class RocksDbBackend final : public StorageBackend {
 public:
  // Opens (or, with `create_if_missing`, creates) the store in `options.path`.
  //
  // On success the backend holds the folder's lock until it is destroyed. Fails with:
  // - kInvalidArgument: `path` is empty, or the folder holds a RocksDB database that is not a
  //   credstore store, or a store of an unknown format;
  // - kNotFound: no store there and `create_if_missing` is false;
  // - kUnavailable: another process (or another open backend in this process) holds the
  //   folder's lock — the message names the folder — or the disk cannot be read or written, or
  //   there is no store yet and the disk is below the reserve (none is created then).
  // Below the reserve an existing store opens read-only (see Full disk): reads are served,
  // CheckWrites() and every write answer kUnavailable until space is back.
  // - kInternal: the store is corrupt.
  static Result<std::shared_ptr<RocksDbBackend>> Open(const RocksDbOptions& options);

  // Closes the database and releases the folder's lock. Writes already acknowledged stay as
  // durable as they were acknowledged (see Durability). Destroy the backend before `main`
  // returns, not from the destructor of a static: RocksDB's own static objects may already be
  // gone by then, and closing on them crashes.
  ~RocksDbBackend() override;

  RocksDbBackend(const RocksDbBackend&) = delete;
  RocksDbBackend& operator=(const RocksDbBackend&) = delete;

  // "rocksdb".
  std::string_view Name() const override { return "rocksdb"; }

  // See StorageBackend. Every method fails with kInvalidArgument for a key starting with a NUL
  // byte (reserved), with kUnavailable when RocksDB reports an I/O error or is shutting down,
  // and with kInternal when a stored record cannot be decoded.
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override;
  // Answers from memory only (see Not blocking above); nullopt when the answer needs file I/O.
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now) override;
  // Get and TryGet in place: `inspect` reads the record in the pinned block (or memtable entry).
  Status Inspect(std::string_view key, Timestamp now, const Inspector& inspect) override;
  std::optional<Status> TryInspect(std::string_view key, Timestamp now,
                                   const Inspector& inspect) override;
  // kUnavailable while writes are refused (see Full disk): open read-only, below the reserve, or
  // stopped by an error. Measures free space at most every 100 ms (a statvfs); never blocks
  // otherwise. CheckHealth stays OK meanwhile: reads are served.
  Status CheckWrites() override;
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override;
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override;
  Status Erase(std::string_view key, Version expected, Timestamp now) override;
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override;

  // See StorageBackend and Backups above; returns the checkpoint's folder. Besides the
  // contract's answers: kUnavailable while writes are refused (see Full disk: the checkpoint
  // flushes the write buffers first, which writes table files). Checkpoints are made one at a
  // time; a second call waits for the first.
  Result<std::string> Checkpoint(std::string_view name) override;

  // The folder checkpoints are made in (RocksDbOptions::backup_dir, or its default).
  const std::string& backup_dir() const;

  // Flushes every in-memory write buffer and compacts the whole database now, so that the
  // compaction filter drops the expired records it may drop (see Expiry). RocksDB does this in
  // the background on its own; this is for operators and tests. Blocks until done. kUnavailable
  // on an I/O error, and while writes are refused (see Full disk).
  Status CollectExpired();

  // How many expired records the compaction filter has dropped since Open (background and
  // CollectExpired compactions alike).
  std::uint64_t ExpiredRecordsCollected() const;

  // The folder this backend was opened on.
  const std::string& path() const;

 private:
  struct Impl;
  explicit RocksDbBackend(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace credstore

#endif  // CREDSTORE_BACKENDS_ROCKSDB_H_
