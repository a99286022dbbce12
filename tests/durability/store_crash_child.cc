// The writer process of store_crash_test: registers customers and rotates their admin keys and
// an integrator's secret through CredentialStore over RocksDB, printing one line per
// acknowledged call, until it is killed (or a bound is reached).
//   usage: store_crash_child <rocksdb folder> <key file>
//   "C <api key> <generation> <admin key>"   an acknowledged Register/RegenerateAdminKey
//   "I <integrator id> <generation> <secret>" an acknowledged CreateIntegrator/Rotate...
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "credstore/backends/rocksdb.h"
#include "credstore/credential_store.h"

int main(int argc, char** argv) {
  using namespace credstore;
  if (argc != 3) return 2;
  std::ifstream key_file(argv[2]);
  std::stringstream key_text;
  key_text << key_file.rdbuf();
  auto keyring = Keyring::Parse(key_text.str());
  RocksDbOptions rocks;
  rocks.path = argv[1];
  auto backend = RocksDbBackend::Open(rocks);
  if (!keyring.ok() || !backend.ok()) return 3;
  Options options;
  options.argon2 = Argon2Cost::MinimumForTests();
  options.audit = std::make_shared<NullAuditSink>();
  auto store =
      CredentialStore::Open(std::move(backend).value(), std::move(keyring).value(), options);
  if (!store.ok()) return 4;
  CredentialStore& s = **store;
  const RequestContext context;  // no address: only the per-customer rate applies

  auto integrator = s.CreateIntegrator(context, "crash");
  if (!integrator.ok()) return 5;
  std::string secret(integrator->secret.view());
  std::printf("I %s %llu %s\n", integrator->integrator_id.c_str(),
              static_cast<unsigned long long>(integrator->generation), secret.c_str());
  std::fflush(stdout);

  constexpr int kCustomers = 8;
  for (int i = 0; i < kCustomers; ++i) {
    const std::string api_key = "crash_customer_" + std::to_string(i);
    auto grant = s.Register(context, "geofencing", api_key, "crash secret");
    if (!grant.ok()) return 6;
    std::printf("C %s %llu %s\n", api_key.c_str(),
                static_cast<unsigned long long>(grant->generation),
                std::string(grant->admin_key.view()).c_str());
    std::fflush(stdout);
  }
  for (int i = 0; i < 100000; ++i) {  // bounded: the parent kills it long before
    if (i % 3 == 2) {
      const std::string ts = std::to_string(SystemClock().Now().time_since_epoch().count());
      const std::string target = "/v1/integrator/regenerate-secret";
      const std::string body = "{\"i\":" + std::to_string(i) + "}";
      SignedRequest request{integrator->integrator_id, ts, "", "POST", target, body};
      const std::string signature = SignRequest(secret, ts, "POST", target, body);
      request.signature = signature;
      auto rotated = s.RotateIntegratorSecret(context, request, std::chrono::milliseconds(0));
      if (!rotated.ok()) return 7;
      secret = std::string(rotated->secret.view());
      std::printf("I %s %llu %s\n", integrator->integrator_id.c_str(),
                  static_cast<unsigned long long>(rotated->generation), secret.c_str());
    } else {
      const std::string api_key = "crash_customer_" + std::to_string(i % kCustomers);
      auto grant = s.RegenerateAdminKey(context, "geofencing", api_key, "crash secret");
      if (!grant.ok()) return 8;
      std::printf("C %s %llu %s\n", api_key.c_str(),
                  static_cast<unsigned long long>(grant->generation),
                  std::string(grant->admin_key.view()).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
