#!/usr/bin/python3
"""Checks a running credstored against docs/openapi.yaml: ctest's openapi.conformance.

    /usr/bin/python3 tests/openapi/check_openapi.py --credstored PATH --document docs/openapi.yaml

Starts two credstored processes of its own (memory backend, loopback, port 0, minimum Argon2id
cost), as tests/http/credstored_process.cc does: server A with verifier tokens, `--forward-auth
nginx` and `--api-keys provisioned`; server B with neither (the verify and forward-auth routes
are 404 there, and API key provisioning answers 409). It then calls every operation of the
document, for its success and its error statuses, and validates each answer against the
document: the status is one the operation lists, the Content-Type is the listed one, the body
validates against the listed schema (JSON Schema 2020-12, refs resolved in the document) or is
empty when none is listed, and every required header is there and matches its schema. A 405
must carry an Allow header naming exactly the methods the document lists for the path, and
every request must go to a listener the operation's servers name.

The document cannot drift from the server:
  - an answer whose status, media type, body or headers the document does not describe fails;
  - a request that matches no documented operation fails (so a route the server serves and this
    script calls must be documented), and the document's every operation must answer non-404 for
    its success case (so it lists no route the server does not serve);
  - every operation must have been exercised, and every status it documents seen at least once,
    except the ones listed in NOT_PROVOKED with the reason.

Each server is stopped with SIGTERM (SIGKILL after a bounded wait) whatever happens; it is also
killed if this script dies (PR_SET_PDEATHSIG). Every wait is bounded. Output never carries a
secret, token, admin key or API key: targets are printed by template, and every message passes
through redaction of the values this script saw. The servers' logs are checked to carry none.
"""

import argparse
import ctypes
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import jsonschema
import yaml

# Statuses the document lists that a memory backend cannot be made to answer deterministically:
# the store is never unavailable, and filling the Argon2id budget or a worker pool would take a
# flood whose outcome depends on timing.
NOT_PROVOKED = {
    503: "the memory backend is never unavailable; a full pool needs a timing-dependent flood",
    500: "an internal error has no request that provokes it",
}
# Statuses of one operation that its servers (memory://) cannot answer: (template, METHOD) ->
# {status: why}.
NOT_PROVOKED_BY = {
    ("/v1/backups", "POST"): {
        201: "memory storage takes no checkpoints; tests/http backup_test makes them on RocksDB",
    },
}

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 15.0

SENSITIVE = []  # every secret, token and key seen; redacted from all output


def redact(text):
    text = str(text)
    for value in sorted(SENSITIVE, key=len, reverse=True):
        if len(value) >= 6:
            text = text.replace(value, "<redacted>")
    return text


def sensitive(value):
    SENSITIVE.append(value)
    return value


def say(text):
    print(redact(text), flush=True)


def hand_out(body):
    """Registers the keys and secrets an answer hands out, before anything about it is printed."""
    try:
        value = json.loads(body)
    except ValueError:
        return
    if isinstance(value, dict):
        for name in ("adminKey", "secret"):
            if isinstance(value.get(name), str):
                sensitive(value[name])


# ---- The document -------------------------------------------------------------------------------


class Document:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.root = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.root)
        top_servers = self.root.get("servers", [])
        self.operations = {}  # (template, method) -> operation
        self.paths = []  # (template, regex, path item, listeners)
        for template, item in self.root["paths"].items():
            servers = item.get("servers", top_servers)
            listeners = {self.listener_of(s["url"]) for s in servers}
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self.paths.append((template, re.compile(pattern), item, listeners))
            for method in METHODS:
                if method in item:
                    self.operations[(template, method.upper())] = item[method]

    @staticmethod
    def listener_of(url):
        if url.endswith(":8080"):
            return "public"
        if url.endswith(":8081"):
            return "operator"
        raise ValueError("a server URL of the document names no known listener: " + url)

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
        return node

    def match(self, path):
        # A literal segment wins over a template: the document has no ambiguous paths (lint).
        found = [(t, item, ls) for t, rx, item, ls in self.paths if rx.match(path)]
        found.sort(key=lambda entry: entry[0].count("{"))
        return found[0] if found else None

    def validate(self, schema, instance, what):
        validator = jsonschema.Draft202012Validator(
            schema, resolver=self.resolver,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        return [f"{what}: {self.describe(e)} (at {'/'.join(map(str, e.path)) or 'top'})"
                for e in errors]

    @staticmethod
    def describe(error):
        # Never the value itself, which may be a key or a secret: the keyword that failed and
        # what the schema wanted. Messages about members name only the members.
        if error.validator in ("required", "additionalProperties", "dependentRequired"):
            return error.message
        return f"fails {error.validator} {json.dumps(error.validator_value)}"


# ---- Servers ----------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Server:
    def __init__(self, binary, work, name, extra_args, operator_token):
        self.name = name
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "credstored.log")
        port_file = os.path.join(self.dir, "port")
        operator_port_file = os.path.join(self.dir, "operator-port")
        args = [binary, "--listen", "127.0.0.1:0", "--port-file", port_file,
                "--operator-listen", "127.0.0.1:0", "--operator-port-file", operator_port_file,
                "--storage", "memory://", "--key-file", os.path.join(work, "credstore.keys"),
                "--argon2", "minimum"] + extra_args
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CREDSTORE_OPERATOR_TOKEN", "CREDSTORE_KEYRING",
                                    "CREDSTORE_VERIFIER_TOKENS"))}
        env["CREDSTORE_OPERATOR_TOKEN"] = operator_token
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env,
                                        preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        self.ports = {}
        while True:
            for listener, path in (("public", port_file), ("operator", operator_port_file)):
                try:
                    with open(path) as f:
                        text = f.read().strip()
                    if text.isdigit():
                        self.ports[listener] = int(text)
                except FileNotFoundError:
                    pass
            if len(self.ports) == 2:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"credstored {name} exited ({self.process.returncode}) "
                                   f"before writing its ports:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"credstored {name} wrote no ports within {START_TIMEOUT} s")
            time.sleep(0.02)

    def log_tail(self):
        with open(self.log_path, "rb") as f:
            return redact(f.read()[-3000:].decode("utf-8", "replace"))

    def stop(self):
        """SIGTERM, a bounded wait, SIGKILL; returns the exit code (None if it had to be killed)."""
        code = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        else:
            code = self.process.returncode
        self.log.close()
        return code


# ---- Requests ------------------------------------------------------------------------------------

_next_address = [0]


def fresh_address():
    """A client address of 127.0.0.0/8 not used before: throttles never carry over."""
    _next_address[0] += 1
    n = _next_address[0]
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{(n & 255) or 1}"


class Checker:
    def __init__(self, document):
        self.doc = document
        self.seen = {}  # (template, method) -> set of statuses
        self.failures = []
        self.checks = 0

    def fail(self, text):
        self.failures.append(redact(text))
        say("FAIL  " + text)

    def call(self, server, listener, method, target, *, expect, body=None, headers=None,
             address=None, label="", known_deviation=None):
        """Sends one request, validates the answer against the document, returns it.

        known_deviation: a text that every problem found must contain, for an answer known to
        disagree with the document (which describes what docs/http.md promises). Once the server
        is fixed the call fails, so that the exception is removed.
        """
        self.checks += 1
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        path = target.split("?", 1)[0]
        matched = self.doc.match(path)
        shown = f"{method} {matched[0] if matched else '(undocumented path)'} on {listener}"
        if label:
            shown += f" [{label}]"
        status, reply_headers, reply_body = self.send(server.ports[listener], method, target,
                                                      body, headers, address or fresh_address())
        hand_out(reply_body)
        problems = []
        if status != expect:
            problems.append(f"status {status}, expected {expect}")
        if matched is None:
            if status != 404:
                problems.append("no documented path matches, yet the server did not answer 404")
            else:
                problems += self.check_unrouted(reply_headers, reply_body)
        else:
            problems += self.check_answer(matched, listener, method, status, reply_headers,
                                          reply_body)
        if known_deviation is not None:
            if problems and all(known_deviation in p for p in problems):
                say(f"known {shown} {status}: " + "; ".join(problems))
            elif problems:
                self.fail(f"{shown}: " + "; ".join(problems))
            else:
                self.fail(f"{shown}: the known deviation '{known_deviation}' is gone; remove "
                          "it from check_openapi.py")
        elif problems:
            self.fail(f"{shown}: " + "; ".join(problems))
        else:
            say(f"ok    {shown} {status}")
        return status, reply_headers, reply_body

    @staticmethod
    def send(port, method, target, body, headers, address):
        for attempt in range(2):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT,
                                                    source_address=(address, 0))
            try:
                connection.putrequest(method, target, skip_accept_encoding=True)
                for name, value in headers.items():
                    for one in (value if isinstance(value, list) else [value]):
                        connection.putheader(name, one)
                if body is not None:
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                reply = connection.getresponse()
                data = reply.read()
                reply_headers = {}
                for name, value in reply.getheaders():
                    reply_headers.setdefault(name.lower(), []).append(value)
                return reply.status, reply_headers, data
            except (ConnectionResetError, BrokenPipeError):
                if attempt == 1:
                    raise
            finally:
                connection.close()
        raise AssertionError("unreachable")

    def check_unrouted(self, headers, body):
        problem = self.doc.deref({"$ref": "#/components/schemas/NotFoundProblem"})
        return self.check_content({"application/problem+json": {"schema": problem}}, headers,
                                  body)

    def check_answer(self, matched, listener, method, status, headers, body):
        template, item, listeners = matched
        problems = []
        if listener not in listeners:
            problems.append(f"the document does not serve {template} on the {listener} listener")
        documented = [m.upper() for m in METHODS if m in item]
        if method not in documented:
            # A method the path does not document: 405 with the path's methods in Allow.
            if status != 405:
                return problems + [f"{method} is not documented for {template}: expected 405"]
            allow = headers.get("allow", [""])[0]
            if sorted(a.strip() for a in allow.split(",")) != sorted(documented):
                problems.append(f"Allow is '{allow}', the document lists {documented}")
            operations = [(template, m) for m in documented]
        else:
            operations = [(template, method)]
        for key in operations:
            operation = self.doc.operations[key]
            response = operation.get("responses", {}).get(str(status))
            if response is None:
                problems.append(f"status {status} is not documented for {key[1]} {template}")
                continue
            response = self.doc.deref(response)
            problems += self.check_headers(response.get("headers", {}), headers)
            problems += self.check_content(response.get("content"), headers, body)
            self.seen.setdefault(key, set()).add(status)
        return problems

    def check_headers(self, documented, headers):
        problems = []
        for name, header in documented.items():
            header = self.doc.deref(header)
            values = headers.get(name.lower())
            if not values:
                if header.get("required"):
                    problems.append(f"required header {name} is missing")
                continue
            if len(values) > 1:
                problems.append(f"header {name} appears {len(values)} times")
            problems += self.doc.validate(header["schema"], values[0], f"header {name}")
        return problems

    def check_content(self, content, headers, body):
        content_type = headers.get("content-type", [None])[0]
        if not content:
            if body:
                return [f"the document lists no body, the server sent {len(body)} bytes "
                        f"({content_type})"]
            return []
        if content_type is None:
            return [f"no Content-Type; the document lists {list(content)}"]
        normalized = {re.sub(r"\s+", "", k).lower(): v for k, v in content.items()}
        media = normalized.get(re.sub(r"\s+", "", content_type).lower())
        if media is None:
            return [f"Content-Type '{content_type}' is not one the document lists "
                    f"({list(content)})"]
        schema = media.get("schema", {})
        if "json" in content_type:
            try:
                instance = json.loads(body)
            except ValueError as error:
                return [f"the body is not JSON: {error}"]
        else:
            instance = body.decode("utf-8", "replace")
        return self.doc.validate(schema, instance, "body")

    def coverage(self):
        problems = []
        for key, operation in self.doc.operations.items():
            seen = self.seen.get(key, set())
            if not seen:
                problems.append(f"{key[1]} {key[0]} was never exercised")
                continue
            for status in operation.get("responses", {}):
                code = int(status)
                if (code not in seen and code not in NOT_PROVOKED
                        and code not in NOT_PROVOKED_BY.get(key, {})):
                    problems.append(f"{key[1]} {key[0]}: documented status {code} never seen")
        return problems


# ---- The calls ---------------------------------------------------------------------------------


def random_key(length=24):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


_last_ms = [0]


def timestamp():
    now = max(int(time.time() * 1000), _last_ms[0] + 1)
    _last_ms[0] = now
    return str(now)


def sign(secret, ts, method, target, body=b""):
    message = f"{ts}.{method}.{target}.{hashlib.sha256(body).hexdigest()}".encode()
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(integrator, secret, method, target, body=b""):
    ts = timestamp()
    return {"X-Integrator-Key": integrator, "X-Timestamp": ts,
            "X-Signature": sign(secret, ts, method, target, body)}


def exercise(c, a, b, tokens):
    """Every operation of the document, its successes and its error statuses."""
    op = {"Authorization": "Bearer " + tokens["operator"]}
    full = {"Authorization": "Bearer " + tokens["full"]}
    narrow = {"Authorization": "Bearer " + tokens["narrow"]}
    wrong_operator = {"Authorization": "Bearer " + sensitive("wrong-" + random_key(40))}
    big = {"padding": "x" * (33 * 1024)}

    # -- Probes, on both listeners.
    for listener in ("public", "operator"):
        c.call(a, listener, "GET", "/healthz", expect=200)
        c.call(a, listener, "GET", "/readyz", expect=200)
        c.call(a, listener, "POST", "/healthz", expect=405, body={})
        c.call(a, listener, "POST", "/readyz", expect=405, body={})

    # -- Operator: integrators.
    _, _, body = c.call(a, "operator", "POST", "/v1/integrators", expect=201,
                        body={"label": "openapi"}, headers=op)
    created = json.loads(body)
    integrator = created["integratorId"]
    integrator_secret = sensitive(created["secret"])
    c.call(a, "operator", "POST", "/v1/integrators", expect=400, body={"name": "x"}, headers=op)
    c.call(a, "operator", "POST", "/v1/integrators", expect=413, body=big, headers=op)
    c.call(a, "operator", "POST", "/v1/integrators", expect=415, body="label=x", headers=dict(
        op, **{"Content-Type": "text/plain"}))
    c.call(a, "operator", "GET", "/v1/integrators?limit=10", expect=200, headers=op)
    c.call(a, "operator", "GET", "/v1/integrators?limit=0", expect=400, headers=op)
    c.call(a, "operator", "PUT", "/v1/integrators", expect=405, headers=op)
    c.call(a, "operator", "GET", f"/v1/integrators/{integrator}", expect=200, headers=op)
    c.call(a, "operator", "GET", "/v1/integrators/int_00000000Unknown", expect=404, headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{integrator}", expect=405, headers=op)
    _, _, body = c.call(a, "operator", "POST", "/v1/integrators", expect=201, body={},
                        headers=op)
    spare = json.loads(body)
    sensitive(spare["secret"])
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/reset-secret",
           expect=200, headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/reset-secret",
           expect=400, body={"x": 1}, headers=op)
    c.call(a, "operator", "POST", "/v1/integrators/int_00000000Unknown/reset-secret",
           expect=404, headers=op)
    c.call(a, "operator", "GET", f"/v1/integrators/{integrator}/reset-secret", expect=405,
           headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/disable",
           expect=204, headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/disable",
           expect=400, body={"x": 1}, headers=op)
    c.call(a, "operator", "POST", "/v1/integrators/int_00000000Unknown/disable", expect=404,
           headers=op)
    c.call(a, "operator", "GET", f"/v1/integrators/{integrator}/disable", expect=405,
           headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/enable",
           expect=204, headers=op)
    c.call(a, "operator", "POST", f"/v1/integrators/{spare['integratorId']}/enable",
           expect=400, body={"x": 1}, headers=op)
    c.call(a, "operator", "POST", "/v1/integrators/int_00000000Unknown/enable", expect=404,
           headers=op)
    c.call(a, "operator", "GET", f"/v1/integrators/{integrator}/enable", expect=405,
           headers=op)
    c.call(a, "operator", "DELETE", f"/v1/integrators/{spare['integratorId']}", expect=204,
           headers=op)
    c.call(a, "operator", "DELETE", f"/v1/integrators/{spare['integratorId']}", expect=404,
           headers=op, label="deleted already")
    c.call(a, "operator", "DELETE", f"/v1/integrators/{integrator}", expect=400, body={"x": 1},
           headers=op)
    c.call(a, "operator", "GET", "/metrics", expect=200, headers=op)
    c.call(a, "operator", "POST", "/metrics", expect=405, body={}, headers=op)

    # -- Operator: API keys (server A provisions them; server B accepts any and answers 409).
    key = sensitive(random_key())
    for path in ("/v1/api-keys", "/v1/api-keys/revoke"):
        provisioned = sensitive(random_key())
        if path.endswith("revoke"):
            c.call(a, "operator", "POST", "/v1/api-keys", expect=204,
                   body={"service": "geofencing", "apiKey": provisioned}, headers=op)
        c.call(a, "operator", "POST", path, expect=204,
               body={"service": "geofencing", "apiKey": provisioned}, headers=op)
        c.call(a, "operator", "POST", path, expect=400,
               body={"service": "geofencing", "apiKey": "short"}, headers=op)
        c.call(a, "operator", "POST", path, expect=404,
               body={"service": "noSuchService", "apiKey": random_key()}, headers=op)
        c.call(a, "operator", "GET", path, expect=405, headers=op)
        c.call(a, "operator", "POST", path, expect=413, body=big, headers=op)
        c.call(a, "operator", "POST", path, expect=415, body="x",
               headers=dict(op, **{"Content-Type": "text/plain"}))
        c.call(b, "operator", "POST", path, expect=409,
               body={"service": "geofencing", "apiKey": random_key()}, headers=op)
    revoked = sensitive(random_key())
    c.call(a, "operator", "POST", "/v1/api-keys", expect=204,
           body={"service": "geofencing", "apiKey": revoked}, headers=op)
    c.call(a, "operator", "DELETE", f"/v1/api-keys/geofencing/{revoked}", expect=204,
           headers=op)
    c.call(a, "operator", "DELETE", "/v1/api-keys/geofencing/short", expect=400, headers=op)
    c.call(a, "operator", "DELETE", f"/v1/api-keys/noSuchService/{random_key()}", expect=404,
           headers=op)
    c.call(a, "operator", "GET", f"/v1/api-keys/geofencing/{random_key()}", expect=405,
           headers=op)
    c.call(b, "operator", "DELETE", f"/v1/api-keys/geofencing/{random_key()}", expect=409,
           headers=op)

    # -- Customer routes on server A (provisioned keys).
    c.call(a, "operator", "POST", "/v1/api-keys", expect=204,
           body={"service": "geofencing", "apiKey": key}, headers=op)
    secret = sensitive("secret-" + random_key())
    _, _, body = c.call(a, "public", "POST", f"/geofencing/1/register?key={key}", expect=200,
                        body={"secret": secret})
    admin_key = sensitive(json.loads(body)["adminKey"])
    reg = "/geofencing/1/register"
    c.call(a, "public", "POST", f"{reg}?key={key}", expect=403, body={"secret": secret})
    c.call(a, "public", "POST", f"{reg}?key=short", expect=400, body={"secret": secret})
    c.call(a, "public", "POST", f"{reg}?key={sensitive(random_key())}", expect=401,
           body={"secret": secret}, label="API key not provisioned")
    c.call(a, "public", "POST", f"/noSuchService/1/register?key={key}", expect=404,
           body={"secret": secret})
    c.call(a, "public", "GET", f"{reg}?key={key}", expect=405)
    c.call(a, "public", "POST", f"{reg}?key={key}", expect=413, body=big)
    c.call(a, "public", "POST", f"{reg}?key={key}", expect=415, body="secret",
           headers={"Content-Type": "text/plain"})
    one = fresh_address()
    for attempt in range(40):
        status, _, _ = c.call(a, "public", "POST", f"{reg}?key={sensitive(random_key())}",
                              expect=401 if attempt < 20 else 429, body={"secret": secret},
                              address=one, label="registrations from one address")
        if status == 429 or attempt >= 20:
            break

    regen = "/geofencing/1/regenerateKey"
    _, _, body = c.call(a, "public", "POST", f"{regen}?key={key}", expect=200,
                        body={"secret": secret, "oldKeyValidForSeconds": 1.5})
    graced_key, admin_key = admin_key, sensitive(json.loads(body)["adminKey"])
    c.call(a, "public", "POST", f"{regen}?key={key}", expect=400,
           body={"secret": secret, "oldKeyValidForSeconds": 3601})
    c.call(a, "public", "POST", f"/noSuchService/1/regenerateKey?key={key}", expect=404,
           body={"secret": secret})
    c.call(a, "public", "GET", f"{regen}?key={key}", expect=405)
    c.call(a, "public", "POST", f"{regen}?key={key}", expect=413, body=big)
    c.call(a, "public", "POST", f"{regen}?key={key}", expect=415, body="x",
           headers={"Content-Type": "text/plain"})
    wrong = sensitive("wrong-" + random_key())
    one = fresh_address()
    for attempt in range(12):
        status, _, _ = c.call(a, "public", "POST", f"{regen}?key={key}",
                              expect=401 if attempt < 10 else 429, body={"secret": wrong},
                              address=one, label="wrong secrets from one address")
        if status == 429:
            break

    upd = "/geofencing/1/updateSecret"
    new_secret = sensitive("secret-" + random_key())
    c.call(a, "public", "POST", f"{upd}?key={key}", expect=204,
           body={"secret": secret, "newSecret": new_secret})
    secret = new_secret
    c.call(a, "public", "POST", f"{upd}?key={key}", expect=400, body={"secret": secret})
    c.call(a, "public", "POST", f"/noSuchService/1/updateSecret?key={key}", expect=404,
           body={"secret": secret, "newSecret": secret})
    c.call(a, "public", "GET", f"{upd}?key={key}", expect=405)
    c.call(a, "public", "POST", f"{upd}?key={key}", expect=413, body=big)
    c.call(a, "public", "POST", f"{upd}?key={key}", expect=415, body="x",
           headers={"Content-Type": "text/plain"})
    one = fresh_address()
    for attempt in range(12):
        status, _, _ = c.call(a, "public", "POST", f"{upd}?key={key}",
                              expect=401 if attempt < 10 else 429,
                              body={"secret": wrong, "newSecret": wrong}, address=one,
                              label="wrong secrets from one address")
        if status == 429:
            break

    settings = "/geofencing/1/settings"
    c.call(a, "public", "GET", f"{settings}?key={key}", expect=200,
           headers={"X-Admin-Key": admin_key}, label="{} until set")
    c.call(a, "public", "POST", f"{settings}?key={key}&adminKey={admin_key}", expect=200,
           body='{"zones": [1, 2.50], "name": "\\u00e9"}')
    c.call(a, "public", "GET", f"{settings}?key={key}&adminKey={admin_key}", expect=200)
    c.call(a, "public", "GET", f"{settings}?key={key}", expect=400,
           headers={"X-Admin-Key": [admin_key, admin_key]}, label="X-Admin-Key twice")
    c.call(a, "public", "POST", f"{settings}?key={key}", expect=400, body="[1]",
           headers={"X-Admin-Key": admin_key}, label="not an object")
    c.call(a, "public", "GET", f"{settings}?key={key}", expect=401, label="no admin key")
    c.call(a, "public", "POST", f"{settings}?key={key}", expect=401, body={},
           headers={"X-Admin-Key": sensitive(random_key(48))}, label="wrong admin key")
    c.call(a, "public", "GET", f"/noSuchService/1/settings?key={key}", expect=404,
           headers={"X-Admin-Key": admin_key})
    c.call(a, "public", "POST", f"/noSuchService/1/settings?key={key}", expect=404, body={},
           headers={"X-Admin-Key": admin_key})
    c.call(a, "public", "PUT", f"{settings}?key={key}", expect=405, body={})
    c.call(a, "public", "POST", f"{settings}?key={key}", expect=413, body=big,
           headers={"X-Admin-Key": admin_key})
    c.call(a, "public", "POST", f"{settings}?key={key}", expect=415, body="x",
           headers={"X-Admin-Key": admin_key, "Content-Type": "text/plain"})

    # -- The integrator's own rotation.
    rot = "/v1/integrator/regenerate-secret"
    rotation = json.dumps({"oldSecretValidForSeconds": 60}).encode()
    _, _, body = c.call(a, "public", "POST", rot, expect=200, body=rotation,
                        headers=signed_headers(integrator, integrator_secret, "POST", rot,
                                               rotation))
    old_secret, integrator_secret = integrator_secret, sensitive(json.loads(body)["secret"])
    _, _, body = c.call(a, "public", "POST", rot, expect=200,
                        headers=signed_headers(integrator, integrator_secret, "POST", rot),
                        label="empty body, no grace")
    sensitive(json.loads(body)["secret"])
    c.call(a, "public", "POST", rot, expect=400, body=b'{"oldSecretValidForSeconds": -1}',
           headers=signed_headers(integrator, old_secret, "POST", rot))
    c.call(a, "public", "POST", rot, expect=401, body=b"{}",
           headers=signed_headers(integrator, wrong, "POST", rot, b"{}"), label="bad MAC")
    c.call(a, "public", "POST", rot, expect=404, body=b"{}",
           headers=signed_headers("int_00000000Unknown", wrong, "POST", rot, b"{}"))
    c.call(a, "public", "GET", rot, expect=405)
    c.call(a, "public", "POST", rot, expect=413, body=big)
    c.call(a, "public", "POST", rot, expect=415, body="x", headers={"Content-Type": "text/plain"})

    # A second integrator whose secret this script knows, for the signature checks.
    _, _, body = c.call(a, "operator", "POST", "/v1/integrators", expect=201,
                        body={"label": "signer"}, headers=op)
    signer = json.loads(body)
    signer_id, signer_secret = signer["integratorId"], sensitive(signer["secret"])

    # -- Verify routes.
    va = "/v1/verify/admin-key"
    c.call(a, "public", "POST", va, expect=200, headers=full,
           body={"service": "geofencing", "apiKey": key, "adminKey": admin_key})
    c.call(a, "public", "POST", va, expect=200, headers=full, label="graced key",
           body={"service": "geofencing", "apiKey": key, "adminKey": graced_key})
    c.call(a, "public", "POST", va, expect=400, headers=full,
           body={"service": "geofencing", "apiKey": "short", "adminKey": admin_key})
    c.call(a, "public", "POST", va, expect=401, headers=full, label="wrong admin key",
           body={"service": "geofencing", "apiKey": key, "adminKey": wrong})
    c.call(a, "public", "POST", va, expect=401, label="no verifier token",
           body={"service": "geofencing", "apiKey": key, "adminKey": admin_key})
    c.call(a, "public", "POST", va, expect=403, headers=narrow,
           body={"service": "geofencing", "apiKey": key, "adminKey": admin_key})
    c.call(a, "public", "POST", va, expect=404, headers=full, label="unknown service",
           body={"service": "noSuchService", "apiKey": key, "adminKey": admin_key})
    c.call(b, "public", "POST", va, expect=404, headers=full, label="no verifier tokens",
           body={"service": "geofencing", "apiKey": key, "adminKey": admin_key})
    c.call(a, "public", "GET", va, expect=405, headers=full)
    c.call(a, "public", "POST", va, expect=413, headers=full, body={"p": "x" * (17 * 1024)})
    c.call(a, "public", "POST", va, expect=415, body="x",
           headers=dict(full, **{"Content-Type": "text/plain"}))

    vs = "/v1/verify/signature"

    def relayed(secret_to_sign, integrator_id=signer_id):
        body_bytes = b'{"order": 7}'
        ts = timestamp()
        return {"method": "POST", "target": "/orders?id=7", "integratorKey": integrator_id,
                "timestamp": ts,
                "signature": sign(secret_to_sign, ts, "POST", "/orders?id=7", body_bytes),
                "bodySha256": hashlib.sha256(body_bytes).hexdigest()}

    c.call(a, "public", "POST", vs, expect=200, headers=full, body=relayed(signer_secret))
    bad = relayed(signer_secret)
    bad["signature"] = "sha256=" + "0" * 63
    c.call(a, "public", "POST", vs, expect=400, headers=full, body=bad)
    c.call(a, "public", "POST", vs, expect=401, headers=full, body=relayed(wrong),
           label="bad MAC")
    c.call(a, "public", "POST", vs, expect=403, headers=narrow, body=relayed(signer_secret))
    c.call(a, "public", "POST", vs, expect=404, headers=full,
           body=relayed(wrong, "int_00000000Unknown"))
    c.call(b, "public", "POST", vs, expect=404, headers=full, body=relayed(signer_secret),
           label="no verifier tokens")
    c.call(a, "public", "GET", vs, expect=405, headers=full)
    c.call(a, "public", "POST", vs, expect=413, headers=full, body={"p": "x" * (17 * 1024)})
    c.call(a, "public", "POST", vs, expect=415, body="x",
           headers=dict(full, **{"Content-Type": "text/plain"}))

    # Too many wrong verifier tokens from one address: 429 on both verify routes.
    one = fresh_address()
    bad_token = {"Authorization": "Bearer " + sensitive("bad-" + random_key(40))}
    for _ in range(10):
        c.call(a, "public", "POST", va, expect=401, headers=bad_token, address=one,
               body={"service": "geofencing", "apiKey": key, "adminKey": admin_key},
               label="wrong verifier tokens from one address")
    c.call(a, "public", "POST", va, expect=429, headers=full, address=one,
           body={"service": "geofencing", "apiKey": key, "adminKey": admin_key})
    c.call(a, "public", "POST", vs, expect=429, headers=full, address=one,
           body=relayed(signer_secret))
    # docs/http.md: a 401 for the gateway's token has realm credstore-verify, throttled too.
    c.call(a, "public", "GET", "/v1/auth/admin-key?service=geofencing", expect=401,
           headers=full, address=one, label="throttled token: 401 with Retry-After")

    # -- Forward-auth (nginx profile on server A).
    fa = "/v1/auth/admin-key?service=geofencing"
    c.call(a, "public", "GET", fa, expect=204, headers=dict(
        full, **{"X-Original-URI": f"/zones?key={key}&adminKey={admin_key}",
                 "X-Original-Method": "GET"}), label="keys in the original query")
    c.call(a, "public", "GET", fa, expect=204, headers=dict(
        full, **{"X-Original-URI": "/zones", "X-Original-Method": "GET", "X-Api-Key": key,
                 "X-Admin-Key": admin_key}), label="keys in headers")
    c.call(a, "public", "GET", fa, expect=401, headers=dict(
        full, **{"X-Original-URI": f"/zones?key={key}&adminKey={wrong}",
                 "X-Original-Method": "GET"}), label="wrong admin key")
    c.call(a, "public", "GET", fa, expect=401, label="no verifier token", headers={
        "X-Original-URI": f"/zones?key={key}&adminKey={admin_key}", "X-Original-Method": "GET"})
    c.call(a, "public", "GET", fa, expect=401, label="another profile's header", headers=dict(
        full, **{"X-Original-URI": "/zones", "X-Original-Method": "GET",
                 "X-Forwarded-Uri": "/zones"}))
    c.call(a, "public", "GET", fa, expect=403, headers=dict(
        narrow, **{"X-Original-URI": f"/zones?key={key}&adminKey={admin_key}",
                   "X-Original-Method": "GET"}), label="scope")
    c.call(a, "public", "GET", "/v1/auth/admin-key?service=noSuchService", expect=403,
           headers=dict(full, **{"X-Original-URI": "/zones", "X-Original-Method": "GET"}),
           label="unknown service")
    c.call(b, "public", "GET", fa, expect=404, headers=full, label="forward auth off")

    fs = "/v1/auth/signature"
    original_body = b'{"order": 7}'

    def forwarded(secret_to_sign, token=full):
        headers = dict(token, **{"X-Original-URI": "/orders?id=7", "X-Original-Method": "POST",
                                 "X-Content-SHA256": hashlib.sha256(original_body).hexdigest()})
        headers.update(signed_headers(signer_id, secret_to_sign, "POST", "/orders?id=7",
                                      original_body))
        return headers

    c.call(a, "public", "GET", fs, expect=204, headers=forwarded(signer_secret))
    c.call(a, "public", "GET", fs, expect=401, headers=forwarded(wrong), label="bad MAC")
    no_hash = forwarded(signer_secret)
    del no_hash["X-Content-SHA256"]
    c.call(a, "public", "GET", fs, expect=401, headers=no_hash, label="no body hash")
    c.call(a, "public", "GET", fs, expect=403, headers=forwarded(signer_secret, narrow))
    c.call(b, "public", "GET", fs, expect=404, headers=full, label="forward auth off")

    # -- Operator: customers.
    reset = "/v1/customers/reset"
    reset_secret = sensitive("secret-" + random_key())
    c.call(a, "operator", "POST", reset, expect=200, headers=op,
           body={"service": "geofencing", "apiKey": key, "secret": reset_secret})
    c.call(a, "operator", "POST", reset, expect=400, headers=op,
           body={"service": "geofencing", "apiKey": key})
    c.call(a, "operator", "POST", reset, expect=404, headers=op, label="unknown customer",
           body={"service": "geofencing", "apiKey": random_key(), "secret": reset_secret})
    c.call(a, "operator", "GET", reset, expect=405, headers=op)
    c.call(a, "operator", "POST", reset, expect=413, headers=op, body=big)
    c.call(a, "operator", "POST", reset, expect=415, body="x",
           headers=dict(op, **{"Content-Type": "text/plain"}))
    delete = "/v1/customers/delete"
    c.call(a, "operator", "POST", delete, expect=204, headers=op,
           body={"service": "geofencing", "apiKey": key})
    c.call(a, "operator", "POST", delete, expect=400, headers=op, body={"service": "geofencing"})
    c.call(a, "operator", "POST", delete, expect=404, headers=op, label="deleted already",
           body={"service": "geofencing", "apiKey": key})
    c.call(a, "operator", "GET", delete, expect=405, headers=op)
    c.call(a, "operator", "POST", delete, expect=413, headers=op, body=big)
    c.call(a, "operator", "POST", delete, expect=415, body="x",
           headers=dict(op, **{"Content-Type": "text/plain"}))

    clear = "/v1/throttle/clear"
    c.call(a, "operator", "POST", clear, expect=204, headers=op, body={"address": "192.0.2.9"})
    c.call(a, "operator", "POST", clear, expect=204, headers=op,
           body={"service": "geofencing", "apiKey": random_key()})
    c.call(a, "operator", "POST", clear, expect=400, headers=op, body={"address": "nowhere"})
    c.call(a, "operator", "POST", clear, expect=404, headers=op, label="unknown service",
           body={"service": "nowhere", "apiKey": random_key()})
    c.call(a, "operator", "GET", clear, expect=405, headers=op)
    c.call(a, "operator", "POST", clear, expect=413, headers=op, body=big)
    c.call(a, "operator", "POST", clear, expect=415, body="x",
           headers=dict(op, **{"Content-Type": "text/plain"}))

    # -- Operator: the master-key re-seal (nothing to do under one master key, but every answer).
    reseal = "/v1/keys/reseal"
    c.call(a, "operator", "POST", reseal, expect=200, headers=op, label="no body")
    c.call(a, "operator", "POST", reseal, expect=200, headers=op, body={})
    _, _, body = c.call(a, "operator", "POST", reseal, expect=200, headers=op,
                        body={"limit": 1}, label="a page of one")
    next_cursor = json.loads(body)["nextCursor"]
    if next_cursor is not None:
        c.call(a, "operator", "POST", reseal, expect=200, headers=op,
               body={"cursor": next_cursor, "limit": 1000}, label="the rest")
    c.call(a, "operator", "POST", reseal, expect=400, headers=op, body={"limit": 0})
    c.call(a, "operator", "POST", reseal, expect=400, headers=op, body={"cursor": "a/b"},
           label="malformed cursor")
    c.call(a, "operator", "GET", reseal, expect=405, headers=op)
    c.call(a, "operator", "POST", reseal, expect=413, headers=op, body=big)
    c.call(a, "operator", "POST", reseal, expect=415, body="x",
           headers=dict(op, **{"Content-Type": "text/plain"}))

    # Backups: the memory backend takes no checkpoints (409); tests/http makes them on RocksDB.
    backups = "/v1/backups"
    c.call(a, "operator", "POST", backups, expect=409, headers=op, body={"name": "nightly"})
    c.call(a, "operator", "POST", backups, expect=400, headers=op, body={"name": "../escape"})
    c.call(a, "operator", "POST", backups, expect=400, headers=op, body={"name": 7})
    c.call(a, "operator", "GET", backups, expect=405, headers=op)
    c.call(a, "operator", "POST", backups, expect=413, headers=op, body=big)
    c.call(a, "operator", "POST", backups, expect=415, body="x",
           headers=dict(op, **{"Content-Type": "text/plain"}))

    # -- Operator: a wrong token on every operator operation (fresh addresses), then too many
    # from one address: 429 on every operator operation, the right token included.
    operator_requests = [
        ("GET", "/metrics", None), ("GET", "/v1/integrators", None),
        ("POST", "/v1/integrators", {}), ("GET", f"/v1/integrators/{integrator}", None),
        ("POST", f"/v1/integrators/{integrator}/disable", None),
        ("POST", f"/v1/integrators/{integrator}/reset-secret", None),
        ("POST", "/v1/api-keys", {"service": "geofencing", "apiKey": random_key()}),
        ("POST", "/v1/api-keys/revoke", {"service": "geofencing", "apiKey": random_key()}),
        ("DELETE", f"/v1/api-keys/geofencing/{random_key()}", None),
        ("POST", reset, {"service": "geofencing", "apiKey": random_key(), "secret": "s"}),
        ("POST", delete, {"service": "geofencing", "apiKey": random_key()}),
        ("POST", f"/v1/integrators/{integrator}/enable", None),
        ("DELETE", f"/v1/integrators/{integrator}", None),
        ("POST", clear, {"address": "192.0.2.9"}),
        ("POST", reseal, {}),
        ("POST", "/v1/backups", {"name": "nightly"}),
    ]
    for method, target, body in operator_requests:
        c.call(a, "operator", method, target, expect=401, body=body, headers=wrong_operator)
    one = fresh_address()
    for _ in range(10):
        c.call(a, "operator", "GET", "/metrics", expect=401, headers=wrong_operator,
               address=one, label="wrong operator tokens from one address")
    for method, target, body in operator_requests:
        c.call(a, "operator", method, target, expect=429, body=body, headers=op, address=one)

    # -- Nothing else is served.
    c.call(a, "public", "GET", "/v1/no-such-route", expect=404)
    c.call(a, "operator", "GET", "/v1/no-such-route", expect=404, headers=op)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credstored", required=True)
    parser.add_argument("--document", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    document = Document(args.document)
    checker = Checker(document)
    tokens = {name: sensitive(f"{name}-" + random_key(40))
              for name in ("operator", "full", "narrow")}
    servers = []
    exit_codes = {}
    with tempfile.TemporaryDirectory(prefix="credstore-openapi-") as work:
        token_file = os.path.join(work, "verifier.tokens")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"full *+signatures {tokens['full']}\n"
                    f"narrow locationHistory {tokens['narrow']}\n")
        try:
            a = Server(args.credstored, work, "a",
                       ["--verifier-token-file", token_file, "--forward-auth", "nginx",
                        "--api-keys", "provisioned"], tokens["operator"])
            servers.append(a)
            b = Server(args.credstored, work, "b", [], tokens["operator"])
            servers.append(b)
            exercise(checker, a, b, tokens)
        except Exception as error:  # every failure is reported, and the servers still stop
            checker.fail(f"the run stopped: {type(error).__name__}: {error}")
        finally:
            for server in servers:
                exit_codes[server.name] = server.stop()
        for server in servers:
            if exit_codes[server.name] != 0:
                checker.fail(f"credstored {server.name} did not exit 0 on SIGTERM "
                             f"({exit_codes[server.name]}):\n{server.log_tail()}")
            with open(server.log_path, "rb") as f:
                log = f.read().decode("utf-8", "replace")
            leaked = sum(1 for value in SENSITIVE if len(value) >= 8 and value in log)
            if leaked:
                checker.fail(f"credstored {server.name}'s log carries {leaked} secret(s), "
                             "token(s) or key(s)")

    for problem in checker.coverage():
        checker.fail(problem)
    operations = len(document.operations)
    pairs = sum(len(s) for s in checker.seen.values())
    say(f"{operations} operations, {pairs} (operation, status) pairs seen, {checker.checks} "
        f"requests, in {time.monotonic() - started:.1f} s")
    passed = checker.checks - len([f for f in checker.failures])
    print(f"openapi: {max(passed, 0)} passed, {len(checker.failures)} failed", flush=True)
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
