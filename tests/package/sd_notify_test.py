#!/usr/bin/env python3
"""package.sd_notify: credstored's sd_notify messages, read from a NOTIFY_SOCKET this test owns.

Checks, with `credstore keys init` making the key files:
  - keys init writes a 0600 key file that credstored opens, and refuses to overwrite one;
  - READY=1 arrives only once the port files exist, and both listeners then answer /readyz 200;
  - SIGTERM sends STOPPING=1, then credstored exits 0;
  - over data written under other keys credstored exits 2 and never sends READY=1.
Every wait is bounded; credstored is killed and the work folder removed whatever happens.
"""
import argparse
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

WAIT_SECONDS = 30


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def keys_init(cli, path):
    return subprocess.run([cli, "keys", "init", path], capture_output=True, text=True,
                          timeout=WAIT_SECONDS)


def readyz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def receive(sock, seconds):
    """The next datagram's fields as a dict, or None after `seconds`."""
    sock.settimeout(seconds)
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        return None
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


class Credstored:
    def __init__(self, binary, work, name, arguments, notify_socket):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSTORE_")}
        env["NOTIFY_SOCKET"] = notify_socket
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([binary] + arguments, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, seconds):
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT_SECONDS)
        self.log.close()

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as log:
            return log.read()


def check_keys_init(cli, work):
    keyring = os.path.join(work, "keyring")
    made = keys_init(cli, keyring)
    if made.returncode != 0:
        fail(f"credstore keys init: exit {made.returncode}: {made.stderr}")
    mode = stat.S_IMODE(os.stat(keyring).st_mode)
    if mode != 0o600:
        fail(f"the key file has mode {oct(mode)}, not 0600")
    with open(keyring) as f:
        text = f.read()
    if not text.startswith("credstore-keyring v1\n"):
        fail("the key file is not in the keyring format")
    again = keys_init(cli, keyring)
    if again.returncode != 1 or "never overwritten" not in again.stderr:
        fail(f"keys init over an existing file: exit {again.returncode}: {again.stderr}")
    with open(keyring) as f:
        if f.read() != text:
            fail("keys init changed an existing key file")
    if text in again.stdout + again.stderr:
        fail("keys init printed key material")
    return keyring


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--credstored", required=True)
    parser.add_argument("--credstore", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    servers = []
    started = time.monotonic()
    try:
        keyring = check_keys_init(args.credstore, work)
        token = os.path.join(work, "operator-token")
        with os.fdopen(os.open(token, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(os.urandom(24).hex() + "\n")

        notify_path = os.path.join(work, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        port_file = os.path.join(work, "port")
        operator_port_file = os.path.join(work, "operator-port")
        data = os.path.join(work, "data")
        common = ["--storage", "rocksdb://" + data, "--argon2", "minimum",
                  "--listen", "127.0.0.1:0", "--port-file", port_file]
        server = Credstored(args.credstored, work, "credstored", common + [
            "--key-file", keyring, "--operator-token-file", token,
            "--operator-listen", "127.0.0.1:0", "--operator-port-file", operator_port_file],
            notify_path)
        servers.append(server)

        fields = receive(sock, WAIT_SECONDS)
        if fields is None:
            fail(f"no notification within {WAIT_SECONDS} s; log:\n{server.log_text()}")
        if fields.get("READY") != "1":
            fail(f"the first notification is not READY=1: {fields}")
        # Both port files are written before READY=1, so they must be there now.
        for path in (port_file, operator_port_file):
            if not os.path.exists(path):
                fail(f"READY=1 came before {os.path.basename(path)} was written")
        ports = [int(open(p).read()) for p in (port_file, operator_port_file)]
        for port in ports:
            status = readyz(port)
            if status != 200:
                fail(f"after READY=1, /readyz on port {port} answered {status}")
        print(f"package.sd_notify: READY=1 ({fields.get('STATUS')}); /readyz 200 on {ports}")

        server.process.send_signal(signal.SIGTERM)
        fields = receive(sock, WAIT_SECONDS)
        if fields is None or fields.get("STOPPING") != "1":
            fail(f"after SIGTERM, expected STOPPING=1, got {fields}")
        code = server.wait(WAIT_SECONDS)
        if code != 0:
            fail(f"credstored exited {code} after SIGTERM; log:\n{server.log_text()}")
        print("package.sd_notify: SIGTERM -> STOPPING=1, exit 0")

        # The same data under other keys: the store refuses to open, so no READY=1, ever.
        other = os.path.join(work, "other-keyring")
        if keys_init(args.credstore, other).returncode != 0:
            fail("keys init of a second key file failed")
        os.remove(port_file)
        wrong = Credstored(args.credstored, work, "credstored-other-keys",
                           common + ["--key-file", other], notify_path)
        servers.append(wrong)
        code = wrong.wait(WAIT_SECONDS)
        if code != 2:
            fail(f"over data written under other keys, credstored exited {code}, not 2")
        fields = receive(sock, 0.5)
        if fields is not None:
            fail(f"credstored notified {fields} although its keys do not match the data")
        print("package.sd_notify: other keys -> exit 2, no notification")
        print(f"package.sd_notify: passed in {time.monotonic() - started:.1f} s")
    finally:
        for server in servers:
            server.kill()
        if os.environ.get("KEEP_WORK") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
