#!/usr/bin/env python3
"""tokenkeeper benchmarks: each figure beside its baseline from the same run.

Called by scripts/bench with the release binary; prints a table. Figures, not assertions.
"""
import base64
import hashlib
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing

BINARY = sys.argv[1]
BIN_DIR = os.path.dirname(BINARY)
TOKENS = int(os.environ.get("BENCH_TOKENS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
CALLS = int(os.environ.get("BENCH_CALLS", "20000"))
# BENCH_ONLY=store, sinch, engine or postgres runs one part.
ONLY = os.environ.get("BENCH_ONLY", "")
DUE = int(os.environ.get("BENCH_DUE", "20000"))
IDLE_SECONDS = int(os.environ.get("BENCH_IDLE_SECONDS", "60"))

rows = []


def record(name, figure, baseline, goal, verdict):
    rows.append((name, figure, baseline, goal, verdict))
    print(f"  {name}: {figure}  (baseline: {baseline})", file=sys.stderr, flush=True)


def run(args, env, stdin=None, check=True):
    result = subprocess.run(args, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and result.returncode not in (0, 1, 2):
        sys.exit(f"bench: {' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return result


def timed(args, env, runs=RUNS):
    """Median and best wall time of a whole process, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def generate(path, count, now):
    """JSON Lines of `count` tokens expiring over the next 1 to 59 days."""
    rng = random.Random(42)
    # Letters and digits from seeded bytes (base64 without its two symbols): the same tokens each
    # run, and ten million of them in minutes rather than the half hour of choosing each character.
    table = bytes.maketrans(b"+/", b"xy")
    with open(path, "w") as out:
        for index in range(count):
            token = "EAA" + base64.b64encode(rng.randbytes(135)).translate(table).decode()
            expires = now + rng.randint(86_400, 59 * 86_400)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
            out.write(json.dumps({"project": f"p{index % 10}", "token": token, "label": f"Customer {index}",
                                  "waba": str(100000 + index), "expires_at": stamp}, separators=(",", ":")))
            out.write("\n")


def bench_sinch():
    """Refresh calls through SinchClient (libcurl, keep-alive) against fake-sinch on loopback,
    beside the same call made by a shell loop spawning one curl per call."""
    fake = FakeSinchProcess("--no-oauth-rate-limit")
    env = fake.env
    try:
        base_url = fake.base_url

        def client(calls, concurrency):
            out = subprocess.run([os.path.join(BIN_DIR, "sinch-bench"), "--base-url", base_url, "--key-id",
                                  "bench-key", "--calls", str(calls), "--concurrency", str(concurrency)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            return json.loads(out)

        sequential = client(max(1, CALLS // 4), 1)
        parallel = client(CALLS, 32)

        # What a shell script does: one curl process per call (Basic auth, no connection reuse).
        token = fake.tokens(1)[0]
        spawn_calls = max(50, CALLS // 100)
        script = ('for i in $(seq "$N"); do curl -s -o /dev/null -u "bench-key:$FAKE_SINCH_KEY_SECRET" '
                  '-H "Content-Type: application/json" -d "{\\"facebookToken\\":\\"$T\\"}" '
                  '"$URL/v1/projects/bench/whatsapp/longLivedAccessToken"; done')
        start = time.perf_counter()
        subprocess.run(["bash", "-c", script], env=dict(env, N=str(spawn_calls), T=token, URL=base_url), check=True)
        spawn_rate = spawn_calls / (time.perf_counter() - start)

        curl_baseline = f"bash loop spawning curl per call: {spawn_rate:,.0f} calls/s ({spawn_calls} calls)"
        record(f"refresh calls, sequential ({sequential['calls']:,.0f} calls)",
               f"{sequential['calls_per_second']:,.0f} calls/s, {sequential['connections']:.0f} connection(s)",
               curl_baseline, "-", "-")
        ratio = parallel["calls_per_second"] / spawn_rate
        record(f"refresh calls, 32 in flight ({parallel['calls']:,.0f} calls)",
               f"{parallel['calls_per_second']:,.0f} calls/s = {ratio:,.0f}x spawn-per-call, "
               f"{parallel['connections']:.0f} connections",
               curl_baseline, "≥ 5,000/s and ≥ 20x",
               "met" if parallel["calls_per_second"] >= 5000 and ratio >= 20 else "MISSED")
    finally:
        fake.stop()


def main():
    if ONLY in ("", "sinch"):
        bench_sinch()
    if ONLY in ("", "engine"):
        bench_engine()
    if ONLY in ("", "store"):
        bench_store()
    if ONLY in ("", "postgres"):
        import bench_postgres
        bench_postgres.bench(sys.modules[__name__])
    print_table()


class FakeSinchProcess:
    """fake-sinch on an ephemeral loopback port, with its admin API over one kept-alive connection."""

    def __init__(self, *arguments):
        self.env = dict(os.environ, FAKE_SINCH_KEY_SECRET="bench-secret")
        self.process = subprocess.Popen([os.path.join(BIN_DIR, "fake-sinch"), "--port", "0", "--key-id",
                                         "bench-key", *arguments], env=self.env, stdout=subprocess.PIPE, text=True)
        started = json.loads(self.process.stdout.readline())
        self.base_url, self.port = started["base_url"], started["port"]
        import http.client
        self.admin = http.client.HTTPConnection("127.0.0.1", self.port)

    def call(self, method, path, body=None):
        self.admin.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"})
        response = self.admin.getresponse()
        return json.loads(response.read() or b"null")

    def tokens(self, count):
        return [self.call("POST", "/_fake/tokens", {})["token"] for _ in range(count)]

    def stats(self):
        return self.call("GET", "/_fake/stats")

    def sinch_env(self, env):
        return dict(env, SINCH_KEY_ID="bench-key", SINCH_KEY_SECRET="bench-secret",
                    SINCH_PROVISIONING_URL=self.base_url, SINCH_AUTH_URL=self.base_url + "/oauth2/token")

    def stop(self):
        self.admin.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def clean_env(work):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENKEEPER_", "SINCH_"))}
    env["TOKENKEEPER_DB"] = os.path.join(work, "state", "tokenkeeper.sqlite")
    env["HOME"] = work
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def import_due(env, tokens, projects, work):
    """Stores `tokens` (valid at fake-sinch) due now: they expire in a day, inside renew-before."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))
    path = os.path.join(work, "due.jsonl")
    with open(path, "w") as out:
        for index, token in enumerate(tokens):
            out.write(json.dumps({"project": f"p{index % projects}", "token": token, "expires_at": stamp}) + "\n")
    run([BINARY, "init"], env)
    with open(path, "rb") as stdin:
        run([BINARY, "import", "-"], env, stdin=stdin)


def sqlite_refresh_floor(path):
    """SQLite's own floor for the engine's writes on a copy of its database: every due token
    claimed in chunks of 64 (one transaction a chunk) and committed in groups of 25 (the row
    update and an audit row each), as run-once does, from one thread with cached statements
    (Python's sqlite3 over the same libsqlite3): no HTTP, crypto or tasks. The due ids are read
    once, before the clock starts, and a claim is a primary-key update without `RETURNING`: if
    anything, a floor on the high side. Refreshes per second."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    now = int(time.time())
    ids = [row[0] for row in db.execute("SELECT id FROM tokens ORDER BY refresh_at")]
    seq, prev = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    claimed, unclaimed = [], iter(ids)
    start = time.perf_counter()
    while True:
        if len(claimed) < 64:
            chunk = [token for _, token in zip(range(64), unclaimed)]
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE tokens SET lease_owner = 'floor', lease_until = ? WHERE id = ? "
                           "AND (lease_until IS NULL OR lease_until < ?)", [(now + 300, token, now) for token in chunk])
            db.execute("COMMIT")
            claimed += chunk
        if not claimed:
            break
        group, claimed = claimed[:25], claimed[25:]
        db.execute("BEGIN IMMEDIATE")
        for token in group:
            db.execute("UPDATE tokens SET sealed_token = ?, fingerprint = ?, expires_at = ?, refresh_at = ?, "
                       "state = 'active', failures = 0, last_error = NULL, last_refreshed_at = ?, lease_owner = NULL, "
                       "lease_until = NULL, version = version + 1 WHERE id = ? AND lease_owner = 'floor'",
                       (os.urandom(190), os.urandom(8).hex(), now + 5_184_000, now + 3_456_000 + random.randrange(86_400),
                        now, token))
            seq += 1
            detail = json.dumps({"attempt": 1, "latency_ms": 1, "new_fingerprint": os.urandom(8).hex(),
                                 "old_fingerprint": os.urandom(8).hex()}, sort_keys=True)
            digest = hashlib.sha256((prev + detail).encode()).hexdigest()
            db.execute("INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) "
                       "VALUES (?, ?, ?, 'refreshed', 'floor', ?, ?, ?)", (seq, now, token, detail, prev, digest))
            prev = digest
        db.execute("COMMIT")
    db.close()
    return len(ids) / (time.perf_counter() - start)


def sliced_count(lo, hi, where):
    """The SQL tokenkeeper's SQLite store runs to count tokens expiring in (lo, hi] (lo None:
    unbounded) that match `where`: the whole 4,096-second slices of token_counts inside the range,
    and index counts of the part-slices at its ends (SQLiteTransaction+Counts)."""
    also = f" AND {where}" if where else ""
    first = -(2**51) if lo is None else (lo >> 12) + 1
    last = hi >> 12 if hi & 4095 == 4095 else (hi >> 12) - 1
    if first > last:
        return f"SELECT COUNT(*) FROM tokens WHERE expires_at > {-2**62 if lo is None else lo} AND expires_at <= {hi}{also}; "
    sql = f"SELECT SUM(tokens) FROM token_counts WHERE slice BETWEEN {first} AND {last}{also}; "
    if lo is not None:
        sql += f"SELECT COUNT(*) FROM tokens WHERE expires_at > {lo} AND expires_at <= {(first << 12) - 1}{also}; "
    return sql + f"SELECT COUNT(*) FROM tokens WHERE expires_at > {((last + 1) << 12) - 1} AND expires_at <= {hi}{also}; "


def run_once_rate(env, due):
    """`run-once` over the `due` tokens stored in env's store, 32 in flight, no rate limit:
    refreshes per second and seconds."""
    start = time.perf_counter()
    result = run([BINARY, "run-once", "--json"], dict(env, TOKENKEEPER_CONCURRENCY="32", TOKENKEEPER_RATE="1000000"))
    seconds = time.perf_counter() - start
    summary = json.loads(result.stdout)
    if summary["refreshed"] != due:
        sys.exit(f"bench: run-once refreshed {summary['refreshed']} of {due}: {result.stderr.decode()[-2000:]}")
    return due / seconds, seconds


def bare_client(fake, calls):
    """SinchClient alone (sinch-bench), `calls` refreshes 32 in flight: its JSON summary."""
    return json.loads(subprocess.run(
        [os.path.join(BIN_DIR, "sinch-bench"), "--base-url", fake.base_url, "--key-id", "bench-key",
         "--calls", str(calls), "--concurrency", "32"],
        env=fake.env, capture_output=True, text=True, check=True).stdout)


def bench_engine():
    """run-once over due tokens against fake-sinch: the engine beside the bare client, a shell
    script doing the same job with curl and sqlite3, and the per-project rate limit."""
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench-engine.")
    fake = FakeSinchProcess("--no-oauth-rate-limit")
    try:
        env = fake.sinch_env(clean_env(work))
        print(f"bench: minting {DUE:,} tokens at fake-sinch", file=sys.stderr, flush=True)
        import_due(env, fake.tokens(DUE), 10, work)
        floor_db = os.path.join(work, "floor.sqlite")
        with closing(sqlite3.connect(env["TOKENKEEPER_DB"])) as source, closing(sqlite3.connect(floor_db)) as copy:
            source.backup(copy)
        floor_rate = sqlite_refresh_floor(floor_db)
        engine_rate, seconds = run_once_rate(env, DUE)
        client = bare_client(fake, DUE)

        # The script a user would write: tokens in clear in a sqlite table, one sqlite3 and one curl
        # process per token (the token even passes through curl's argv).
        script_count = max(100, DUE // 100)
        plain = os.path.join(work, "plain.sqlite")
        with sqlite3.connect(plain) as db:
            db.execute("CREATE TABLE tokens (id TEXT PRIMARY KEY, project TEXT, token TEXT, expires_at INTEGER)")
            db.executemany("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                           [(f"t{i}", f"p{i % 10}", token, int(time.time()) + 86_400)
                            for i, token in enumerate(fake.tokens(script_count))])
        script = r'''
now=$(date +%s)
sqlite3 -separator ' ' "$DB" "SELECT id, project, token FROM tokens WHERE expires_at < $((now + 1728000))" |
while read -r id project token; do
    new=$(curl -s -u "$KEY:$SECRET" -H 'Content-Type: application/json' -d "{\"facebookToken\":\"$token\"}" \
        "$URL/v1/projects/$project/whatsapp/longLivedAccessToken" |
        sed -n 's/.*"longLivedAccessToken" *: *"\([^"]*\)".*/\1/p')
    [ -n "$new" ] && sqlite3 "$DB" "UPDATE tokens SET token = '$new', expires_at = $((now + 5184000)) WHERE id = '$id'"
done
'''
        start = time.perf_counter()
        subprocess.run(["bash", "-c", script], check=True,
                       env=dict(env, DB=plain, KEY="bench-key", SECRET="bench-secret", URL=fake.base_url))
        script_rate = script_count / (time.perf_counter() - start)
        with sqlite3.connect(plain) as db:
            moved = db.execute("SELECT COUNT(*) FROM tokens WHERE expires_at > ?", (int(time.time()) + 86_400 * 2,)
                               ).fetchone()[0]
        if moved != script_count:
            sys.exit(f"bench: the shell baseline refreshed {moved} of {script_count}")
        share = engine_rate / client["calls_per_second"]
        record(f"run-once over {DUE:,} due tokens (32 in flight, 10 projects)",
               f"{engine_rate:,.0f} refreshes/s ({seconds:.1f} s) = {share:.0%} of the bare client, "
               f"{engine_rate / script_rate:,.0f}x the script",
               f"bare SinchClient: {client['calls_per_second']:,.0f} calls/s; SQLite alone doing the same writes "
               f"(claims of 64, commits of 25 with audit rows, one thread): {floor_rate:,.0f}/s; shell script with "
               f"curl + sqlite3: {script_rate:,.0f} tokens/s ({script_count} tokens)",
               "≥ 50 % of the bare client", "met" if share >= 0.5 else "MISSED")
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)

    # Catch-up under a rate limit: one project, limits.rate requests per second.
    rate, count = 200, int(os.environ.get("BENCH_CATCHUP", "2000"))
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench-catchup.")
    fake = FakeSinchProcess("--no-oauth-rate-limit")
    try:
        env = fake.sinch_env(clean_env(work))
        import_due(env, fake.tokens(count), 1, work)
        fake.call("POST", "/_fake/stats/reset")
        start = time.perf_counter()
        result = run([BINARY, "run-once", "--json"], dict(env, TOKENKEEPER_RATE=str(rate)))
        seconds = time.perf_counter() - start
        refreshed = json.loads(result.stdout)["refreshed"]
        per_second = fake.stats()["requestsPerProjectSecond"].get("p0", {})
        peak = max(per_second.values(), default=0)
        over = sum(1 for value in per_second.values() if value > rate)
        ideal = count / rate
        off = abs(seconds - ideal) / ideal
        record(f"catch-up: {count:,} due tokens, limits.rate {rate}",
               f"{seconds:.2f} s for {refreshed:,} ({off:.1%} off N/R); peak {peak} requests in one second, "
               f"{over} seconds above the limit",
               f"N/R = {ideal:.1f} s", "within 10 % and 0 seconds above",
               "met" if off <= 0.10 and over == 0 and refreshed == count else "MISSED")
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


IDLE_SINCH = dict(SINCH_KEY_ID="bench-key", SINCH_KEY_SECRET="bench-secret",
                  SINCH_PROVISIONING_URL="http://127.0.0.1:9", SINCH_AUTH_URL="http://127.0.0.1:9/oauth2/token")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def idle_daemons(envs):
    """Daemons, one per env, side by side for IDLE_SECONDS after a 2 s start: for each, the CPU
    seconds of the window, those of its start-up, and its peak RSS in MiB."""
    daemons = [subprocess.Popen([BINARY, "daemon"], env=dict(daemon_env, **IDLE_SINCH), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE) for daemon_env in envs]
    try:
        time.sleep(2)
        for daemon in daemons:
            if daemon.poll() is not None:
                sys.exit(f"bench: a daemon exited: {daemon.stderr.read().decode()}")
        started = [cpu_seconds(daemon.pid) for daemon in daemons]
        print(f"bench: idle daemons for {IDLE_SECONDS} s", file=sys.stderr, flush=True)
        time.sleep(IDLE_SECONDS)
        return [(cpu_seconds(daemon.pid) - before, before, peak_rss_mib(daemon.pid))
                for daemon, before in zip(daemons, started)]
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=30)


def bench_idle(env, work):
    """A daemon over the store with nothing due for IDLE_SECONDS: CPU seconds and peak RSS, beside
    a daemon over an empty database in the same window."""
    # Nothing may come due during the window: move every refresh a month out.
    with sqlite3.connect(env["TOKENKEEPER_DB"]) as db:
        db.execute("UPDATE tokens SET refresh_at = CAST(strftime('%s', 'now') AS INTEGER) + 30 * 86400 "
                   "+ (rowid % 86400)")
    empty_env = dict(env, TOKENKEEPER_DB=os.path.join(work, "empty", "tokenkeeper.sqlite"))
    run([BINARY, "init"], empty_env)
    (idle, startup, rss), (empty_idle, _, empty_rss) = idle_daemons([env, empty_env])
    record(f"idle daemon over {TOKENS:,} tokens, none due, {IDLE_SECONDS} s",
           f"{idle:.3f} CPU s in the window (start-up {startup:.3f} s), peak RSS {rss:.1f} MiB",
           f"the same daemon over an empty database: {empty_idle:.3f} CPU s, peak RSS {empty_rss:.1f} MiB",
           "< 0.1 s and ≤ 40 MiB", "met" if idle < 0.1 and rss <= 40 else "MISSED")



def scrape(env, work, per_token):
    """One /metrics scrape of a daemon started with metrics.per_token = `per_token`: wall
    seconds, the daemon's CPU seconds for the scrape, the body, and its peak RSS before and after."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = os.path.join(work, f"metrics-daemon-{per_token}.log")
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen([BINARY, "daemon", "--metrics", f"127.0.0.1:{port}"],
                                  env=dict(env, TOKENKEEPER_METRICS_PER_TOKEN=per_token, **IDLE_SINCH),
                                  stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(100):
            try:
                direct.open(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
                break
            except OSError:
                if daemon.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            daemon.kill()
        if daemon.poll() is not None:
            with open(log_path) as log:
                sys.exit(f"bench: the metrics daemon did not answer: {log.read()[-2000:]}")
        time.sleep(1)  # past its first pass and heartbeat
        before, cpu_before = peak_rss_mib(daemon.pid), cpu_seconds(daemon.pid)
        start = time.perf_counter()
        body = direct.open(f"http://127.0.0.1:{port}/metrics", timeout=120).read()
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(daemon.pid) - cpu_before
        peak = peak_rss_mib(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    return seconds, cpu, body, before, peak


def bench_scrape(env, work):
    """A /metrics scrape over a healthy store (no token expiring within 30 days, none failing),
    by default (per-token series only for tokens that need attention) and with every token's
    series (`all`, the behaviour before metrics.per_token), from the same run."""
    with sqlite3.connect(env["TOKENKEEPER_DB"]) as db:
        db.execute("UPDATE tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) + 31 * 86400 "
                   "+ (rowid % (28 * 86400)), refresh_at = CAST(strftime('%s', 'now') AS INTEGER) + 30 * 86400 "
                   "+ (rowid % 86400), state = 'active', failures = 0")
    seconds, cpu, body, before, peak = scrape(env, work, "attention")
    all_seconds, all_cpu, all_body, _, all_peak = scrape(env, work, "all")
    samples = body.count(b"\ntokenkeeper_token_")
    all_samples = all_body.count(b"\ntokenkeeper_token_")
    share = cpu / all_cpu if all_cpu else 0
    record(f"/metrics scrape over {TOKENS:,} healthy tokens (default: per-token series for attention only)",
           f"{cpu:.3f} CPU s ({share:.1%} of all), {seconds:.2f} s, {len(body) / 1e3:,.1f} KB "
           f"({samples:,} per-token samples), daemon peak RSS {peak:.0f} MiB (before the scrape {before:.0f})",
           f"metrics.per_token=all: {all_cpu:.2f} CPU s, {all_seconds:.1f} s for {len(all_body) / 1e6:,.0f} MB "
           f"({all_samples:,} samples), peak RSS {all_peak:.0f} MiB",
           "≤ 10 % of all's CPU and < 10 KB", "met" if share <= 0.10 and len(body) < 10_000 else "MISSED")


def sqlite_floor(schema_db, path, count, now):
    """SQLite's own ceiling for an import into this schema: `count` token rows and their audit
    rows (same sizes: a 190-byte sealed value, hex fingerprint and hashes, the audit detail JSON)
    made inside SQLite and written in one transaction with each expiry slice's count (token_counts):
    no parsing, sealing or hashing. Ids go in
    one global order and audit rows in seq order, the kindest orders for those indexes (tokenkeeper
    can only sort each batch); expiry and refresh times are spread as the bench's input is. The
    time to make the rows is left out. Tokens per second (each a token row and an audit row)."""
    schema = subprocess.run(["sqlite3", schema_db, ".schema"], capture_output=True, text=True,
                            check=True).stdout.replace("CREATE TABLE grdb_migrations", "CREATE TABLE _m")
    # MATERIALIZED: each random id is drawn once, so `i` numbers the stored ids in their order.
    make = ("CREATE TEMP TABLE made AS WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n "
            f"WHERE k < {count}), drawn AS MATERIALIZED (SELECT 'tk_' || lower(hex(randomblob(6))) AS id, "
            "86400 + abs(random()) % (58 * 86400) AS expires_in, abs(random()) % 86400 AS jitter FROM n) "
            "SELECT ROW_NUMBER() OVER (ORDER BY id) AS i, id, expires_in, jitter, randomblob(190) AS sealed, "
            "lower(hex(randomblob(8))) AS fingerprint, lower(hex(randomblob(32))) AS hash FROM drawn ORDER BY id;")
    script = (f"PRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\nPRAGMA cache_size = -262144;\n{schema}\n"
              f".timer on\n{make}\n.timer off\nBEGIN;\n"
              "INSERT INTO tokens (id, project_id, label, waba_id, sealed_token, fingerprint, issued_at, expires_at, "
              f"refresh_at, state, failures, version) SELECT id, 'p' || (i % 10), 'C ' || i, '' || i, sealed, "
              f"fingerprint, {now}, {now} + expires_in, {now} + expires_in * 2 / 3 - jitter, 'active', 0, 1 "
              "FROM made ORDER BY i;\n"
              # The slices' counts, as tokenkeeper's import adds them (one row a slice).
              f"INSERT INTO token_counts (state, slice, tokens) SELECT 'active', ({now} + expires_in) >> 12, "
              "COUNT(*) FROM made GROUP BY 2;\n"
              "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) SELECT i, "
              f"{now}, id, 'added', 'cli:root', '{{\"fingerprint\":\"' || fingerprint || '\",\"project\":\"p' "
              "|| (i % 10) || '\",\"source\":\"import\"}', hash, hash FROM made ORDER BY i;\nCOMMIT;\n")
    start = time.perf_counter()
    result = subprocess.run(["sqlite3", path], input=script, capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    making = float(re.search(r"Run Time: real ([0-9.]+)", result.stdout).group(1))
    return count / (total - making)


def bench_store():
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench.")
    try:
        env = clean_env(work)
        now = int(time.time())
        lines = os.path.join(work, "tokens.jsonl")
        print(f"bench: generating {TOKENS:,} tokens", file=sys.stderr, flush=True)
        generate(lines, TOKENS, now)

        # 1. import: tokenkeeper (parse, seal, fingerprint, audit row each) against sqlite3 loading
        #    the same rows into the same schema, unsealed and unaudited, in one transaction.
        run([BINARY, "init"], env)
        start = time.perf_counter()
        with open(lines, "rb") as stdin:
            importer = subprocess.Popen([BINARY, "import", "-"], env=env, stdin=stdin, stdout=subprocess.DEVNULL)
            # The import's own peak: RUSAGE_CHILDREN would also count what the shell ran before
            # it exec'd this script (swift build, ~770 MiB).
            _, status, usage = os.wait4(importer.pid, 0)
        import_seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"bench: import failed ({os.waitstatus_to_exitcode(status)})")
        tk_rate = TOKENS / import_seconds
        import_rss = usage.ru_maxrss / 1024

        baseline_db = os.path.join(work, "baseline.sqlite")
        # The token table with its indexes, and token_counts, which its triggers write, first.
        schema = subprocess.run(["sqlite3", env["TOKENKEEPER_DB"], ".schema token_counts", ".schema tokens"],
                                capture_output=True, text=True, check=True).stdout
        csv_path = os.path.join(work, "tokens.csv")
        with open(lines) as source, open(csv_path, "w") as out:
            for index, line in enumerate(source):
                item = json.loads(line)
                out.write(f"tk_{index:012x},{item['project']},{item['label']},{item['waba']},{item['token']},"
                          f"{index:016x},{now},{now + 86400},{now},active,0,1\n")
        script = (f"PRAGMA journal_mode=WAL;\n{schema}\n"
                  "CREATE TEMP TABLE staging(id,project_id,label,waba_id,sealed_token,fingerprint,issued_at,"
                  "expires_at,refresh_at,state,failures,version);\n"
                  f".mode csv\n.import {csv_path} staging\n"
                  "BEGIN; INSERT INTO tokens (id,project_id,label,waba_id,sealed_token,fingerprint,issued_at,"
                  "expires_at,refresh_at,state,failures,version) SELECT * FROM staging; COMMIT;\n")
        start = time.perf_counter()
        subprocess.run(["sqlite3", baseline_db], input=script, text=True, check=True, capture_output=True)
        baseline_rate = TOKENS / (time.perf_counter() - start)
        floor_rate = sqlite_floor(env["TOKENKEEPER_DB"], os.path.join(work, "floor.sqlite"), TOKENS, now)
        input_mib = os.path.getsize(lines) / (1 << 20)
        record(f"import {TOKENS:,} tokens (JSON Lines, sealed, audited)",
               f"{tk_rate:,.0f} tokens/s, peak RSS {import_rss:,.0f} MiB",
               f"sqlite3 CLI loading the same rows unsealed: {baseline_rate:,.0f} rows/s; "
               f"SQLite alone writing each token row and its audit row: {floor_rate:,.0f} tokens/s; "
               f"input file {input_mib:,.0f} MiB",
               "≥ 100,000 tokens/s", "met" if tk_rate >= 100_000 else "MISSED")

        # 2. list --expiring-within 7d --limit 100 --json, whole process, against sqlite3 running the
        #    equivalent indexed query with JSON output on the same file.
        horizon = int(time.time()) + 7 * 86_400
        tk_list = timed([BINARY, "list", "--expiring-within", "7d", "--limit", "100", "--json"], env)
        query = ("SELECT id, project_id, label, waba_id, state, issued_at, expires_at, refresh_at, "
                 f"last_refreshed_at, failures, last_error, fingerprint FROM tokens WHERE expires_at <= {horizon} "
                 "ORDER BY expires_at LIMIT 100")
        sq_list = timed(["sqlite3", "-readonly", "-json", env["TOKENKEEPER_DB"], query], env)
        ratio = tk_list[0] / sq_list[0]
        record(f"list --expiring-within 7d --limit 100 --json over {TOKENS:,}",
               f"{tk_list[0]:.1f} ms median ({tk_list[1]:.1f} best), ratio {ratio:.2f}",
               f"sqlite3 -json, same query and file: {sq_list[0]:.1f} ms median",
               "ratio ≤ 1.5 and < 100 ms", "met" if ratio <= 1.5 and tk_list[0] < 100 else "MISSED")

        # 3. check over every token, whole process, against sqlite3 running the same counts: from
        #    token_counts' slices and the part-slices at each range's ends, as tokenkeeper counts;
        #    and, for scale, the index-range counts check ran before the slices (every entry of each
        #    range visited: linear in the store).
        tk_check = timed([BINARY, "check"], env)
        soon, later = int(time.time()) + 3 * 86_400, int(time.time()) + 14 * 86_400
        attention = "state IN ('needs_reauth', 'expired')"
        ranges = [(None, now), (now, soon), (soon, later)]
        sliced = ("SELECT SUM(tokens) FROM token_counts; "
                  f"SELECT SUM(tokens) FROM token_counts WHERE state = 'needs_reauth' AND {attention}; "
                  f"SELECT SUM(tokens) FROM token_counts WHERE state = 'expired' AND {attention}; "
                  + "".join(sliced_count(lo, hi, where) for lo, hi in ranges for where in ("", attention)))
        sq_check = timed(["sqlite3", "-readonly", env["TOKENKEEPER_DB"], sliced], env)
        ranged = ("SELECT COUNT(*) FROM tokens; "
                  f"SELECT COUNT(*) FROM tokens WHERE {attention} AND state = 'needs_reauth'; "
                  f"SELECT COUNT(*) FROM tokens WHERE {attention} AND state = 'expired'; "
                  + "".join(f"SELECT COUNT(*) FROM tokens WHERE expires_at > {-2**62 if lo is None else lo} AND expires_at <= {hi}; "
                            f"SELECT COUNT(*) FROM tokens WHERE {attention} AND expires_at > {-2**62 if lo is None else lo} "
                            f"AND expires_at <= {hi}; " for lo, hi in ranges))
        sq_ranged = timed(["sqlite3", "-readonly", env["TOKENKEEPER_DB"], ranged], env)
        record(f"check over {TOKENS:,} tokens", f"{tk_check[0]:.1f} ms median ({tk_check[1]:.1f} best)",
               f"sqlite3 running the same counts: {sq_check[0]:.1f} ms median; counting the index ranges "
               f"instead (check before the slices): {sq_ranged[0]:.1f} ms",
               "< 200 ms", "met" if tk_check[0] < 200 else "MISSED")

        # 4. run-once --dry-run: the number due, counted in the refresh index (no id is read),
        #    against sqlite3 running the same count.
        tk_dry = timed([BINARY, "run-once", "--dry-run", "--json"], env, runs=min(RUNS, 10))
        due_now = json.loads(run([BINARY, "run-once", "--dry-run", "--json"], env).stdout)["due"]
        at = int(time.time())
        due_count = f"SELECT COUNT(*) FROM tokens WHERE state IN ('active', 'retrying') AND refresh_at <= {at}"
        sq_dry = timed(["sqlite3", "-readonly", env["TOKENKEEPER_DB"], due_count], env, runs=min(RUNS, 10))
        record(f"run-once --dry-run over {TOKENS:,} ({due_now:,} due)", f"{tk_dry[0]:.1f} ms median",
               f"sqlite3 running the same count: {sq_dry[0]:.1f} ms median", "< 1 s",
               "met" if tk_dry[0] < 1000 else "MISSED")

        # Start-up floor: the smallest thing the binary can do.
        floor = timed([BINARY, "--version"], env)
        record("start-up (tokenkeeper --version)", f"{floor[0]:.1f} ms median",
               f"sqlite3 --version: {timed(['sqlite3', '--version'], env)[0]:.1f} ms", "-", "-")

        if IDLE_SECONDS > 0:
            bench_idle(env, work)
        bench_scrape(env, work)
        bench_counts_upgrade(env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_counts_upgrade(env):
    """The upgrade that fills token_counts (migration v5) over the bench's store: the table, its
    triggers and the migration's row taken away, then `init` (which migrates), against sqlite3
    filling a temporary table with the same GROUP BY on the same file."""
    db = env["TOKENKEEPER_DB"]
    subprocess.run(["sqlite3", db, "DROP TRIGGER token_counts_delete; DROP TRIGGER token_counts_update; "
                    "DROP TABLE token_counts; DELETE FROM grdb_migrations WHERE identifier = 'v5 token counts';"],
                   check=True)
    start = time.perf_counter()
    run([BINARY, "init"], env)
    upgrade = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["sqlite3", db, "CREATE TEMP TABLE c (state TEXT NOT NULL, slice INTEGER NOT NULL, tokens INTEGER "
                    "NOT NULL, PRIMARY KEY (state, slice)) WITHOUT ROWID; INSERT INTO c SELECT state, expires_at >> 12, "
                    "COUNT(*) FROM tokens GROUP BY 1, 2;"], check=True)
    fill = time.perf_counter() - start
    slices = run(["sqlite3", "-readonly", db, "SELECT COUNT(*) FROM token_counts"], env).stdout.decode().strip()
    record(f"upgrade to token_counts (migration v5) over {TOKENS:,} tokens", f"{upgrade:.2f} s ({slices} slices)",
           f"sqlite3 filling the same table: {fill:.2f} s", "-", "-")


def print_table():
    width = [max(len(str(row[i])) for row in rows + [("figure", "result", "baseline (same run)", "goal", "")])
             for i in range(5)]
    header = ("figure", "result", "baseline (same run)", "goal", "")
    print(" | ".join(h.ljust(w) for h, w in zip(header, width)))
    print("-+-".join("-" * w for w in width))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, width)))


if __name__ == "__main__":
    main()
