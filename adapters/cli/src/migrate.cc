#include "migrate.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>

#include "credstore/backends/open_backend.h"
#include "credstore/clock.h"
#include "credstore/migration.h"

namespace credstore::cli {
namespace {

std::string_view SchemeOf(std::string_view uri) { return uri.substr(0, uri.find("://")); }

// CREDSTORE_TEST_MIGRATE_KILL_AFTER, when it holds a positive count.
std::optional<std::uint64_t> KillAfter() {
  const char* text = std::getenv("CREDSTORE_TEST_MIGRATE_KILL_AFTER");
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long count = std::strtoull(text, &end, 10);
  if (*end != '\0' || count == 0) return std::nullopt;
  return count;
}

// The store `uri` names, or nullptr after saying why on stderr (without the URI).
std::shared_ptr<StorageBackend> Open(const std::string& uri, std::string_view role,
                                     bool create_if_missing) {
  OpenBackendOptions options;
  options.create_if_missing = create_if_missing;
  auto opened = OpenBackend(uri, options);
  if (opened.ok()) return std::move(opened).value();
  std::cerr << "credstore: cannot open the " << role << " (" << SchemeOf(uri)
            << "): " << opened.status().message() << '\n';
  if (SchemeOf(uri) == "rocksdb" && opened.status().code() == StatusCode::kUnavailable) {
    std::cerr << "credstore: migrate works on stopped stores: stop the credstored that holds "
                 "this folder first\n";
  }
  return nullptr;
}

}  // namespace

int MigrateStores(const std::string& from_uri, const std::string& to_uri) {
  if (SchemeOf(from_uri) == "memory" || SchemeOf(to_uri) == "memory") {
    std::cerr << "credstore: memory:// lives in one process only: there is nothing to migrate "
                 "from or to\n";
    return 2;
  }
  // Destroyed before this returns, not at exit: RocksDB must close before its statics go.
  const std::shared_ptr<StorageBackend> source = Open(from_uri, "source", false);
  if (!source) return 1;
  const std::shared_ptr<StorageBackend> target = Open(to_uri, "target", true);
  if (!target) return 1;

  MigrationOptions options;
  if (const auto kill_after = KillAfter()) {
    options.after_record = [limit = *kill_after](std::uint64_t so_far) {
      if (so_far >= limit) std::raise(SIGKILL);
    };
  }
  auto report = MigrateStore(*source, *target, SystemClock().Now(), options);
  if (!report.ok()) {
    std::cerr << "credstore: the migration did not finish: " << report.status().message() << '\n';
    return 1;
  }
  boost::json::object out;
  out["resumed"] = report->resumed;
  out["sourceRecords"] = report->source_records;
  out["targetRecords"] = report->target_records;
  out["copied"] = report->copied;
  out["alreadyThere"] = report->already_there;
  out["removed"] = report->removed;
  std::cout << boost::json::serialize(out) << '\n' << std::flush;
  return 0;
}

}  // namespace credstore::cli
