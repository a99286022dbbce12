// db_slot.h — the backend's current RocksDB instance, replaceable under concurrent readers.
//
// A store opened read-only on a full disk is replaced by a read-write instance once space is
// back (rocksdb.h, Full disk). Readers (Get, TryGet, Scan, the write paths) keep using the
// instance they started with until their call ends; the old instance is closed only when none
// holds it any more. Closing it promptly matters: it keeps every table file it knows open, and
// on a disk that was just full, files the new instance compacts away would otherwise keep their
// space.
//
// A reader pins an entry: it counts itself in, then checks that the entry is still current (if
// not, it counts itself out and tries again). Replace makes the new entry current, then waits for
// the old one's count to reach zero. Both sides use sequentially consistent operations, so a
// reader that saw the old entry as current after counting itself in is always seen by Replace.
// No lock: TryGet, on an event loop, never waits here. Entries live as long as the slot (there
// is one per open, in practice at most two), so a reader counting itself out of a replaced entry
// touches valid memory.
#ifndef CREDSTORE_BACKENDS_ROCKSDB_SRC_DB_SLOT_H_
#define CREDSTORE_BACKENDS_ROCKSDB_SRC_DB_SLOT_H_

#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace credstore::rocksdb_internal {

class DbSlot {
 private:
  struct Entry {
    explicit Entry(std::unique_ptr<ROCKSDB_NAMESPACE::DB> opened) : db(std::move(opened)) {}
    std::unique_ptr<ROCKSDB_NAMESPACE::DB> db;
    std::atomic<std::uint64_t> pins{0};
  };

 public:
  // The instance current when Pin() was called, held open until the Pinned is destroyed.
  class Pinned {
   public:
    explicit Pinned(Entry* entry) : entry_(entry) {}
    ~Pinned() {
      if (entry_ != nullptr) entry_->pins.fetch_sub(1, std::memory_order_seq_cst);
    }
    Pinned(Pinned&& other) noexcept : entry_(std::exchange(other.entry_, nullptr)) {}
    Pinned(const Pinned&) = delete;
    Pinned& operator=(const Pinned&) = delete;
    Pinned& operator=(Pinned&&) = delete;

    ROCKSDB_NAMESPACE::DB* operator->() const { return entry_->db.get(); }
    ROCKSDB_NAMESPACE::DB& operator*() const { return *entry_->db; }

   private:
    Entry* entry_;
  };

  // Precondition: Install() was called.
  Pinned Pin() {
    while (true) {
      Entry* entry = current_.load(std::memory_order_seq_cst);
      entry->pins.fetch_add(1, std::memory_order_seq_cst);
      if (current_.load(std::memory_order_seq_cst) == entry) return Pinned(entry);
      entry->pins.fetch_sub(1, std::memory_order_seq_cst);  // replaced meanwhile: the new one
    }
  }

  // The first instance; before any Pin().
  void Install(std::unique_ptr<ROCKSDB_NAMESPACE::DB> db) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::make_unique<Entry>(std::move(db)));
    current_.store(entries_.back().get(), std::memory_order_seq_cst);
  }

  // Makes `db` current and returns the previous instance once no reader holds it; the caller
  // closes it. Waits as long as the longest call in flight on the old instance (a Get or a Scan
  // page), polling every millisecond. Not for an event loop.
  std::unique_ptr<ROCKSDB_NAMESPACE::DB> Replace(std::unique_ptr<ROCKSDB_NAMESPACE::DB> db) {
    std::lock_guard lock(mutex_);
    Entry* old = current_.load(std::memory_order_seq_cst);
    entries_.push_back(std::make_unique<Entry>(std::move(db)));
    current_.store(entries_.back().get(), std::memory_order_seq_cst);
    while (old->pins.load(std::memory_order_seq_cst) != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::move(old->db);
  }

  // The current instance without a pin, for the backend's owner while nothing else runs (open,
  // close).
  ROCKSDB_NAMESPACE::DB* Unpinned() const {
    return current_.load(std::memory_order_seq_cst)->db.get();
  }

 private:
  std::mutex mutex_;  // serializes Install and Replace
  std::vector<std::unique_ptr<Entry>> entries_;
  std::atomic<Entry*> current_{nullptr};
};

}  // namespace credstore::rocksdb_internal

#endif  // CREDSTORE_BACKENDS_ROCKSDB_SRC_DB_SLOT_H_
