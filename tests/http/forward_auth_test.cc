// The forward-auth routes of a real credstored, for each gateway profile, with the check
// requests each gateway sends (tests/gateway runs nginx itself; Traefik and Envoy are not run,
// their check requests are written here as their documentation describes them).

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "credstore/signed_request.h"
#include "http/http_test_env.h"
#include "support/test_helpers.h"

namespace credstore::http_tests {
namespace {

using credstore::testing::Sha256Hex;

// A credstored with one verifier token for admin keys of geofencing and signatures, and one for
// locationHistory only, serving the forward auth of `profile` ("" for none).
struct ForwardAuthServer {
  explicit ForwardAuthServer(std::string_view profile)
      : token("vt-" + RandomAlnum(40)),
        narrow_token("vt-" + RandomAlnum(40)),
        token_file(Written(dir, "gateway geofencing+signatures " + token +
                                    "\nnarrow locationHistory " + narrow_token + "\n")),
        server(ServerOptions{"minimum", Args(token_file, profile)}) {
    server.AddSensitive(token);
    server.AddSensitive(narrow_token);
  }

  static std::filesystem::path Written(const credstore::testing::TempDir& dir,
                                       const std::string& text) {
    const std::filesystem::path path = dir.path() / "verifier.tokens";
    std::ofstream(path) << text;
    return path;
  }
  static std::vector<std::string> Args(const std::filesystem::path& file,
                                       std::string_view profile) {
    std::vector<std::string> args = {"--verifier-token-file", file.string()};
    if (!profile.empty()) args.insert(args.end(), {"--forward-auth", std::string(profile)});
    return args;
  }

  std::string Bearer(std::string_view which = {}) const {
    return "Authorization: Bearer " + std::string(which.empty() ? token : which) + "\r\n";
  }

  // The headers of a signed request over `method`, `target` and `body`.
  static std::string Signed(const Integrator& integrator, std::string_view method,
                            std::string_view target, std::string_view body) {
    const std::string timestamp = UniqueTimestamp();
    return "X-Integrator-Key: " + integrator.id + "\r\nX-Timestamp: " + timestamp +
           "\r\nX-Signature: " + SignRequest(integrator.secret, timestamp, method, target, body) +
           "\r\n";
  }

  credstore::testing::TempDir dir;
  std::string token;
  std::string narrow_token;
  std::filesystem::path token_file;
  Server server;
};

// Every answer of the auth routes: no body, never cached.
void ExpectGatewayAnswer(const HttpResponse& response, unsigned status, std::string_view what) {
  BOOST_TEST(response.status == status, what << ": " << response.Describe());
  BOOST_TEST(response.body.empty(), what << ": a body: " << response.body);
  BOOST_TEST(response.Header("Cache-Control").value_or("") == "no-store", what);
  if (status == 401 || status == 403) {
    for (std::string_view header : {"X-Credstore-Problem-Type", "X-Credstore-Problem-Detail",
                                    "X-Credstore-Problem-Instance"}) {
      BOOST_TEST(!response.Header(header).value_or("").empty(), what << ": no " << header);
    }
  }
  if (status == 401) BOOST_TEST(response.Header("WWW-Authenticate").has_value(), what);
  // A 204 carries no framing at all (RFC 9110 §8.6); a bodiless 401/403 says its length is 0.
  BOOST_TEST(response.HeaderCount("Content-Length") == (status == 204 ? 0u : 1u), what);
}

BOOST_AUTO_TEST_CASE(forward_auth_is_off_by_default) {
  ForwardAuthServer fixture("");
  const HttpResponse response = fixture.server.Send(
      BuildRequest("GET", "/v1/auth/admin-key?service=geofencing", fixture.Bearer()));
  BOOST_TEST(response.status == 404u, response.Describe());
}

BOOST_AUTO_TEST_CASE(forward_auth_nginx_token_scope_and_service) {
  ForwardAuthServer fixture("nginx");
  Server& server = fixture.server;
  const Customer customer = server.NewCustomer();
  const std::string original = "X-Original-URI: /geo?key=" + customer.key +
                               "&adminKey=" + customer.admin_key + "\r\nX-Original-Method: GET\r\n";
  const std::string check = "/v1/auth/admin-key?service=geofencing";
  HttpResponse ok = server.Send(BuildRequest("GET", check, fixture.Bearer() + original));
  ExpectGatewayAnswer(ok, 204, "good key");
  BOOST_TEST(ok.Header("X-Credstore-Service").value_or("") == "geofencing");
  BOOST_TEST(ok.Header("X-Credstore-Customer").value_or("").size() == 64u);

  HttpResponse no_token = server.Send(BuildRequest("GET", check, original));
  ExpectGatewayAnswer(no_token, 401, "no verifier token");
  BOOST_TEST(no_token.Header("WWW-Authenticate").value_or("").starts_with("Bearer"));
  ExpectGatewayAnswer(
      server.Send(BuildRequest("GET", check, fixture.Bearer(fixture.narrow_token) + original)), 403,
      "a token for another service");
  ExpectGatewayAnswer(server.Send(BuildRequest("GET", "/v1/auth/admin-key?service=nope",
                                               fixture.Bearer() + original)),
                      403, "unknown service");
  ExpectGatewayAnswer(server.Send(BuildRequest("GET",
                                               "/v1/auth/admin-key?service=geofencing&"
                                               "service=geofencing",
                                               fixture.Bearer() + original)),
                      401, "service twice");
  ExpectGatewayAnswer(server.Send(BuildRequest(
                          "GET", check, fixture.Bearer() + original + "X-Forwarded-Uri: /geo\r\n")),
                      401, "a Traefik header under nginx");
  ExpectGatewayAnswer(
      server.Send(
          BuildRequest("GET", check, fixture.Bearer() + original + "X-Original-Method: GET\r\n")),
      401, "X-Original-Method twice");

  const Integrator integrator = server.NewIntegrator();
  const std::string body = R"({"a":1})";
  const std::string signed_headers =
      ForwardAuthServer::Signed(integrator, "POST", "/orders", body) +
      "X-Original-URI: /orders\r\nX-Original-Method: POST\r\nX-Content-SHA256: " + Sha256Hex(body) +
      "\r\n";
  ExpectGatewayAnswer(
      server.Send(BuildRequest("GET", "/v1/auth/signature",
                               fixture.Bearer(fixture.narrow_token) + signed_headers)),
      403, "a token without +signatures");
  ExpectGatewayAnswer(server.Send(BuildRequest("POST", "/v1/auth/signature",
                                               fixture.Bearer() + signed_headers, body)),
                      401, "nginx forwards no body");
  HttpResponse verified =
      server.Send(BuildRequest("GET", "/v1/auth/signature", fixture.Bearer() + signed_headers));
  ExpectGatewayAnswer(verified, 204, "signed");
  BOOST_TEST(verified.Header("X-Credstore-Integrator").value_or("") == integrator.id);
  BOOST_TEST(verified.Header("X-Credstore-Body-SHA256").value_or("") == Sha256Hex(body));
}

BOOST_AUTO_TEST_CASE(forward_auth_shares_the_verify_routes_failure_budget) {
  ForwardAuthServer fixture("nginx");
  ClientOptions from_one_address;
  from_one_address.source_address = NextClientAddress();
  // The verify routes' default: 10 failed tokens per address per window, counted once for both
  // APIs, so a guesser cannot double its tries by alternating them.
  for (int i = 0; i < 10; ++i) {
    const HttpResponse failed = fixture.server.Send(
        BuildRequest("GET", "/v1/auth/signature", fixture.Bearer("vt-wrong-" + RandomAlnum(40))),
        from_one_address);
    ExpectGatewayAnswer(failed, 401, "a wrong token");
  }
  const HttpResponse throttled =
      fixture.server.Send(BuildRequest("POST", "/v1/verify/signature",
                                       fixture.Bearer() + "Content-Type: "
                                                          "application/json\r\n",
                                       "{}"),
                          from_one_address);
  ExpectProblem(throttled, 429, "the verify route after 10 failures on the auth route");
  const HttpResponse refused = fixture.server.Send(
      BuildRequest("GET", "/v1/auth/signature", fixture.Bearer()), from_one_address);
  ExpectGatewayAnswer(refused, 401, "the auth route, throttled");
  BOOST_TEST(refused.Header("X-Credstore-Problem-Type").value_or("") ==
             "urn:credstore:problem:throttled");
  BOOST_TEST(refused.Header("Retry-After").has_value());
  // The challenge is the verifier token's, as for a wrong token.
  BOOST_TEST(refused.Header("WWW-Authenticate")
                 .value_or("")
                 .starts_with("Bearer realm=\"credstore-verify\""),
             refused.Describe());
}

BOOST_AUTO_TEST_CASE(forward_auth_traefik) {
  ForwardAuthServer fixture("traefik");
  Server& server = fixture.server;
  const Customer customer = server.NewCustomer();
  const std::string check = "/v1/auth/admin-key?service=geofencing";
  const std::string original = "X-Forwarded-Uri: /geo?key=" + customer.key +
                               "&adminKey=" + customer.admin_key +
                               "\r\nX-Forwarded-Method: GET\r\n";
  ExpectGatewayAnswer(server.Send(BuildRequest("GET", check, fixture.Bearer() + original)), 204,
                      "good key");
  ExpectGatewayAnswer(server.Send(BuildRequest(
                          "GET", check, fixture.Bearer() + original + "X-Original-URI: /geo\r\n")),
                      401, "an nginx header under Traefik");

  // forwardBody: the hash is the forwarded body's; X-Content-SHA256 may only agree with it.
  const Integrator integrator = server.NewIntegrator();
  const std::string body = R"({"b":2})";
  auto signed_check = [&](std::string_view extra, std::string_view sent) {
    return server.Send(BuildRequest(
        "GET", "/v1/auth/signature",
        fixture.Bearer() + ForwardAuthServer::Signed(integrator, "PUT", "/items/3", body) +
            "X-Forwarded-Uri: /items/3\r\nX-Forwarded-Method: PUT\r\n" + std::string(extra),
        sent, true));
  };
  HttpResponse verified = signed_check({}, body);
  ExpectGatewayAnswer(verified, 204, "forwarded body");
  BOOST_TEST(verified.Header("X-Credstore-Body-SHA256").value_or("") == Sha256Hex(body));
  ExpectGatewayAnswer(signed_check("X-Content-SHA256: " + Sha256Hex("other") + "\r\n", body), 401,
                      "X-Content-SHA256 against the forwarded body");
  ExpectGatewayAnswer(signed_check({}, "other"), 401, "another body forwarded");
}

BOOST_AUTO_TEST_CASE(forward_auth_envoy) {
  ForwardAuthServer fixture("envoy");
  Server& server = fixture.server;
  const Customer customer = server.NewCustomer();
  HttpResponse ok =
      server.Send(BuildRequest("DELETE",
                               "/v1/auth/admin-key/geofencing/geo/items/4?key=" + customer.key +
                                   "&adminKey=" + customer.admin_key,
                               fixture.Bearer()));
  ExpectGatewayAnswer(ok, 204, "good key, any method, the original target after the prefix");
  BOOST_TEST(ok.Header("X-Credstore-Service").value_or("") == "geofencing");
  ExpectGatewayAnswer(
      server.Send(BuildRequest("GET", "/v1/auth/admin-key/geofencing?key=" + customer.key,
                               fixture.Bearer())),
      401, "no original target after the service");
  ExpectGatewayAnswer(server.Send(BuildRequest("GET",
                                               "/v1/auth/admin-key/geofencing/geo?key=" +
                                                   customer.key + "&adminKey=" + customer.admin_key,
                                               fixture.Bearer() + "X-Original-URI: /geo\r\n")),
                      401, "an nginx header under Envoy");

  const Integrator integrator = server.NewIntegrator();
  const std::string body = R"({"c":3})";
  auto check = [&](std::string_view extra, std::string_view sent, bool length = true) {
    return server.Send(BuildRequest(
        "POST", "/v1/auth/signature/orders?x=1",
        fixture.Bearer() + ForwardAuthServer::Signed(integrator, "POST", "/orders?x=1", body) +
            std::string(extra),
        sent, length));
  };
  HttpResponse verified = check({}, body);
  ExpectGatewayAnswer(verified, 204, "with_request_body");
  BOOST_TEST(verified.Header("X-Credstore-Body-SHA256").value_or("") == Sha256Hex(body));
  ExpectGatewayAnswer(check("x-envoy-auth-partial-body: true\r\n", body), 401, "a partial body");
  ExpectGatewayAnswer(check("X-Content-SHA256: " + Sha256Hex(body) + "\r\n", {}, false), 204,
                      "no body forwarded, X-Content-SHA256");
  ExpectGatewayAnswer(check({}, {}, false), 401, "neither a body nor X-Content-SHA256");
}

}  // namespace
}  // namespace credstore::http_tests
