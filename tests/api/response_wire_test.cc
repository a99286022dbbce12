// A response goes on the wire as the bytes Beast's serializer would write for it
// (response_wire.h): compared byte for byte on the shapes credstored sends, finished the way
// a session finishes them (version, framing, keep-alive).
#include "response_wire.h"

#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>
#include <sstream>
#include <string>

#include "credstore/http/problem.h"
#include "responses.h"

namespace credstore::http {
namespace {

namespace bhttp = boost::beast::http;

RequestMeta MetaFor(unsigned version, bool keep_alive) {
  RequestMeta meta;
  meta.request_id = "req-1";
  meta.client_address = "127.0.0.1";
  meta.http_version = version;
  meta.keep_alive = keep_alive;
  return meta;
}

// As Session::Complete and MaybeWrite finish a response before writing it.
Response Finished(Response response, unsigned version, bool keep_alive) {
  response.version(version);
  if (response.result() != bhttp::status::no_content) response.prepare_payload();
  response.keep_alive(keep_alive);
  return response;
}

std::string BySerializer(const Response& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

std::string ByWire(const Response& response) {
  std::string out = "kept";  // appends: what was there stays in front
  AppendResponseWire(out, response);
  BOOST_TEST_REQUIRE(out.substr(0, 4) == "kept");
  return out.substr(4);
}

BOOST_AUTO_TEST_CASE(every_shape_credstored_sends_has_the_serializers_bytes) {
  for (const unsigned version : {10u, 11u}) {
    for (const bool keep_alive : {true, false}) {
      BOOST_TEST_CONTEXT("HTTP/" << version / 10 << "." << version % 10 << " keep-alive "
                                 << keep_alive) {
        const RequestMeta meta = MetaFor(version, keep_alive);
        const Response shapes[] = {
            NoStoreBody(bhttp::status::ok, "application/json", R"({"adminKey":"x"})", meta),
            NoStoreBody(bhttp::status::ok, "application/json", "", meta),
            NoContent(meta),
            MakeProblem(bhttp::status::unauthorized, "admin key missing or invalid", meta),
            MethodNotAllowed("GET, POST", meta),
            MakeProblem(bhttp::status::service_unavailable, "storage unavailable", meta),
        };
        for (const Response& shape : shapes) {
          const Response response = Finished(shape, version, keep_alive);
          BOOST_TEST(ByWire(response) == BySerializer(response));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_custom_reason_and_an_unlisted_status_are_written_as_beast_writes_them) {
  Response custom = Finished(NoContent(MetaFor(11, true)), 11, true);
  custom.reason("All Fine");
  BOOST_TEST(ByWire(custom) == BySerializer(custom));
  Response unlisted = Finished(
      NoStoreBody(static_cast<bhttp::status>(299), "text/plain", "x", MetaFor(11, true)), 11, true);
  BOOST_TEST(ByWire(unlisted) == BySerializer(unlisted));
}

}  // namespace
}  // namespace credstore::http
