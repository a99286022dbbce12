// Embeds credstore: a customer registers, proves its admin key, regenerates it.
#include <cstdlib>
#include <iostream>
#include <memory>

#include "credstore/backends/memory.h"
#include "credstore/credential_store.h"

using credstore::Status;

// This example is also a test, so any unexpected answer ends it with a non-zero status.
void Expect(bool as_expected, const char* step, const Status& status) {
  if (as_expected) return;
  std::cerr << "quickstart: " << step << ": unexpected " << status.ToString() << '\n';
  std::exit(EXIT_FAILURE);
}

int main() {
  credstore::Options options;
  options.argon2 = credstore::Argon2Cost::MinimumForTests();  // fast, and unsafe in production
  auto opened = credstore::CredentialStore::Open(std::make_shared<credstore::MemoryBackend>(),
                                                 credstore::Keyring::Generate(), options);
  Expect(opened.ok(), "Open", opened.status());
  credstore::CredentialStore& store = **opened;
  const credstore::RequestContext client{.client_address = "203.0.113.7", .request_id = "demo-1"};

  auto first = store.Register(client, "geofencing", "customer-api-key", "correct horse");
  Expect(first.ok(), "Register", first.status());
  Status status = store.VerifyAdminKey("geofencing", "customer-api-key", first->admin_key.view());
  Expect(status.ok(), "VerifyAdminKey(first key)", status);

  auto second = store.RegenerateAdminKey(client, "geofencing", "customer-api-key", "correct horse");
  Expect(second.ok(), "RegenerateAdminKey", second.status());
  status = store.VerifyAdminKey("geofencing", "customer-api-key", first->admin_key.view());
  Expect(status.code() == credstore::StatusCode::kUnauthorized, "old key after regenerate", status);
  status = store.VerifyAdminKey("geofencing", "customer-api-key", second->admin_key.view());
  Expect(status.ok(), "VerifyAdminKey(new key)", status);

  std::cout << "quickstart: the old admin key is revoked, the new one works\n";
  return EXIT_SUCCESS;
}
