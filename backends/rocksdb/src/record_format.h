// The bytes of one credstore record inside a RocksDB value, and of the backend's bookkeeping.
//
// Record layout (all integers little-endian, fixed width, so a file can be read on any host):
//
//   byte 0      format, kRecordFormat
//   byte 1      flags; bit 0 set: an expiry follows the version; other bits must be clear
//   bytes 2-9   version, u64
//   bytes 10-17 expires_at, i64 milliseconds since the Unix epoch (only when flag bit 0 is set)
//   the rest    the value, byte for byte
//
// A new layout gets a new format byte; a reader refuses formats it does not know rather than
// guessing, so an older binary never misreads a newer store.
#ifndef CREDSTORE_BACKENDS_ROCKSDB_SRC_RECORD_FORMAT_H_
#define CREDSTORE_BACKENDS_ROCKSDB_SRC_RECORD_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/storage_backend.h"

namespace credstore::rocksdb_internal {

using namespace std::string_view_literals;

inline constexpr unsigned char kRecordFormat = 1;
inline constexpr unsigned char kHasExpiryFlag = 0x01;
inline constexpr std::size_t kRecordHeaderBytes = 2 + 8;
inline constexpr std::size_t kExpiryBytes = 8;

// Keys that start with a NUL byte belong to the backend; credstore keys are printable ASCII.
inline constexpr char kReservedKeyByte = '\0';
// The store's format marker, written once when the store is created.
inline constexpr std::string_view kFormatKey = "\0credstore/format"sv;
inline constexpr std::string_view kStoreFormat = "credstore-rocksdb/1"sv;
// The highest version ever given, kept with the "max" merge operator (see MaxVersionOperator).
inline constexpr std::string_view kMaxVersionKey = "\0credstore/max_version"sv;

inline bool IsReservedKey(std::string_view key) {
  return !key.empty() && key.front() == kReservedKeyByte;
}

inline void AppendU64(std::string& out, std::uint64_t number) {
  for (int shift = 0; shift < 64; shift += 8) {
    out.push_back(static_cast<char>((number >> shift) & 0xff));
  }
}

inline std::uint64_t ReadU64(std::string_view bytes) {  // precondition: bytes.size() >= 8
  std::uint64_t number = 0;
  for (int i = 7; i >= 0; --i) {
    number = (number << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  }
  return number;
}

inline std::string EncodeU64(std::uint64_t number) {
  std::string out;
  out.reserve(8);
  AppendU64(out, number);
  return out;
}

// nullopt unless `bytes` is exactly one encoded u64.
inline std::optional<std::uint64_t> DecodeU64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return ReadU64(bytes);
}

inline std::string EncodeRecord(Version version, std::optional<Timestamp> expires_at,
                                std::string_view value) {
  std::string out;
  out.reserve(kRecordHeaderBytes + (expires_at ? kExpiryBytes : 0) + value.size());
  out.push_back(static_cast<char>(kRecordFormat));
  out.push_back(static_cast<char>(expires_at ? kHasExpiryFlag : 0));
  AppendU64(out, version);
  if (expires_at) {
    AppendU64(out, static_cast<std::uint64_t>(expires_at->time_since_epoch().count()));
  }
  out.append(value);
  return out;
}

// The expiry rule of storage_backend.h: a record whose `expires_at` is <= now is absent.
inline bool IsLiveAt(const std::optional<Timestamp>& expires_at, Timestamp now) {
  return !expires_at || now < *expires_at;
}

// A view into the encoded bytes; valid as long as they are.
struct DecodedRecord {
  Version version = 0;
  std::optional<Timestamp> expires_at;
  std::string_view value;

  bool IsLive(Timestamp now) const { return IsLiveAt(expires_at, now); }
};

// nullopt when `bytes` is not a record this code understands.
inline std::optional<DecodedRecord> DecodeRecord(std::string_view bytes) {
  if (bytes.size() < kRecordHeaderBytes) return std::nullopt;
  if (static_cast<unsigned char>(bytes[0]) != kRecordFormat) return std::nullopt;
  const auto flags = static_cast<unsigned char>(bytes[1]);
  if ((flags & ~kHasExpiryFlag) != 0) return std::nullopt;
  DecodedRecord record;
  record.version = ReadU64(bytes.substr(2));
  std::size_t offset = kRecordHeaderBytes;
  if (flags & kHasExpiryFlag) {
    if (bytes.size() < kRecordHeaderBytes + kExpiryBytes) return std::nullopt;
    const auto millis = static_cast<std::int64_t>(ReadU64(bytes.substr(offset)));
    record.expires_at = Timestamp(std::chrono::milliseconds(millis));
    offset += kExpiryBytes;
  }
  record.value = bytes.substr(offset);
  return record;
}

}  // namespace credstore::rocksdb_internal

#endif  // CREDSTORE_BACKENDS_ROCKSDB_SRC_RECORD_FORMAT_H_
