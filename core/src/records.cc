#include "records.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace credstore::internal {
namespace {

enum class RecordType : std::uint8_t {
  kCustomer = 'c',
  kIntegrator = 'i',
  kKeycheck = 'k',
  kCounter = 'n',
  kTimestamp = 't',
};

// Big-endian, length-prefixed fields; small enough that a hand-rolled codec is clearer than a
// serialization library.
class Writer {
 public:
  explicit Writer(RecordType type, std::uint8_t format = kRecordFormat) {
    U8(format);
    U8(static_cast<std::uint8_t>(type));
  }
  void U8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) U8(static_cast<std::uint8_t>(v >> shift));
  }
  void U64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) U8(static_cast<std::uint8_t>(v >> shift));
  }
  void Time(Timestamp t) { U64(static_cast<std::uint64_t>(t.time_since_epoch().count())); }
  void Bytes(std::string_view s) {
    U32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void Fixed(const Digest& d) { out_.append(reinterpret_cast<const char*>(d.data()), d.size()); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  // Accepts formats kRecordFormat..`newest_format`; format() says which one was read.
  Reader(std::string_view in, RecordType type, std::uint8_t newest_format = kRecordFormat)
      : in_(in) {
    format_ = U8();
    if (format_ < kRecordFormat || format_ > newest_format ||
        U8() != static_cast<std::uint8_t>(type)) {
      ok_ = false;
    }
  }
  std::uint8_t format() const { return format_; }
  std::uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t U32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | U8();
    return v;
  }
  std::uint64_t U64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | U8();
    return v;
  }
  // A presence or enabled flag. Only 0 and 1 are written; any other byte is corrupt data, not
  // "absent" or "disabled", or a flipped bit would silently drop a graced key or disable an
  // integrator instead of being reported.
  bool Flag() {
    const std::uint8_t v = U8();
    if (v > 1) ok_ = false;
    return v == 1;
  }
  Timestamp Time() {
    return Timestamp(std::chrono::milliseconds(static_cast<std::int64_t>(U64())));
  }
  std::string Bytes() { return std::string(View()); }
  // The next length-prefixed field, without copying it.
  std::string_view View() {
    const std::uint32_t size = U32();
    if (!Need(size)) return {};
    const std::string_view field = in_.substr(pos_, size);
    pos_ += size;
    return field;
  }
  Digest Fixed() {
    Digest d{};
    if (!Need(d.size())) return d;
    std::memcpy(d.data(), in_.data() + pos_, d.size());
    pos_ += d.size();
    return d;
  }
  // True iff every read was in bounds and the input was consumed exactly.
  bool Done() const { return ok_ && pos_ == in_.size(); }
  // Marks the input corrupt: a value was read in bounds but is not one the encoder writes.
  void Fail() { ok_ = false; }

 private:
  bool Need(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
  std::uint8_t format_ = 0;
};

Status Corrupt(std::string_view what) {
  return Status::Internal("corrupt " + std::string(what) + " record");
}

void WriteSealed(Writer& w, const SealedSecret& s) {
  w.U64(s.generation);
  w.U32(s.master_key_id);
  w.Bytes(s.sealed);
  w.U8(s.expires_at ? 1 : 0);
  if (s.expires_at) w.Time(*s.expires_at);
}

SealedSecret ReadSealed(Reader& r) {
  SealedSecret s;
  s.generation = r.U64();
  s.master_key_id = r.U32();
  s.sealed = r.Bytes();
  if (r.Flag()) s.expires_at = r.Time();
  return s;
}

// Format 2's tail: a count (1..kMaxDeviceTokensPerCustomer), then each token's digest and
// expiry. A count outside that range is corrupt: 0 would give one record two encodings, and more
// than the core ever keeps can only be damage (or a record made to cost more to check).
void WriteDeviceTokens(Writer& w, const std::vector<DeviceTokenDigest>& tokens) {
  w.U8(static_cast<std::uint8_t>(tokens.size()));
  for (const DeviceTokenDigest& token : tokens) {
    w.Fixed(token.digest);
    w.Time(token.expires_at);
  }
}

// Calls `keep` with each token read; both customer decoders read the tail through this, so they
// accept exactly the same records.
template <typename Keep>
void ReadDeviceTokens(Reader& r, Keep&& keep) {
  const std::uint8_t count = r.U8();
  if (count == 0 || count > kMaxDeviceTokensPerCustomer) {
    r.Fail();
    return;
  }
  for (std::uint8_t i = 0; i < count; ++i) {
    DeviceTokenDigest token;
    token.digest = r.Fixed();
    token.expires_at = r.Time();
    keep(token);
  }
}

}  // namespace

CustomerStorageKey::CustomerStorageKey(std::string_view service, const Digest& api_key_digest) {
  // A longer name would not fit; every caller passes a configured, validated service.
  if (service.size() > kMaxServiceNameBytes) std::abort();
  char* at = bytes_.data();
  *at++ = 'c';
  *at++ = '/';
  at = std::copy(service.begin(), service.end(), at);
  *at++ = '/';
  at = WriteHex(at, std::string_view(reinterpret_cast<const char*>(api_key_digest.data()),
                                     api_key_digest.size()));
  size_ = static_cast<std::uint8_t>(at - bytes_.data());
}

std::string CustomerKey(std::string_view service, const Digest& api_key_digest) {
  return std::string(CustomerStorageKey(service, api_key_digest).view());
}

std::string IntegratorKey(std::string_view integrator_id) {
  return std::string(kIntegratorKeyPrefix) + std::string(integrator_id);
}

std::string ReplayKey(std::string_view integrator_id, const Digest& mac) {
  return "n/" + std::string(integrator_id) + "/" + ToHex(mac);
}

std::string Encode(const CustomerRecord& record) {
  Writer w(RecordType::kCustomer,
           record.device_tokens.empty() ? kRecordFormat : kCustomerWithDevicesFormat);
  w.Bytes(record.secret_hash);
  w.U64(record.secret_generation);
  w.Fixed(record.admin_key_digest);
  w.U64(record.admin_generation);
  w.U8(record.previous_admin_key ? 1 : 0);
  if (record.previous_admin_key) {
    w.Fixed(record.previous_admin_key->digest);
    w.Time(record.previous_admin_key->expires_at);
  }
  w.Bytes(record.settings_json);
  w.Time(record.created_at);
  if (!record.device_tokens.empty()) WriteDeviceTokens(w, record.device_tokens);
  return w.Take();
}

Result<CustomerRecord> DecodeCustomer(std::string_view bytes) {
  Reader r(bytes, RecordType::kCustomer, kCustomerWithDevicesFormat);
  CustomerRecord record;
  record.secret_hash = r.Bytes();
  record.secret_generation = r.U64();
  record.admin_key_digest = r.Fixed();
  record.admin_generation = r.U64();
  if (r.Flag()) {
    GracedAdminKey previous;
    previous.digest = r.Fixed();
    previous.expires_at = r.Time();
    record.previous_admin_key = previous;
  }
  record.settings_json = r.Bytes();
  record.created_at = r.Time();
  if (r.format() == kCustomerWithDevicesFormat) {
    ReadDeviceTokens(
        r, [&](const DeviceTokenDigest& token) { record.device_tokens.push_back(token); });
  }
  if (!r.Done()) return Corrupt("customer");
  return record;
}

Result<CustomerAdminKeys> DecodeCustomerAdminKeys(std::string_view bytes) {
  // Reads the same layout as DecodeCustomer, skipping what an admin-key check does not need.
  Reader r(bytes, RecordType::kCustomer, kCustomerWithDevicesFormat);
  CustomerAdminKeys keys;
  (void)r.View();  // secret_hash
  (void)r.U64();   // secret_generation
  keys.current = r.Fixed();
  (void)r.U64();  // admin_generation
  if (r.Flag()) {
    GracedAdminKey previous;
    previous.digest = r.Fixed();
    previous.expires_at = r.Time();
    keys.previous = previous;
  }
  (void)r.View();  // settings_json
  (void)r.Time();  // created_at
  if (r.format() == kCustomerWithDevicesFormat) {
    ReadDeviceTokens(r, [](const DeviceTokenDigest&) {});  // validated, not kept
  }
  if (!r.Done()) return Corrupt("customer");
  return keys;
}

std::string Encode(const IntegratorRecord& record) {
  Writer w(RecordType::kIntegrator);
  w.Bytes(record.integrator_id);
  w.Bytes(record.label);
  w.U8(record.enabled ? 1 : 0);
  w.Time(record.created_at);
  w.U64(record.last_generation);
  WriteSealed(w, record.current);
  w.U8(record.old ? 1 : 0);
  if (record.old) WriteSealed(w, *record.old);
  return w.Take();
}

Result<IntegratorRecord> DecodeIntegrator(std::string_view bytes) {
  Reader r(bytes, RecordType::kIntegrator);
  IntegratorRecord record;
  record.integrator_id = r.Bytes();
  record.label = r.Bytes();
  record.enabled = r.Flag();
  record.created_at = r.Time();
  record.last_generation = r.U64();
  record.current = ReadSealed(r);
  if (r.Flag()) record.old = ReadSealed(r);
  if (!r.Done()) return Corrupt("integrator");
  return record;
}

std::string SealingContext(std::uint32_t master_key_id, const Digest& integrator_digest,
                           SecretSlot slot, std::uint64_t generation) {
  Writer w(RecordType::kIntegrator);  // format ‖ record type
  w.U32(master_key_id);
  w.Fixed(integrator_digest);
  w.U8(static_cast<std::uint8_t>(slot));
  w.U64(generation);
  return w.Take();
}

std::string Encode(const KeycheckRecord& record) {
  Writer w(RecordType::kKeycheck);
  w.U32(record.pepper_id);
  w.Fixed(record.pepper_check);
  w.U32(record.master_key_id);
  w.Bytes(record.sealed_check);
  return w.Take();
}

Result<KeycheckRecord> DecodeKeycheck(std::string_view bytes) {
  Reader r(bytes, RecordType::kKeycheck);
  KeycheckRecord record;
  record.pepper_id = r.U32();
  record.pepper_check = r.Fixed();
  record.master_key_id = r.U32();
  record.sealed_check = r.Bytes();
  if (!r.Done()) return Corrupt("keycheck");
  return record;
}

std::string EncodeCounter(std::uint32_t count) {
  Writer w(RecordType::kCounter);
  w.U32(count);
  return w.Take();
}

Result<std::uint32_t> DecodeCounter(std::string_view bytes) {
  Reader r(bytes, RecordType::kCounter);
  const std::uint32_t count = r.U32();
  if (!r.Done()) return Corrupt("counter");
  return count;
}

std::string EncodeTimestamp(Timestamp t) {
  Writer w(RecordType::kTimestamp);
  w.Time(t);
  return w.Take();
}

Result<Timestamp> DecodeTimestamp(std::string_view bytes) {
  Reader r(bytes, RecordType::kTimestamp);
  const Timestamp t = r.Time();
  if (!r.Done()) return Corrupt("rate");
  return t;
}

}  // namespace credstore::internal
