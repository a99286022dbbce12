// credstore — the operator command: calls credstored's operator listener over HTTP.
//
// Secrets never travel on the command line (argv is visible to every user through /proc): the
// operator token comes from CREDSTORE_OPERATOR_TOKEN or --token-file, and API keys and customer
// secrets are read from stdin, one per line (without echo when stdin is a terminal).
//
// Two commands run locally: `credstore keys init PATH` creates credstored's key file
// (keys_init.h), and `credstore migrate` copies a stopped store into an empty one (migrate.h).
//
// Exit status: 0 success, 1 the listener answered with an error (its problem's title and detail
// go to stderr) or could not be reached, the key file could not be created, or a migration did
// not finish; 2 a usage error.
#include <sodium.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "keys_init.h"
#include "migrate.h"
#include "operator_client.h"

namespace credstore::cli {
namespace {

namespace json = boost::json;
namespace po = boost::program_options;
using boost::beast::http::verb;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr std::string_view kTokenVariable = "CREDSTORE_OPERATOR_TOKEN";
constexpr std::size_t kListPageSize = 1000;  // the listener's largest page

struct Invocation;

// What a command needs before it runs.
enum class Needs {
  kToken,     // the operator listener and the operator token
  kListener,  // the operator listener only (health)
  kNothing,   // neither: local files or stores (keys init, migrate)
};

// One command: its help and its handler, in one row of one table (Commands()), so the help and
// the dispatch cannot disagree.
struct Command {
  std::string_view group;  // empty for one-word commands
  std::string_view name;
  std::string_view arguments;  // synopsis after the command words
  std::string_view summary;
  std::vector<std::string_view> options;  // command options it accepts
  std::size_t positionals = 0;            // ID arguments it requires
  std::string_view stdin_lines;           // what it reads from stdin, one per line
  int (*run)(const Invocation&) = nullptr;
  Needs needs = Needs::kToken;
};

const std::vector<Command>& Commands();

std::string CommandWords(const Command& command) {
  return command.group.empty() ? std::string(command.name)
                               : std::string(command.group) + " " + std::string(command.name);
}

const Command* FindCommand(const std::vector<std::string>& words) {
  for (const Command& command : Commands()) {
    if (command.group.empty()) {
      if (!words.empty() && words[0] == command.name) return &command;
    } else if (words.size() >= 2 && words[0] == command.group && words[1] == command.name) {
      return &command;
    }
  }
  return nullptr;
}

po::options_description GlobalOptions() {
  po::options_description global("Options");
  auto add = global.add_options();
  add("operator",
      po::value<std::string>()->default_value("127.0.0.1:8081")->value_name("HOST:PORT"),
      "the operator listener's HOST:PORT ([IPv6]:PORT for IPv6)");
  add("operator-socket", po::value<std::string>()->value_name("PATH"),
      "the operator listener's unix socket PATH (instead of --operator)");
  add("token-file", po::value<std::string>()->value_name("PATH"),
      "read the operator token from PATH (default: $CREDSTORE_OPERATOR_TOKEN)");
  add("timeout", po::value<int>()->default_value(30)->value_name("SECONDS"),
      "seconds allowed for each of connect, send and receive");
  add("help,h", "show help (after a command: that command's help)");
  return global;
}

// Adds one command option by name to `options`.
void AddCommandOption(po::options_description& options, std::string_view name) {
  if (name == "label") {
    options.add_options()("label", po::value<std::string>()->value_name("L"),
                          "a label for people (<= 200 bytes of UTF-8)");
  } else if (name == "limit") {
    options.add_options()("limit", po::value<std::size_t>()->value_name("N"), "page size, 1..1000");
  } else if (name == "cursor") {
    options.add_options()("cursor", po::value<std::string>()->value_name("C"),
                          "continue after this integrator id (a page's nextCursor)");
  } else if (name == "service") {
    options.add_options()("service", po::value<std::string>()->value_name("S"),
                          "the service, e.g. geofencing");
  } else if (name == "address") {
    options.add_options()("address", po::value<std::string>()->value_name("A"),
                          "a client address (IPv4, or IPv6: its /64 is cleared)");
  } else if (name == "customer") {
    options.add_options()("customer", po::value<std::string>()->value_name("S"),
                          "a customer of service S (the API key is read from stdin)");
  } else if (name == "from") {
    options.add_options()("from", po::value<std::string>()->value_name("URI"),
                          "the store to copy (a storage URI; '-': read it from stdin)");
  } else if (name == "to") {
    options.add_options()("to", po::value<std::string>()->value_name("URI"),
                          "the empty store to copy into (a storage URI; '-': from stdin)");
  }
}

constexpr std::string_view kCommandOptionNames[] = {"label",   "limit",    "cursor", "service",
                                                    "address", "customer", "from",   "to"};

po::options_description CommandOptions() {
  po::options_description options("Command options");
  for (std::string_view name : kCommandOptionNames) AddCommandOption(options, name);
  return options;
}

void PrintGeneralHelp(std::ostream& out) {
  out << "Usage: credstore [options] COMMAND [arguments]\n\n"
         "Calls credstored's operator listener. The operator token comes from $"
      << kTokenVariable
      << "\nor --token-file, never from a flag; API keys and secrets are read from stdin, one "
         "per line.\n\nCommands:\n";
  for (const Command& command : Commands()) {
    std::string line = "  " + CommandWords(command);
    if (!command.arguments.empty()) line += " " + std::string(command.arguments);
    std::string summary(command.summary);
    for (std::size_t at = summary.find('\n'); at != std::string::npos;
         at = summary.find('\n', at + 1)) {
      summary.insert(at + 1, "      ");
    }
    out << line << "\n      " << summary;
    if (!command.stdin_lines.empty()) out << "\n      stdin: " << command.stdin_lines;
    out << '\n';
  }
  out << '\n' << GlobalOptions() << '\n' << CommandOptions() << '\n';
  out << "Exit status: 0 success; 1 an error answer, no answer, no key file created, or a "
         "migration that did not finish; 2 a usage error.\n"
         "Run 'credstore COMMAND --help' for one command.\n";
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "Usage: credstore [options] " << CommandWords(command);
  if (!command.arguments.empty()) out << ' ' << command.arguments;
  out << "\n\n" << command.summary << '\n';
  if (!command.stdin_lines.empty()) {
    out << "Reads " << command.stdin_lines
        << " from stdin, one per line (without echo on a terminal).\n";
  }
  if (!command.options.empty()) {
    po::options_description mine("Command options");
    for (std::string_view name : command.options) AddCommandOption(mine, name);
    out << '\n' << mine;
  }
  out << '\n' << GlobalOptions();
}

int UsageError(std::string_view message) {
  std::cerr << "credstore: " << message << "\nTry 'credstore --help'.\n";
  return kExitUsage;
}

// Flags that would put a secret in argv are refused by name, without echoing their values.
std::optional<std::string> ForbiddenFlag(std::string_view argument) {
  const std::string_view name = argument.substr(0, argument.find('='));
  if (name == "--token") {
    return "the operator token is never a flag: set $" + std::string(kTokenVariable) +
           " or use --token-file";
  }
  for (std::string_view secretish :
       {"--api-key", "--apikey", "--apiKey", "--key", "--secret", "--new-secret", "--admin-key"}) {
    if (name == secretish) {
      return std::string(name) + " is not a flag: API keys and secrets are read from stdin";
    }
  }
  return std::nullopt;
}

bool IsTokenText(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;  // no spaces or controls: it goes into a header
  }
  return true;
}

// The token from --token-file, else from the environment; nullopt after printing why not.
std::optional<std::string> ReadToken(const po::variables_map& vm) {
  std::string token;
  if (vm.count("token-file")) {
    const std::string path = vm["token-file"].as<std::string>();
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      std::cerr << "credstore: cannot read the token file " << path << '\n';
      return std::nullopt;
    }
    token.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      std::cerr << "credstore: warning: the token file " << path
                << " is accessible to other users (chmod 600 it)\n";
    }
  } else if (const char* from_environment = std::getenv(std::string(kTokenVariable).c_str())) {
    token = from_environment;
  } else {
    std::cerr << "credstore: no operator token: set $" << kTokenVariable
              << " or use --token-file\n";
    return std::nullopt;
  }
  std::size_t end = token.size();
  while (end > 0 && (token[end - 1] == '\n' || token[end - 1] == '\r' || token[end - 1] == ' ' ||
                     token[end - 1] == '\t')) {
    --end;
  }
  std::string trimmed = token.substr(0, end);
  sodium_memzero(token.data(), token.size());
  if (!IsTokenText(trimmed)) {
    sodium_memzero(trimmed.data(), trimmed.size());
    std::cerr << "credstore: the operator token must be one line of printable ASCII without "
                 "spaces\n";
    return std::nullopt;
  }
  return trimmed;
}

// Turns terminal echo off for as long as it lives (only when stdin is a terminal).
class EchoOff {
 public:
  EchoOff() {
    if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
  }
  ~EchoOff() {
    if (active_) {
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
      std::cerr << '\n';
    }
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// One line from stdin without its line ending; nullopt at end of input or on an empty line.
std::optional<std::string> ReadSecretLine(std::string_view prompt) {
  if (::isatty(STDIN_FILENO)) std::cerr << prompt << ": " << std::flush;
  std::string line;
  {
    const EchoOff quiet;
    if (!std::getline(std::cin, line)) return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return std::nullopt;
  return line;
}

// Wipes every string member of `body`, and `serialized`.
void Scrub(json::object& body, std::string& serialized) {
  for (auto& member : body) {
    if (member.value().is_string()) {
      json::string& text = member.value().get_string();
      sodium_memzero(text.data(), text.size());
    }
  }
  sodium_memzero(serialized.data(), serialized.size());
}

// Unreserved characters pass; everything else is %XX.
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
  return out;
}

// Prints an error answer's problem (title, detail, request id) to stderr.
void ReportProblem(const HttpReply& reply) {
  std::cerr << "credstore: " << reply.status;
  boost::system::error_code ec;
  const json::value parsed = json::parse(reply.body, ec);
  if (!ec && parsed.is_object()) {
    const json::object& problem = parsed.get_object();
    auto text = [&](std::string_view name) -> std::string {
      auto it = problem.find(name);
      if (it == problem.end() || !it->value().is_string()) return {};
      return std::string(it->value().get_string());
    };
    const std::string title = text("title");
    const std::string detail = text("detail");
    const std::string instance = text("instance");
    if (!title.empty()) std::cerr << ' ' << title;
    if (!detail.empty()) std::cerr << ": " << detail;
    if (!instance.empty()) std::cerr << " (" << instance << ')';
    std::cerr << '\n';
    return;
  }
  std::cerr << " (the listener's answer is not a problem document)\n";
}

// Prints a success body to stdout, ending with a newline.
void PrintBody(const std::string& body) {
  if (body.empty()) return;
  std::cout << body;
  if (body.back() != '\n') std::cout << '\n';
  std::cout << std::flush;
}

struct Context {
  const OperatorClient& client;
  std::string_view endpoint;
  std::string_view token;
};

// Sends a request; on a 2xx answer prints its body (when `print`) and returns kExitOk.
int Call(const Context& context, verb method, std::string_view target,
         std::string_view json_body = {}, HttpReply* reply_out = nullptr, bool print = true) {
  auto outcome = context.client.Send(method, target, json_body, context.token);
  if (auto* failure = std::get_if<std::string>(&outcome)) {
    std::cerr << "credstore: no answer from the operator listener at " << context.endpoint << ": "
              << *failure << '\n';
    return kExitFailed;
  }
  HttpReply& reply = std::get<HttpReply>(outcome);
  if (reply.status < 200 || reply.status > 299) {
    ReportProblem(reply);
    return kExitFailed;
  }
  if (print) PrintBody(reply.body);
  if (reply_out != nullptr) *reply_out = std::move(reply);
  // Bodies may hold a fresh secret or admin key: printed, then wiped.
  sodium_memzero(reply.body.data(), reply.body.size());
  return kExitOk;
}

// Sends `body` (then wipes it) as JSON.
int CallWithBody(const Context& context, std::string_view target, json::object body) {
  std::string serialized = json::serialize(body);
  const int status = Call(context, verb::post, target, serialized);
  Scrub(body, serialized);
  return status;
}

// Every page of the integrator list, as one {"integrators": [...]} document.
int ListAllIntegrators(const Context& context) {
  json::array all;
  std::set<std::string> seen_cursors;
  std::string cursor;
  while (true) {
    std::string target = "/v1/integrators?limit=" + std::to_string(kListPageSize);
    if (!cursor.empty()) target += "&cursor=" + PercentEncode(cursor);
    HttpReply reply;
    if (int status = Call(context, verb::get, target, {}, &reply, /*print=*/false);
        status != kExitOk) {
      return status;
    }
    boost::system::error_code ec;
    json::value page = json::parse(reply.body, ec);
    if (ec || !page.is_object() || !page.get_object().contains("integrators") ||
        !page.get_object().at("integrators").is_array()) {
      std::cerr << "credstore: the listener's integrator page is not the expected JSON\n";
      return kExitFailed;
    }
    for (json::value& integrator : page.get_object().at("integrators").get_array()) {
      all.push_back(std::move(integrator));
    }
    const json::value* next = page.get_object().if_contains("nextCursor");
    if (next == nullptr || !next->is_string() || next->get_string().empty()) break;
    cursor = std::string(next->get_string());
    if (!seen_cursors.insert(cursor).second) {
      std::cerr << "credstore: the listener repeated a cursor; stopping\n";
      return kExitFailed;
    }
  }
  json::object out;
  out["integrators"] = std::move(all);
  PrintBody(json::serialize(out));
  return kExitOk;
}

// What a handler gets: the parsed options, the ID arguments, and the listener to call.
struct Invocation {
  const po::variables_map& vm;
  const std::vector<std::string>& positionals;
  const Context& context;
};

std::string IntegratorPath(const Invocation& call) {
  return "/v1/integrators/" + PercentEncode(call.positionals.front());
}

// Reads the customer's API key from stdin into {"service": --service, "apiKey": K}.
std::optional<json::object> NamedCustomerFromStdin(std::string_view service) {
  std::optional<std::string> api_key = ReadSecretLine("API key");
  if (!api_key) {
    std::cerr << "credstore: expected the API key on stdin\n";
    return std::nullopt;
  }
  json::object body{{"service", service}, {"apiKey", *api_key}};
  sodium_memzero(api_key->data(), api_key->size());
  return body;
}

// The commands that name a customer (--service, the API key on stdin) and post it to `target`.
int PostNamedCustomer(const Invocation& call, std::string_view target) {
  auto body = NamedCustomerFromStdin(call.vm["service"].as<std::string>());
  if (!body) return kExitUsage;
  return CallWithBody(call.context, target, std::move(*body));
}

int RunHealth(const Invocation& call) { return Call(call.context, verb::get, "/healthz"); }
int RunMetrics(const Invocation& call) { return Call(call.context, verb::get, "/metrics"); }

int RunIntegratorCreate(const Invocation& call) {
  json::object body;
  if (call.vm.count("label")) body["label"] = call.vm["label"].as<std::string>();
  return CallWithBody(call.context, "/v1/integrators", std::move(body));
}

int RunIntegratorList(const Invocation& call) {
  const po::variables_map& vm = call.vm;
  if (!vm.count("limit") && !vm.count("cursor")) return ListAllIntegrators(call.context);
  std::string target = "/v1/integrators?";
  if (vm.count("limit")) target += "limit=" + std::to_string(vm["limit"].as<std::size_t>());
  if (vm.count("cursor")) {
    if (target.back() != '?') target += '&';
    target += "cursor=" + PercentEncode(vm["cursor"].as<std::string>());
  }
  return Call(call.context, verb::get, target);
}

int RunIntegratorShow(const Invocation& call) {
  return Call(call.context, verb::get, IntegratorPath(call));
}
int RunIntegratorDisable(const Invocation& call) {
  return Call(call.context, verb::post, IntegratorPath(call) + "/disable");
}
int RunIntegratorEnable(const Invocation& call) {
  return Call(call.context, verb::post, IntegratorPath(call) + "/enable");
}
int RunIntegratorDelete(const Invocation& call) {
  return Call(call.context, verb::delete_, IntegratorPath(call));
}
int RunIntegratorResetSecret(const Invocation& call) {
  return Call(call.context, verb::post, IntegratorPath(call) + "/reset-secret");
}

int RunApiKeyProvision(const Invocation& call) { return PostNamedCustomer(call, "/v1/api-keys"); }
int RunApiKeyRevoke(const Invocation& call) {
  return PostNamedCustomer(call, "/v1/api-keys/revoke");
}

int RunCustomerReset(const Invocation& call) {
  auto body = NamedCustomerFromStdin(call.vm["service"].as<std::string>());
  if (!body) return kExitUsage;
  std::optional<std::string> secret = ReadSecretLine("New secret");
  if (!secret) {
    std::string nothing;
    Scrub(*body, nothing);
    std::cerr << "credstore: expected the new secret on stdin, after the API key\n";
    return kExitUsage;
  }
  (*body)["secret"] = *secret;
  sodium_memzero(secret->data(), secret->size());
  return CallWithBody(call.context, "/v1/customers/reset", std::move(*body));
}

int RunCustomerDelete(const Invocation& call) {
  return PostNamedCustomer(call, "/v1/customers/delete");
}

// --address A clears a client address; --customer S a customer of service S (its API key on
// stdin). Exactly one.
int RunThrottleClear(const Invocation& call) {
  const bool address = call.vm.count("address") != 0;
  const bool customer = call.vm.count("customer") != 0;
  if (address == customer) {
    return UsageError("'throttle clear' needs --address A or --customer S (one of them)");
  }
  if (address) {
    return CallWithBody(call.context, "/v1/throttle/clear",
                        json::object{{"address", call.vm["address"].as<std::string>()}});
  }
  auto body = NamedCustomerFromStdin(call.vm["customer"].as<std::string>());
  if (!body) return kExitUsage;
  return CallWithBody(call.context, "/v1/throttle/clear", std::move(*body));
}

// Every page of POST /v1/keys/reseal, the counts summed into one report. Pages keep each call
// short (the listener answers a page, not the whole store, within --timeout); the last one,
// which ends the scan, is the one that re-seals the keycheck record. Exit 1 unless the keycheck
// is re-sealed (or already was) and no integrator failed: only then may an older master key
// leave the key file.
int RunKeysReseal(const Invocation& call) {
  constexpr std::size_t kResealPageSize = 100;
  std::uint64_t resealed = 0;
  std::uint64_t already = 0;
  std::uint64_t failed = 0;
  std::string keycheck;
  std::set<std::string> seen_cursors;
  std::string cursor;
  while (true) {
    json::object request{{"limit", kResealPageSize}};
    if (!cursor.empty()) request["cursor"] = cursor;
    HttpReply reply;
    if (int status = Call(call.context, verb::post, "/v1/keys/reseal", json::serialize(request),
                          &reply, /*print=*/false);
        status != kExitOk) {
      std::cerr << "credstore: stopped after re-sealing " << resealed
                << " integrator(s); run 'credstore keys reseal' again to finish\n";
      return status;
    }
    boost::system::error_code ec;
    const json::value page = json::parse(reply.body, ec);
    const json::object* object = ec ? nullptr : page.if_object();
    const json::object* counts = nullptr;
    if (object != nullptr && object->contains("integrators")) {
      counts = object->at("integrators").if_object();
    }
    const json::value* state = object != nullptr ? object->if_contains("keycheck") : nullptr;
    auto count = [&](std::string_view name) -> std::optional<std::uint64_t> {
      const json::value* value = counts != nullptr ? counts->if_contains(name) : nullptr;
      if (value == nullptr) return std::nullopt;
      if (value->is_uint64()) return value->get_uint64();
      if (value->is_int64() && value->get_int64() >= 0) {
        return static_cast<std::uint64_t>(value->get_int64());
      }
      return std::nullopt;
    };
    const auto page_resealed = count("resealed");
    const auto page_already = count("already");
    const auto page_failed = count("failed");
    if (!page_resealed || !page_already || !page_failed || state == nullptr ||
        !state->is_string()) {
      std::cerr << "credstore: the listener's re-seal answer is not the expected JSON\n";
      return kExitFailed;
    }
    resealed += *page_resealed;
    already += *page_already;
    failed += *page_failed;
    keycheck = std::string(state->get_string());
    const json::value* next = object->if_contains("nextCursor");
    if (next == nullptr || !next->is_string() || next->get_string().empty()) break;
    cursor = std::string(next->get_string());
    if (!seen_cursors.insert(cursor).second) {
      std::cerr << "credstore: the listener repeated a cursor; stopping\n";
      return kExitFailed;
    }
  }
  json::object out;
  out["integrators"] =
      json::object{{"resealed", resealed}, {"already", already}, {"failed", failed}};
  out["keycheck"] = keycheck;
  PrintBody(json::serialize(out));
  if (failed > 0) {
    std::cerr << "credstore: " << failed
              << " integrator(s) could not be re-sealed (a key missing from the server's key file, "
                 "or a damaged record); fix that and run again\n";
  }
  if (keycheck == "pending") {
    std::cerr << "credstore: the keycheck record stays under an older master key: keep every "
                 "master key in the key file (docs/operations.md, \"Rotating the master key\")\n";
  }
  if (failed > 0 || keycheck == "pending") return kExitFailed;
  return kExitOk;
}

int RunBackup(const Invocation& call) {
  return CallWithBody(call.context, "/v1/backups",
                      json::object{{"name", call.positionals.front()}});
}

// Local stores: no listener, no token; a URI that holds a password comes from stdin.
int RunMigrate(const Invocation& call) {
  if (!call.vm.count("from") || !call.vm.count("to")) {
    return UsageError("'migrate' needs --from URI and --to URI");
  }
  std::string uris[2] = {call.vm["from"].as<std::string>(), call.vm["to"].as<std::string>()};
  const char* names[2] = {"--from", "--to"};
  for (int i = 0; i < 2; ++i) {
    if (uris[i] == "-") {
      std::optional<std::string> line = ReadSecretLine(std::string(names[i]) + " URI");
      if (!line) return UsageError(std::string("expected the ") + names[i] + " URI on stdin");
      uris[i] = std::move(*line);
    } else if (uris[i].find('@') != std::string::npos) {
      // argv is readable by every user (/proc): a Redis password must not travel there.
      return UsageError(std::string(names[i]) +
                        " holds a password: give '-' and write the URI on stdin instead");
    }
  }
  if (uris[0] == uris[1]) return UsageError("'migrate' needs two different stores");
  const int status = MigrateStores(uris[0], uris[1]);
  for (std::string& uri : uris) sodium_memzero(uri.data(), uri.size());
  return status;
}

// A local file: no listener, no token.
int RunKeysInit(const Invocation& call) {
  const std::string failure = CreateKeyFile(call.positionals.front());
  if (failure.empty()) return kExitOk;
  std::cerr << "credstore: " << failure << '\n';
  return kExitFailed;
}

const std::vector<Command>& Commands() {
  // clang-format off
  static const std::vector<Command> commands = {
      {"integrator", "create", "[--label L]",
       "Create an integrator; prints {\"integratorId\",\"secret\"}. The secret is shown once.",
       {"label"}, 0, {}, RunIntegratorCreate},
      {"integrator", "list", "[--limit N] [--cursor C]",
       "List integrators: every page, or the one page that --limit/--cursor name.",
       {"limit", "cursor"}, 0, {}, RunIntegratorList},
      {"integrator", "show", "ID", "Show one integrator.", {}, 1, {}, RunIntegratorShow},
      {"integrator", "disable", "ID", "Disable an integrator: its requests stop verifying.",
       {}, 1, {}, RunIntegratorDisable},
      {"integrator", "enable", "ID",
       "Enable a disabled integrator: its requests verify again, with the secrets it had.",
       {}, 1, {}, RunIntegratorEnable},
      {"integrator", "delete", "ID",
       "Delete an integrator for good: its id is unknown from then on.", {}, 1, {},
       RunIntegratorDelete},
      {"integrator", "reset-secret", "ID",
       "Issue a new secret and drop every other one at once; prints {\"secret\"}.",
       {}, 1, {}, RunIntegratorResetSecret},
      {"api-key", "provision", "--service S", "Provision an API key for a service.",
       {"service"}, 0, "the API key", RunApiKeyProvision},
      {"api-key", "revoke", "--service S", "Revoke a provisioned API key.",
       {"service"}, 0, "the API key", RunApiKeyRevoke},
      {"customer", "reset", "--service S",
       "Set a customer's new secret and issue a new admin key (the old one stops at once);\n"
       "prints {\"adminKey\"}. Settings are kept.",
       {"service"}, 0, "the customer's API key, then the new secret", RunCustomerReset},
      {"customer", "delete", "--service S",
       "Delete a customer's configuration and settings; it may register again.",
       {"service"}, 0, "the customer's API key", RunCustomerDelete},
      {"throttle", "clear", "--address A | --customer S",
       "Forget the failed secret attempts counted against a client address (and its\n"
       "registrations), or against a customer of service S: a lockout ends at once.",
       {"address", "customer"}, 0, "with --customer, the customer's API key",
       RunThrottleClear},
      {"", "backup", "NAME",
       "Make an online RocksDB checkpoint named NAME in credstored's backups folder\n"
       "(--backup-dir; NAME is 1-64 of [A-Za-z0-9._-], never a path); prints {\"name\",\"folder\"}.\n"
       "Redis and memory storage answer 409: back Redis up with its own persistence.",
       {}, 1, {}, RunBackup},
      {"", "migrate", "--from URI --to URI",
       "Copy every record of a stopped store into an empty one (RocksDB <-> Redis), byte for\n"
       "byte with expiries; prints the record counts of both as JSON. Offline: stop every\n"
       "credstored on both stores first (a RocksDB folder in use is refused as locked). A run\n"
       "cut short leaves a marker that keeps credstored off the target; run it again to finish.\n"
       "Needs no listener, token or key file. '-' reads that URI from stdin (for passwords).",
       {"from", "to"}, 0, "with '-', the URI(s): --from's, then --to's", RunMigrate,
       Needs::kNothing},
      {"", "metrics", "", "Print the listener's Prometheus metrics.", {}, 0, {}, RunMetrics},
      {"", "health", "", "Check that the listener answers (needs no token).", {}, 0, {},
       RunHealth, Needs::kListener},
      {"keys", "reseal", "",
       "Re-seal every integrator secret and the keycheck record under the server's newest\n"
       "master key, while it serves; prints {\"integrators\":{\"resealed\",\"already\",\n"
       "\"failed\"},\"keycheck\"}. Safe to run again after any interruption. Exit 1 unless the\n"
       "keycheck is re-sealed (or already was) and no integrator failed.",
       {}, 0, {}, RunKeysReseal},
      {"keys", "init", "PATH",
       "Create credstored's key file at PATH (mode 0600, new random keys); never overwrites.\n"
       "Needs no listener and no token. Back the file up apart from the data.",
       {}, 1, {}, RunKeysInit, Needs::kNothing},
  };
  // clang-format on
  return commands;
}

// True iff some command is in `group` (for "unknown command 'group word'").
bool IsCommandGroup(std::string_view group) {
  for (const Command& command : Commands()) {
    if (!command.group.empty() && command.group == group) return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (auto refusal = ForbiddenFlag(argv[i])) return UsageError(*refusal);
  }

  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>(), "command words");
  po::positional_options_description positional;
  positional.add("words", -1);
  po::options_description all;
  all.add(GlobalOptions()).add(CommandOptions()).add(hidden);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& error) {
    return UsageError(error.what());
  }

  const std::vector<std::string> words =
      vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>();
  if (words.empty()) {
    if (vm.count("help")) {
      PrintGeneralHelp(std::cout);
      return kExitOk;
    }
    return UsageError("no command given");
  }
  const Command* command = FindCommand(words);
  if (command == nullptr) {
    std::string given = words[0];
    if (words.size() > 1 && IsCommandGroup(words[0])) {
      given += " " + words[1];
    }
    return UsageError("unknown command '" + given + "'");
  }
  if (vm.count("help")) {
    PrintCommandHelp(*command, std::cout);
    return kExitOk;
  }

  const std::size_t consumed = command->group.empty() ? 1 : 2;
  const std::vector<std::string> positionals(words.begin() + static_cast<long>(consumed),
                                             words.end());
  const std::string words_text = CommandWords(*command);
  if (positionals.size() != command->positionals) {
    return UsageError("'" + words_text + "' takes " +
                      (command->positionals == 0
                           ? std::string("no arguments")
                           : std::string("one argument: ") + std::string(command->arguments)));
  }
  for (std::string_view name : kCommandOptionNames) {
    bool allowed = false;
    for (std::string_view mine : command->options) allowed = allowed || name == mine;
    if (vm.count(std::string(name)) && !allowed) {
      return UsageError("'" + words_text + "' does not take --" + std::string(name));
    }
  }
  if (std::find(command->options.begin(), command->options.end(), "service") !=
          command->options.end() &&
      !vm.count("service")) {
    return UsageError("'" + words_text + "' needs --service");
  }
  if (vm.count("limit")) {
    const std::size_t limit = vm["limit"].as<std::size_t>();
    if (limit < 1 || limit > kListPageSize) return UsageError("--limit must be 1..1000");
  }
  if (command->needs == Needs::kNothing) {
    const OperatorClient unused(Endpoint{}, std::chrono::seconds(1));
    return command->run(Invocation{vm, positionals, Context{unused, "", ""}});
  }
  const int timeout = vm["timeout"].as<int>();
  if (timeout < 1 || timeout > 3600) return UsageError("--timeout must be 1..3600 seconds");

  Endpoint endpoint;
  if (vm.count("operator-socket")) {
    if (!vm["operator"].defaulted()) {
      return UsageError("give --operator or --operator-socket, not both");
    }
    endpoint.socket_path = vm["operator-socket"].as<std::string>();
    if (endpoint.socket_path.empty()) return UsageError("--operator-socket needs a path");
  } else {
    auto parsed = ParseHostPort(vm["operator"].as<std::string>());
    if (!parsed) return UsageError("--operator must be HOST:PORT or [IPv6]:PORT");
    endpoint = std::move(*parsed);
  }

  std::string token;
  if (command->needs == Needs::kToken) {
    std::optional<std::string> read = ReadToken(vm);
    if (!read) return kExitUsage;
    token = std::move(*read);
  }
  const OperatorClient client(endpoint, std::chrono::seconds(timeout));
  const std::string where = Describe(endpoint);
  const int status = command->run(Invocation{vm, positionals, Context{client, where, token}});
  sodium_memzero(token.data(), token.size());
  return status;
}

}  // namespace
}  // namespace credstore::cli

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::cerr << "credstore: libsodium failed to initialise\n";
    return 1;
  }
  try {
    return credstore::cli::Main(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "credstore: " << error.what() << '\n';
    return 1;
  }
}
