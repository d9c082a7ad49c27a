"""The PostgreSQL store's benchmarks (BENCH_ONLY=postgres): each figure beside SQLite's, the bare
client's and PostgreSQL's own floor from the same run.

scripts/bench starts a throwaway server (scripts/lib/postgres-cluster, the tests' settings:
fsync and synchronous_commit off) and exports TOKENKEEPER_TEST_POSTGRES_*; every figure gets a
fresh database on it. `bench(b)` takes bench.py's module for its helpers and its table.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

FLEET = int(os.environ.get("BENCH_FLEET", "6000"))
CHUNK, GROUP = 64, 25  # the engine's claim and commit sizes (RefreshEngine, GroupCommitter)


class Server:
    """The run's server: fresh databases for the tokenkeeper role, and psql as either role."""

    def __init__(self):
        environment = os.environ
        if not environment.get("TOKENKEEPER_TEST_POSTGRES_URL"):
            sys.exit("bench: no PostgreSQL server (scripts/bench starts one; run it, not bench.py)")
        self.url = environment["TOKENKEEPER_TEST_POSTGRES_URL"]
        self.password = environment["TOKENKEEPER_TEST_POSTGRES_PASSWORD"]
        self.admin_url = environment["TOKENKEEPER_TEST_POSTGRES_ADMIN_URL"]
        self.admin_password = environment["TOKENKEEPER_TEST_POSTGRES_ADMIN_PASSWORD"]
        self.bin = environment["TOKENKEEPER_TEST_POSTGRES_BIN"]
        self.port = environment["TOKENKEEPER_TEST_POSTGRES_PORT"]

    def psql(self, url, sql, admin=False, stdin=None):
        """Runs `sql` (or the script on stdin with -f -) through psql; its unaligned output."""
        password = self.admin_password if admin else self.password
        command = [os.path.join(self.bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
        command += ["-c", sql] if sql is not None else ["-f", "-"]
        result = subprocess.run(command, env=dict(os.environ, PGPASSWORD=password), input=stdin,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"bench: psql failed: {result.stderr[-2000:]}")
        return result.stdout.strip()

    def fresh(self):
        """A new empty database owned by the tokenkeeper role: its name and URL (no password)."""
        name = "bench_" + uuid.uuid4().hex[:12]
        self.psql(self.admin_url, f"CREATE DATABASE {name} OWNER tokenkeeper", admin=True)
        return name, urlunsplit(urlsplit(self.url)._replace(path="/" + name))

    def env(self, b, work, url):
        """A tokenkeeper environment on the database at `url`, its password in PGPASSWORD."""
        return dict(b.clean_env(work), TOKENKEEPER_DB=url, PGPASSWORD=self.password)


def floor_script(base_seq, now):
    """A pgbench transaction that does what the engine does to one claimed chunk, with the same
    statements and sizes: claim CHUNK due tokens with FOR UPDATE SKIP LOCKED (RETURNING every
    column), then commit them in groups of GROUP, each group one transaction that locks the chain
    head, updates its rows in one statement (each checked against its claim, version + 1) and
    appends its audit rows in one INSERT with the head's move. Ids are `f<n>` (renamed in refresh order) so a script can name them;
    values are constants of the same sizes: no HTTP, sealing or hashing."""
    columns = ("id, project_id, label, waba_id, business_manager, sealed_token, fingerprint, issued_at, "
               "expires_at, refresh_at, state, failures, last_error, last_refreshed_at, lease_owner, lease_until, "
               "version")
    sealed = os.urandom(190).hex()
    lines = ["SELECT nextval('floor_chunk') - 1 AS c \\gset",
             "BEGIN;",
             "UPDATE tokens SET lease_owner = 'floor-1-x', lease_until = %d WHERE id IN (SELECT id FROM tokens "
             "WHERE id = ANY(ARRAY(SELECT 'f' || k FROM generate_series(CAST(:c AS bigint) * %d, CAST(:c AS bigint) * %d + %d) AS k)) "
             "AND state IN ('active', 'retrying') AND (lease_until IS NULL OR lease_until < %d) "
             "AND (refresh_at <= %d OR false) FOR UPDATE SKIP LOCKED) RETURNING %s;"
             % (now + 300, CHUNK, CHUNK, CHUNK - 1, now, now, columns),
             "COMMIT;"]
    for first in range(0, CHUNK, GROUP):
        members = range(first, min(first + GROUP, CHUNK))
        lines += ["BEGIN;", "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE;"]
        values, rows = [], []
        for member in members:
            k = f"CAST(:c AS bigint) * {CHUNK} + {member}"
            rows.append(f"('f' || ({k}), 'floor-1-x', 1, '\\x{sealed}'::bytea, '{os.urandom(8).hex()}', {now}, "
                        f"{now + 5_184_000}, {now}, 'active', 0, {now + 3_456_000}, NULL::text)")
            detail = json.dumps({"attempt": 1, "latency_ms": 100, "new_fingerprint": os.urandom(8).hex(),
                                 "old_fingerprint": os.urandom(8).hex()}, sort_keys=True)
            values.append(f"({base_seq + 1} + {k}, {now}, 'f' || ({k}), "
                          f"'refreshed', 'floor-1-x', '{detail}', '{os.urandom(32).hex()}', '{os.urandom(32).hex()}')")
        # The group's rows in one statement, each checked against its claim, as the engine's.
        lines.append(
            "UPDATE tokens AS t SET sealed_token = COALESCE(v.sealed, t.sealed_token), "
            "fingerprint = COALESCE(v.fingerprint, t.fingerprint), issued_at = v.issued_at, "
            "expires_at = v.expires_at, last_refreshed_at = COALESCE(v.last_refreshed_at, t.last_refreshed_at), "
            "state = v.state, failures = v.failures, refresh_at = v.refresh_at, last_error = v.last_error, "
            "lease_owner = NULL, lease_until = NULL, version = t.version + 1 "
            f"FROM (VALUES {', '.join(rows)}) AS v(id, owner, version, sealed, fingerprint, issued_at, expires_at, "
            "last_refreshed_at, state, failures, refresh_at, last_error) "
            "WHERE t.id = v.id AND t.lease_owner = v.owner AND t.version = v.version RETURNING t.id;")
        last = members[-1]
        lines.append(
            f"WITH appended AS (INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) "
            f"VALUES {', '.join(values)} RETURNING 1) UPDATE audit_head SET seq = {base_seq + 1} + CAST(:c AS bigint) "
            f"* {CHUNK} + {last}, hash = '{os.urandom(32).hex()}' WHERE id = 1 AND seq = {base_seq} "
            f"+ CAST(:c AS bigint) * {CHUNK} + {first} "
            "RETURNING (SELECT COUNT(*) FROM appended);")
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def postgres_floor(server, name, url, count):
    """PostgreSQL's own floor for the engine's writes over `count` due tokens stored at `url`
    (database `name`): floor_script run by pgbench, one client, extended protocol. Tokens/s."""
    now = int(time.time())
    # Ids in refresh order, as the engine takes them; the audit rows keep the old ids (no FK).
    server.psql(url, "UPDATE tokens SET id = 'f' || n FROM (SELECT id AS old, ROW_NUMBER() OVER (ORDER BY "
                     "refresh_at, id) - 1 AS n FROM tokens) AS o WHERE tokens.id = o.old; "
                     "CREATE SEQUENCE floor_chunk MINVALUE 1")
    server.psql(url, "VACUUM ANALYZE tokens")
    base = int(server.psql(url, "SELECT seq FROM audit_head WHERE id = 1"))
    chunks = count // CHUNK
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(floor_script(base, now))
    try:
        result = subprocess.run([os.path.join(server.bin, "pgbench"), "-n", "-M", "extended", "-c", "1", "-j", "1",
                                 "-t", str(chunks), "-f", script.name, "-h", "127.0.0.1", "-p", server.port, "-U",
                                 "tokenkeeper", name], env=dict(os.environ, PGPASSWORD=server.password),
                                capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    if result.returncode != 0:
        sys.exit(f"bench: pgbench failed: {result.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout).group(1))
    moved = int(server.psql(url, f"SELECT COUNT(*) FROM tokens WHERE version > 1 AND lease_owner IS NULL"))
    if moved != chunks * CHUNK:
        sys.exit(f"bench: the floor refreshed {moved} of {chunks * CHUNK} tokens")
    return tps * CHUNK


def bench_engine(b, server):
    """run-once over DUE due tokens on PostgreSQL, beside the same on SQLite, the bare client and
    PostgreSQL's floor for the same writes."""
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench-pg-engine.")
    fake = b.FakeSinchProcess("--no-oauth-rate-limit")
    try:
        print(f"bench: minting {3 * b.DUE:,} tokens at fake-sinch", file=sys.stderr, flush=True)
        sqlite_env = fake.sinch_env(b.clean_env(work))
        b.import_due(sqlite_env, fake.tokens(b.DUE), 10, work)
        sqlite_rate, _ = b.run_once_rate(sqlite_env, b.DUE)

        _, url = server.fresh()
        pg_env = fake.sinch_env(server.env(b, work, url))
        b.import_due(pg_env, fake.tokens(b.DUE), 10, work)
        # The state the floor starts from (and autovacuum gives a table long before its tokens
        # come due): fresh from COPY, every claim's first visit also set the rows' hint bits,
        # 6 ms a claim of 64 instead of 1.3 ms.
        server.psql(url, "VACUUM ANALYZE tokens")
        pg_rate, seconds = b.run_once_rate(pg_env, b.DUE)

        floor_name, floor_url = server.fresh()
        b.import_due(fake.sinch_env(server.env(b, work, floor_url)), fake.tokens(b.DUE), 10, work)
        floor_rate = postgres_floor(server, floor_name, floor_url, b.DUE)
        client = b.bare_client(fake, b.DUE)
        share = pg_rate / floor_rate
        b.record(f"run-once over {b.DUE:,} due tokens on PostgreSQL (32 in flight, 10 projects)",
                 f"{pg_rate:,.0f} refreshes/s ({seconds:.1f} s) = {share:.0%} of PostgreSQL's floor, "
                 f"{pg_rate / client['calls_per_second']:.0%} of the bare client",
                 f"the same on SQLite: {sqlite_rate:,.0f}/s; pgbench running the engine's claim/update/audit "
                 f"statements (claims of {CHUNK}, commits of {GROUP}, one client): {floor_rate:,.0f} tokens/s; "
                 f"bare SinchClient: {client['calls_per_second']:,.0f} calls/s",
                 "≥ 60 % of the floor", "met" if share >= 0.6 else "MISSED")
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench_fleet(b, server):
    """Daemons on one database with fake-sinch answering after 100 ms: two beside one."""
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench-pg-fleet.")
    fake = b.FakeSinchProcess("--no-oauth-rate-limit")
    try:
        print(f"bench: minting {2 * FLEET:,} tokens at fake-sinch", file=sys.stderr, flush=True)
        rates = []
        for count in (1, 2):
            fake.call("DELETE", "/_fake/faults")
            tokens = fake.tokens(FLEET)
            _, url = server.fresh()
            env = fake.sinch_env(server.env(b, work, url))
            b.import_due(env, tokens, 10, work)
            fake.call("POST", "/_fake/faults", {"fault": {"latency": {"seconds": 0.1}}, "rate": 1})
            daemon_env = dict(env, TOKENKEEPER_CONCURRENCY="32", TOKENKEEPER_RATE="1000000")
            horizon = int(time.time()) + 2 * 86_400
            start = time.perf_counter()
            daemons = [subprocess.Popen([b.BINARY, "daemon"], env=daemon_env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL) for _ in range(count)]
            try:
                while True:
                    done = int(server.psql(url, f"SELECT COUNT(*) FROM tokens WHERE expires_at > {horizon}"))
                    if done == FLEET:
                        break
                    if any(daemon.poll() is not None for daemon in daemons):
                        sys.exit("bench: a fleet daemon exited")
                    if time.perf_counter() - start > 600:
                        sys.exit(f"bench: {count} daemon(s) refreshed {done} of {FLEET} in 10 minutes")
                    time.sleep(0.1)
                seconds = time.perf_counter() - start
            finally:
                for daemon in daemons:
                    daemon.terminate()
                    daemon.wait(timeout=30)
            refreshed = int(server.psql(url, "SELECT COUNT(*) FROM audit WHERE event = 'refreshed'"))
            if refreshed != FLEET:
                sys.exit(f"bench: {count} daemon(s) wrote {refreshed} refreshed rows for {FLEET} tokens")
            rates.append(FLEET / seconds)
        ratio = rates[1] / rates[0]
        b.record(f"two daemons on one PostgreSQL, {FLEET:,} due tokens, Sinch answering after 100 ms",
                 f"{rates[1]:,.0f} refreshes/s = {ratio:.2f}x one daemon (each 32 in flight)",
                 f"one daemon alone: {rates[0]:,.0f} refreshes/s (at most 320/s: 32 in flight / 100 ms)",
                 "≥ 1.8x", "met" if ratio >= 1.8 else "MISSED")
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench_store(b, server):
    """import of TOKENS tokens beside COPY of the same rows; list over them beside psql; an idle
    daemon over them beside one over an empty database."""
    work = tempfile.mkdtemp(prefix="tokenkeeper-bench-pg-store.")
    try:
        now = int(time.time())
        lines = os.path.join(work, "tokens.jsonl")
        print(f"bench: generating {b.TOKENS:,} tokens", file=sys.stderr, flush=True)
        b.generate(lines, b.TOKENS, now)
        _, url = server.fresh()
        env = server.env(b, work, url)
        b.run([b.BINARY, "init"], env)
        start = time.perf_counter()
        with open(lines, "rb") as stdin:
            importer = subprocess.Popen([b.BINARY, "import", "-"], env=env, stdin=stdin, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(importer.pid, 0)
        import_seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"bench: import on PostgreSQL failed ({os.waitstatus_to_exitcode(status)})")
        tk_rate = b.TOKENS / import_seconds

        # COPY of the very rows the import wrote (both tables) into the same schema, one transaction.
        tokens_csv, audit_csv = os.path.join(work, "tokens.copy"), os.path.join(work, "audit.copy")
        columns = ("id, project_id, label, waba_id, business_manager, sealed_token, fingerprint, issued_at, "
                   "expires_at, refresh_at, state, failures, last_error, last_refreshed_at, lease_owner, "
                   "lease_until, version")
        server.psql(url, None, stdin=f"\\copy (SELECT {columns} FROM tokens) TO '{tokens_csv}'\n"
                                      f"\\copy audit TO '{audit_csv}'\n")
        _, copy_url = server.fresh()
        b.run([b.BINARY, "init"], server.env(b, work, copy_url))
        head = server.psql(url, "SELECT seq || ',' || hash FROM audit_head").split(",")
        start = time.perf_counter()
        server.psql(copy_url, None, stdin=f"BEGIN;\n\\copy tokens ({columns}) FROM '{tokens_csv}'\n"
                                           f"\\copy audit FROM '{audit_csv}'\n"
                                           f"UPDATE audit_head SET seq = {head[0]}, hash = '{head[1]}';\nCOMMIT;\n")
        copy_rate = b.TOKENS / (time.perf_counter() - start)
        share = tk_rate / copy_rate
        b.record(f"import {b.TOKENS:,} tokens into PostgreSQL (JSON Lines, sealed, audited)",
                 f"{tk_rate:,.0f} tokens/s ({import_seconds:.1f} s) = {share:.0%} of COPY, "
                 f"peak RSS {usage.ru_maxrss / 1024:,.0f} MiB",
                 f"psql \\copy of the same token and audit rows into the same schema, one transaction: "
                 f"{copy_rate:,.0f} tokens/s", "≥ 50 % of COPY", "met" if share >= 0.5 else "MISSED")

        horizon = now + 7 * 86_400
        tk_list = b.timed([b.BINARY, "list", "--expiring-within", "7d", "--limit", "100", "--json"], env)
        query = (f"SELECT json_agg(t) FROM (SELECT id, project_id, label, waba_id, state, issued_at, expires_at, "
                 f"refresh_at, last_refreshed_at, failures, last_error, fingerprint FROM tokens WHERE expires_at <= "
                 f"{horizon} ORDER BY expires_at, position LIMIT 100) AS t")
        psql = [os.path.join(server.bin, "psql"), "-X", "-q", "-At", "-d", url, "-c", query]
        pg_list = b.timed(psql, dict(env, PGPASSWORD=server.password))
        b.record(f"list --expiring-within 7d --limit 100 --json over {b.TOKENS:,} on PostgreSQL",
                 f"{tk_list[0]:.1f} ms median ({tk_list[1]:.1f} best)",
                 f"psql running the same query as JSON: {pg_list[0]:.1f} ms median", "-", "-")

        if b.IDLE_SECONDS > 0:
            server.psql(url, f"UPDATE tokens SET refresh_at = {now} + 30 * 86400 + (position % 86400)")
            _, empty_url = server.fresh()
            empty_env = server.env(b, work, empty_url)
            b.run([b.BINARY, "init"], empty_env)
            (idle, startup, rss), (empty_idle, _, empty_rss) = b.idle_daemons([env, empty_env])
            b.record(f"idle daemon on PostgreSQL over {b.TOKENS:,} tokens, none due, {b.IDLE_SECONDS} s",
                     f"{idle:.3f} CPU s in the window = {idle * 60 / b.IDLE_SECONDS:.3f} CPU s/min "
                     f"(start-up {startup:.3f} s), peak RSS {rss:.1f} MiB",
                     f"the same daemon over an empty database: {empty_idle:.3f} CPU s, peak RSS {empty_rss:.1f} MiB",
                     "-", "-")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(b):
    server = Server()
    bench_engine(b, server)
    bench_fleet(b, server)
    bench_store(b, server)
