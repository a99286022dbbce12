// credstore/credential_store.h — the whole life of a service's customer credentials.
//
// A CredentialStore runs two credential families over one StorageBackend:
//
//  Customers (per service, identified by their API key):
//    Register → admin key; RegenerateAdminKey (with the secret) revokes the old admin key at once
//    or after a grace; UpdateSecret (with the old secret); VerifyAdminKey protects the host's
//    admin routes; Get/PutSettings keep one opaque JSON document per customer.
//
//  Integrators (created by an operator, identified by a public "int_…" id):
//    VerifySignedRequest checks an HMAC-signed request; RotateIntegratorSecret replaces the
//    secret, optionally keeping the old one valid for a grace period. Only the current secret
//    may authorize a rotation: a graced old secret verifies requests but cannot rotate.
//
// Device tokens (OWASP's "device cookies"): every successful secret check (Register,
// RegenerateAdminKey, UpdateSecret) returns a new one, 32 characters of [A-Za-z0-9], and keeps
// only its keyed digest in the customer's record (the kMaxDeviceTokens most recent, each for
// kDeviceTokenLifetime by the Clock). The caller keeps the newest and passes it back in
// RequestContext::device_token on the customer's next secret check: a token the record holds
// skips the per-customer bucket that strangers share, and counts failures in a bucket of its
// own instead of the address's, so guesses by whoever knows the API key cannot lock the owner
// out. A token is not a credential: it opens nothing, and the secret is checked as always.
//
// Rules it keeps (docs/security-model.md): only Argon2id hashes of customer secrets, keyed BLAKE2b
// digests of admin keys and API keys, and XChaCha20-Poly1305-sealed integrator secrets are stored;
// an unknown customer, a wrong secret and an API key the ApiKeyValidator refuses answer alike
// after the same work on the routes that take a secret; failed attempts are
// throttled per address and per customer, reserved before Argon2id runs; at most
// Options::max_concurrent_hashes Argon2id computations run at once; every state change is one
// compare-and-swap of one record, retried on conflict; every state change is audited.
//
// Errors: every call returns a Status or Result; the codes each call can return are listed
// beside it. Any call may also return kUnavailable (storage unreachable, Argon2id budget spent —
// retry after Status::retry_after()) and kInternal (corrupt data or broken invariant).
// Validation happens before anything else, so a kInvalidArgument call changed nothing.
//
// Replication (a backend that waits for replicas: StorageBackend's "Replication"). The calls
// that mint a credential and hand it out once — those answering an AdminKeyGrant or an
// IntegratorSecret: Register, RegenerateAdminKey, ResetCustomer, CreateIntegrator,
// ResetIntegratorSecret, RotateIntegratorSecret — succeed when their write applied but too few
// replicas acknowledged it in time, with `replication_pending` set: withholding the new
// credential would lock its owner out of a record that holds it. A failover before the replicas
// catch up may still bring the previous credential back. Every other write answers kUnavailable
// then, its change applied and at risk alike. No call is retried by the store after
// kUnavailable, so a mint never mints twice.
//
// Thread safety: all methods are safe to call from many threads at once.
#ifndef CREDSTORE_CREDENTIAL_STORE_H_
#define CREDSTORE_CREDENTIAL_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/clock.h"
#include "credstore/keyring.h"
#include "credstore/options.h"
#include "credstore/request_context.h"
#include "credstore/secret_attempt.h"
#include "credstore/secret_string.h"
#include "credstore/signed_request.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore {

// How many device tokens a customer record keeps (the most recent; a new one evicts the oldest),
// and how long each stays valid after it was issued. Expired tokens are dropped whenever the
// record is written.
inline constexpr std::size_t kMaxDeviceTokens = 8;
inline constexpr std::chrono::milliseconds kDeviceTokenLifetime = std::chrono::hours(24 * 30);

// A newly minted admin key. Shown once: credstore keeps only its digest.
struct AdminKeyGrant {
  SecretString admin_key;        // 48 characters of [A-Za-z0-9]
  std::uint64_t generation = 0;  // increases with every regeneration of this customer's key
  // RegenerateAdminKey with a grace: when the previous admin key stops verifying. nullopt when
  // the previous key was revoked at once (no grace), and for Register and ResetCustomer.
  std::optional<Timestamp> old_key_expires_at = std::nullopt;
  // Register and RegenerateAdminKey: the device token this success minted (32 characters of
  // [A-Za-z0-9], shown once: credstore keeps only its digest). Give it back as
  // RequestContext::device_token on this customer's next secret check. Empty for ResetCustomer,
  // which checks no secret.
  SecretString device_token{};
  // The record holding the new key applied, but fewer replicas acknowledged it than the backend
  // was configured to wait for (see Replication at the top). False when they did, and with
  // every backend that waits for no replicas.
  bool replication_pending = false;
};

// What a successful UpdateSecret established.
struct SecretUpdate {
  std::uint64_t secret_generation = 0;  // increases with every change of the secret
  SecretString device_token{};          // as AdminKeyGrant::device_token
};

// What CheckAdminKey established about a valid admin key.
struct AdminKeyCheck {
  // An opaque, stable name for the customer: 64 lowercase hex digits (a 256-bit keyed BLAKE2b
  // digest of the service and the API key, with a personalization of its own). The same API key
  // under two services names two customers; the id reveals nothing about the API key, and it is
  // unlike any other digest credstore computes (audit ids included). Stable for as long as the
  // store's pepper is.
  std::string customer_id;
  // False: the key is the customer's current admin key. True: it is the previous key, still
  // valid during the grace RegenerateAdminKey gave it, until `expires_at`.
  bool graced = false;
  std::optional<Timestamp> expires_at;  // set iff graced
};

// A newly minted integrator secret. Shown once: credstore keeps it only sealed.
struct IntegratorSecret {
  std::string integrator_id;  // "int_…", public
  SecretString secret;
  std::uint64_t generation = 0;
  // When the previous secret stops verifying; nullopt when it was dropped at once.
  std::optional<Timestamp> old_secret_expires_at;
  // As AdminKeyGrant::replication_pending, for the record holding the new secret.
  bool replication_pending = false;
};

// What VerifySignedRequest established about a request.
struct VerifiedRequest {
  std::string integrator_id;
  std::uint64_t generation = 0;     // generation of the secret that signed it
  bool signed_with_current = true;  // false: signed with a graced old secret
};

struct IntegratorInfo {
  std::string integrator_id;
  std::string label;
  bool enabled = true;
  Timestamp created_at;
  std::uint64_t generation = 0;                    // of the current secret
  std::optional<Timestamp> old_secret_expires_at;  // set while an old secret is still valid
};

struct IntegratorPage {
  std::vector<IntegratorInfo> integrators;
  std::string next_cursor;  // empty when there are no more
};

// What ResealUnderNewestMasterKey did.
struct ResealReport {
  // Integrator records re-sealed under the newest master key (one compare-and-swap each).
  std::uint64_t integrators_resealed = 0;
  // Records whose live secrets were all under the newest master key already: left untouched.
  std::uint64_t integrators_already = 0;
  // Records left as they were: a sealed secret that no master key of this keyring opens (its key
  // is missing from the key file, or its bytes are damaged), a corrupt record, or one that kept
  // changing for every compare-and-swap attempt. Each is named in no report; run again once the
  // cause is fixed (a key put back, the broken integrator reset or deleted).
  std::uint64_t integrators_failed = 0;
  // The keycheck record: re-sealed under the newest master key by this call, already under it,
  // or still pending — the scan is not finished (next_cursor is set), or some integrator record
  // still holds a live secret under an older key. Only once it is no longer pending may an older
  // master key leave the key file.
  enum class Keycheck { kResealed, kAlready, kPending };
  Keycheck keycheck = Keycheck::kPending;
  // Non-empty: the integrator id to continue after (pass it as `cursor`); empty: the scan is
  // complete.
  std::string next_cursor;
};

// Counters since the store was opened; for metrics and tests.
struct StoreStats {
  std::uint64_t argon2_hashes = 0;         // new secret hashes computed
  std::uint64_t argon2_verifications = 0;  // secret checks run (dummy checks included)
  std::uint64_t argon2_budget_rejections = 0;
  std::uint64_t throttled = 0;
  std::uint64_t cas_retries = 0;
  // Keyed BLAKE2b digests computed (API keys, admin keys, integrator ids): the hashing work that
  // answers alike must also cost alike. An ApiKeyValidator's own digests are not counted.
  std::uint64_t keyed_digests = 0;
  // Mints that succeeded with their replication pending (replication_pending set; see
  // Replication at the top).
  std::uint64_t replication_pending = 0;
};

class CredentialStore {
 public:
  // Opens a store over `backend`. Checks the backend's `keycheck` record: on an empty backend it
  // is written (create-if-absent) for these keys; on a backend written under another pepper or
  // master key, Open fails with kUnauthorized and touches nothing else. Also fails with
  // kInvalidArgument on options out of range, and — touching nothing — on a backend that holds
  // records but no keycheck record (it lost it, or a copy never finished) or that is the target
  // of an unfinished MigrateStore (migration.h): neither is served as a new, empty store.
  static Result<std::unique_ptr<CredentialStore>> Open(std::shared_ptr<StorageBackend> backend,
                                                       Keyring keyring, Options options = {});

  ~CredentialStore();
  CredentialStore(const CredentialStore&) = delete;
  CredentialStore& operator=(const CredentialStore&) = delete;

  // ---- Customers --------------------------------------------------------------------------

  // Creates the customer's configuration with `secret`; returns its first admin key and the
  // customer's first device token.
  // kNotFound (unknown service) · kInvalidArgument (bad API key or secret) · kUnauthorized
  // (validator refused the key: the validator's status, only after the registration throttle and
  // the Argon2id hash of a registration, and never kAlreadyRegistered, so the answer neither
  // comes cheap nor tells whether the key has a configuration) · kAlreadyRegistered ·
  // kThrottled (registrations per address).
  Result<AdminKeyGrant> Register(const RequestContext& context, std::string_view service,
                                 std::string_view api_key, std::string_view secret);

  // Checks `secret` and issues a new admin key and a new device token. The old key is revoked at
  // once, or stays valid until now + `old_key_grace` (0..max_grace; the grant's
  // old_key_expires_at); an older graced key is dropped either way.
  // kInvalidArgument · kUnauthorized (wrong secret, no such customer, or an API key the
  // validator refuses: same answer, same work, throttled alike) · kThrottled (per address and
  // per customer; with a valid context.device_token, only that token's own failures count).
  Result<AdminKeyGrant> RegenerateAdminKey(
      const RequestContext& context, std::string_view service, std::string_view api_key,
      std::string_view secret,
      std::chrono::milliseconds old_key_grace = std::chrono::milliseconds(0));

  // Checks `secret` and replaces it with `new_secret`; the admin key is unchanged. Returns a new
  // device token. Device tokens issued before stay valid: they only choose a throttle bucket.
  // kInvalidArgument · kUnauthorized (as RegenerateAdminKey) · kThrottled (as RegenerateAdminKey).
  Result<SecretUpdate> UpdateSecret(const RequestContext& context, std::string_view service,
                                    std::string_view api_key, std::string_view secret,
                                    std::string_view new_secret);

  // OK iff `admin_key` is the customer's current admin key (or its graced predecessor).
  // kUnauthorized when missing, wrong, revoked, or the customer does not exist: the same status
  // and message after the same work. Never runs Argon2id: two keyed BLAKE2b hashes, whatever the
  // key (the empty one too), and one backend read (none for an empty key, whoever the customer).
  Status VerifyAdminKey(std::string_view service, std::string_view api_key,
                        std::string_view admin_key);

  // VerifyAdminKey that also says which customer and which key: the same checks, the same
  // answers and, on every refusal, the same work (it is one code path). On success it computes
  // one more keyed digest, the customer id. kNotFound (unknown service) · kInvalidArgument (bad
  // API key) · kUnauthorized (as VerifyAdminKey).
  Result<AdminKeyCheck> CheckAdminKey(std::string_view service, std::string_view api_key,
                                      std::string_view admin_key);

  // The customer's settings document ("{}" until set). kUnauthorized as VerifyAdminKey, after
  // the same work.
  Result<std::string> GetSettings(std::string_view service, std::string_view api_key,
                                  std::string_view admin_key);

  // Stores `settings_json` (opaque to the core: the caller validates JSON) and returns it.
  // kInvalidArgument (over max_settings_bytes, not UTF-8) · kUnauthorized.
  Result<std::string> PutSettings(const RequestContext& context, std::string_view service,
                                  std::string_view api_key, std::string_view admin_key,
                                  std::string_view settings_json);

  // Operator: sets a new secret and issues a new admin key (the old one is revoked at once);
  // settings are kept, device tokens are dropped (the customer starts over; the next successful
  // secret check issues one). kInvalidArgument · kNotFound.
  Result<AdminKeyGrant> ResetCustomer(const RequestContext& context, std::string_view service,
                                      std::string_view api_key, std::string_view new_secret);

  // Operator: removes the customer's configuration and settings; it may register again.
  // kInvalidArgument · kNotFound.
  Status DeleteCustomer(const RequestContext& context, std::string_view service,
                        std::string_view api_key);

  // Operator: forgets the failed attempts (and registrations) counted against a client address,
  // bucketed as the throttle counts it (ThrottleBucketOf), so the clients behind one NAT that a
  // guesser locked out may try again at once. kInvalidArgument for an empty address.
  Status ClearAddressThrottle(const RequestContext& context, std::string_view client_address);

  // Operator: forgets the failed attempts counted against a customer, registered or not (its
  // bucket is full again). kInvalidArgument (a malformed API key) · kNotFound (unknown service).
  Status ClearCustomerThrottle(const RequestContext& context, std::string_view service,
                               std::string_view api_key);

  // ---- Integrators ------------------------------------------------------------------------

  // Operator: creates an integrator (label: 0..200 bytes of UTF-8, for people) and its first
  // secret. kInvalidArgument.
  Result<IntegratorSecret> CreateIntegrator(const RequestContext& context, std::string_view label);

  // Operator: integrators in id order, `limit` (1..1000) at a time, after `cursor`.
  Result<IntegratorPage> ListIntegrators(std::string_view cursor, std::size_t limit);

  // Operator: one integrator. kNotFound.
  Result<IntegratorInfo> GetIntegrator(std::string_view integrator_id);

  // Operator: a disabled integrator's requests no longer verify (nor rotate); an enabled one's
  // verify again, with the secrets it had. Both are idempotent. kNotFound.
  Status DisableIntegrator(const RequestContext& context, std::string_view integrator_id);
  Status EnableIntegrator(const RequestContext& context, std::string_view integrator_id);

  // Operator: erases the integrator; its id then answers kNotFound everywhere, for good (ids are
  // never reused). Replay records of its signatures expire on their own. kNotFound.
  Status DeleteIntegrator(const RequestContext& context, std::string_view integrator_id);

  // Operator: issues a new secret and drops every other one at once — the way back when a
  // rotation's response was lost. kNotFound.
  Result<IntegratorSecret> ResetIntegratorSecret(const RequestContext& context,
                                                 std::string_view integrator_id);

  // Checks an integrator's signed request: timestamp within signature_tolerance, MAC by the
  // current secret or a still-graced old one, and not seen before (the MAC is remembered for as
  // long as its timestamp is accepted: through timestamp + tolerance, inclusive). kUnauthorized
  // (missing/malformed headers, stale or future timestamp, bad MAC, replay, disabled integrator) ·
  // kNotFound (unknown integrator) · kInvalidArgument (a `body_sha256` that is not 64 lowercase
  // hex digits, or set together with `body`; checked first).
  Result<VerifiedRequest> VerifySignedRequest(const SignedRequest& request);

  // Verifies `request` as above and requires that it was signed with the *current* secret
  // (kUnauthorized otherwise), then makes a new secret current. The secret that was current
  // stays valid until now + `old_secret_grace` (0..max_grace; 0 drops it at once); any earlier
  // old secret is dropped. kInvalidArgument (grace out of range, checked first) · as above.
  Result<IntegratorSecret> RotateIntegratorSecret(const RequestContext& context,
                                                  const SignedRequest& request,
                                                  std::chrono::milliseconds old_secret_grace);

  // ---- Keys of the server ------------------------------------------------------------------

  // Operator: re-seals what older master keys sealed under the keyring's newest one, so that the
  // older keys can leave the key file (docs/operations.md, "Rotating the master key"). Online:
  // the store keeps serving, and each integrator record — its current secret and a still-graced
  // old one, each with its slot, generation and expiry unchanged — is re-sealed by one
  // compare-and-swap, retried on conflict against the fresh record, so a rotation or reset that
  // lands meanwhile is never lost or undone. An old secret whose grace has ended is dropped
  // instead (it can never verify again). Idempotent: a record already under the newest key is
  // skipped, so a run that stopped anywhere (a crash, a lost connection) is finished by running
  // it again, from the start or from the last cursor it returned.
  //
  // Integrators are taken in id order after `cursor` (empty: from the first), `limit` of them
  // (1..1000), or all of them (0). When a call reaches the end of the scan, it checks that no
  // integrator record still holds a live secret under an older key and only then re-seals the
  // keycheck record (compare-and-swap), which is what lets a store open without the older keys;
  // otherwise the keycheck stays pending.
  //
  // Every server sharing the store must have the newest key before a re-seal: one that still
  // has only older keys seals new secrets under them, and once the keycheck moves its readiness
  // check fails (kUnauthorized), which takes it out of service.
  //
  // kInvalidArgument (limit over 1000; checked first) · storage errors (kUnavailable) end the
  // call, leaving each record either re-sealed or as it was.
  Result<ResealReport> ResealUnderNewestMasterKey(const RequestContext& context,
                                                  std::string_view cursor = {},
                                                  std::size_t limit = 0);

  // ---- Two-step forms of the calls that run Argon2id (credstore/secret_attempt.h) ----------
  //
  // For hosts that queue Argon2id work: ReserveAttempt() on a thread that may block (storage
  // I/O, no Argon2id; on the calling thread when NeverBlocks()), then — only if it granted the
  // attempt — the call with that attempt on the hashing thread. Together they answer exactly what
  // the one-step call answers, after the same work.

  // Runs every check of `operation` that needs no Argon2id, in the one-step call's order — the
  // service (kNotFound), the forms of the API key, `secret`, `new_secret` (kUpdateSecret only)
  // and `old_key_grace` (kRegenerateAdminKey only) (kInvalidArgument), then the throttle — and
  // counts the attempt against the client's address (and, but for kRegister, the customer).
  // kThrottled (retry_after set) when a limit is spent: nothing stays counted then. A granted
  // attempt is for this operation, service, API key and client address only.
  Result<SecretAttempt> ReserveAttempt(
      const RequestContext& context, SecretOperation operation, std::string_view service,
      std::string_view api_key, std::string_view secret, std::string_view new_secret = {},
      std::chrono::milliseconds old_key_grace = std::chrono::milliseconds(0));

  // Gives back an attempt whose call never ran (the host's queue refused it). Storage I/O, best
  // effort: if the store cannot be reached the attempt stays counted. Empty attempts are ignored.
  void RefundAttempt(SecretAttempt attempt);

  // The one-step calls' second halves. They answer as their one-step namesakes, except that the
  // throttle was settled by the attempt: kInvalidArgument, and nothing run, for an empty attempt
  // or one reserved for another operation, service, API key or client address.
  Result<AdminKeyGrant> Register(SecretAttempt attempt, const RequestContext& context,
                                 std::string_view service, std::string_view api_key,
                                 std::string_view secret);
  Result<AdminKeyGrant> RegenerateAdminKey(
      SecretAttempt attempt, const RequestContext& context, std::string_view service,
      std::string_view api_key, std::string_view secret,
      std::chrono::milliseconds old_key_grace = std::chrono::milliseconds(0));
  Result<SecretUpdate> UpdateSecret(SecretAttempt attempt, const RequestContext& context,
                                    std::string_view service, std::string_view api_key,
                                    std::string_view secret, std::string_view new_secret);

  // ---- Non-blocking forms, for event loops -------------------------------------------------
  //
  // Each does exactly what its blocking namesake does, with the same answers and the same work,
  // but never blocks: no Argon2id, no storage I/O, no lock waited for. nullopt means "would
  // block" (for instance, the RocksDB block cache does not hold the record): call the blocking
  // form from a thread that may block. "Would block" is not a StatusCode and never reaches a
  // client. Neither call changes anything, so calling the blocking form after nullopt is safe.

  std::optional<Status> TryVerifyAdminKey(std::string_view service, std::string_view api_key,
                                          std::string_view admin_key);
  std::optional<Result<AdminKeyCheck>> TryCheckAdminKey(std::string_view service,
                                                        std::string_view api_key,
                                                        std::string_view admin_key);
  std::optional<Result<std::string>> TryGetSettings(std::string_view service,
                                                    std::string_view api_key,
                                                    std::string_view admin_key);

  // True iff every call that runs no Argon2id (Verify/CheckAdminKey, Get/PutSettings,
  // VerifySignedRequest, RotateIntegratorSecret, the operator calls) completes without blocking:
  // the backend answers from memory and the ApiKeyValidator never blocks. An event loop may then
  // make those calls directly, writes included.
  bool NeverBlocks() const;

  // ---- Readiness --------------------------------------------------------------------------

  // OK iff the store can serve now: the backend reports itself healthy
  // (StorageBackend::CheckHealth) and the keycheck record Open checked is still there and still
  // matches this store's keys. Otherwise kUnavailable (storage unreachable or unhealthy, or the
  // keycheck record gone: the store lost its data), kUnauthorized (the record was rewritten
  // under other keys) or kInternal (it is corrupt); the message is for operators and may name
  // the backend. Reads one record: call it from a thread that may block unless NeverBlocks().
  // Changes nothing.
  Status CheckReady();

  // OK iff the backend accepts writes now (StorageBackend::CheckWrites); kUnavailable, with a
  // message for operators, while it refuses them but may still serve reads (RocksDB below its
  // free-space reserve). Then every call that writes answers kUnavailable — registrations,
  // settings writes, rotations, and signed requests, which are never verified without their
  // replay record, and wrong secrets, which are never answered without their throttle counts —
  // while admin-key checks and settings reads keep answering. A host keeps such a store in
  // service (it is the only copy of the data) and reports the writes as unavailable. Never
  // blocks; changes nothing.
  Status CheckWrites();

  // ---- Backups ----------------------------------------------------------------------------

  // Operator: an online checkpoint of the whole store named `name` (StorageBackend::Checkpoint),
  // made while the store serves; returns where the backend put it. Audited as
  // "store.checkpoint". kInvalidArgument (!IsValidCheckpointName(name)) · kConflict (a
  // checkpoint of that name exists, or the backend takes none: the message says which) ·
  // kUnavailable (it cannot be made now). Blocks while the copy is made.
  Result<std::string> Checkpoint(const RequestContext& context, std::string_view name);

  // ---- Introspection ----------------------------------------------------------------------

  // True iff `service` is one of Options::services.
  bool HasService(std::string_view service) const;
  StoreStats Stats() const;
  const Options& options() const;

 private:
  class Impl;
  explicit CredentialStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace credstore

#endif  // CREDSTORE_CREDENTIAL_STORE_H_
