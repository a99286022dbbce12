// The malformed-request matrix: one row per bad (or borderline) request, each with the one
// status docs/http.md's check order gives it (404/405 route -> 413 size -> 415 media type -> 400
// malformed -> 429 -> 401/404 credentials -> the operation). Every rejected row must also change
// nothing: after each one the customer's admin key still opens its unchanged settings, and at
// the end the customer's secret, the integrator's secret and the unregistered key are as before.
#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "credstore/signed_request.h"
#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

constexpr std::string_view kRotatePath = "/v1/integrator/regenerate-secret";
constexpr std::string_view kSettings = R"({"v":1})";

// What the rows act on.
struct Context {
  Server& server;
  Customer customer;      // registered; settings kSettings
  std::string free_key;   // never registered by a rejected row; registered at the end
  Integrator integrator;  // its secret must still rotate at the end
};

struct Row {
  std::string name;
  std::function<std::string(Context&)> request;
  unsigned expected;
  // An accepted row: it changes state, on resources of its own (never the Context's).
  bool mutates = false;
};

std::string Json(std::string_view text) {
  return boost::json::serialize(boost::json::string(text));
}

std::string Post(std::string_view target, std::string_view body,
                 std::string_view content_type = "application/json") {
  std::string headers;
  if (!content_type.empty()) headers = "Content-Type: " + std::string(content_type) + "\r\n";
  return BuildRequest("POST", target, headers, body, true);
}

std::string RegisterTarget(std::string_view key) {
  return "/geofencing/1/register?key=" + std::string(key);
}
std::string RegenerateTarget(const Context& c) {
  return "/geofencing/1/regenerateKey?key=" + c.customer.key;
}
std::string UpdateTarget(const Context& c) {
  return "/geofencing/1/updateSecret?key=" + c.customer.key;
}
std::string SettingsTarget(const Context& c) {
  return "/geofencing/1/settings?key=" + c.customer.key + "&adminKey=" + c.customer.admin_key;
}

// A register body for a new key: a secret no row reuses.
std::string SecretBody() { return R"({"secret":"matrix-secret-value"})"; }

std::string Chunked(std::string_view target, std::string_view body,
                    std::string_view content_type = "application/json") {
  char size[32];
  std::snprintf(size, sizeof size, "%zx", body.size());
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + std::string(content_type) +
         "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + size + "\r\n" +
         std::string(body) + "\r\n0\r\n\r\n";
}

// The headers of a signed rotation, with each part overridable to break it.
struct Signing {
  std::string integrator_id;  // X-Integrator-Key ("" = leave out)
  std::string secret;
  std::string timestamp;  // X-Timestamp (default: now); "-" = leave out
  std::string sign_method = "POST";
  std::string sign_target = std::string(kRotatePath);
  std::optional<std::string> sign_body;  // default: the body sent
  std::optional<std::string> signature;  // X-Signature override; "-" = leave out
  std::string extra_headers;
  std::string content_type = "application/json";
  std::string target = std::string(kRotatePath);
};

std::string SignedPost(Signing signing, std::string_view body) {
  std::string timestamp = signing.timestamp.empty() ? UniqueTimestamp() : signing.timestamp;
  std::string signature =
      SignRequest(signing.secret, timestamp, signing.sign_method, signing.sign_target,
                  signing.sign_body.value_or(std::string(body)));
  if (signing.signature) signature = *signing.signature;
  std::string headers;
  if (!signing.integrator_id.empty())
    headers += "X-Integrator-Key: " + signing.integrator_id + "\r\n";
  if (timestamp != "-") headers += "X-Timestamp: " + timestamp + "\r\n";
  if (signature != "-") headers += "X-Signature: " + signature + "\r\n";
  if (!body.empty() && !signing.content_type.empty()) {
    headers += "Content-Type: " + signing.content_type + "\r\n";
  }
  headers += signing.extra_headers;
  return BuildRequest("POST", signing.target, headers, body, true);
}

Signing SignWith(std::string integrator_id, std::string secret) {
  Signing signing;
  signing.integrator_id = std::move(integrator_id);
  signing.secret = std::move(secret);
  return signing;
}

Signing SignAs(const Context& c) { return SignWith(c.integrator.id, c.integrator.secret); }

// A correctly signed rotation with `body` by the context's integrator.
std::string Signed(const Context& c, std::string_view body) { return SignedPost(SignAs(c), body); }

std::string Upper(std::string text) {
  for (char& ch : text) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
  }
  return text;
}

// Row builders: each returns the request maker of a row.
using Maker = std::function<std::string(Context&)>;

// POST register for the context's free key (or `key` when given).
Maker RegisterWith(std::string body, std::string content_type = "application/json") {
  return [body, content_type](Context& c) {
    return Post(RegisterTarget(c.free_key), body, content_type);
  };
}
// POST register for a new key (accepted rows).
Maker RegisterNew(std::string body, std::string content_type = "application/json") {
  return [body, content_type](Context&) {
    return Post(RegisterTarget(NewApiKey()), body, content_type);
  };
}
// POST register with `key` in the target.
Maker RegisterKey(std::string key) {
  return [key](Context&) { return Post(RegisterTarget(key), SecretBody()); };
}
// POST `target` (relative to nothing: as given) with `body`.
Maker PostTo(std::string target, std::string body, std::string content_type = "application/json") {
  return [target, body, content_type](Context&) { return Post(target, body, content_type); };
}
// POST regenerateKey with the customer's right secret followed by `members` (",..." or "").
Maker RegenerateWith(std::string members, std::string content_type = "application/json") {
  return [members, content_type](Context& c) {
    return Post(RegenerateTarget(c), R"({"secret":)" + Json(c.customer.secret) + members + "}",
                content_type);
  };
}
Maker RegenerateGrace(std::string grace) {
  return RegenerateWith(R"(,"oldKeyValidForSeconds":)" + grace);
}
// POST regenerateKey with exactly `body`.
Maker RegenerateBody(std::string body) {
  return [body](Context& c) { return Post(RegenerateTarget(c), body); };
}
// POST updateSecret with the customer's right secret followed by `members`.
Maker UpdateWith(std::string members, std::string content_type = "application/json") {
  return [members, content_type](Context& c) {
    return Post(UpdateTarget(c), R"({"secret":)" + Json(c.customer.secret) + members + "}",
                content_type);
  };
}
Maker UpdateBody(std::string body) {
  return [body](Context& c) { return Post(UpdateTarget(c), body); };
}
// POST settings with the customer's admin key, or with `admin_query` ("&adminKey=..." or "").
Maker SettingsWith(std::string body, std::string content_type = "application/json") {
  return [body, content_type](Context& c) { return Post(SettingsTarget(c), body, content_type); };
}
Maker SettingsAs(std::function<std::string(const Context&)> admin_query, std::string body) {
  return [admin_query, body](Context& c) {
    return Post("/geofencing/1/settings?key=" + c.customer.key + admin_query(c), body);
  };
}
Maker GetSettingsAt(std::function<std::string(const Context&)> target) {
  return [target](Context& c) { return BuildRequest("GET", target(c)); };
}
// A correctly signed rotation by the context's integrator with `body`.
Maker SignedBody(std::string body) {
  return [body](Context& c) { return Signed(c, body); };
}
Maker SignedGrace(std::string grace) {
  return SignedBody(R"({"oldSecretValidForSeconds":)" + grace + "}");
}
// A rotation by the context's integrator over an empty body, with `change` applied to the
// signing (given the timestamp and the right signature for it).
Maker SignedChanged(std::function<void(Signing&, const std::string& right_signature)> change,
                    std::string body = "") {
  return [change, body](Context& c) {
    Signing signing = SignAs(c);
    signing.timestamp = UniqueTimestamp();
    change(signing, SignRequest(c.integrator.secret, signing.timestamp, "POST", kRotatePath, body));
    return SignedPost(signing, body);
  };
}
// A correctly signed rotation by a new integrator (accepted rows).
Maker FreshSigned(std::string body, std::string content_type = "application/json") {
  return [body, content_type](Context& c) {
    const Integrator fresh = c.server.NewIntegrator();
    Signing signing = SignWith(fresh.id, fresh.secret);
    signing.content_type = content_type;
    return SignedPost(signing, body);
  };
}
std::string Absolute(const Context& c, std::string_view target) {
  return "http://127.0.0.1:" + std::to_string(c.server.port()) + std::string(target);
}
std::string WithHeaders(std::string_view target, std::string_view headers, std::string_view body) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(headers) +
         "\r\n" + std::string(body);
}

std::vector<Row> Rows() {
  const std::string big(64 * 1024, ' ');  // over every body limit
  const std::string big_json = R"({"secret":")" + std::string(64 * 1024, 'x') + R"("})";
  const std::string secret_1025 = R"({"secret":")" + std::string(1025, 's') + R"("})";
  std::string wide_1025 = R"({"secret":")";
  for (int i = 0; i < 512; ++i) wide_1025 += "\xC3\xA9";  // é, 2 bytes
  wide_1025 += R"(a"})";
  const std::string json = "Content-Type: application/json\r\n";

  return {
      // ---- register: the JSON body (400) ----
      {"register: truncated JSON", RegisterWith(R"({"secret":)"), 400},
      {"register: unquoted member name", RegisterWith(R"({secret:"matrix-secret"})"), 400},
      {"register: single quotes", RegisterWith(R"({'secret':'matrix-secret'})"), 400},
      {"register: duplicate member",
       RegisterWith(R"({"secret":"matrix-secret-a","secret":"matrix-secret-b"})"), 400},
      {"register: secret is a number", RegisterWith(R"({"secret":12345678})"), 400},
      {"register: secret is null", RegisterWith(R"({"secret":null})"), 400},
      {"register: secret is true", RegisterWith(R"({"secret":true})"), 400},
      {"register: secret is an array", RegisterWith(R"({"secret":["matrix-secret"]})"), 400},
      {"register: secret is an object", RegisterWith(R"({"secret":{}})"), 400},
      {"register: secret is 1e400", RegisterWith(R"({"secret":1e400})"), 400},
      {"register: missing secret", RegisterWith("{}"), 400},
      {"register: extra unknown member", RegisterWith(R"({"secret":"matrix-secret","x":1})"), 400},
      {"register: empty secret", RegisterWith(R"({"secret":""})"), 400},
      {"register: 1025-byte secret", RegisterWith(secret_1025), 400},
      {"register: 1025-byte secret of 2-byte characters", RegisterWith(wide_1025), 400},
      {"register: secret not UTF-8", RegisterWith("{\"secret\":\"matrix\xFF\xFE-secret\"}"), 400},
      {"register: secret in overlong UTF-8", RegisterWith("{\"secret\":\"ma\xC0\xAFtrix\"}"), 400},
      {"register: secret with a lone surrogate", RegisterWith(R"({"secret":"ab\ud800cdefg"})"),
       400},
      {"register: top level is an array", RegisterWith(R"([{"secret":"matrix-secret"}])"), 400},
      {"register: top level is a string", RegisterWith(R"("matrix-secret")"), 400},
      {"register: top level is null", RegisterWith("null"), 400},
      {"register: top level is a number", RegisterWith("42"), 400},
      {"register: trailing data", RegisterWith(R"({"secret":"matrix-secret"} x)"), 400},
      {"register: two documents", RegisterWith(SecretBody() + SecretBody()), 400},
      {"register: empty body", RegisterWith(""), 400},
      {"register: comment", RegisterWith(R"({"secret":"matrix-secret" /* c */})"), 400},
      {"register: trailing comma", RegisterWith(R"({"secret":"matrix-secret",})"), 400},
      {"register: NaN", RegisterWith(R"({"secret":NaN})"), 400},
      {"register: Infinity", RegisterWith(R"({"secret":Infinity})"), 400},

      // ---- register: the key (400) ----
      {"register: no key", PostTo("/geofencing/1/register", SecretBody()), 400},
      {"register: empty key", PostTo("/geofencing/1/register?key=", SecretBody()), 400},
      {"register: key without a value", PostTo("/geofencing/1/register?key", SecretBody()), 400},
      {"register: 7-character key", RegisterKey(RandomAlnum(7)), 400},
      {"register: 129-character key", RegisterKey(RandomAlnum(129)), 400},
      {"register: key with a dot", RegisterKey("abcd.efgh" + RandomAlnum(8)), 400},
      {"register: key with an encoded space", RegisterKey("abcd%20efgh" + RandomAlnum(8)), 400},
      {"register: key with a plus", RegisterKey("abcd+efgh" + RandomAlnum(8)), 400},
      {"register: duplicate key parameter",
       [](Context& c) {
         return Post(RegisterTarget(c.free_key) + "&key=" + c.free_key, SecretBody());
       },
       400},
      {"register: two different key parameters",
       [](Context& c) {
         return Post(RegisterTarget(c.free_key) + "&key=" + NewApiKey(), SecretBody());
       },
       400},
      {"register: absolute-form target",
       [](Context& c) { return Post(Absolute(c, RegisterTarget(c.free_key)), SecretBody()); }, 400},

      // ---- media types (415 before 400) ----
      {"register: text/plain", RegisterWith(SecretBody(), "text/plain"), 415},
      {"register: no Content-Type", RegisterWith(SecretBody(), ""), 415},
      {"register: application/octet-stream", RegisterWith(SecretBody(), "application/octet-stream"),
       415},
      {"register: application/jsonx", RegisterWith(SecretBody(), "application/jsonx"), 415},
      {"register: application/problem+json", RegisterWith(SecretBody(), "application/problem+json"),
       415},
      {"register: multipart/form-data", RegisterWith(SecretBody(), "multipart/form-data; b=x"),
       415},
      {"register: text/plain and bad JSON", RegisterWith("{nope", "text/plain"), 415},
      {"register: text/plain and a bad key",
       PostTo(RegisterTarget("bad"), SecretBody(), "text/plain"), 415},

      // ---- sizes (413 before 415 and 400; the route before 413) ----
      {"register: 64 KiB body", RegisterWith(big_json), 413},
      {"register: 64 KiB body, text/plain", RegisterWith(big, "text/plain"), 413},
      {"register: 64 KiB body, bad key", PostTo(RegisterTarget("bad"), big_json), 413},
      {"register: 10 MB declared, nothing sent",
       [json](Context& c) {
         return WithHeaders(RegisterTarget(c.free_key), json + "Content-Length: 10000000\r\n", "");
       },
       413},
      {"register: 64 KiB chunked body",
       [big_json](Context& c) { return Chunked(RegisterTarget(c.free_key), big_json); }, 413},
      {"unknown route: 64 KiB body", PostTo("/geofencing/1/nope?key=" + NewApiKey(), big_json),
       404},
      {"unknown route: bad JSON, text/plain",
       PostTo("/geofencing/1/nope?key=" + NewApiKey(), "{nope", "text/plain"), 404},
      {"register with GET: 64 KiB body",
       [json, big_json](Context& c) {
         return BuildRequest("GET", RegisterTarget(c.free_key), json, big_json);
       },
       405},

      // ---- framing (400) ----
      {"register: Content-Length not a number",
       [json](Context& c) {
         return WithHeaders(RegisterTarget(c.free_key),
                            json + "Content-Length: abc\r\nConnection: close\r\n", SecretBody());
       },
       400},
      {"register: two different Content-Lengths",
       [json](Context& c) {
         const std::string n = std::to_string(SecretBody().size());
         return WithHeaders(RegisterTarget(c.free_key),
                            json + "Content-Length: " + n + "\r\nContent-Length: " + n +
                                "1\r\nConnection: close\r\n",
                            SecretBody());
       },
       400},
      {"register: Content-Length shorter than the body",
       [json](Context& c) {
         return WithHeaders(RegisterTarget(c.free_key),
                            json + "Content-Length: 5\r\nConnection: close\r\n", SecretBody());
       },
       400},

      // ---- regenerateKey, with the right secret: only the malformation refuses it ----
      {"regenerateKey: grace -1", RegenerateGrace("-1"), 400},
      {"regenerateKey: grace 3601", RegenerateGrace("3601"), 400},
      {"regenerateKey: grace \"60\"", RegenerateGrace(R"("60")"), 400},
      {"regenerateKey: grace null", RegenerateGrace("null"), 400},
      {"regenerateKey: grace true", RegenerateGrace("true"), 400},
      {"regenerateKey: grace []", RegenerateGrace("[]"), 400},
      {"regenerateKey: grace {}", RegenerateGrace("{}"), 400},
      {"regenerateKey: grace 1e400", RegenerateGrace("1e400"), 400},
      {"regenerateKey: grace -1e400", RegenerateGrace("-1e400"), 400},
      {"regenerateKey: grace NaN", RegenerateGrace("NaN"), 400},
      {"regenerateKey: extra unknown member", RegenerateWith(R"(,"extra":0)"), 400},
      {"regenerateKey: duplicate secret member",
       [](Context& c) {
         const std::string secret = Json(c.customer.secret);
         return Post(RegenerateTarget(c),
                     R"({"secret":)" + secret + R"(,"secret":)" + secret + "}");
       },
       400},
      {"regenerateKey: duplicate grace member",
       RegenerateWith(R"(,"oldKeyValidForSeconds":0,"oldKeyValidForSeconds":0)"), 400},
      {"regenerateKey: secret is a number", RegenerateBody(R"({"secret":1})"), 400},
      {"regenerateKey: wrong secret and grace 3601",
       RegenerateBody(R"({"secret":"wrong-matrix-secret","oldKeyValidForSeconds":3601})"), 400},
      {"regenerateKey: unregistered key and bad JSON",
       PostTo("/geofencing/1/regenerateKey?key=" + NewApiKey(), "{nope"), 400},
      {"regenerateKey: duplicate key parameter",
       [](Context& c) {
         return Post(RegenerateTarget(c) + "&key=" + c.customer.key,
                     R"({"secret":)" + Json(c.customer.secret) + "}");
       },
       400},
      {"regenerateKey: absolute-form target",
       [](Context& c) {
         return Post(Absolute(c, RegenerateTarget(c)),
                     R"({"secret":)" + Json(c.customer.secret) + "}");
       },
       400},
      {"regenerateKey: text/plain", RegenerateWith("", "text/plain"), 415},
      {"regenerateKey: 64 KiB body", RegenerateWith(R"(,"x":")" + big + R"(")"), 413},
      {"regenerateKey: wrong secret", RegenerateBody(R"({"secret":"wrong-matrix-secret"})"), 401},
      {"regenerateKey: unregistered key",
       [](Context& c) {
         return Post("/geofencing/1/regenerateKey?key=" + NewApiKey(),
                     R"({"secret":)" + Json(c.customer.secret) + "}");
       },
       401},
      {"regenerateKey: the key on the other service",
       [](Context& c) {
         return Post("/locationHistory/1/regenerateKey?key=" + c.customer.key,
                     R"({"secret":)" + Json(c.customer.secret) + "}");
       },
       401},

      // ---- updateSecret ----
      {"updateSecret: missing newSecret", UpdateWith(""), 400},
      {"updateSecret: missing secret", UpdateBody(R"({"newSecret":"new-matrix-secret"})"), 400},
      {"updateSecret: empty newSecret", UpdateWith(R"(,"newSecret":"")"), 400},
      {"updateSecret: 1025-byte newSecret",
       UpdateWith(R"(,"newSecret":")" + std::string(1025, 'n') + R"(")"), 400},
      {"updateSecret: newSecret is a number", UpdateWith(R"(,"newSecret":7)"), 400},
      {"updateSecret: newSecret not UTF-8", UpdateWith(",\"newSecret\":\"new\xFFsecret\""), 400},
      {"updateSecret: extra unknown member",
       UpdateWith(R"(,"newSecret":"new-matrix-secret","oldKeyValidForSeconds":0)"), 400},
      {"updateSecret: duplicate newSecret",
       UpdateWith(R"(,"newSecret":"new-matrix-secret","newSecret":"new-matrix-secret")"), 400},
      {"updateSecret: text/plain", UpdateWith(R"(,"newSecret":"new-matrix-secret")", "text/plain"),
       415},
      {"updateSecret: wrong secret",
       UpdateBody(R"({"secret":"wrong-matrix-secret","newSecret":"new-matrix-secret"})"), 401},

      // ---- settings ----
      {"settings POST: top level is an array", SettingsWith("[1,2]"), 400},
      {"settings POST: top level is a string", SettingsWith(R"("v")"), 400},
      {"settings POST: top level is null", SettingsWith("null"), 400},
      {"settings POST: bad JSON", SettingsWith(R"({"v":)"), 400},
      {"settings POST: empty body", SettingsWith(""), 400},
      {"settings POST: duplicate top-level member", SettingsWith(R"({"v":2,"v":3})"), 400},
      {"settings POST: duplicate nested member", SettingsWith(R"({"a":{"b":1,"b":2}})"), 400},
      {"settings POST: 1e400", SettingsWith(R"({"x":1e400})"), 400},
      {"settings POST: -1e400 in an array", SettingsWith(R"({"x":[1,-1e400]})"), 400},
      {"settings POST: NaN", SettingsWith(R"({"x":NaN})"), 400},
      {"settings POST: trailing data", SettingsWith(R"({"v":2}])"), 400},
      {"settings POST: not UTF-8", SettingsWith("{\"v\":\"\xFF\"}"), 400},
      {"settings POST: over 16 KiB",
       SettingsWith(R"({"p":")" + std::string(16 * 1024 + 100, 'x') + R"("})"), 400},
      {"settings POST: 5000 levels deep",
       SettingsWith(R"({"a":)" + std::string(5000, '[') + std::string(5000, ']') + "}"), 400},
      {"settings POST: wrong admin key and bad JSON",
       SettingsAs([](const Context&) { return "&adminKey=" + RandomAlnum(48); }, R"({"v":)"), 400},
      {"settings POST: no admin key and bad JSON",
       SettingsAs([](const Context&) { return std::string(); }, R"({"v":)"), 400},
      {"settings POST: duplicate adminKey parameter",
       SettingsAs(
           [](const Context& c) {
             return "&adminKey=" + c.customer.admin_key + "&adminKey=" + c.customer.admin_key;
           },
           R"({"v":2})"),
       400},
      {"settings GET: duplicate adminKey parameter", GetSettingsAt([](const Context& c) {
         return SettingsTarget(c) + "&adminKey=" + c.customer.admin_key;
       }),
       400},
      {"settings GET: duplicate key parameter",
       GetSettingsAt([](const Context& c) { return SettingsTarget(c) + "&key=" + c.customer.key; }),
       400},
      {"settings GET: no key", GetSettingsAt([](const Context& c) {
         return "/geofencing/1/settings?adminKey=" + c.customer.admin_key;
       }),
       400},
      {"settings GET: absolute-form target",
       GetSettingsAt([](const Context& c) { return Absolute(c, SettingsTarget(c)); }), 400},
      {"settings POST: text/plain", SettingsWith(R"({"v":2})", "text/plain"), 415},
      {"settings POST: 64 KiB body", SettingsWith(R"({"v":2})" + big), 413},
      {"settings POST: wrong admin key",
       SettingsAs([](const Context&) { return "&adminKey=" + RandomAlnum(48); }, R"({"v":2})"),
       401},
      {"settings POST: no admin key",
       SettingsAs([](const Context&) { return std::string(); }, R"({"v":2})"), 401},
      {"settings POST: admin key in upper case",
       SettingsAs([](const Context& c) { return "&adminKey=" + Upper(c.customer.admin_key); },
                  R"({"v":2})"),
       401},
      {"settings GET: wrong admin key", GetSettingsAt([](const Context& c) {
         return "/geofencing/1/settings?key=" + c.customer.key + "&adminKey=" + RandomAlnum(48);
       }),
       401},
      // The X-Admin-Key header: with the query parameter only when equal, and once.
      {"settings GET: X-Admin-Key disagrees with adminKey",
       [](Context& c) {
         return BuildRequest("GET", SettingsTarget(c), "X-Admin-Key: " + RandomAlnum(48) + "\r\n");
       },
       400},
      {"settings POST: X-Admin-Key disagrees with adminKey",
       [](Context& c) {
         return BuildRequest(
             "POST", SettingsTarget(c),
             "Content-Type: application/json\r\nX-Admin-Key: " + RandomAlnum(48) + "\r\n",
             R"({"v":2})", true);
       },
       400},
      {"settings GET: X-Admin-Key twice",
       [](Context& c) {
         const std::string header = "X-Admin-Key: " + c.customer.admin_key + "\r\n";
         return BuildRequest("GET", "/geofencing/1/settings?key=" + c.customer.key,
                             header + header);
       },
       400},
      {"settings POST: wrong X-Admin-Key alone",
       [](Context& c) {
         return BuildRequest(
             "POST", "/geofencing/1/settings?key=" + c.customer.key,
             "Content-Type: application/json\r\nX-Admin-Key: " + RandomAlnum(48) + "\r\n",
             R"({"v":2})", true);
       },
       401},

      // ---- regenerate-secret, correctly signed: only the body refuses it ----
      {"regenerate-secret: grace -1", SignedGrace("-1"), 400},
      {"regenerate-secret: grace 3601", SignedGrace("3601"), 400},
      {"regenerate-secret: grace 3600.5", SignedGrace("3600.5"), 400},
      {"regenerate-secret: grace \"60\"", SignedGrace(R"("60")"), 400},
      {"regenerate-secret: grace null", SignedGrace("null"), 400},
      {"regenerate-secret: grace true", SignedGrace("true"), 400},
      {"regenerate-secret: grace []", SignedGrace("[]"), 400},
      {"regenerate-secret: grace {}", SignedGrace("{}"), 400},
      {"regenerate-secret: grace 1e400", SignedGrace("1e400"), 400},
      {"regenerate-secret: grace NaN", SignedGrace("NaN"), 400},
      {"regenerate-secret: grace -Infinity", SignedGrace("-Infinity"), 400},
      {"regenerate-secret: extra unknown member",
       SignedBody(R"({"oldSecretValidForSeconds":1,"extra":1})"), 400},
      {"regenerate-secret: duplicate member",
       SignedBody(R"({"oldSecretValidForSeconds":1,"oldSecretValidForSeconds":2})"), 400},
      {"regenerate-secret: top level is an array", SignedBody("[]"), 400},
      {"regenerate-secret: top level is a number", SignedBody("60"), 400},
      {"regenerate-secret: trailing data", SignedBody(R"({"oldSecretValidForSeconds":1} {})"), 400},
      {"regenerate-secret: bad JSON", SignedBody("{"), 400},
      {"regenerate-secret: bad grace and a bad signature",
       SignedChanged(
           [](Signing& s, const std::string&) { s.signature = "sha256=" + std::string(64, '0'); },
           R"({"oldSecretValidForSeconds":3601})"),
       400},
      {"regenerate-secret: absolute-form target",
       [](Context& c) {
         Signing s = SignAs(c);
         s.target = Absolute(c, kRotatePath);
         return SignedPost(s, "");
       },
       400},
      {"regenerate-secret: absolute-form target, signed as sent",
       [](Context& c) {
         Signing s = SignAs(c);
         s.target = Absolute(c, kRotatePath);
         s.sign_target = s.target;
         return SignedPost(s, "");
       },
       400},
      {"regenerate-secret: text/plain",
       SignedChanged([](Signing& s, const std::string&) { s.content_type = "text/plain"; },
                     R"({"oldSecretValidForSeconds":1})"),
       415},
      {"regenerate-secret: 64 KiB body", SignedBody("{}" + big), 413},

      // ---- regenerate-secret: the signature (401; 404 for an unknown integrator) ----
      {"regenerate-secret: unsigned", PostTo(std::string(kRotatePath), ""), 401},
      {"regenerate-secret: no X-Signature",
       SignedChanged([](Signing& s, const std::string&) { s.signature = "-"; }), 401},
      {"regenerate-secret: no X-Timestamp", SignedChanged([](Signing& s, const std::string& right) {
         s.signature = right;
         s.timestamp = "-";
       }),
       401},
      {"regenerate-secret: no X-Integrator-Key",
       SignedChanged([](Signing& s, const std::string&) { s.integrator_id.clear(); }), 401},
      {"regenerate-secret: empty X-Signature",
       SignedChanged([](Signing& s, const std::string&) { s.signature = ""; }), 401},
      {"regenerate-secret: uppercase hex", SignedChanged([](Signing& s, const std::string& right) {
         s.signature = "sha256=" + Upper(right.substr(7));
       }),
       401},
      {"regenerate-secret: uppercase SHA256= prefix",
       SignedChanged(
           [](Signing& s, const std::string& right) { s.signature = "SHA256=" + right.substr(7); }),
       401},
      {"regenerate-secret: sha1= prefix", SignedChanged([](Signing& s, const std::string& right) {
         s.signature = "sha1=" + right.substr(7);
       }),
       401},
      {"regenerate-secret: no prefix",
       SignedChanged([](Signing& s, const std::string& right) { s.signature = right.substr(7); }),
       401},
      {"regenerate-secret: 63 hex digits", SignedChanged([](Signing& s, const std::string& right) {
         s.signature = right.substr(0, right.size() - 1);
       }),
       401},
      {"regenerate-secret: 65 hex digits",
       SignedChanged([](Signing& s, const std::string& right) { s.signature = right + "0"; }), 401},
      {"regenerate-secret: non-hex digits", SignedChanged([](Signing& s, const std::string&) {
         s.signature = "sha256=" + std::string(64, 'g');
       }),
       401},
      {"regenerate-secret: signed with a wrong secret",
       SignedChanged([](Signing& s, const std::string&) { s.secret = "wrong-integrator-secret"; }),
       401},
      {"regenerate-secret: signed over another body",
       SignedChanged([](Signing& s,
                        const std::string&) { s.sign_body = R"({"oldSecretValidForSeconds":60})"; },
                     R"({"oldSecretValidForSeconds":3600})"),
       401},
      {"regenerate-secret: signed over another target",
       SignedChanged([](Signing& s, const std::string&) {
         s.sign_target = std::string(kRotatePath) + "?x=1";
       }),
       401},
      {"regenerate-secret: signed as GET",
       SignedChanged([](Signing& s, const std::string&) { s.sign_method = "GET"; }), 401},
      {"regenerate-secret: signed as lowercase post",
       SignedChanged([](Signing& s, const std::string&) { s.sign_method = "post"; }), 401},
      {"regenerate-secret: timestamp 400 s old", SignedChanged([](Signing& s, const std::string&) {
         s.timestamp = std::to_string(NowMillis() - 400'000);
       }),
       401},
      {"regenerate-secret: timestamp 400 s ahead",
       SignedChanged([](Signing& s, const std::string&) {
         s.timestamp = std::to_string(NowMillis() + 400'000);
       }),
       401},
      {"regenerate-secret: timestamp in seconds", SignedChanged([](Signing& s, const std::string&) {
         s.timestamp = std::to_string(NowMillis() / 1000);
       }),
       401},
      {"regenerate-secret: timestamp not digits",
       SignedChanged([](Signing& s, const std::string&) { s.timestamp = "17000000000x0"; }), 401},
      {"regenerate-secret: negative timestamp", SignedChanged([](Signing& s, const std::string&) {
         s.timestamp = "-" + std::to_string(NowMillis());
       }),
       401},
      {"regenerate-secret: 40-digit timestamp",
       SignedChanged([](Signing& s, const std::string&) { s.timestamp = std::string(40, '9'); }),
       401},
      {"regenerate-secret: malformed integrator key",
       SignedChanged([](Signing& s, const std::string&) { s.integrator_id = "not-an-integrator"; }),
       401},
      {"regenerate-secret: duplicate X-Signature",
       SignedChanged([](Signing& s, const std::string& right) {
         s.signature = right;
         s.extra_headers = "X-Signature: " + right + "\r\n";
       }),
       401},
      {"regenerate-secret: duplicate X-Integrator-Key",
       SignedChanged([](Signing& s, const std::string& right) {
         s.signature = right;
         s.extra_headers = "X-Integrator-Key: " + s.integrator_id + "\r\n";
       }),
       401},
      {"regenerate-secret: unknown integrator",
       [](Context& c) {
         std::string suffix = c.integrator.id.substr(4);
         std::reverse(suffix.begin(), suffix.end());
         Signing s = SignAs(c);
         s.integrator_id = "int_" + suffix;
         return SignedPost(s, "");
       },
       404},

      // ---- accepted borderline requests, each on new resources of its own ----
      {"register: application/json; charset=utf-8",
       RegisterNew(SecretBody(), "application/json; charset=utf-8"), 200, true},
      {"register: APPLICATION/JSON", RegisterNew(SecretBody(), "APPLICATION/JSON"), 200, true},
      {"register: Application/Json;Charset=UTF-8",
       RegisterNew(SecretBody(), "Application/Json;Charset=UTF-8"), 200, true},
      {"register: form-urlencoded carrying JSON",
       RegisterNew(SecretBody(), "application/x-www-form-urlencoded"), 200, true},
      {"register: whitespace around the document", RegisterNew(" \r\n\t" + SecretBody() + "\r\n "),
       200, true},
      {"register: 1024-byte secret",
       RegisterNew(R"({"secret":")" + std::string(1024, 's') + R"("})"), 200, true},
      {"register: 1-byte secret", RegisterNew(R"({"secret":"s"})"), 200, true},
      {"register: escaped non-ASCII secret",
       RegisterNew(R"({"secret":"\u00e9\ud83d\ude00-matrix"})"), 200, true},
      {"register: 8-character key",
       [](Context&) { return Post(RegisterTarget(RandomAlnum(8)), SecretBody()); }, 200, true},
      {"register: 128-character key with _ and -",
       [](Context&) { return Post(RegisterTarget("a_b-" + RandomAlnum(124)), SecretBody()); }, 200,
       true},
      {"register: chunked body",
       [](Context&) { return Chunked(RegisterTarget(NewApiKey()), SecretBody()); }, 200, true},
      {"register: an unrelated query parameter",
       [](Context&) { return Post(RegisterTarget(NewApiKey()) + "&lang=en", SecretBody()); }, 200,
       true},
      {"regenerate-secret: grace 1.5", FreshSigned(R"({"oldSecretValidForSeconds":1.5})"), 200,
       true},
      {"regenerate-secret: grace 3600", FreshSigned(R"({"oldSecretValidForSeconds":3600})"), 200,
       true},
      {"regenerate-secret: grace 2e1", FreshSigned(R"({"oldSecretValidForSeconds":2e1})"), 200,
       true},
      {"regenerate-secret: empty body, no Content-Type", FreshSigned("", ""), 200, true},
      {"regenerate-secret: form-urlencoded carrying JSON",
       FreshSigned(R"({"oldSecretValidForSeconds":5})", "application/x-www-form-urlencoded"), 200,
       true},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(malformed)

BOOST_FIXTURE_TEST_CASE(every_malformed_request_gets_its_one_answer_and_changes_nothing,
                        ServerFixture) {
  Context context{server, server.NewCustomer(), NewApiKey(), server.NewIntegrator()};
  server.AddSensitive(context.free_key);
  ExpectJson(server.PostSettings(context.customer, kSettings), 200, "initial settings");

  const std::vector<Row> rows = Rows();
  int rejected = 0;
  for (const Row& row : rows) {
    BOOST_TEST_CONTEXT("row '" << row.name << "'") {
      const std::string request = row.request(context);
      const HttpResponse response = server.Send(request, row.name);
      if (row.expected >= 400) {
        ++rejected;
        ExpectProblem(response, row.expected, row.name);
      } else {
        BOOST_TEST(response.status == row.expected,
                   row.name << ": expected " << row.expected << ", got " << response.Describe());
      }
      if (!row.mutates) {
        // Rejected: the admin key still opens the same settings.
        server.ExpectSettings(context.customer, kSettings, row.name + ": store unchanged");
      }
    }
  }
  BOOST_TEST_MESSAGE(rows.size() << " matrix rows, " << rejected << " of them rejections");
  BOOST_TEST(rows.size() >= 60u);

  // Nothing rejected touched the secrets or registered the free key.
  BOOST_TEST(server.UpdateSecret(context.customer, context.customer.secret, context.customer.secret)
                     .status == 204u,
             "the customer's secret changed");
  const std::string free_secret = NewSecret();
  server.AddSensitive(free_secret);
  ExpectJson(server.Register("geofencing", context.free_key, free_secret), 200,
             "the free key is still free");
  server.RotateOk(context.integrator);
}

BOOST_FIXTURE_TEST_CASE(a_replayed_signature_is_refused, ServerFixture) {
  const Integrator integrator = server.NewIntegrator();
  // Graced, so the replayed MAC's secret still verifies: only the replay check can refuse it
  // (or the rule that a graced secret may not rotate; either way 401, and nothing changes).
  const std::string request = Server::SignedRotation(integrator.id, integrator.secret,
                                                     R"({"oldSecretValidForSeconds":3600})");
  const HttpResponse first = server.Send(request, "first rotation");
  const boost::json::object body = ExpectJson(first, 200, "first rotation");
  BOOST_TEST_REQUIRE(first.status == 200u);
  const Integrator rotated{integrator.id, std::string(body.at("secret").as_string())};
  server.AddSensitive(rotated.secret);
  ExpectProblem(server.Send(request, "replay"), 401, "the same request again");
  ExpectProblem(server.Send(request, "replay"), 401, "and again");
  server.RotateOk(rotated);
}

BOOST_FIXTURE_TEST_CASE(a_replay_with_the_current_secret_is_refused, ServerFixture) {
  // The same MAC sent twice at once: at most one rotation may win.
  const Integrator integrator = server.NewIntegrator();
  const std::string request = Server::SignedRotation(integrator.id, integrator.secret, "");
  std::vector<HttpResponse> responses(4);
  std::vector<std::thread> threads;
  const std::uint16_t port = server.port();
  for (auto& response : responses) {
    const ClientOptions from{NextClientAddress()};
    threads.emplace_back(
        [port, &request, &response, from] { response = SendRaw(port, request, from); });
  }
  for (auto& thread : threads) thread.join();
  int ok = 0;
  for (const auto& response : responses) {
    if (response.status == 200) {
      ++ok;
      server.AddSensitive(
          std::string(ParseJson(response.body, "rotation").as_object().at("secret").as_string()));
    } else {
      ExpectProblem(response, 401, "a concurrent replay");
    }
  }
  BOOST_TEST(ok == 1, ok << " of 4 identical signed rotations succeeded");
}

// Request smuggling (RFC 9112 §6.1, §6.3): a Transfer-Encoding that is not exactly one
// "chunked", or one beside Content-Length, could frame the body differently here than in a
// proxy in front. Each such request gets 400 with Connection: close, and what it carried (a
// registration, and a second request hidden in its body) registers nothing. The connection is
// kept open by the client, so an answer that only comes with the read timeout shows as slow.
BOOST_FIXTURE_TEST_CASE(ambiguous_framing_is_refused_and_closes_the_connection, ServerFixture) {
  struct Form {
    std::string name;
    std::string framing;  // header lines
    bool chunked_body;    // else the body is framed by a Content-Length line in `framing`
  };
  const std::string body = SecretBody();
  const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  const std::vector<Form> forms = {
      {"identity and Content-Length", "Transfer-Encoding: identity\r\n" + length, false},
      {"xchunked and Content-Length", "Transfer-Encoding: xchunked\r\n" + length, false},
      {"Content-Length and identity", length + "Transfer-Encoding: identity\r\n", false},
      {"chunked and Content-Length", "Transfer-Encoding: chunked\r\n" + length, true},
      {"Content-Length and chunked", length + "Transfer-Encoding: chunked\r\n", true},
      {"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", true},
      {"chunked, chunked", "Transfer-Encoding: chunked, chunked\r\n", true},
      {"chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", true},
      {"identity alone", "Transfer-Encoding: identity\r\n", true},
      {"empty", "Transfer-Encoding: \r\n", true},
  };
  std::vector<std::string> keys;
  for (const Form& form : forms) {
    BOOST_TEST_CONTEXT("Transfer-Encoding form '" << form.name << "'") {
      const std::string key = NewApiKey();
      server.AddSensitive(key);
      keys.push_back(key);
      char size[32];
      std::snprintf(size, sizeof size, "%zx", body.size());
      // The body is followed by a complete second request: a server that framed the first one
      // by the wrong length would read it as the next request on this connection.
      const std::string hidden = Post(RegisterTarget(key + "2"), body);
      const std::string payload = form.chunked_body
                                      ? std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n" + hidden
                                      : body + hidden;
      const std::string request = "POST " + RegisterTarget(key) +
                                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                  "application/json\r\n" +
                                  form.framing + "\r\n" + payload;
      ClientOptions options{NextClientAddress(), std::chrono::seconds(3)};
      const auto started = std::chrono::steady_clock::now();
      const HttpResponse response = server.Send(request, options, form.name);
      BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(1)));
      ExpectProblem(response, 400, form.name);
      BOOST_TEST(response.Header("Connection").value_or("") == "close", response.Describe());
    }
  }
  // A chunked body whose framing ends its lines in a bare LF: Beast waits for a CR that never
  // comes; the answer must not wait for the read timeout.
  for (const std::string& framing :
       {std::string("%zx\n%s\r\n0\r\n\r\n"), std::string("%zx\r\n%s\r\n0\n\n"),
        std::string("%zx;ext=1\n%s\r\n0\r\n\r\n"), std::string("%zx\r\n%s\r\n0\r\n\n")}) {
    BOOST_TEST_CONTEXT("chunk framing '" << framing << "'") {
      const std::string key = NewApiKey();
      server.AddSensitive(key);
      keys.push_back(key);
      char chunked[256];
      std::snprintf(chunked, sizeof chunked, framing.c_str(), body.size(), body.c_str());
      const std::string request = "POST " + RegisterTarget(key) +
                                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                  "application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                  chunked;
      ClientOptions options{NextClientAddress(), std::chrono::seconds(3)};
      const auto started = std::chrono::steady_clock::now();
      const HttpResponse response = server.Send(request, options, "bare LF");
      BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(1)));
      ExpectProblem(response, 400, "bare LF");
      BOOST_TEST(response.Header("Connection").value_or("") == "close", response.Describe());
    }
  }
  // Nothing was registered, neither the keys the requests named nor the hidden requests' keys.
  for (const std::string& key : keys) {
    for (const std::string& name : {key, key + "2"}) {
      const std::string secret = NewSecret();
      server.AddSensitive(secret);
      ExpectJson(server.Register("geofencing", name, secret), 200, "still free: " + name);
    }
  }
  // The one accepted form: exactly one "chunked", in any case.
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  const HttpResponse chunked =
      server.Send("POST " + RegisterTarget(key) +
                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: ChUnKeD\r\nConnection: close\r\n\r\n" +
                  [&] {
                    char size[32];
                    std::snprintf(size, sizeof size, "%zx", body.size());
                    return std::string(size);
                  }() +
                  "\r\n" + body + "\r\n0\r\n\r\n");
  ExpectJson(chunked, 200, "Transfer-Encoding: ChUnKeD");

  // A chunked body that arrives in parts, with the next request pipelined right behind it: the
  // part read last completes the body, and what follows it is the next request.
  const std::string split_key = NewApiKey();
  server.AddSensitive(split_key);
  Connection connection(server.port(), ClientOptions{NextClientAddress()});
  BOOST_TEST_REQUIRE(connection.ok(), connection.error());
  char size[32];
  std::snprintf(size, sizeof size, "%zx", body.size());
  connection.Send("POST " + RegisterTarget(split_key) +
                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n" +
                  size + "\r\n" + body.substr(0, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  connection.Send(body.substr(5) + "\r\n0\r\n\r\n" + BuildRequest("GET", "/healthz"));
  ExpectJson(connection.ReadResponse(), 200, "a chunked body in two parts");
  ExpectJson(connection.ReadResponse(), 200, "the request pipelined behind it");
}

// The header limit (8 KiB by default) is the request line plus the header fields, with their
// line endings and the empty line that ends them, counted exactly: Beast's own limit applies to
// the request line and to the fields separately.
BOOST_FIXTURE_TEST_CASE(the_header_limit_is_exact, ServerFixture) {
  constexpr std::size_t kLimit = 8 * 1024;
  // `size` bytes in all, padded in the request line (`in_target`) or in one field.
  const auto request = [](std::size_t size, std::size_t in_target) {
    const std::string head = "GET /healthz?p=" + std::string(in_target, 't') +
                             " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: ";
    const std::string tail = "\r\n\r\n";
    BOOST_TEST_REQUIRE(size > head.size() + tail.size());
    return head + std::string(size - head.size() - tail.size(), 'p') + tail;
  };
  for (const std::size_t in_target : {std::size_t(1), std::size_t(5000)}) {
    BOOST_TEST_CONTEXT(in_target << " bytes of the padding in the request line") {
      BOOST_TEST(request(kLimit, in_target).size() == kLimit);
      const HttpResponse at = server.Send(request(kLimit, in_target), "at the limit");
      BOOST_TEST(at.status == 200u, at.Describe());
      ExpectProblem(server.Send(request(kLimit + 1, in_target), "one byte over"), 431,
                    "one byte over");
      ExpectProblem(server.Send(request(12'278, in_target), "12,278 bytes"), 431, "12,278 bytes");
    }
  }
  // Many small fields.
  std::string small = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (int i = 0; small.size() < 12'000; ++i) small += "X-F" + std::to_string(i) + ": v\r\n";
  ExpectProblem(server.Send(small + "\r\n", "small fields"), 431, "small fields");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
