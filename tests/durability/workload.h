// A credential workload run through CredentialStore, remembering every plaintext it used, so a
// test can then look for those plaintexts in what a backend wrote to disk.
#ifndef CREDSTORE_TESTS_DURABILITY_WORKLOAD_H_
#define CREDSTORE_TESTS_DURABILITY_WORKLOAD_H_

#include <string>
#include <vector>

#include "credstore/credential_store.h"

namespace credstore::testing {

// Registers customers, regenerates and updates their secrets, writes settings, creates and
// rotates integrators. Returns every secret, admin key, API key, device token and integrator
// secret used.
// Fails the current Boost.Test case on any unexpected result.
std::vector<std::string> RunPlaintextWorkload(CredentialStore& store, const Clock& clock);

// Options for stores in these tests: minimum Argon2id cost, no audit output.
Options DurabilityTestOptions(std::shared_ptr<const Clock> clock);

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_DURABILITY_WORKLOAD_H_
