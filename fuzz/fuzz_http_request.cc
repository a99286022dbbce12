// Fuzzes the HTTP request path: raw bytes → Beast's request parser with the server's limits →
// PublicApi::Route, then the prepared call as the server runs it, over a MemoryBackend store.
//
// Each input gets a fresh store and a ManualClock (a shared store would throttle everything to
// 429 within seconds of fuzzing), with the minimum Argon2id cost, and libsodium's random source
// replaced by a generator reset before each input, so an input found once reproduces exactly.
// The store holds one customer and one integrator; an input reaches them through placeholders
// the harness fills in after parsing (seeds use them):
//   @ADMIN@    in the target:  the customer's admin key (key=Fuzz_API_Key_1, service geofencing)
//   @SECRET@   in the body:    the customer's secret (not in settings bodies: they are echoed)
//   @INT@      X-Integrator-Key and the target: the integrator's id
//   @SIG@      X-Signature:    a valid signature of the request with the integrator's secret
//
// Checks: Route() gives exactly one of an answer and a call; no response is a 500; every error
// is application/problem+json with type, title, status (the response's), detail and instance;
// no response carries the customer's secret or admin key or the integrator's secret (unless the
// input spelled them out, or put them in a public position); and no response echoes a `key=` or
// `adminKey=` query value or a "secret"/"newSecret" body member of 8 bytes or more. A value seen
// in a response is an echo only if it follows the value: the input is served again with the
// value replaced by another of the same length, and the response must then not show the
// replacement. Constant text that happens to contain the value ("credstore" in every problem
// type) does not follow it, and neither does a value that the request also carries in a
// position that is public (its path, a member name, a header).
#include <sodium.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/backends/memory.h"
#include "credstore/credential_store.h"
#include "credstore/http/public_api.h"
#include "credstore/signed_request.h"

namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using credstore::http::Request;
using credstore::http::Response;

constexpr std::string_view kService = "geofencing";
constexpr std::string_view kApiKey = "Fuzz_API_Key_1";
constexpr std::string_view kCustomerSecret = "fuzz customer secret 7Qz9pW2xR4mT";
constexpr std::size_t kHeaderLimit = 8 * 1024;  // credstored's default ServerOptions
constexpr std::size_t kMinEchoBytes = 8;

void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_http_request: violated: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void Check(bool holds, const char* what, std::string_view detail = {}) {
  if (!holds) Fail(what, detail);
}

// ---- A reproducible random source ---------------------------------------------------------
// splitmix64: statistical quality is all a fuzzer's keys need; they only have to repeat.
std::uint64_t g_random_state = 0;

std::uint64_t NextRandom() {
  std::uint64_t z = (g_random_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}
const char* RandomName() { return "credstore-fuzz-splitmix64"; }
std::uint32_t Random32() { return static_cast<std::uint32_t>(NextRandom()); }
void RandomBuf(void* const buf, const std::size_t size) {
  auto* out = static_cast<unsigned char*>(buf);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<unsigned char>(NextRandom());
}
randombytes_implementation g_random = {RandomName, Random32, nullptr, nullptr, RandomBuf, nullptr};

// ---- The store, fresh for each serving ----------------------------------------------------

struct World {
  std::unique_ptr<credstore::CredentialStore> store;
  std::string admin_key;          // the customer's
  std::string integrator_id;      // "int_…"
  std::string integrator_secret;  // its current secret
};

World MakeWorld() {
  g_random_state = 0x6372656473746f72u;  // the same keys, ids and salts for every input
  credstore::Options options;
  options.argon2 = credstore::Argon2Cost::MinimumForTests();
  options.clock = std::make_shared<credstore::ManualClock>();
  options.audit = std::make_shared<credstore::NullAuditSink>();
  auto opened = credstore::CredentialStore::Open(std::make_shared<credstore::MemoryBackend>(4),
                                                 credstore::Keyring::Generate(), options);
  Check(opened.ok(), "the store opens");
  World world;
  world.store = std::move(opened).value();
  // Another address than the requests', so this registration spends none of their quota.
  const credstore::RequestContext operator_context{.client_address = "198.51.100.1",
                                                   .request_id = "fuzz-setup"};
  auto grant = world.store->Register(operator_context, kService, kApiKey, kCustomerSecret);
  Check(grant.ok(), "the customer registers");
  world.admin_key = std::string(grant->admin_key.view());
  auto integrator = world.store->CreateIntegrator(operator_context, "fuzz");
  Check(integrator.ok(), "the integrator is created");
  world.integrator_id = integrator->integrator_id;
  world.integrator_secret = std::string(integrator->secret.view());
  return world;
}

// ---- Reading the request ------------------------------------------------------------------

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The first request in `bytes`, parsed as credstored's server does, or nullopt where the server
// would answer without the API (431, 400 for broken HTTP, 413: tested by the HTTP suites).
std::optional<Request> ParseRequest(std::string_view bytes, std::size_t body_limit) {
  beast_http::request_parser<beast_http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kHeaderLimit));
  parser.body_limit(body_limit);
  parser.eager(true);
  boost::beast::error_code error;
  while (!bytes.empty() && !parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
    if (error == beast_http::error::need_more) break;
    if (error) return std::nullopt;
    if (used == 0) break;
    bytes.remove_prefix(used);
  }
  // A request's end never depends on the connection closing (RFC 9112 §6.3), so an unfinished
  // one is one the server would wait for, then drop without an answer.
  if (!parser.is_done()) return std::nullopt;
  return parser.release();
}

// Fills in the placeholders (top of this file).
void FillPlaceholders(Request& request, const World& world) {
  std::string target(request.target());
  ReplaceAll(target, "@ADMIN@", world.admin_key);
  ReplaceAll(target, "@INT@", world.integrator_id);
  request.target(target);
  if (!Contains(target, "settings")) ReplaceAll(request.body(), "@SECRET@", kCustomerSecret);
  if (request["X-Integrator-Key"] == "@INT@") request.set("X-Integrator-Key", world.integrator_id);
  if (request["X-Signature"] == "@SIG@") {
    request.set("X-Signature",
                credstore::SignRequest(world.integrator_secret, request["X-Timestamp"],
                                       request.method_string(), request.target(), request.body()));
  }
}

// The top-level "secret" and "newSecret" string members of a JSON body (every one, repeats
// included), and every member name at any depth.
class SecretMembers {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  std::vector<std::string> secrets;
  std::vector<std::string> names;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return Enter(); }
  bool on_array_end(std::size_t, json::error_code&) { return Leave(); }
  bool on_object_begin(json::error_code&) { return Enter(); }
  bool on_object_end(std::size_t, json::error_code&) { return Leave(); }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    if (depth_ == 1 && (key_ == "secret" || key_ == "newSecret")) secrets.push_back(text_);
    return Value();
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    names.push_back(key_);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return Value(); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return Value(); }
  bool on_double(double, json::string_view, json::error_code&) { return Value(); }
  bool on_bool(bool, json::error_code&) { return Value(); }
  bool on_null(json::error_code&) { return Value(); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool Enter() {
    ++depth_;
    key_.clear();
    return true;
  }
  bool Leave() {
    --depth_;
    return Value();
  }
  bool Value() {
    key_.clear();
    text_.clear();
    return true;
  }

  int depth_ = 0;
  std::string key_;
  std::string text_;
};

// What a request carries in secret positions, and the text it carries in public ones.
struct Carried {
  std::vector<std::string> secrets;
  std::string public_text;
};

Carried WhatTheRequestCarries(const Request& request) {
  Carried carried;
  if (auto url = boost::urls::parse_origin_form(request.target())) {
    carried.public_text.append(url->encoded_path()).push_back('\n');
    carried.public_text.append(url->path()).push_back('\n');
    for (const auto& param : url->params()) {
      carried.public_text.append(param.key).push_back('\n');
      if ((param.key == "key" || param.key == "adminKey") && param.value.size() >= kMinEchoBytes) {
        carried.secrets.push_back(param.value);
      }
    }
  }
  for (const auto& field : request) carried.public_text.append(field.value()).push_back('\n');
  // Settings are a document the client stores and reads back, not a credential.
  if (!Contains(request.target(), "settings")) {
    json::basic_parser<SecretMembers> parser(json::parse_options{});
    json::error_code error;
    parser.write_some(false, request.body().data(), request.body().size(), error);
    for (std::string& secret : parser.handler().secrets) {
      if (secret.size() >= kMinEchoBytes) carried.secrets.push_back(std::move(secret));
    }
    for (const std::string& name : parser.handler().names) {
      carried.public_text.append(name).push_back('\n');
    }
  }
  return carried;
}

// ---- Serving ------------------------------------------------------------------------------

struct Served {
  World world;
  Carried carried;
  unsigned status = 0;
  std::string text;  // the response's header fields and body
};

std::optional<Served> Serve(std::string_view bytes) {
  Served served{.world = MakeWorld()};
  credstore::http::PublicApi api(*served.world.store);
  std::optional<Request> request = ParseRequest(bytes, api.max_body_bytes());
  if (!request) return std::nullopt;
  FillPlaceholders(*request, served.world);
  served.carried = WhatTheRequestCarries(*request);

  const credstore::http::RequestMeta meta{.request_id = "fuzz-1",
                                          .client_address = "203.0.113.7",
                                          .http_version = request->version() == 10 ? 10u : 11u,
                                          .keep_alive = request->keep_alive()};
  credstore::http::Routed routed = api.Route(*request, meta);
  Check((routed.call != nullptr) != routed.answer.has_value(),
        "Route gives exactly one of an answer and a call");
  Check(!routed.route_template.empty(), "Route names a route template");
  Response response;
  if (routed.answer) {
    response = std::move(*routed.answer);
  } else if (routed.work == credstore::http::WorkClass::kStorage) {
    std::optional<Response> inline_answer = routed.call->TryRunInline();
    response = inline_answer ? std::move(*inline_answer) : routed.call->Run();
  } else {
    response = routed.call->Run();
  }

  served.status = response.result_int();
  for (const auto& field : response) {
    served.text.append(field.name_string()).append(": ").append(field.value()).push_back('\n');
  }
  served.text.append(response.body());

  Check(served.status != 500, "no request is answered 500", served.text);
  if (served.status >= 400) {
    Check(response[beast_http::field::content_type] == "application/problem+json",
          "an error is application/problem+json", served.text);
    json::error_code error;
    const json::value problem = json::parse(response.body(), error);
    Check(!error && problem.is_object(), "a problem is a JSON object", served.text);
    const json::object& members = problem.as_object();
    for (const char* name : {"type", "title", "detail", "instance"}) {
      const json::value* member = members.if_contains(name);
      Check(member != nullptr && member->is_string(), "a problem has its string members",
            served.text);
    }
    const json::value* status = members.if_contains("status");
    Check(status != nullptr && status->is_int64() && status->get_int64() == served.status,
          "a problem's status is the response's", served.text);
    Check(members.at("instance") == "urn:credstore:request:fuzz-1",
          "a problem's instance names the request", served.text);
  }
  return served;
}

// `value` with every letter and digit moved to the next one of its kind (z to a, 9 to 0): the
// same length and the same character classes, so it passes the same format checks.
std::string Shifted(std::string_view value) {
  std::string shifted(value);
  for (char& c : shifted) {
    if (c >= 'a' && c <= 'z') c = c == 'z' ? 'a' : static_cast<char>(c + 1);
    if (c >= 'A' && c <= 'Z') c = c == 'Z' ? 'A' : static_cast<char>(c + 1);
    if (c >= '0' && c <= '9') c = c == '9' ? '0' : static_cast<char>(c + 1);
  }
  return shifted;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Before sodium_init: libsodium takes its random source once.
  randombytes_set_implementation(&g_random);
  if (sodium_init() < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::optional<Served> served = Serve(bytes);
  // For seeing what a seed reaches: CREDSTORE_FUZZ_VERBOSE=1 fuzz_http_request SEED...
  static const bool verbose = std::getenv("CREDSTORE_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "fuzz_http_request: %s\n",
                 served ? served->text.c_str() : "(not a request the API sees)");
  }
  if (!served) return 0;

  const World& world = served->world;
  for (std::string_view held : {std::string_view(world.admin_key), kCustomerSecret,
                                std::string_view(world.integrator_secret)}) {
    // Unless the input spelled it out, or a placeholder put it where the request is public (a
    // member name is quoted back by the 400 that refuses it).
    const bool carried_in_public =
        Contains(bytes, held) || Contains(served->carried.public_text, held);
    Check(!Contains(served->text, held) || carried_in_public,
          "no response carries a key or secret the store holds", served->text);
  }

  for (const std::string& value : served->carried.secrets) {
    if (!Contains(served->text, value) || Contains(served->carried.public_text, value)) continue;
    const std::string replacement = Shifted(value);
    if (replacement == value || !Contains(bytes, value)) continue;  // no way to tell an echo
    std::string moved(bytes);
    ReplaceAll(moved, value, replacement);
    std::optional<Served> again = Serve(moved);
    Check(!again || !Contains(again->text, replacement),
          "no response echoes a key= or adminKey= value or a secret member", served->text);
  }
  return 0;
}
