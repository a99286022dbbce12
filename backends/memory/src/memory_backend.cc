#include <algorithm>
#include <functional>

#include "credstore/backends/memory.h"

namespace credstore {
namespace {

constexpr std::size_t kCreatesPerSweep = 4096;

bool IsLive(const VersionedValue& record, Timestamp now) {
  return !record.expires_at || now < *record.expires_at;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

MemoryBackend::MemoryBackend(std::size_t shard_count) {
  shards_.reserve(std::max<std::size_t>(shard_count, 1));
  for (std::size_t i = 0; i < std::max<std::size_t>(shard_count, 1); ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

MemoryBackend::Shard& MemoryBackend::ShardFor(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

const VersionedValue* MemoryBackend::Find(const Shard& shard, std::string_view key, Timestamp now) {
  auto it = shard.records.find(key);
  if (it == shard.records.end() || !IsLive(it->second, now)) return nullptr;
  return &it->second;
}

// Get's answer, read by Get and TryGet alike once they hold the shard's lock.
Result<VersionedValue> MemoryBackend::Lookup(const Shard& shard, std::string_view key,
                                             Timestamp now) {
  const VersionedValue* record = Find(shard, key, now);
  if (record == nullptr) return Status::NotFound("no record");
  return *record;
}

Status MemoryBackend::InspectLocked(const Shard& shard, std::string_view key, Timestamp now,
                                    const Inspector& inspect) {
  const VersionedValue* record = Find(shard, key, now);
  if (record == nullptr) return Status::NotFound("no record");
  inspect(RecordView{record->value, record->version, record->expires_at});
  return Status::Ok();
}

Status MemoryBackend::Inspect(std::string_view key, Timestamp now, const Inspector& inspect) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mutex);
  return InspectLocked(shard, key, now, inspect);
}

std::optional<Status> MemoryBackend::TryInspect(std::string_view key, Timestamp now,
                                                const Inspector& inspect) {
  Shard& shard = ShardFor(key);
  std::unique_lock lock(shard.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;  // as TryGet
  return InspectLocked(shard, key, now, inspect);
}

Result<VersionedValue> MemoryBackend::Get(std::string_view key, Timestamp now) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mutex);
  return Lookup(shard, key, now);
}

std::optional<Result<VersionedValue>> MemoryBackend::TryGet(std::string_view key, Timestamp now) {
  Shard& shard = ShardFor(key);
  std::unique_lock lock(shard.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;  // a writer or a scan holds the shard: would block
  return Lookup(shard, key, now);
}

Result<Version> MemoryBackend::Create(std::string_view key, std::string_view value,
                                      const WriteOptions& options, Timestamp now) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.records.find(key);
  if (it != shard.records.end() && IsLive(it->second, now)) {
    return Status::Conflict("record exists");
  }
  if (++shard.creates_since_sweep >= kCreatesPerSweep) {
    shard.creates_since_sweep = 0;
    std::erase_if(shard.records, [now, key](const auto& entry) {
      return entry.first != key && !IsLive(entry.second, now);
    });
    it = shard.records.find(key);
  }
  const Version version = NextVersion();
  VersionedValue record{std::string(value), version, options.expires_at};
  if (it == shard.records.end()) {
    shard.records.emplace(std::string(key), std::move(record));
  } else {
    it->second = std::move(record);  // replaces an expired record in the same critical section
  }
  return version;
}

Result<Version> MemoryBackend::CompareAndSwap(std::string_view key, Version expected,
                                              std::string_view value, const WriteOptions& options,
                                              Timestamp now) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.records.find(key);
  if (it == shard.records.end() || !IsLive(it->second, now)) return Status::NotFound("no record");
  if (it->second.version != expected) return Status::Conflict("version changed");
  const Version version = NextVersion();
  it->second = VersionedValue{std::string(value), version, options.expires_at};
  return version;
}

Status MemoryBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.records.find(key);
  if (it == shard.records.end() || !IsLive(it->second, now)) return Status::NotFound("no record");
  if (it->second.version != expected) return Status::Conflict("version changed");
  shard.records.erase(it);
  return Status::Ok();
}

Result<ScanPage> MemoryBackend::Scan(std::string_view prefix, std::string_view cursor,
                                     std::size_t limit, Timestamp now) {
  if (limit == 0) return Status::InvalidArgument("scan limit must be at least 1");
  // Each shard is ordered; merge the first `limit` matches of every shard, keep the smallest.
  std::vector<ScanEntry> candidates;
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    std::lock_guard lock(shard.mutex);
    auto it = cursor.empty() || cursor < prefix ? shard.records.lower_bound(prefix)
                                                : shard.records.upper_bound(cursor);
    std::size_t taken = 0;
    for (; it != shard.records.end() && taken < limit && StartsWith(it->first, prefix); ++it) {
      if (!IsLive(it->second, now)) continue;
      candidates.push_back(ScanEntry{it->first, it->second});
      ++taken;
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const ScanEntry& a, const ScanEntry& b) { return a.key < b.key; });
  ScanPage page;
  if (candidates.size() > limit) {
    candidates.resize(limit);
    page.next_cursor = candidates.back().key;
  } else if (candidates.size() == limit && !candidates.empty()) {
    // There may be more; the next page answers empty if not.
    page.next_cursor = candidates.back().key;
  }
  page.entries = std::move(candidates);
  return page;
}

std::size_t MemoryBackend::CollectExpired(Timestamp now) {
  std::size_t removed = 0;
  for (auto& shard_ptr : shards_) {
    std::lock_guard lock(shard_ptr->mutex);
    removed += std::erase_if(shard_ptr->records,
                             [now](const auto& entry) { return !IsLive(entry.second, now); });
  }
  return removed;
}

}  // namespace credstore
