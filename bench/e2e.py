#!/usr/bin/env python3
"""End-to-end benchmarks of `campaign run` (standard library only; run through bench/e2e.sh).

Modes (each prints its own figures; --all runs the three in turn):

  throughput (default)  N recipients (default 20000), R repetitions (default 5), interleaved:
                        (a) campaign run DIR --concurrency C --log <fresh> --no-progress
                            sending to Postfix's smtp-sink on 127.0.0.1;
                        (b) smtp-source -s C -m N -l <average .eml size> to the same sink;
                        (c) campaign run DIR --dry-run --out <fresh dir on tmpfs>.
                        Prints msg/s (median, min, max), the campaign/smtp-source ratio per rep and
                        its median, the dry-run throughput, and campaign's peak RSS.
  --rss-scaling         peak RSS of a send (or dry run: --rss-via dry-run) of 10,000 vs 1,000,000
                        recipients (--rss-small / --rss-large).
  --rate-accuracy       rate = "500/s" for 30 s (15,000 recipients) to a Python SMTP sink that
                        timestamps the end of each DATA; prints the achieved rate, its deviation
                        from the target and the most messages in any sliding 1-second window.

Everything listens on and connects to 127.0.0.1 only. Peak RSS is GNU time's `%M`, the figure
`/usr/bin/time -v` prints as "Maximum resident set size".
"""

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixture"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"


def log(*args):
    print("e2e:", *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ campaign set-up --


def sample_rows():
    """The fixture's recipients (several scripts), as (local, domain, rest-of-row) templates."""
    import csv

    with open(FIXTURE / "recipients-sample.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    assert header[0] == "email" and header[-2:] == ["points", "member_since"], header
    out = []
    for row in rows:
        local, domain = row[0].split("@")
        middle = []
        for field in row[1:-2]:  # name, first_name, plan, city, locale
            if any(c in field for c in ',"\r\n'):
                field = '"' + field.replace('"', '""') + '"'
            middle.append(field)
        out.append((local, domain, ",".join(middle), int(row[-2]), row[-1]))
    return ",".join(header), out


def write_recipients(path, n):
    """n rows cycling through the fixture's names; unique addresses (local+i@domain). ~1 s per 1M."""
    header, pool = sample_rows()
    k = len(pool)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        chunk = 50_000
        for start in range(0, n, chunk):
            lines = []
            for i in range(start, min(n, start + chunk)):
                local, domain, middle, points, since = pool[i % k]
                lines.append(
                    f"{local}+{i}@{domain},{middle},{(points + i * 37) % 3000},{since}\n"
                )
            f.write("".join(lines))


def make_campaign(root, n, port=None, rate=None, name="bench"):
    """<root>/<name>/ (campaign.toml, email.html, recipients.csv) and an empty <root>/templates/."""
    root = Path(root)
    (root / "templates").mkdir(parents=True, exist_ok=True)
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE / "email.html", d / "email.html")
    toml = (FIXTURE / "campaign.toml").read_text(encoding="utf-8")
    if port is not None:
        toml += f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        toml += 'hello_name = "bench.localhost"\n'
    toml += "\n[send]\n"
    if rate:
        toml += f'rate = "{rate}"\n'
    (d / "campaign.toml").write_text(toml, encoding="utf-8")
    t = time.monotonic()
    write_recipients(d / "recipients.csv", n)
    log(f"wrote {n} recipients in {time.monotonic() - t:.1f}s: {d / 'recipients.csv'}")
    return d


# ---------------------------------------------------------------------------------- processes --


class Result:
    def __init__(self, wall, code, maxrss_kb, out, err):
        self.wall, self.code, self.maxrss_kb, self.out, self.err = wall, code, maxrss_kb, out, err


TIME = "/usr/bin/time"


def run(cmd, scratch, check=True):
    """Runs cmd to completion: wall time, exit code and the child's peak RSS in kB.

    The RSS comes from GNU time (`%M`, the "Maximum resident set size" of `time -v`). wait4(2) on
    a child forked from this script is no good for it: the child's ru_maxrss keeps the high-water
    mark of the forked Python image from before exec (even /bin/true "uses" this script's RSS)."""
    out_path, err_path = Path(scratch) / "stdout.txt", Path(scratch) / "stderr.txt"
    rss_path = Path(scratch) / "rss.txt"
    timed = [TIME, "-f", "%M", "-o", str(rss_path)] + [str(c) for c in cmd]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.run(timed, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - start
    lines = rss_path.read_text().split()
    res = Result(
        wall,
        proc.returncode,
        int(lines[-1]) if lines and lines[-1].isdigit() else 0,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )
    if check and res.code != 0:
        sys.exit(
            f"e2e: {' '.join(map(str, cmd))} exited {res.code}\n{res.out[-2000:]}\n{res.err[-2000:]}"
        )
    return res


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"e2e: {what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"e2e: {what} is not listening on 127.0.0.1:{port}")


class SmtpSink:
    """Postfix's smtp-sink on a free loopback port; its -c counters go to a file."""

    def __init__(self, scratch, pipelining=True):
        for tool in (SMTP_SINK, SMTP_SOURCE):
            if not os.access(tool, os.X_OK):
                sys.exit(f"e2e: {tool} not found: run `bash tests/support/setup.sh` first")
        self.port = free_port()
        self.counter_file = Path(scratch) / f"smtp-sink-{self.port}.out"
        cmd = [SMTP_SINK]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        if not pipelining:
            cmd += ["-p"]  # do not announce PIPELINING (RFC 2920)
        cmd += ["-c", f"127.0.0.1:{self.port}", "1024"]
        self.out = open(self.counter_file, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc, "smtp-sink")

    def messages(self):
        """The sink's running `mesg=` counter (messages whose DATA completed)."""
        with open(self.counter_file, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 200))
            tail = f.read().decode(errors="replace")
        counts = [int(p[5:]) for p in tail.replace("\r", " ").split() if p.startswith("mesg=")]
        return counts[-1] if counts else 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def shm_dir(prefix):
    """A fresh directory on tmpfs when there is one (dry-run output), else in the temp dir."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def eml_stats(out_dir):
    sizes = [p.stat().st_size for p in Path(out_dir).glob("*.eml")]
    html = [p.stat().st_size for p in Path(out_dir).glob("*.html") if p.name != "index.html"]
    return sizes, html


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def summary(values):
    return statistics.median(values), min(values), max(values)


def parse_send(res, n):
    """Checks campaign's summary line says all n were sent; returns its own messages/s figure."""
    first = res.out.splitlines()[0] if res.out else ""
    if not first.startswith(f"sent {n}, failed 0"):
        sys.exit(f"e2e: campaign did not send all {n}:\n{res.out}\n{res.err[-2000:]}")
    for line in res.out.splitlines():
        if line.startswith("elapsed "):
            return float(line.split(",")[1].split()[0])
    return float("nan")


# --------------------------------------------------------------------------------- throughput --


def throughput(args, scratch):
    n, reps, c = args.n, args.reps, args.concurrency
    sink = SmtpSink(scratch)
    # smtp-source never pipelines; a second sink that does not offer PIPELINING makes campaign
    # pay the same four round trips per message, for a like-for-like ratio.
    plain_sink = SmtpSink(scratch, pipelining=False)
    try:
        cdir = make_campaign(scratch / "c", n, port=sink.port)
        plain_dir = make_campaign(scratch / "c-plain", n, port=plain_sink.port)
        # Warm-up, and the message size for smtp-source: a dry run of the first 500.
        probe = shm_dir("campaign-probe-")
        run([args.binary, "run", cdir, "--dry-run", "--out", probe, "--limit", "500"], scratch)
        sizes, html_sizes = eml_stats(probe)
        shutil.rmtree(probe)
        size = round(statistics.mean(sizes))
        # The rendered-HTML size (before inlining) of one message, for the report.
        log(
            f"message: {size} bytes average .eml (min {min(sizes)}, max {max(sizes)}) over "
            f"{len(sizes)}; preview .html {round(statistics.mean(html_sizes))} bytes average"
        )
        run(
            [args.binary, "run", cdir, "--limit", "500", "--no-progress", "--concurrency", str(c),
             "--log", scratch / "warmup-results.csv"],
            scratch,
        )

        send, plain_send, source, dry, internal = [], [], [], [], []
        send_rss, dry_rss, ratios, plain_ratios = [], [], [], []

        def campaign_send(rep, target, directory, what):
            logf = scratch / f"results-{rep}.csv"
            before = target.messages()
            res = run(
                [args.binary, "run", directory, "--concurrency", str(c), "--log", logf,
                 "--no-progress"],
                scratch,
            )
            got = target.messages() - before
            if got != n:
                log(f"warning: smtp-sink counted {got} messages for the {what}, not {n}")
            logf.unlink()
            log(f"rep {rep}: {what} {res.wall:.2f}s {n / res.wall:.0f} msg/s, "
                f"RSS {mb(res.maxrss_kb)}")
            return res

        def do_send(rep):
            res = campaign_send(rep, sink, cdir, "campaign send")
            internal.append(parse_send(res, n))
            send.append(n / res.wall)
            send_rss.append(res.maxrss_kb)

        def do_plain_send(rep):
            res = campaign_send(rep, plain_sink, plain_dir, "campaign send, no PIPELINING")
            plain_send.append(n / res.wall)

        def do_source(rep):
            before = sink.messages()
            res = run(
                [SMTP_SOURCE, "-s", str(c), "-m", str(n), "-l", str(size), "-M", "localhost",
                 "-f", "from@x", "-t", "to@y", f"127.0.0.1:{sink.port}"],
                scratch,
            )
            got = sink.messages() - before
            if got != n:
                log(f"warning: smtp-sink counted {got} messages for smtp-source, not {n}")
            source.append(n / res.wall)
            log(f"rep {rep}: smtp-source {res.wall:.2f}s {n / res.wall:.0f} msg/s")

        def do_dry(rep):
            out = shm_dir("campaign-dry-")
            res = run([args.binary, "run", cdir, "--dry-run", "--out", out], scratch)
            shutil.rmtree(out)
            dry.append(n / res.wall)
            dry_rss.append(res.maxrss_kb)
            log(f"rep {rep}: dry run {res.wall:.2f}s {n / res.wall:.0f} msg/s, "
                f"RSS {mb(res.maxrss_kb)}")

        steps = [do_send, do_source, do_dry, do_plain_send]
        for rep in range(1, reps + 1):
            # Interleaved, and the order rotated each rep so no variant always runs first.
            k = (rep - 1) % len(steps)
            for step in steps[k:] + steps[:k]:
                step(rep)
            ratios.append(send[-1] / source[-1])
            plain_ratios.append(plain_send[-1] / source[-1])
    finally:
        sink.stop()
        plain_sink.stop()

    print()
    print(f"== throughput: N={n} recipients, {reps} reps interleaved, concurrency {c}, "
          f"{size} B average message ({'%.1f' % (size / 1024)} KiB), sink 127.0.0.1 ==")
    print(f"{'':34}{'median':>10}{'min':>10}{'max':>10}   (messages/s, wall clock)")
    for label, vals in [
        ("(a) campaign run (send)", send),
        (f"(b) smtp-source -s {c} -l {size}", source),
        ("(c) campaign run --dry-run", dry),
        ("(d) campaign send, no PIPELINING", plain_send),
    ]:
        med, lo, hi = summary(vals)
        print(f"{label:34}{med:10.0f}{lo:10.0f}{hi:10.0f}")
    med, lo, hi = summary(internal)
    print(f"{'    campaign send, own report':34}{med:10.0f}{lo:10.0f}{hi:10.0f}   "
          "(\"elapsed …, N messages/s\")")
    print(f"ratio campaign/smtp-source per rep: {' '.join(f'{r:.2f}' for r in ratios)}  "
          f"median {statistics.median(ratios):.2f}")
    print(f"ratio without PIPELINING (d)/(b), both 4 round trips a message: "
          f"{' '.join(f'{r:.2f}' for r in plain_ratios)}  "
          f"median {statistics.median(plain_ratios):.2f}")
    print(f"dry-run throughput: median {statistics.median(dry):.0f} msg/s "
          f"(.eml + .html per recipient written to tmpfs)")
    print(f"peak RSS campaign send: median {mb(statistics.median(send_rss))}, "
          f"max {mb(max(send_rss))}")
    print(f"peak RSS campaign dry run: median {mb(statistics.median(dry_rss))}, "
          f"max {mb(max(dry_rss))}")


# -------------------------------------------------------------------------------- rss scaling --


def rss_scaling(args, scratch):
    results = []
    sink = SmtpSink(scratch) if args.rss_via == "send" else None
    try:
        for n in (args.rss_small, args.rss_large):
            root = scratch / f"rss-{n}"
            cdir = make_campaign(root, n, port=sink.port if sink else 2525)
            if sink:
                cmd = [args.binary, "run", cdir, "--concurrency", str(args.concurrency),
                       "--log", root / "results.csv", "--no-progress"]
            else:
                out = shm_dir("campaign-rss-") if n <= 100_000 else root / "preview"
                cmd = [args.binary, "run", cdir, "--dry-run", "--out", out]
            log(f"rss: {args.rss_via} of {n} recipients …")
            res = run(cmd, scratch)
            if sink:
                parse_send(res, n)
            results.append((n, res))
            log(f"rss: {n} recipients: {res.wall:.1f}s, peak RSS {mb(res.maxrss_kb)}")
            shutil.rmtree(root)
            if not sink:
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if sink:
            sink.stop()
    print()
    print(f"== peak RSS scaling ({args.rss_via}, concurrency {args.concurrency}) ==")
    for n, res in results:
        print(f"{n:>10} recipients: peak RSS {mb(res.maxrss_kb):>10}   "
              f"({res.wall:.1f}s, {n / res.wall:.0f} msg/s)")
    (n1, r1), (n2, r2) = results
    per = (r2.maxrss_kb - r1.maxrss_kb) * 1024 / (n2 - n1)
    print(f"growth: {mb(r2.maxrss_kb - r1.maxrss_kb)} for {n2 - n1} more recipients "
          f"= {per:.1f} bytes per recipient")


# ------------------------------------------------------------------------------ rate accuracy --


class TimestampSink:
    """A minimal SMTP server (asyncio, loopback only) that records when each DATA ends."""

    def __init__(self):
        self.times = []
        self.port = None
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _serve(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(
                self._session, "127.0.0.1", 0, limit=4 << 20, backlog=256
            )
            self.port = self.server.sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    async def _session(self, reader, writer):
        try:
            writer.write(b"220 bench.localhost ESMTP timestamp sink\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-bench.localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                                 b"250 SIZE 52428800\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await reader.readuntil(b"\r\n.\r\n")
                    self.times.append(time.monotonic())
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:  # MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def max_in_window(times, window=1.0):
    """The most timestamps in any half-open interval [t, t + window)."""
    best, i = 0, 0
    for j, t in enumerate(times):
        while t - times[i] >= window:
            i += 1
        best = max(best, j - i + 1)
    return best


def rate_accuracy(args, scratch):
    target, n = args.rate, args.rate * args.rate_seconds
    sink = TimestampSink()
    try:
        cdir = make_campaign(scratch / "rate", n, port=sink.port, rate=f"{target}/s")
        log(f"rate: sending {n} at {target}/s (about {args.rate_seconds}s) …")
        res = run(
            [args.binary, "run", cdir, "--concurrency", str(args.rate_concurrency),
             "--log", scratch / "rate-results.csv", "--no-progress"],
            scratch,
        )
        own = parse_send(res, n)
        time.sleep(0.2)
    finally:
        sink.stop()
    times = sorted(sink.times)
    if len(times) != n:
        log(f"warning: the sink saw {len(times)} messages, not {n}")
    span = times[-1] - times[0]
    achieved = (len(times) - 1) / span
    peak = max_in_window(times)
    # Per-second counts from the first message on, to show how even the pacing is.
    buckets = [0] * (int(span) + 1)
    for t in times:
        buckets[int(t - times[0])] += 1
    full = buckets[:-1] or buckets
    print()
    print(f"== rate accuracy: rate = \"{target}/s\", {n} recipients, concurrency "
          f"{args.rate_concurrency}, timestamped at the end of DATA by the sink ==")
    print(f"achieved (sink, first→last DATA): {achieved:.1f} msg/s over {span:.2f}s; "
          f"deviation {100 * (achieved - target) / target:+.2f}%")
    print(f"achieved (wall clock of the process, N/elapsed): {n / res.wall:.1f} msg/s; "
          f"campaign's own report: {own:.1f} msg/s")
    print(f"max messages in any sliding 1 s window: {peak} (limit {target}; "
          f"{100 * (peak - target) / target:+.2f}%)")
    print(f"per-second counts (whole seconds from the first message): min {min(full)}, "
          f"max {max(full)}, median {statistics.median(full):.0f}")
    if achieved < 0.95 * target:
        print(f"note: below the target: the {args.rate_concurrency} sessions cannot carry "
              f"{target}/s (see the throughput mode); raise --rate-concurrency")


# ----------------------------------------------------------------------------------------- main --


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--binary", default=str(HERE.parent / "target/release/campaign"))
    p.add_argument("-n", "--n", type=int, default=20000, help="recipients (default 20000)")
    p.add_argument("-r", "--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("-c", "--concurrency", type=int, default=8, help="SMTP sessions (default 8)")
    p.add_argument("--rss-scaling", action="store_true", help="peak RSS, small vs large list")
    p.add_argument("--rss-small", type=int, default=10_000)
    p.add_argument("--rss-large", type=int, default=1_000_000)
    p.add_argument("--rss-via", choices=["send", "dry-run"], default="send",
                   help="what the RSS runs do (default send: a 1M dry run writes 2M files)")
    p.add_argument("--rate-accuracy", action="store_true", help="rate limit accuracy")
    p.add_argument("--rate", type=int, default=500, help="messages per second (default 500)")
    p.add_argument("--rate-seconds", type=int, default=30, help="duration (default 30)")
    p.add_argument("--rate-concurrency", type=int, default=32,
                   help="SMTP sessions for --rate-accuracy (default 32: enough capacity that the "
                        "limiter, not the sessions, sets the pace)")
    p.add_argument("--all", action="store_true", help="throughput, RSS scaling, rate accuracy")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()
    args.binary = str(Path(args.binary).resolve())
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"e2e: {args.binary} not found: build it with cargo build --release")
    if not os.access(TIME, os.X_OK):
        sys.exit(f"e2e: {TIME} not found: apt-get install time (bench/e2e.sh does)")

    modes = []
    if args.all or not (args.rss_scaling or args.rate_accuracy):
        modes.append(throughput)
    if args.all or args.rss_scaling:
        modes.append(rss_scaling)
    if args.all or args.rate_accuracy:
        modes.append(rate_accuracy)

    scratch = Path(tempfile.mkdtemp(prefix="campaign-e2e-"))
    log(f"scratch directory {scratch}; binary {args.binary}; {os.cpu_count()} CPUs")
    try:
        for mode in modes:
            mode(args, scratch)
    finally:
        if args.keep:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    # Everything this script started has been waited for; this is the children's total CPU.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    log(f"children's CPU: user {usage.ru_utime:.1f}s, system {usage.ru_stime:.1f}s")


if __name__ == "__main__":
    main()
