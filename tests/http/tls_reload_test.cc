// SIGHUP reloads --tls-cert and --tls-key (docs/operations.md "SIGHUP"): connections accepted
// after it get the new certificate, and a certificate that does not load keeps the one in
// force, with an error in the log. The certificates are made with the openssl command; the
// client is OpenSSL itself, which reports the certificate the server presented.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream folders(path != nullptr ? path : "/usr/bin:/bin");
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    if (!folder.empty() && access((folder + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A self-signed P-256 certificate for CN=`name`, as `name`.crt and `name`.key in `dir`.
void MakeCertificate(const fs::path& dir, const std::string& name) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -days 2 -subj /CN=" +
      name + " -keyout '" + (dir / (name + ".key")).string() + "' -out '" +
      (dir / (name + ".crt")).string() + "' >/dev/null 2>&1";
  BOOST_TEST_REQUIRE(std::system(command.c_str()) == 0, command);
}

// The common name of the certificate the server on `port` presents to a new connection; "" when
// no handshake completed.
std::string PresentedCommonName(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  const timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string name;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    SSL_CTX* context = SSL_CTX_new(TLS_client_method());
    SSL* ssl = context != nullptr ? SSL_new(context) : nullptr;
    if (ssl != nullptr && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
      if (X509* certificate = SSL_get1_peer_certificate(ssl)) {
        char text[256] = {};
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, text,
                                      sizeof text) > 0) {
          name = text;
        }
        X509_free(certificate);
      }
      SSL_shutdown(ssl);
    }
    if (ssl != nullptr) SSL_free(ssl);
    if (context != nullptr) SSL_CTX_free(context);
  }
  ::close(fd);
  return name;
}

std::size_t Count(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// Sends SIGHUP and waits (10 s at most) until the log holds `count` lines with `what`.
bool HangUpAndWait(Server& server, std::string_view what, std::size_t count) {
  if (::kill(server.process().pid(), SIGHUP) != 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Count(server.process().Log(), what) >= count) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

BOOST_AUTO_TEST_SUITE(tls_reload)

BOOST_AUTO_TEST_CASE(sighup_gives_new_connections_the_new_certificate_and_keeps_a_good_one) {
  if (!OnPath("openssl")) {
    BOOST_TEST_MESSAGE("skipped: the openssl command makes this test's certificates");
    return;
  }
  credstore::testing::TempDir dir("credstore-tls-reload");
  MakeCertificate(dir.path(), "first");
  MakeCertificate(dir.path(), "second");
  const fs::path cert = dir.path() / "server.crt";
  const fs::path key = dir.path() / "server.key";
  fs::copy_file(dir.path() / "first.crt", cert);
  fs::copy_file(dir.path() / "first.key", key);

  ServerOptions options;
  options.extra_args = {"--tls-cert", cert.string(), "--tls-key", key.string()};
  Server server(options);
  BOOST_TEST(PresentedCommonName(server.port()) == "first");

  // A renewed certificate, as certbot's deploy hook would put it in place.
  fs::copy_file(dir.path() / "second.crt", cert, fs::copy_options::overwrite_existing);
  fs::copy_file(dir.path() / "second.key", key, fs::copy_options::overwrite_existing);
  constexpr std::string_view kReloaded =
      R"("level":"info","event":"credstored.reload","what":"tls certificate")";
  BOOST_TEST_REQUIRE(HangUpAndWait(server, kReloaded, 1), server.process().Log());
  BOOST_TEST(PresentedCommonName(server.port()) == "second");

  // A key that does not fit the certificate: the one in force stays, and the log says why.
  fs::copy_file(dir.path() / "first.key", key, fs::copy_options::overwrite_existing);
  constexpr std::string_view kFailed =
      R"("level":"error","event":"credstored.reload","what":"tls certificate")";
  BOOST_TEST_REQUIRE(HangUpAndWait(server, kFailed, 1), server.process().Log());
  BOOST_TEST(PresentedCommonName(server.port()) == "second");
  BOOST_TEST(server.process().Log().find("the certificate in force is kept") != std::string::npos);

  // Not a certificate at all: the same.
  { std::ofstream(cert, std::ios::trunc) << "not a certificate\n"; }
  BOOST_TEST_REQUIRE(HangUpAndWait(server, kFailed, 2), server.process().Log());
  BOOST_TEST(PresentedCommonName(server.port()) == "second");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests
