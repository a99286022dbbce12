// nginx in front of credstored, for tests/gateway: the configuration docs/gateways.md shows
// (the same text, with this file's placeholders filled in), and nginx run from Debian's package
// as a child process with everything it writes (pid, logs, temp files) in one folder.
//
// nginx cannot listen on port 0 and report the port it got, so Start() picks a free port
// (bind to port 0, read, release) and retries with another when nginx fails to bind it.
//
// Thread safety: drive one NginxGateway from one thread.
#ifndef CREDSTORE_TESTS_GATEWAY_NGINX_GATEWAY_H_
#define CREDSTORE_TESTS_GATEWAY_NGINX_GATEWAY_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace credstore::gateway_tests {

struct NginxSite {
  std::uint16_t credstored_port = 0;  // credstored --forward-auth nginx
  std::uint16_t upstream_port = 0;    // the service the gateway protects
  std::string verifier_token;         // sent to credstored as Authorization: Bearer
  // false: the protected locations lose their auth_request lines (and nothing else), the
  // variant the fixture's self-check must notice.
  bool auth_request = true;
};

// The configuration with its placeholders (@DIR@, @PORT@, @CREDSTORED@, @UPSTREAM@, @TOKEN@),
// as docs/gateways.md shows it.
std::string_view NginxConfigTemplate();

// The nginx.conf of `site`, listening on 127.0.0.1:`port`, writing only under `dir`.
std::string NginxConfig(const std::filesystem::path& dir, std::uint16_t port,
                        const NginxSite& site);

class NginxGateway {
 public:
  // Starts nginx (`binary`) on a free port under a new folder in `parent`; throws
  // std::runtime_error with the error log's tail when it cannot.
  NginxGateway(const std::string& binary, const std::filesystem::path& parent,
               const NginxSite& site);
  // SIGQUIT (a graceful stop), SIGKILL after 10 s.
  ~NginxGateway();
  NginxGateway(const NginxGateway&) = delete;
  NginxGateway& operator=(const NginxGateway&) = delete;

  std::uint16_t port() const { return port_; }
  std::string ErrorLog() const;

 private:
  // One attempt on `port`: true when nginx answers there, false when it exited first.
  bool TryStart(const std::string& binary, std::uint16_t port, const NginxSite& site);

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace credstore::gateway_tests

#endif  // CREDSTORE_TESTS_GATEWAY_NGINX_GATEWAY_H_
