// credstore/secret_attempt.h — a secret check's place in the throttle, taken before its Argon2id.
//
// Register, RegenerateAdminKey and UpdateSecret each spend ~0.1 s of Argon2id. A host that runs
// them on a bounded queue of its own (credstored does) must not let a throttled guess take a
// place in that queue: a flood of wrong guesses would fill it and refuse the owner's correct
// call. So those calls come in two steps (CredentialStore::ReserveAttempt, then the call with
// the attempt): the first runs every check that needs no Argon2id and counts the attempt against
// the throttle — storage I/O, no hashing — and only an attempt it grants goes into the queue.
// The one-step calls do both steps themselves.
//
// Thread safety: a SecretAttempt is a value; use one from one thread at a time. It may move
// between threads (from the storage thread that reserved it to the hashing thread that uses it).
#ifndef CREDSTORE_SECRET_ATTEMPT_H_
#define CREDSTORE_SECRET_ATTEMPT_H_

#include <memory>

namespace credstore {

// The calls that check or set a customer's secret, and so run Argon2id.
enum class SecretOperation {
  kRegister,            // counted per client address (each registration is an Argon2id hash)
  kRegenerateAdminKey,  // counted per address and per customer, refunded when the secret is right
  kUpdateSecret,        // as kRegenerateAdminKey
};

// What CredentialStore::ReserveAttempt granted: one attempt, counted against the throttle until
// the call it was reserved for spends it (the secret proves right: refunded then; wrong: it
// stays counted) or CredentialStore::RefundAttempt gives it back (the call never ran). Dropped
// otherwise, the attempt stays counted, which errs on the safe side; dropping does no I/O.
// Move-only. A moved-from attempt is empty and is refused by every call.
class SecretAttempt {
 public:
  SecretAttempt(SecretAttempt&& other) noexcept;
  SecretAttempt& operator=(SecretAttempt&& other) noexcept;
  ~SecretAttempt();

  SecretAttempt(const SecretAttempt&) = delete;
  SecretAttempt& operator=(const SecretAttempt&) = delete;

  // False once moved from or spent.
  bool valid() const { return state_ != nullptr; }

  struct State;  // the store's bookkeeping; opaque to callers

 private:
  friend class CredentialStore;
  explicit SecretAttempt(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace credstore

#endif  // CREDSTORE_SECRET_ATTEMPT_H_
