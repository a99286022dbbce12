#!/usr/bin/env python3
"""Turns bench/run's results file into docs/benchmarks.md and its plots.

Usage: report.py RESULTS_JSON DOCS_DIR

The results file holds what one `bench/run` measured on one machine: the library benchmarks
(credstore_bench --json), the HTTP benchmark (bench/http_bench --json) and a description of the
machine. Everything on the page is derived from that file, so the page can be regenerated from
a checked-in results file without measuring again. Plots are drawn by gnuplot as SVG.
"""

import json
import os
import subprocess
import sys
import tempfile

TARGET_VERIFY_RATIO = 0.80  # the verify target of docs/benchmarks.md
TARGET_ARGON2_SHARE = 0.95
BACKENDS = ("memory", "rocksdb", "redis")
# The scale-out variants of the Redis backend: measured against their floors like the others
# (the near-cache against the memory floor, the cluster against a GET to the owning master).
VERIFY_BACKENDS = BACKENDS + ("redis_cached", "redis_cluster")


def fmt_rate(value):
    return f"{value:,.0f}" if value is not None else "—"


def fmt_us(value):
    return f"{value:.2f}" if value is not None else "—"


def fmt_ratio(value, target=None):
    if value is None:
        return "—"
    text = f"{value:.2f}×"
    if target is not None and value < target:
        text += " (below target)"
    return text


def library_entries(results, kind, backend=None):
    return [entry for entry in results.get("library", {}).get("results", [])
            if entry["kind"] == kind and (backend is None or entry["backend"] == backend)]


def by_threads(entries):
    return {entry["measurement"]["threads"]: entry for entry in entries}


# ---- Targets ------------------------------------------------------------------------------------

# The project's speed targets, in the order the page lists them: (name, what it compares, how it
# is judged). Each is a ratio measured in one run: credstore_bench and bench/http_bench write
# them to their JSON's "targets" arrays; nothing asserts them.
TARGETS = (
    ("settings_get_memory_vs_nginx",
     "settings GET, memory backend, access log on ÷ nginx `return 200` (access_log off)", ">= 0.7"),
    ("settings_get_rocksdb_vs_nginx",
     "settings GET, RocksDB, customers in the block cache ÷ nginx `return 200`", ">= 0.7"),
    ("settings_post_rocksdb_vs_fillsync",
     "settings POST, RocksDB, 64 connections over ≥ 256 customers ÷ `db_bench fillsync "
     "--threads=64`", ">= 0.8"),
    ("settings_get_during_flood_memory",
     "settings GET rate during a register flood ÷ its rate alone, memory", ">= 0.5"),
    ("settings_get_during_flood_rocksdb",
     "settings GET rate during a register flood ÷ its rate alone, RocksDB", ">= 0.5"),
    ("verify_admin_key_memory_vs_nginx",
     "`POST /v1/verify/admin-key`, memory, verifier token on every call ÷ nginx `return 200`",
     ">= 0.6"),
    ("verify_admin_key_rocksdb_vs_nginx",
     "`POST /v1/verify/admin-key`, RocksDB, customers in the block cache ÷ nginx `return 200`",
     ">= 0.6"),
    ("auth_admin_key_memory_vs_nginx",
     "`GET /v1/auth/admin-key` (nginx profile), memory ÷ nginx `return 200`", ">= 0.6"),
    ("auth_admin_key_rocksdb_vs_nginx",
     "`GET /v1/auth/admin-key` (nginx profile), RocksDB ÷ nginx `return 200`", ">= 0.6"),
    ("auth_request_memory_vs_proxy",
     "nginx `auth_request` → credstored (memory) → upstream ÷ the same nginx proxying without "
     "`auth_request`", ">= 0.4"),
    ("auth_request_rocksdb_vs_proxy",
     "nginx `auth_request` → credstored (RocksDB) → upstream ÷ the same nginx proxying without "
     "`auth_request`", ">= 0.4"),
    ("rocksdb_verify_p99_1e6_vs_1e3",
     "VerifyAdminKey p99 at 10^6 customers ÷ p99 at 10^3, RocksDB", "<= 3"),
    ("redis_cached_verify_vs_floor_2t",
     "VerifyAdminKey over Redis with the near-cache (hits) ÷ the memory floor (two hashes + a "
     "hash-map probe), 2 threads", ">= 0.8"),
    ("redis_cluster_verify_vs_floor_2t",
     "VerifyAdminKey over a Redis Cluster, uncached ÷ two hashes + a bare hiredis `GET` to the "
     "owning master, 2 threads", ">= 0.8"),
    ("redis_cached_propagation_p99_ms",
     "a revocation on one instance until another refuses the old key, p99 in ms (near-cache, "
     "loopback)", "<= 10"),
    ("memory_verify_unknown_vs_wrong_key_median",
     "VerifyAdminKey median, unknown customer ÷ known customer with a wrong key (memory, "
     "interleaved): same answer, same work", "0.9..1.1"),
)


def measured_targets(results):
    """Every target entry of the run, by name: the HTTP benchmark's and the library's."""
    found = {}
    for source in ((results.get("http") or {}).get("targets", []),
                   (results.get("library") or {}).get("targets", [])):
        for entry in source:
            found[entry["name"]] = entry
    # Results files from before the targets arrays: what they measured all the same.
    http = results.get("http") or {}
    if "settings_post_rocksdb_vs_fillsync" not in found and \
            http.get("settings_post_rocksdb_to_fillsync") is not None:
        found["settings_post_rocksdb_vs_fillsync"] = {
            "value": http["settings_post_rocksdb_to_fillsync"], "measured": ""}
    for backend in BACKENDS:
        p99 = {count: m["p99_us"] for count, m in scale_points(results, backend)}
        if 1000 in p99 and 1000000 in p99 and p99[1000] > 0:
            found.setdefault(f"{backend}_verify_p99_1e6_vs_1e3",
                             {"value": p99[1000000] / p99[1000], "measured": ""})
    return found


def judge(value, target):
    """True/False against a target written as '>= x', '<= x' or 'lo..hi'; None if unmeasured."""
    if value is None:
        return None
    target = target.strip()
    if target.startswith(">="):
        return value >= float(target[2:])
    if target.startswith("<="):
        return value <= float(target[2:])
    low, high = (float(bound) for bound in target.split(".."))
    return low <= value <= high


def targets_section(results):
    smoke = ((results.get("http") or {}).get("settings") or {}).get("smoke")
    lines = ["## Targets", "",
             "Each target is a ratio of two measurements made in the same run on the same "
             "machine; they are measured and reported, never asserted by a test. How each was "
             "measured is in the sections below.", ""]
    if smoke:
        lines += ["**This page comes from a smoke run: the numbers are too short to judge.**", ""]
    lines += ["| target | ratio | goal | met | measured as |", "|---|---|---|---|---|"]
    found = measured_targets(results)
    shown = set()
    for name, label, goal in TARGETS:
        entry = found.get(name)
        value = entry.get("value") if entry else None
        met = judge(value, goal)
        lines.append(f"| {label} | {'not measured' if value is None else f'{value:.2f}'} | "
                     f"{goal.replace('>=', '≥').replace('<=', '≤')} | "
                     f"{'—' if met is None else ('yes' if met else '**no**')} | "
                     f"{(entry or {}).get('measured') or '—'} |")
        shown.add(name)
    others = [(name, entry) for name, entry in found.items()
              if name not in shown and entry.get("target")]
    if others:
        lines += ["", "The library's other targets in this run:", "",
                  "| target | ratio | goal | met |", "|---|---|---|---|"]
        for name, entry in others:
            met = judge(entry.get("value"), entry["target"])
            lines.append(f"| `{name}` | {fmt_ratio(entry.get('value')).rstrip('×')} | "
                         f"{entry['target'].replace('>=', '≥').replace('<=', '≤')} | "
                         f"{'—' if met is None else ('yes' if met else '**no**')} |")
    lines.append("")
    return lines


# ---- Tables -------------------------------------------------------------------------------------

def machine_section(results):
    machine = results.get("machine", {})
    lines = ["## Machine and settings", ""]
    for key, label in (("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"),
                       ("kernel", "kernel"), ("compiler", "compiler"),
                       ("build", "build"), ("versions", "versions")):
        if key in machine:
            lines.append(f"- **{label}**: {machine[key]}")
    if "generated_at" in results:
        lines.append(f"- **measured**: {results['generated_at']}")
    for command in results.get("commands", []):
        lines.append(f"- **command**: `{command}`")
    if machine.get("notes"):
        lines.append(f"- **notes**: {machine['notes']}")
    lines.append("")
    return lines


def verify_section(results):
    lines = ["## VerifyAdminKey against its floor", "",
             "The floor is what the call cannot avoid: two keyed BLAKE2b hashes (computed as the "
             "store computes them, from each kind's keyed state set up once) plus one read of "
             "the backend's storage (memory: a hash-map probe; RocksDB: a bare `DB::Get` of a "
             "record of the same size; Redis: a bare hiredis `GET` on the same connections; "
             "Redis with the near-cache: the memory floor, since a hit is a map probe; Redis "
             "Cluster: a bare `GET` sent straight to the master that owns the key's slot). "
             f"Target: at least {TARGET_VERIFY_RATIO:.2f}× the floor's throughput.", "",
             "| backend | threads | floor ops/s | verify ops/s | ratio | verify p50 µs | verify p99 µs |",
             "|---|---|---|---|---|---|---|"]
    for backend in VERIFY_BACKENDS:
        floors = by_threads(library_entries(results, "verify_floor", backend))
        verifies = by_threads(library_entries(results, "verify", backend))
        for threads in sorted(verifies):
            verify = verifies[threads]
            floor = floors.get(threads)
            measurement = verify["measurement"]
            lines.append(
                f"| {backend} | {threads} | "
                f"{fmt_rate(floor['measurement']['ops_per_second'] if floor else None)} | "
                f"{fmt_rate(measurement['ops_per_second'])} | "
                f"{fmt_ratio(verify.get('ratio_to_floor'), TARGET_VERIFY_RATIO)} | "
                f"{fmt_us(measurement['p50_us'])} | {fmt_us(measurement['p99_us'])} |")
    lines.append("")
    unknown = library_entries(results, "verify_unknown_customer", "memory")
    wrong = library_entries(results, "verify_wrong_admin_key", "memory")
    ratio = library_entries(results, "unknown_vs_wrong_key_median", "memory")
    same = library_entries(results, "unknown_vs_wrong_key_same_answer", "memory")
    if unknown and wrong and ratio:
        u, w = unknown[0]["measurement"], wrong[0]["measurement"]
        lines += ["Same answer, same work: VerifyAdminKey for an API key that is not registered "
                  "and for a registered customer with a wrong admin key, on memory with every "
                  "record read once, measured interleaved on one thread. "
                  f"Both answered {'the same' if same and same[0]['value'] else '**differently**'}; "
                  f"medians {fmt_us(u['p50_us'])} µs and {fmt_us(w['p50_us'])} µs "
                  f"(p99 {fmt_us(u['p99_us'])} and {fmt_us(w['p99_us'])} µs): unknown ÷ wrong key "
                  f"= {ratio[0]['value']:.2f} (target 0.9–1.1).", ""]
    return lines


def scale_out_section(results):
    """The scale-out figures: cached and cluster verification, and a revocation's propagation."""
    lines = ["## Scale-out", ""]
    rows = {}
    for backend in ("memory", "redis", "redis_cached", "redis_cluster"):
        verifies = by_threads(library_entries(results, "verify", backend))
        if 2 in verifies:
            rows[backend] = verifies[2]
    propagation = library_entries(results, "propagation", "redis_cached")
    if not rows and not propagation:
        return []
    if rows:
        lines += ["VerifyAdminKey at 2 threads, each against its floor (see the table above):", "",
                  "| backend | verify ops/s | ratio to its floor | p50 µs | p99 µs |",
                  "|---|---|---|---|---|"]
        for backend, entry in rows.items():
            m = entry["measurement"]
            lines.append(f"| {backend} | {fmt_rate(m['ops_per_second'])} | "
                         f"{fmt_ratio(entry.get('ratio_to_floor'), TARGET_VERIFY_RATIO)} | "
                         f"{fmt_us(m['p50_us'])} | {fmt_us(m['p99_us'])} |")
        lines.append("")
    if propagation:
        m = propagation[0]["measurement"]
        lines += ["A revocation's propagation: two backends over one Redis, each with the "
                  "near-cache, stand for two instances. Instance A regenerates a customer's admin "
                  "key; instance B, which has just verified (and cached) the old key, is polled "
                  "until it refuses it. From A's return to B's first refusal, over "
                  f"{m['operations']} regenerations: p50 {fmt_us(m['p50_us'])} µs, p99 "
                  f"{fmt_us(m['p99_us'])} µs, mean {fmt_us(m['mean_us'])} µs (goal: p99 ≤ 10 ms; "
                  "never later than the cache's 1 s maximum age).", ""]
    redis = rows.get("redis")
    cached = rows.get("redis_cached")
    cluster = rows.get("redis_cluster")
    carry = []
    if redis:
        carry.append(f"one Redis primary, reached over its unix socket by two client threads, "
                     f"served {fmt_rate(redis['measurement']['ops_per_second'])} verifications/s "
                     "(the two threads, not Redis, were the limit on this 2-core machine)")
    if cached:
        carry.append(f"with the near-cache the same two threads did "
                     f"{fmt_rate(cached['measurement']['ops_per_second'])}/s and Redis saw "
                     "almost none of them")
    if cluster:
        carry.append(f"a three-master cluster on the same cores did "
                     f"{fmt_rate(cluster['measurement']['ops_per_second'])}/s uncached")
    lines += ["How it grows past this machine. Instances share nothing but the store, so "
              "verification scales by adding credstored instances: with the near-cache each "
              "instance answers repeated verifications from memory, at about the memory "
              "backend's speed per core, and sends Redis only misses, writes, replay records and "
              "throttle counters. Measured here: " + ("; ".join(carry) + "." if carry else
              "see the tables above.") + " Writes and misses are what the store must carry: "
              "one Redis primary runs its commands on one core, so when that core is the limit, "
              "a Redis Cluster spreads the records over more masters by hash slot — every "
              "record is one key, every script touches one key, so adding masters (and moving "
              "slots to them with `redis-cli --cluster reshard`, which credstored follows "
              "without a restart) adds write capacity in proportion, and each master keeps its "
              "own replica for failover.", ""]
    return lines


def integrator_section(results):
    lines = ["## Integrator calls", "",
             "| backend | call | ops/s | p50 µs | p99 µs |", "|---|---|---|---|---|"]
    for backend in BACKENDS:
        for kind, label in (("verify_signed", "VerifySignedRequest"),
                            ("rotate", "RotateIntegratorSecret")):
            for entry in library_entries(results, kind, backend):
                m = entry["measurement"]
                lines.append(f"| {backend} | {label} | {fmt_rate(m['ops_per_second'])} | "
                             f"{fmt_us(m['p50_us'])} | {fmt_us(m['p99_us'])} |")
    lines.append("")
    return lines


def argon2_section(results):
    lines = ["## Argon2id-bound calls", "",
             "The share is read inside each call: the benchmark interposes libsodium's Argon2id "
             "entry points and times them, so share = time in Argon2id ÷ time in the call, over "
             "the same calls. Each call also runs interleaved with the bare libsodium work it "
             "must do at the same cost, shown for comparison. Target: at least "
             f"{TARGET_ARGON2_SHARE:.0%}.", "",
             "| call | Argon2id work | p50 ms | share |", "|---|---|---|---|"]
    for kind, label, work in (("argon2_bare_hash", "bare crypto_pwhash_str", "—"),
                              ("argon2_bare_verify", "bare crypto_pwhash_str_verify", "—"),
                              ("argon2_bare_verify_and_hash", "bare verify + hash", "—"),
                              ("argon2_register", "register", "1 hash"),
                              ("argon2_regenerate", "regenerateKey", "1 verify"),
                              ("argon2_update_secret", "updateSecret", "1 verify + 1 hash")):
        for entry in library_entries(results, kind):
            share = entry.get("ratio_to_floor")
            share_text = "—" if share is None else f"{share:.1%}"
            if share is not None and share < TARGET_ARGON2_SHARE:
                share_text += " (below target)"
            lines.append(f"| {label} | {work} | {entry['measurement']['p50_us'] / 1000:.1f} | "
                         f"{share_text} |")
    lines.append("")
    return lines


def scale_points(results, backend):
    points = []
    for entry in results.get("library", {}).get("results", []):
        if entry["backend"] == backend and entry["kind"].startswith("scale_"):
            count = int(entry["kind"][len("scale_"):])
            points.append((count, entry["measurement"]))
    return sorted(points, key=lambda point: point[0])


def bytes_per_customer(results, backend):
    return {int(entry["name"]): entry["value"]
            for entry in library_entries(results, "bytes_per_customer", backend)}


def scale_section(results):
    lines = ["## Scale", "",
             "VerifyAdminKey on one thread as the number of stored customers grows, and the "
             "storage each customer takes (seeded by a bulk loader: minimum-cost hashes, unsynced "
             "writes; verification never runs Argon2id). Before each measurement the store is "
             "flushed and compacted, then warmed up: every customer is verified once, so each "
             "record's block has been through the block cache.", "",
             "| backend | customers | ops/s | p50 µs | p99 µs | bytes per customer |",
             "|---|---|---|---|---|---|"]
    for backend in BACKENDS:
        sizes = bytes_per_customer(results, backend)
        for count, m in scale_points(results, backend):
            size = sizes.get(count)
            lines.append(f"| {backend} | {count:,} | {fmt_rate(m['ops_per_second'])} | "
                         f"{fmt_us(m['p50_us'])} | {fmt_us(m['p99_us'])} | "
                         f"{'—' if not size else f'{size:.0f}'} |")
    lines.append("")
    for backend in BACKENDS:
        for entry in library_entries(results, "p99_growth", backend):
            lines.append(f"- {backend}: p99 at 10^6 customers ÷ p99 at 10^3: "
                         f"{entry['value']:.2f}×")
    lines.append("")
    return lines


HTTP_SCENARIOS = (("settings_get", "settings GET (admin-key check)"),
                  ("settings_post", "settings POST (durable write)"),
                  ("register_overload", "register under overload"),
                  ("signed_rotation", "signed regenerate-secret"))


def http_section(results):
    http = results.get("http")
    if not http:
        return ["## HTTP", "", "Not measured in this run.", ""]
    settings = http.get("settings", {})
    lines = ["## HTTP: credstored against nginx", "",
             "`credstored` and an nginx answering `return 200` on the same machine, driven by wrk "
             f"with the same {settings.get('threads', '?')} threads and "
             f"{settings.get('connections', '?')} connections "
             + (f"({settings['post_connections']} for settings POST) "
                if settings.get("post_connections") else "")
             + f"for {settings.get('seconds', '?')} s per scenario. "
             "Signed rotations come from `credstore_signed_rotation_client`, since "
             "each must be signed with the secret the previous one returned; nginx answers the "
             "same client with a fixed secret. Under overload, 503 with `Retry-After` is the "
             "expected answer: errors count socket errors, timeouts and any other status.", "",
             "| server | scenario | requests/s | p50 ms | p90 ms | p99 ms | errors | ratio to nginx |",
             "|---|---|---|---|---|---|---|---|"]
    nginx = http.get("nginx", {})
    for scenario, label in HTTP_SCENARIOS:
        if scenario in nginx:
            lines.append(http_row("nginx", label, nginx[scenario]))
    for run in http.get("credstored", []):
        for scenario, label in HTTP_SCENARIOS:
            if scenario in run.get("scenarios", {}):
                lines.append(http_row(f"credstored ({run['backend']})", label,
                                      run["scenarios"][scenario]))
    lines += ["", "Memory of `credstored` over the whole run: the bound is idle + Argon2id "
              "workers × 64 MiB + 64 MiB.", "",
              "| backend | idle RSS MiB | Argon2id budget MiB | peak RSS MiB | peak beyond idle + "
              "Argon2id MiB |", "|---|---|---|---|---|"]
    for run in http.get("credstored", []):
        lines.append(f"| {run['backend']} | {run.get('idle_rss_kib', 0) / 1024:.1f} | "
                     f"{run.get('argon2_budget_kib', 0) / 1024:.0f} | "
                     f"{run.get('peak_rss_kib', 0) / 1024:.1f} | "
                     f"{run.get('peak_beyond_idle_and_argon2_kib', 0) / 1024:.1f} |")
    lines += vs_nginx_lines(http) + verification_lines(http) + flood_lines(http)
    fillsync = http.get("db_bench_fillsync") or {}
    if fillsync.get("ops_per_s"):
        ratio = http.get("settings_post_rocksdb_to_fillsync")
        lines += ["", "The floor of durable writes: RocksDB's own `db_bench --benchmarks=fillsync "
                  f"--threads={fillsync.get('threads', '?')}` ({fillsync.get('value_bytes', '?')}"
                  f"-byte values, same file system) made {fmt_rate(fillsync['ops_per_s'])} "
                  "synced writes/s; settings POST on RocksDB (over "
                  f"{settings.get('settings_customers', '?')} customers) ÷ fillsync: "
                  f"{fmt_ratio(ratio)}."]
    failures = http.get("failures", [])
    if failures:
        lines += ["", "Failures reported by the benchmark:", ""]
        lines += [f"- {failure}" for failure in failures]
    lines.append("")
    return lines


def vs_nginx_lines(http):
    runs = [run for run in http.get("credstored", []) if run.get("settings_get_vs_nginx")]
    if not runs:
        return []
    first = runs[0]["settings_get_vs_nginx"]
    lines = ["", "Settings GET against nginx, alternated: nginx `return 200` with `access_log off`, "
             "then credstored with its access log on, then nginx again, and so on, "
             f"{len(first['rounds'])} rounds of {first['seconds']} s each (wrk "
             f"-t{first['wrk_threads']} -c{first['wrk_connections']}), the GETs spread over "
             f"{first['customers']} customers. On RocksDB credstored was restarted after the "
             "customers registered (recovery writes them to SST files) and every customer was "
             "read once before the rounds, so the GETs were served from the block cache.", "",
             "| backend | round | nginx requests/s | credstored requests/s | credstored p99 ms "
             "| ratio |", "|---|---|---|---|---|---|"]
    for run in runs:
        lines += round_rows(run["backend"], run["settings_get_vs_nginx"])
    lines.append("")
    for run in runs:
        log = run["settings_get_vs_nginx"].get("access_log", {})
        lines.append(f"- credstored ({run['backend']}) access log during the rounds: "
                     f"{log.get('lines_written', 0):,} lines written for "
                     f"{log.get('credstored_requests', 0):,} requests, "
                     f"{log.get('lines_dropped', 0):g} dropped.")
    return lines


def round_rows(first_cell, alternation):
    """The table rows of one alternation: a row a round, then the median."""
    rows = []
    for index, one in enumerate(alternation["rounds"], 1):
        # Results files from before the floor/measured names called the two sides nginx and
        # credstored.
        floor = one.get("floor_requests_per_s", one.get("nginx_requests_per_s"))
        measured = one.get("requests_per_s", one.get("credstored_requests_per_s"))
        latency = one.get("latency_ms") or one.get("credstored_latency_ms") or {}
        rows.append(f"| {first_cell} | {index} | {fmt_rate(floor)} | {fmt_rate(measured)} | "
                    f"{fmt_us(latency.get('p99'))} | {fmt_ratio(one['ratio'])} |")
    rows.append(f"| {first_cell} | **median** | | | | **{fmt_ratio(alternation['median_ratio'])}** |")
    return rows


# The verification alternations of each credstored run: (JSON key, what is measured).
VERIFICATION_ALTERNATIONS = (
    ("verify_admin_key_vs_nginx", "`POST /v1/verify/admin-key` ÷ nginx `return 200`"),
    ("auth_admin_key_vs_nginx", "`GET /v1/auth/admin-key` (nginx profile) ÷ nginx `return 200`"),
    ("auth_request_vs_proxy", "nginx `auth_request` to credstored ÷ nginx proxying alone"),
)


def verification_lines(http):
    runs = [run for run in http.get("credstored", []) if run.get("verify_admin_key_vs_nginx")]
    if not runs:
        return []
    first = runs[0]["verify_admin_key_vs_nginx"]
    lines = ["", "The verification routes, alternated the same way with their floors "
             f"({len(first['rounds'])} rounds of {first['seconds']} s, wrk -t{first['wrk_threads']} "
             f"-c{first['wrk_connections']}, over {first['customers']} customers): the JSON verify "
             "API and the forward-auth check against nginx `return 200` (access log off), each "
             "call carrying the verifier token; and requests through the nginx gateway of "
             "[gateways.md](gateways.md) (its tested configuration, read from the page, with a "
             "master and two workers and upstream keep-alive pools as large as wrk's connection "
             "count) whose `auth_request` asks credstored, against the same nginx proxying to the "
             "same upstream (nginx `return 200`) without `auth_request`.", "",
             "| measured | round | floor requests/s | requests/s | p99 ms | ratio |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        for key, label in VERIFICATION_ALTERNATIONS:
            if run.get(key):
                lines += round_rows(f"{label}, {run['backend']}", run[key])
    reference = http.get("nginx_auth_request_vs_proxy")
    if reference:
        lines += round_rows("nginx `auth_request` to nginx itself ÷ nginx proxying alone "
                            "(the reference)", reference)
    return lines


def flood_lines(http):
    runs = [run for run in http.get("credstored", []) if run.get("settings_get_during_flood")]
    if not runs:
        return []
    lines = ["", "Settings GET during a register flood: the same spread GETs (wrk -t1) alone, then "
             "while a second wrk (-t1) floods `register` with new customers, most of them "
             "answered 503 at once because the hashing pool is full.", "",
             "| backend | GET requests/s alone | GET requests/s during the flood | GET p99 ms "
             "during | flood statuses | ratio |", "|---|---|---|---|---|---|"]
    for run in runs:
        flood = run["settings_get_during_flood"]
        counts = ", ".join(f"{code}: {count}" for code, count in
                           sorted((flood.get("register_flood", {}).get("status_counts")
                                   or {}).items()))
        lines.append(f"| {run['backend']} | {fmt_rate(flood['alone'].get('requests_per_s'))} | "
                     f"{fmt_rate(flood['during_flood'].get('requests_per_s'))} | "
                     f"{fmt_us(flood['during_flood'].get('latency_ms', {}).get('p99'))} | "
                     f"{counts or '—'} | {fmt_ratio(flood.get('ratio'))} |")
    return lines


def http_row(server, label, scenario):
    latency = scenario.get("latency_ms", {})
    errors = scenario.get("errors", {})
    error_count = sum(errors.get(kind, 0) for kind in ("connect", "read", "write", "timeout"))
    if "status_counts" in scenario:  # 503 is an expected answer here, not an error
        error_count += sum(count for code, count in scenario["status_counts"].items()
                           if code not in ("200", "503"))
        error_count += scenario.get("missing_retry_after", 0)
    else:
        error_count += errors.get("non_2xx_3xx", 0) + errors.get("non_200", 0)
    if "status_counts" in scenario:
        counts = ", ".join(f"{code}: {count}" for code, count in
                           sorted(scenario["status_counts"].items()))
        label = f"{label} ({counts})"
    ratio = scenario.get("ratio_to_nginx")
    return (f"| {server} | {label} | {fmt_rate(scenario.get('requests_per_s'))} | "
            f"{fmt_us(latency.get('p50'))} | {fmt_us(latency.get('p90'))} | "
            f"{fmt_us(latency.get('p99'))} | {error_count:g} | "
            f"{fmt_ratio(ratio)} |")


def misses_section(results):
    misses = results.get("findings", [])
    if not misses:
        return []
    lines = ["## Findings", ""]
    lines += [f"- {finding}" for finding in misses]
    lines.append("")
    return lines


# ---- Plots ------------------------------------------------------------------------------------

def run_gnuplot(script, data_files):
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, rows in data_files.items():
            path = os.path.join(folder, name)
            with open(path, "w", encoding="utf-8") as out:
                out.write("\n".join("\t".join(str(cell) for cell in row) for row in rows) + "\n")
            paths[name] = path
        subprocess.run(["gnuplot"], input=script.format(**paths), text=True, check=True)


def plot_throughput(results, path):
    rows = []
    for backend in VERIFY_BACKENDS:
        floors = by_threads(library_entries(results, "verify_floor", backend))
        verifies = by_threads(library_entries(results, "verify", backend))
        for threads in sorted(verifies):
            floor = floors.get(threads)
            rows.append((f'"{backend} {threads}t"',
                         floor["measurement"]["ops_per_second"] if floor else 0,
                         verifies[threads]["measurement"]["ops_per_second"]))
    if not rows:
        return False
    run_gnuplot(f"""
set terminal svg size 800,420 dynamic font "sans,12" background rgb "white"
set output "{path}"
set title "VerifyAdminKey throughput against its floor (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "operations per second"
set format y "%.0s%c"
set grid ytics
set key top right
plot "{{throughput}}" using 2:xtic(1) title "floor", "" using 3 title "VerifyAdminKey"
""", {"throughput": rows})
    return True


def plot_scale(results, path):
    data = {}
    for backend in BACKENDS:
        points = scale_points(results, backend)
        if points:
            data[backend] = [(count, m["p50_us"], m["p99_us"]) for count, m in points]
    if not data:
        return False
    plots = []
    for backend in data:
        plots.append(f'"{{{backend}}}" using 1:2 with linespoints title "{backend} p50"')
        plots.append(f'"{{{backend}}}" using 1:3 with linespoints dashtype 2 title "{backend} p99"')
    run_gnuplot(f"""
set terminal svg size 800,420 dynamic font "sans,12" background rgb "white"
set output "{path}"
set title "VerifyAdminKey latency against customer count (lower is better)"
set logscale x 10
set logscale y 10
set xlabel "customers stored"
set ylabel "latency, microseconds"
set grid xtics ytics
set key top left
plot {", ".join(plots)}
""", data)
    return True


# ---- Page -------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS_JSON DOCS_DIR")
    results_path, docs = sys.argv[1], sys.argv[2]
    with open(results_path, encoding="utf-8") as source:
        results = json.load(source)

    lines = ["# Benchmarks", "",
             "<!-- Generated by bench/run from benchmarks.json; edit bench/report.py, not this "
             "page. -->", "",
             "credstore measures each call against the floor of what it must cost, in the same "
             "run on the same machine: absolute numbers drift between machines and runs, ratios "
             "hold. Regenerate this page with `bench/run`; the numbers below are in "
             "[benchmarks.json](benchmarks.json).", ""]
    lines += targets_section(results)
    lines += machine_section(results)
    lines += misses_section(results)
    lines += verify_section(results)
    if plot_throughput(results, os.path.join(docs, "benchmarks-throughput.svg")):
        lines += ["![VerifyAdminKey throughput per backend](benchmarks-throughput.svg)", ""]
    lines += argon2_section(results)
    lines += integrator_section(results)
    lines += scale_section(results)
    if plot_scale(results, os.path.join(docs, "benchmarks-scale.svg")):
        lines += ["![VerifyAdminKey latency against customer count](benchmarks-scale.svg)", ""]
    lines += scale_out_section(results)
    lines += http_section(results)
    with open(os.path.join(docs, "benchmarks.md"), "w", encoding="utf-8") as page:
        page.write("\n".join(lines))


if __name__ == "__main__":
    main()
