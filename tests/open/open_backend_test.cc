// OpenBackend: every scheme, the errors for unknown, malformed and not-built backends.
#include "credstore/backends/open_backend.h"

#include <boost/test/unit_test.hpp>

#include "support/test_helpers.h"

namespace credstore {
namespace {

const Timestamp kNow{std::chrono::milliseconds(1'700'000'000'000)};

BOOST_AUTO_TEST_SUITE(open_backend)

BOOST_AUTO_TEST_CASE(memory_uri_opens_a_working_backend) {
  auto backend = OpenBackend("memory://");
  BOOST_REQUIRE_MESSAGE(backend.ok(), backend.status().ToString());
  BOOST_TEST((*backend)->Name() == "memory");
  BOOST_TEST((*backend)->Create("k", "v", {}, kNow).ok());
  BOOST_TEST((*backend)->Get("k", kNow)->value == "v");
}

BOOST_AUTO_TEST_CASE(malformed_and_unknown_uris_are_invalid_arguments) {
  for (const char* uri : {"", "memory", "://x", "memory://extra", "rocksdb://", "postgres://h/db",
                          "/var/lib/credstore"}) {
    auto backend = OpenBackend(uri);
    BOOST_TEST_CONTEXT("uri '" << uri << "'") {
      BOOST_TEST(!backend.ok());
      BOOST_TEST(backend.status().code() == StatusCode::kInvalidArgument);
    }
  }
  BOOST_TEST(OpenBackend("postgres://h/db").status().message().find("postgres") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_scheme_error_never_echoes_credentials) {
  auto backend = OpenBackend("mysql://admin:hunter2@db:3306/x");
  BOOST_TEST(backend.status().message().find("hunter2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(rocksdb_uri_opens_a_folder_or_names_the_missing_backend) {
  testing::TempDir dir("credstore-uri");
  auto backend = OpenBackend("rocksdb://" + (dir.path() / "db").string());
  if (IsBackendBuilt("rocksdb")) {
    BOOST_REQUIRE_MESSAGE(backend.ok(), backend.status().ToString());
    BOOST_TEST((*backend)->Name() == "rocksdb");
  } else {
    BOOST_TEST(backend.status().message().find("rocksdb backend is not built") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(rocksdb_uri_takes_a_block_cache_size) {
  testing::TempDir dir("credstore-uri");
  const std::string folder = "rocksdb://" + (dir.path() / "db").string();
  auto backend = OpenBackend(folder + "?block_cache_mb=16");
  if (IsBackendBuilt("rocksdb")) {
    BOOST_REQUIRE_MESSAGE(backend.ok(), backend.status().ToString());
    BOOST_TEST((*backend)->Create("k", "v", {}, kNow).ok());
  }
  for (const char* query : {"?block_cache_mb=0", "?block_cache_mb=", "?block_cache_mb=12x",
                            "?block_cache_mb=-1", "?block_cache_mb=1048577", "?cache=16", "?"}) {
    BOOST_TEST_CONTEXT("query '" << query << "'") {
      auto refused = OpenBackend(folder + query);
      BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
      if (IsBackendBuilt("rocksdb")) {
        BOOST_TEST(refused.status().message().find("block_cache_mb") != std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rocksdb_uri_takes_a_row_cache_size_where_0_means_none) {
  testing::TempDir dir("credstore-uri");
  const std::string folder = "rocksdb://" + (dir.path() / "db").string();
  if (IsBackendBuilt("rocksdb")) {
    for (const char* query :
         {"?row_cache_mb=0", "?row_cache_mb=8", "?block_cache_mb=16&row_cache_mb=4"}) {
      BOOST_TEST_CONTEXT("query '" << query << "'") {
        auto backend = OpenBackend(folder + query);
        BOOST_REQUIRE_MESSAGE(backend.ok(), backend.status().ToString());
        BOOST_TEST((*backend)->Create(query, "v", {}, kNow).ok());
      }
    }
  }
  for (const char* query : {"?row_cache_mb=", "?row_cache_mb=8x", "?row_cache_mb=-1",
                            "?row_cache_mb=1048577", "?row_cache_mb=1&row_cache_mb=2"}) {
    BOOST_TEST_CONTEXT("query '" << query << "'") {
      auto refused = OpenBackend(folder + query);
      BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
      if (IsBackendBuilt("rocksdb")) {
        BOOST_TEST(refused.status().message().find("row_cache_mb") != std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rocksdb_uri_takes_a_free_disk_reserve) {
  testing::TempDir dir("credstore-uri");
  const std::string folder = "rocksdb://" + (dir.path() / "db").string();
  if (IsBackendBuilt("rocksdb")) {
    for (const char* query : {"?min_free_disk_mb=0", "?block_cache_mb=16&min_free_disk_mb=1",
                              "?min_free_disk_mb=1&block_cache_mb=16"}) {
      BOOST_TEST_CONTEXT("query '" << query << "'") {
        auto backend = OpenBackend(folder + query);
        BOOST_REQUIRE_MESSAGE(backend.ok(), backend.status().ToString());
        BOOST_TEST((*backend)->CheckWrites().ok(), (*backend)->CheckWrites().ToString());
      }
    }
    // A reserve no disk has: the existing store opens read-only, and says so.
    auto full = OpenBackend(folder + "?min_free_disk_mb=1048576");
    BOOST_REQUIRE_MESSAGE(full.ok(), full.status().ToString());
    BOOST_TEST((*full)->CheckWrites().code() == StatusCode::kUnavailable);
    BOOST_TEST((*full)->Create("k", "v", {}, kNow).status().code() == StatusCode::kUnavailable);
    full->reset();
    // The URI wins over the host's option.
    OpenBackendOptions options;
    options.min_free_disk_bytes = std::uint64_t{1} << 50;
    auto uri_wins = OpenBackend(folder + "?min_free_disk_mb=0", options);
    BOOST_REQUIRE_MESSAGE(uri_wins.ok(), uri_wins.status().ToString());
    BOOST_TEST((*uri_wins)->CheckWrites().ok());
    uri_wins->reset();
    auto option_used = OpenBackend(folder, options);
    BOOST_REQUIRE_MESSAGE(option_used.ok(), option_used.status().ToString());
    BOOST_TEST((*option_used)->CheckWrites().code() == StatusCode::kUnavailable);
  }
  for (const char* query : {"?min_free_disk_mb=", "?min_free_disk_mb=1048577",
                            "?min_free_disk_mb=-1", "?min_free_disk_mb=1&min_free_disk_mb=2",
                            "?min_free_disk_mb=1&", "?min_free_disk_mb=1&cache=2"}) {
    BOOST_TEST_CONTEXT("query '" << query << "'") {
      auto refused = OpenBackend(folder + query);
      BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
      if (IsBackendBuilt("rocksdb")) {
        BOOST_TEST(refused.status().message().find("min_free_disk_mb") != std::string::npos,
                   refused.status().ToString());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(redis_uri_errors_name_the_backend_or_the_uri_problem) {
  auto backend = OpenBackend("redis://:topsecret@");
  BOOST_TEST(!backend.ok());
  BOOST_TEST(backend.status().message().find("topsecret") == std::string::npos);
  if (!IsBackendBuilt("redis")) {
    BOOST_TEST(backend.status().message().find("redis backend is not built") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore
