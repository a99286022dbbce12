// The published signing test vectors (docs/signing-test-vectors.md) against credstore's code:
// SignRequest must reproduce every vector exactly, and VerifySignedRequest must accept requests
// of each vector's shape at the vector's own time. The vectors were computed with OpenSSL and
// Python's hmac module, never with credstore, so this test checks the code against an
// independent implementation of docs/http.md's scheme.
//
// The markdown file is found relative to this source file, so the test needs no build setting.
#include <sodium.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/src/crypto.h"
#include "credstore/audit.h"
#include "credstore/backends/memory.h"
#include "credstore/clock.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/options.h"
#include "credstore/signed_request.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

struct Vector {
  int line = 0;
  std::string secret;
  std::string timestamp;
  std::string method;
  std::string target;
  std::string body;
  std::string body_sha256;
  std::string signature;
};

std::filesystem::path VectorsPath() {
  return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "docs" /
         "signing-test-vectors.md";
}

std::string Trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return "";
  const std::size_t last = text.find_last_not_of(' ');
  return std::string(text.substr(first, last - first + 1));
}

// A table cell: `exact bytes` or (empty). Sets *ok to false for anything else.
std::string CellValue(std::string_view cell, bool* ok) {
  const std::string trimmed = Trim(cell);
  if (trimmed == "(empty)") return "";
  if (trimmed.size() < 2 || trimmed.front() != '`' || trimmed.back() != '`') {
    *ok = false;
    return "";
  }
  return trimmed.substr(1, trimmed.size() - 2);
}

// Every row of the table under "## Vectors" whose first cell is a number.
std::vector<Vector> ReadVectors() {
  std::ifstream in(VectorsPath());
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << VectorsPath());
  std::vector<Vector> vectors;
  std::string line;
  bool in_section = false;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.starts_with("## ")) in_section = line == "## Vectors";
    if (!in_section || !line.starts_with("| ")) continue;
    std::vector<std::string> cells;
    std::size_t start = 1;
    for (std::size_t bar = line.find('|', start); bar != std::string::npos;
         bar = line.find('|', start)) {
      cells.push_back(line.substr(start, bar - start));
      start = bar + 1;
    }
    const std::string index = Trim(cells.empty() ? "" : cells[0]);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) continue;
    BOOST_TEST_REQUIRE(cells.size() == 8u,
                       "line " << number << " has " << cells.size() << " cells, not 8");
    bool ok = true;
    Vector v;
    v.line = number;
    v.secret = CellValue(cells[1], &ok);
    v.timestamp = CellValue(cells[2], &ok);
    v.method = CellValue(cells[3], &ok);
    v.target = CellValue(cells[4], &ok);
    v.body = CellValue(cells[5], &ok);
    v.body_sha256 = CellValue(cells[6], &ok);
    v.signature = CellValue(cells[7], &ok);
    BOOST_TEST_REQUIRE(ok, "line " << number << ": a cell is neither `value` nor (empty)");
    vectors.push_back(std::move(v));
  }
  return vectors;
}

bool IsAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0x80) return false;
  }
  return true;
}

BOOST_AUTO_TEST_SUITE(signing_vectors)

BOOST_AUTO_TEST_CASE(TheDocumentPublishesVectorsOfEveryShape) {
  const std::vector<Vector> vectors = ReadVectors();
  BOOST_TEST(vectors.size() >= 4u);
  bool query = false;
  bool empty_body = false;
  bool non_ascii_body = false;
  for (const Vector& v : vectors) {
    query = query || v.target.find('?') != std::string::npos;
    empty_body = empty_body || v.body.empty();
    non_ascii_body = non_ascii_body || !IsAscii(v.body);
    BOOST_TEST(v.signature.starts_with("sha256="), "line " << v.line);
    BOOST_TEST(v.signature.size() == 71u, "line " << v.line);
  }
  BOOST_TEST(query, "no vector has a query string");
  BOOST_TEST(empty_body, "no vector has an empty body");
  BOOST_TEST(non_ascii_body, "no vector has a non-ASCII UTF-8 body");
}

BOOST_AUTO_TEST_CASE(SignRequestReproducesEveryVector) {
  for (const Vector& v : ReadVectors()) {
    BOOST_TEST_CONTEXT("vector on line " << v.line) {
      BOOST_TEST(SignRequest(v.secret, v.timestamp, v.method, v.target, v.body) == v.signature);
      const internal::Digest body_hash = internal::Sha256(v.body);
      BOOST_TEST(internal::ToHex(body_hash) == v.body_sha256);
    }
  }
}

// The core's hex encoder spells every byte as libsodium's does (the vectors above cover only the
// bytes their digests happen to hold).
BOOST_AUTO_TEST_CASE(HexSpellsEveryByteAsLibsodiumDoes) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte) all.push_back(static_cast<char>(byte));
  std::string expected(all.size() * 2 + 1, '\0');
  sodium_bin2hex(expected.data(), expected.size(),
                 reinterpret_cast<const unsigned char*>(all.data()), all.size());
  expected.pop_back();
  BOOST_TEST(internal::ToHex(all) == expected);
  std::string appended = "prefix:";
  internal::AppendHex(appended, all.substr(250));
  BOOST_TEST(appended == "prefix:" + expected.substr(500));
}

// An integrator's secret cannot be chosen through the API, so each vector's request (timestamp,
// method, target, body) is signed with a real integrator's secret and verified with the clock at
// the vector's time.
BOOST_AUTO_TEST_CASE(VerifySignedRequestAcceptsEachVectorsRequestAtItsTime) {
  for (const Vector& v : ReadVectors()) {
    BOOST_TEST_CONTEXT("vector on line " << v.line) {
      auto clock = std::make_shared<ManualClock>(
          Timestamp(std::chrono::milliseconds(std::stoll(v.timestamp))));
      Options options;
      options.argon2 = Argon2Cost::MinimumForTests();
      options.clock = clock;
      options.audit = std::make_shared<NullAuditSink>();
      Result<std::unique_ptr<CredentialStore>> opened =
          CredentialStore::Open(std::make_shared<MemoryBackend>(), Keyring::Generate(), options);
      BOOST_TEST_REQUIRE(opened.ok(), opened.status().ToString());
      CredentialStore& store = **opened;
      Result<IntegratorSecret> integrator = store.CreateIntegrator(RequestContext{}, "vectors");
      BOOST_TEST_REQUIRE(integrator.ok(), integrator.status().ToString());

      const std::string signature =
          SignRequest(integrator->secret.view(), v.timestamp, v.method, v.target, v.body);
      const SignedRequest request{
          integrator->integrator_id, v.timestamp, signature, v.method, v.target, v.body};
      Result<VerifiedRequest> verified = store.VerifySignedRequest(request);
      BOOST_TEST(verified.ok(), verified.status().ToString());

      // The vector's own signature was made with another secret.
      const SignedRequest foreign{
          integrator->integrator_id, v.timestamp, v.signature, v.method, v.target, v.body};
      BOOST_TEST(store.VerifySignedRequest(foreign).status().code() == StatusCode::kUnauthorized);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
