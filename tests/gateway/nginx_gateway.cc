#include "gateway/nginx_gateway.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace credstore::gateway_tests {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The configuration of docs/gateways.md ("The tested nginx configuration"): keep the two equal.
// @DIR@, @PORT@, @CREDSTORED@, @UPSTREAM@ and @TOKEN@ are filled in by NginxConfig().
constexpr std::string_view kTemplate =
    R"(# A service behind nginx, with credstore's forward auth (credstored --forward-auth nginx).
daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 256; }

http {
  access_log @DIR@/access.log;
  client_body_temp_path @DIR@/tmp/body;
  proxy_temp_path @DIR@/tmp/proxy;
  fastcgi_temp_path @DIR@/tmp/fastcgi;
  uwsgi_temp_path @DIR@/tmp/uwsgi;
  scgi_temp_path @DIR@/tmp/scgi;

  upstream credstore {
    server 127.0.0.1:@CREDSTORED@;
    keepalive 16;
  }
  upstream app {
    server 127.0.0.1:@UPSTREAM@;
    keepalive 16;
  }

  server {
    listen 127.0.0.1:@PORT@;

    # A service whose customers present admin keys (credstore service "geofencing").
    location /geo/ {
      auth_request /_credstore/admin-key/geofencing;
      auth_request_set $credstore_service $upstream_http_x_credstore_service;
      auth_request_set $credstore_customer $upstream_http_x_credstore_customer;
      auth_request_set $credstore_problem_type $upstream_http_x_credstore_problem_type;
      auth_request_set $credstore_problem_detail $upstream_http_x_credstore_problem_detail;
      auth_request_set $credstore_problem_instance $upstream_http_x_credstore_problem_instance;
      error_page 401 = @credstore_401;
      # The upstream takes the tenant from these only: a client's own are replaced or removed.
      proxy_set_header X-Credstore-Service $credstore_service;
      proxy_set_header X-Credstore-Customer $credstore_customer;
      proxy_set_header X-Credstore-Integrator "";
      proxy_set_header X-Credstore-Body-SHA256 "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }

    # A service whose integrators sign their requests.
    location /orders/ {
      auth_request /_credstore/signature;
      auth_request_set $credstore_integrator $upstream_http_x_credstore_integrator;
      auth_request_set $credstore_body_sha256 $upstream_http_x_credstore_body_sha256;
      auth_request_set $credstore_problem_type $upstream_http_x_credstore_problem_type;
      auth_request_set $credstore_problem_detail $upstream_http_x_credstore_problem_detail;
      auth_request_set $credstore_problem_instance $upstream_http_x_credstore_problem_instance;
      error_page 401 = @credstore_401;
      proxy_set_header X-Credstore-Service "";
      proxy_set_header X-Credstore-Customer "";
      proxy_set_header X-Credstore-Integrator $credstore_integrator;
      proxy_set_header X-Credstore-Body-SHA256 $credstore_body_sha256;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }

    # The checks. `internal`: a client can never call them itself.
    location = /_credstore/admin-key/geofencing {
      internal;
      proxy_pass http://credstore/v1/auth/admin-key?service=geofencing;
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization "Bearer @TOKEN@";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header X-Api-Key $http_x_api_key;
      proxy_set_header X-Admin-Key $http_x_admin_key;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream off;
    }
    location = /_credstore/signature {
      internal;
      proxy_pass http://credstore/v1/auth/signature;
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization "Bearer @TOKEN@";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header X-Integrator-Key $http_x_integrator_key;
      proxy_set_header X-Timestamp $http_x_timestamp;
      proxy_set_header X-Signature $http_x_signature;
      proxy_set_header X-Content-SHA256 $http_x_content_sha256;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream off;
    }

    # A refusal gets a problem body, built from credstore's X-Credstore-Problem-* headers.
    location @credstore_401 {
      default_type application/problem+json;
      add_header Cache-Control no-store always;
      return 401 '{"type":"$credstore_problem_type","title":"Unauthorized","status":401,"detail":"$credstore_problem_detail","instance":"$credstore_problem_instance"}\n';
    }
  }
}
)";

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  if (port == 0) throw std::runtime_error("no free loopback port");
  return port;
}

bool Answers(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected =
      fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (fd >= 0) ::close(fd);
  return connected;
}

std::string Tail(const std::string& text) {
  return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

}  // namespace

std::string_view NginxConfigTemplate() { return kTemplate; }

std::string NginxConfig(const std::filesystem::path& dir, std::uint16_t port,
                        const NginxSite& site) {
  std::string config(kTemplate);
  if (!site.auth_request) {
    std::istringstream lines(config);
    std::string line, kept;
    while (std::getline(lines, line)) {
      if (line.find("auth_request /") == std::string::npos) kept += line + "\n";
    }
    config = kept;
  }
  ReplaceAll(config, "@DIR@", dir.string());
  ReplaceAll(config, "@PORT@", std::to_string(port));
  ReplaceAll(config, "@CREDSTORED@", std::to_string(site.credstored_port));
  ReplaceAll(config, "@UPSTREAM@", std::to_string(site.upstream_port));
  ReplaceAll(config, "@TOKEN@", site.verifier_token);
  return config;
}

NginxGateway::NginxGateway(const std::string& binary, const std::filesystem::path& parent,
                           const NginxSite& site)
    : dir_(parent / (site.auth_request ? "nginx" : "nginx-without-auth-request")) {
  std::filesystem::create_directories(dir_ / "tmp");
  // Another process may take the port between FreePort() and nginx's bind: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (TryStart(binary, FreePort(), site)) return;
    if (ErrorLog().find("Address already in use") == std::string::npos) break;
  }
  throw std::runtime_error("nginx did not start; its error log:\n" + Tail(ErrorLog()));
}

bool NginxGateway::TryStart(const std::string& binary, std::uint16_t port, const NginxSite& site) {
  const std::filesystem::path conf = dir_ / "nginx.conf";
  {
    std::ofstream out(conf, std::ios::trunc);
    out << NginxConfig(dir_, port, site);
  }
  std::vector<std::string> args = {
      binary, "-p", dir_.string(), "-e", (dir_ / "error.log").string(), "-c", conf.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log_fd =
      ::open((dir_ / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no nginx outlives a crashed test
    if (::getppid() != parent) ::_exit(127);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    if (Answers(port)) {
      pid_ = pid;
      port_ = port;
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  throw std::runtime_error("nginx did not answer within 10 s; its error log:\n" + Tail(ErrorLog()));
}

NginxGateway::~NginxGateway() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGQUIT);
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string NginxGateway::ErrorLog() const {
  std::string text;
  for (const char* name : {"error.log", "stderr.log"}) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::ostringstream read;
    read << in.rdbuf();
    text += read.str();
  }
  return text;
}

}  // namespace credstore::gateway_tests
