// credstored under load: an Argon2id flood is shed with 503 (never 500) while reads go on, in
// bounded memory; SIGTERM in the middle of traffic exits 0 and loses no acknowledged write; a
// restart keeps everything; a second server cannot open the same data, nor a server with other
// keys.
#include <sys/stat.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "credstore/keyring.h"
#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string RegisterRequest(std::string_view service, std::string_view key,
                            std::string_view secret) {
  return BuildRequest("POST", "/" + std::string(service) + "/1/register?key=" + std::string(key),
                      "Content-Type: application/json\r\n",
                      R"({"secret":")" + std::string(secret) + R"("})");
}

std::string GetSettingsRequest(const Customer& customer) {
  return BuildRequest("GET", "/" + customer.service + "/1/settings?key=" + customer.key +
                                 "&adminKey=" + customer.admin_key);
}

std::string PostSettingsRequest(const Customer& customer, std::string_view body) {
  return BuildRequest("POST",
                      "/" + customer.service + "/1/settings?key=" + customer.key +
                          "&adminKey=" + customer.admin_key,
                      "Content-Type: application/json\r\n", body);
}

// Preconditions: a test that only means something on some backends is skipped on the others.
boost::test_tools::assertion_result Persistent(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend != Backend::kMemory);
  result.message() << "memory:// keeps nothing across processes";
  return result;
}
boost::test_tools::assertion_result OnRocksDb(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend == Backend::kRocksDb);
  result.message() << "only RocksDB is held open by one process";
  return result;
}

// A real 200 of these routes carries a JSON object (the stored settings, or the admin key).
bool HasJsonObjectBody(const HttpResponse& response) {
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(response.body, ec);
  return !ec && value.is_object();
}

// What one client thread saw: answers, 503s, attempts without an answer (refused, or cut after
// connecting), and anything other than 200 or 503.
struct Tally {
  int answered = 0;
  int unavailable = 0;
  int unanswered = 0;
  int cut = 0;
  std::string cut_error;
  std::vector<HttpResponse> unexpected;

  void Record(const HttpResponse& response) {
    if (response.status == 0) {
      ++unanswered;
      if (!response.error.starts_with("connect")) {
        ++cut;
        cut_error = response.error;
      }
      std::this_thread::sleep_for(10ms);  // the server is gone or going
      return;
    }
    ++answered;
    if (response.status == 503) ++unavailable;
    const bool well_formed_ok = response.status == 200 && HasJsonObjectBody(response);
    if (!well_formed_ok && response.status != 503) unexpected.push_back(response);
  }
  void Add(const Tally& other) {
    answered += other.answered;
    unavailable += other.unavailable;
    unanswered += other.unanswered;
    cut += other.cut;
    if (!other.cut_error.empty()) cut_error = other.cut_error;
    unexpected.insert(unexpected.end(), other.unexpected.begin(), other.unexpected.end());
  }
};

std::string AdminKeyIn(const HttpResponse& response) {
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(response.body, ec);
  if (ec || !value.is_object()) return {};
  const boost::json::value* key = value.as_object().if_contains("adminKey");
  return key != nullptr && key->is_string() ? std::string(key->as_string()) : std::string();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(load)

BOOST_AUTO_TEST_CASE(an_argon2_flood_gets_503_while_reads_are_answered) {
  constexpr int kWorkers = 1;
  Server server(ServerOptions{
      "production", {"--hashing-workers", std::to_string(kWorkers), "--hashing-queue", "1"}});
  const pid_t pid = server.process().pid();
  std::this_thread::sleep_for(300ms);
  const long idle_hwm_kib = ProcStatusKiB(pid, "VmHWM");
  const Customer reader = server.NewCustomer();  // one production-cost hash

  constexpr int kRegisters = 16;
  std::vector<std::string> requests;
  for (int i = 0; i < kRegisters; ++i) {
    const std::string key = NewApiKey();
    const std::string secret = NewSecret();
    server.AddSensitive(key);
    server.AddSensitive(secret);
    requests.push_back(RegisterRequest("geofencing", key, secret));
  }
  std::atomic<bool> go{false};
  std::atomic<int> done{0};
  std::vector<HttpResponse> results(kRegisters);
  std::vector<HttpResponse> reads;
  std::vector<std::chrono::milliseconds> read_latencies;
  std::vector<std::thread> threads;
  for (int i = 0; i < kRegisters; ++i) {
    const ClientOptions from{NextClientAddress()};
    threads.emplace_back([&, i, from] {
      while (!go.load()) std::this_thread::yield();
      results[i] = SendRaw(server.port(), requests[i], from);
      done.fetch_add(1);
    });
  }
  const std::string read_request = GetSettingsRequest(reader);
  std::vector<ClientOptions> read_from;
  for (int i = 0; i < 400; ++i) read_from.push_back(ClientOptions{NextClientAddress()});
  threads.emplace_back([&] {
    while (!go.load()) std::this_thread::yield();
    // Read while the flood is in flight (at least 5 reads, at most 400).
    for (int i = 0; i < 400 && (i < 5 || done.load() < kRegisters); ++i) {
      const auto start = Clock::now();
      reads.push_back(SendRaw(server.port(), read_request, read_from[i]));
      read_latencies.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
      std::this_thread::sleep_for(5ms);
    }
  });
  go.store(true);
  for (auto& thread : threads) thread.join();
  const long peak_hwm_kib = ProcStatusKiB(pid, "VmHWM");

  int ok = 0, unavailable = 0, other = 0;
  for (int i = 0; i < kRegisters; ++i) {
    server.CheckNoLeak(results[i], "flood register");
    if (results[i].status == 200) {
      ++ok;
      BOOST_TEST(IsAdminKey(AdminKeyIn(results[i])),
                 "a 200 without an admin key: " << results[i].Describe());
      server.AddSensitive(AdminKeyIn(results[i]));
    } else if (results[i].status == 503) {
      ++unavailable;
      ExpectProblem(results[i], 503, "shed register");
    } else {
      ++other;
      BOOST_TEST(false, "flood register " << i << ": " << results[i].Describe());
    }
  }
  std::chrono::milliseconds slowest_read(0);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    BOOST_TEST((reads[i].status == 200u && HasJsonObjectBody(reads[i])),
               "settings read during the flood: " << reads[i].Describe());
    slowest_read = std::max(slowest_read, read_latencies[i]);
  }
  BOOST_TEST_MESSAGE("flood of " << kRegisters << " registers: " << ok << " x 200, " << unavailable
                                 << " x 503, " << other << " other; " << reads.size()
                                 << " settings reads, slowest " << slowest_read.count() << " ms");
  BOOST_TEST(unavailable >= 1, "a flood larger than the hashing pool must be shed with 503");
  BOOST_TEST(ok >= 1, "the hashing pool must still serve some registers");

  const long delta_kib = peak_hwm_kib - idle_hwm_kib;
  BOOST_TEST_MESSAGE("credstored VmHWM idle " << idle_hwm_kib << " KiB, peak " << peak_hwm_kib
                                              << " KiB, delta " << delta_kib / 1024 << " MiB");
  if (Sanitized()) {
    BOOST_TEST_MESSAGE("sanitized build: the memory bound is not checked");
  } else {
    BOOST_TEST(idle_hwm_kib > 0);
    BOOST_TEST(delta_kib < (kWorkers * 64 + 64) * 1024L,
               "peak RSS grew by " << delta_kib / 1024 << " MiB over idle");
  }

  // Shedding is momentary: the next register is served.
  server.NewCustomer();
}

// Writers and registrars on fresh connections while SIGTERM arrives. A request that reaches the
// server after it stopped accepting gets no answer (the client sees the connection close), which
// acknowledges nothing; every 200 with its JSON body must survive a restart.
BOOST_AUTO_TEST_CASE(sigterm_under_load_exits_0_and_keeps_every_acknowledged_write) {
  Server server;
  constexpr int kWriters = 6;
  constexpr int kRegistrars = 6;
  std::vector<Customer> writers;
  for (int i = 0; i < kWriters; ++i) writers.push_back(server.NewCustomer());

  struct Registered {
    std::string key, secret, admin_key;
    Clock::time_point acknowledged_at;
  };
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::vector<int> last_acked(kWriters, 0), last_sent(kWriters, 0);
  std::vector<Clock::time_point> acked_at(kWriters);
  // Each writer's last few requests (seq, answer, when), for the failure messages.
  struct Attempt {
    int seq;
    unsigned status;
    std::string error_or_body;
    Clock::time_point sent_at, answered_at;
  };
  std::vector<std::vector<Attempt>> history(kWriters);
  std::vector<std::vector<Registered>> registered(kRegistrars);
  std::vector<Tally> tallies(kWriters + kRegistrars);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      for (int seq = 1; seq < 100000 && !stop.load(); ++seq) {
        last_sent[i] = seq;
        const auto sent_at = Clock::now();
        const HttpResponse response =
            SendRaw(server.port(),
                    PostSettingsRequest(writers[i], R"({"seq":)" + std::to_string(seq) + "}"),
                    ClientOptions{NextClientAddress(), 10s});
        history[i].push_back(Attempt{seq, response.status,
                                     response.status != 0 ? response.body : response.error, sent_at,
                                     Clock::now()});
        tallies[i].Record(response);
        if (response.status == 200 && HasJsonObjectBody(response)) {
          last_acked[i] = seq;
          acked_at[i] = Clock::now();
          acknowledged.fetch_add(1);
        }
      }
    });
  }
  for (int j = 0; j < kRegistrars; ++j) {
    threads.emplace_back([&, j] {
      for (int n = 0; n < 100000 && !stop.load(); ++n) {
        Registered customer{RandomAlnum(24), "secret-" + RandomAlnum(24), {}, {}};
        const HttpResponse response = SendRaw(
            server.port(), RegisterRequest("locationHistory", customer.key, customer.secret),
            ClientOptions{NextClientAddress(), 10s});
        tallies[kWriters + j].Record(response);
        if (response.status == 200 && !AdminKeyIn(response).empty()) {
          customer.admin_key = AdminKeyIn(response);
          customer.acknowledged_at = Clock::now();
          registered[j].push_back(customer);
          acknowledged.fetch_add(1);
        }
      }
    });
  }
  // Let traffic build up (bounded), then SIGTERM in the middle of it.
  const auto deadline = Clock::now() + 20s;
  while (acknowledged.load() < 60 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  const int acknowledged_before = acknowledged.load();
  const auto term_sent_at = Clock::now();
  // When an acknowledgement came, relative to SIGTERM: for the failure messages.
  auto relative_to_sigterm = [term_sent_at](Clock::time_point at) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at - term_sent_at);
    return std::to_string(us.count() >= 0 ? us.count() : -us.count()) + " us " +
           (us.count() >= 0 ? "after" : "before") + " SIGTERM was sent";
  };
  server.process().SignalTerm();
  const ExitInfo exit_info = server.process().WaitForExit(30s);
  stop.store(true);
  for (auto& thread : threads) thread.join();
  server.CheckCleanExit(exit_info);

  std::size_t registrations = 0;
  for (const auto& list : registered) registrations += list.size();
  Tally total;
  for (const Tally& tally : tallies) total.Add(tally);
  BOOST_TEST_MESSAGE("SIGTERM after " << acknowledged_before << " acknowledged writes; "
                                      << acknowledged.load() << " in all (" << registrations
                                      << " registrations); " << total.answered << " answered ("
                                      << total.unavailable << " x 503), " << total.unanswered
                                      << " attempts without an answer (" << total.cut
                                      << " of them cut after connecting: " << total.cut_error
                                      << "); exit: " << exit_info.Describe());
  BOOST_TEST(acknowledged_before >= 1);
  for (const HttpResponse& response : total.unexpected) {
    BOOST_TEST(false,
               "unexpected answer under load or shutdown (anything but a 503 or a 200 "
               "with its JSON body): "
                   << response.Describe());
  }
  for (const auto& list : registered) {
    for (const Registered& customer : list) {
      server.AddSensitive(customer.key);
      server.AddSensitive(customer.secret);
      server.AddSensitive(customer.admin_key);
    }
  }
  server.CheckLogClean();
  if (Args().backend == Backend::kMemory) {
    BOOST_TEST_MESSAGE("memory backend: nothing outlives the process; durability not checked");
    return;
  }

  // Every acknowledged write is there after a restart on the same storage and key file.
  server.Relaunch();
  for (int i = 0; i < kWriters; ++i) {
    const HttpResponse response = server.GetSettings(writers[i]);
    const boost::json::object settings = ExpectJson(response, 200, "writer's settings");
    const boost::json::value* seq = settings.if_contains("seq");
    if (last_acked[i] == 0) continue;
    BOOST_TEST_REQUIRE((seq != nullptr && seq->is_int64()), response.body);
    BOOST_TEST(
        seq->as_int64() >= last_acked[i],
        "writer " << i << ": stored seq " << seq->as_int64() << " < acknowledged " << last_acked[i]
                  << " (acknowledged " << relative_to_sigterm(acked_at[i])
                  << "); its last requests:" << [&] {
                       std::string text;
                       const auto& attempts = history[i];
                       // From two before the last acknowledged one (seq n is attempts[n - 1]).
                       const std::size_t first =
                           static_cast<std::size_t>(std::max(0, last_acked[i] - 3));
                       for (std::size_t k = first; k < attempts.size() && k < first + 5; ++k) {
                         text += "\n  seq " + std::to_string(attempts[k].seq) + ": " +
                                 (attempts[k].status != 0 ? std::to_string(attempts[k].status) + " "
                                                          : std::string()) +
                                 attempts[k].error_or_body + ", sent " +
                                 relative_to_sigterm(attempts[k].sent_at) + ", answered " +
                                 relative_to_sigterm(attempts[k].answered_at);
                       }
                       return text;
                     }());
    BOOST_TEST(seq->as_int64() <= last_sent[i]);
  }
  for (const auto& list : registered) {
    for (const Registered& registered_customer : list) {
      const Customer customer{"locationHistory", registered_customer.key,
                              registered_customer.secret, registered_customer.admin_key};
      server.ExpectSettings(customer, "{}",
                            "a registration acknowledged " +
                                relative_to_sigterm(registered_customer.acknowledged_at) +
                                ", after the restart");
    }
  }
  // The secrets are durable too (checked on a few: each costs an Argon2id verification).
  int checked = 0;
  for (const auto& list : registered) {
    for (std::size_t k = 0; k < list.size() && k < 2; ++k, ++checked) {
      const Customer customer{"locationHistory", list[k].key, list[k].secret, list[k].admin_key};
      const HttpResponse response = server.UpdateSecret(customer, customer.secret, customer.secret);
      BOOST_TEST(response.status == 204u, response.Describe());
    }
  }
  BOOST_TEST_MESSAGE("verified after restart: " << kWriters << " settings documents, "
                                                << registrations << " registrations, " << checked
                                                << " secrets");
}

BOOST_FIXTURE_TEST_CASE(a_request_in_flight_at_sigterm_is_answered, ServerFixture) {
  const Customer customer = server.NewCustomer();
  const std::string body = R"({"drained":true})";
  const std::string request = PostSettingsRequest(customer, body);
  Connection connection(server.port(), ClientOptions{NextClientAddress()});
  BOOST_TEST_REQUIRE(connection.ok(), connection.error());
  // The headers and most of the body arrive before SIGTERM, the rest after it.
  connection.Send(std::string_view(request).substr(0, request.size() - 5));
  std::this_thread::sleep_for(300ms);
  server.process().SignalTerm();
  std::this_thread::sleep_for(300ms);
  connection.Send(std::string_view(request).substr(request.size() - 5));
  const HttpResponse response = connection.ReadResponse();
  BOOST_TEST(response.status == 200u,
             "a request in flight at SIGTERM (within --shutdown-grace): " << response.Describe());
  server.CheckCleanExit(server.process().WaitForExit(30s));
  if (Args().backend == Backend::kMemory || response.status != 200) return;
  server.Relaunch();
  server.ExpectSettings(customer, body, "the drained write after a restart");
}

BOOST_FIXTURE_TEST_CASE(a_restart_keeps_customers_and_integrators, ServerFixture) {
  Customer customer = server.NewCustomer();
  ExpectJson(server.PostSettings(customer, R"({"kept":true})"), 200, "settings");
  const Integrator original = server.NewIntegrator();
  const Integrator rotated = server.RotateOk(original, R"({"oldSecretValidForSeconds":3600})");
  server.Restart();
  if (Args().backend == Backend::kMemory) {
    ExpectProblem(server.GetSettings(customer), 401, "memory:// starts empty");
    return;
  }
  server.ExpectSettings(customer, R"({"kept":true})", "settings after a restart");
  ExpectProblem(server.Rotate(original.id, original.secret), 401,
                "graced old secret after a restart");
  server.RotateOk(rotated);
  const std::string new_secret = NewSecret();
  server.AddSensitive(new_secret);
  BOOST_TEST(server.UpdateSecret(customer, customer.secret, new_secret).status == 204u);
}

BOOST_FIXTURE_TEST_CASE(data_written_under_other_keys_is_refused, ServerFixture,
                        *boost::unit_test::precondition(Persistent)) {
  const Customer customer = server.NewCustomer();
  if (Args().backend == Backend::kRocksDb) server.Stop();  // RocksDB is held by one process
  credstore::testing::TempDir dir("credstore-http-otherkeys");
  const auto key_file = dir.path() / "other.keys";
  {
    std::ofstream out(key_file, std::ios::binary);
    out << Keyring::Generate().Serialize().view();
  }
  chmod(key_file.c_str(), 0600);
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = server.storage_uri();
  config.key_file = key_file;
  config.work_dir = dir.path();
  config.operator_token = "unused-token-" + RandomAlnum(16);
  CredstoredProcess other(config);
  bool started = true;
  try {
    other.Start(30s);
  } catch (const std::exception& error) {
    started = false;
    BOOST_TEST_MESSAGE("refused as it should: " << std::string(error.what()).substr(0, 300));
  }
  BOOST_TEST(!started, "credstored started on data written under other keys");
  if (started) other.Kill();
  if (Args().backend == Backend::kRocksDb) server.Relaunch();
  server.ExpectSettings(customer, "{}", "the data is untouched");
}

BOOST_FIXTURE_TEST_CASE(a_second_server_cannot_open_the_same_rocksdb, ServerFixture,
                        *boost::unit_test::precondition(OnRocksDb)) {
  const Customer customer = server.NewCustomer();
  credstore::testing::TempDir dir("credstore-http-second");
  CredstoredConfig config = server.process().config();
  config.work_dir = dir.path();
  CredstoredProcess second(config);
  bool started = true;
  try {
    second.Start(30s);
  } catch (const std::exception& error) {
    started = false;
    BOOST_TEST_MESSAGE("refused as it should: " << std::string(error.what()).substr(0, 300));
  }
  BOOST_TEST(!started, "a second credstored opened a RocksDB folder that another one holds");
  if (started) second.Kill();
  server.ExpectSettings(customer, "{}", "the first server still serves");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
