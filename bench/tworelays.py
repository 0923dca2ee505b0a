"""What several relays cost: bench/e2e.py's campaign of N recipients (default 20,000) sent through one
relay at 8 sessions, and through two relays (`[[smtp]]`, weights 1:1) at 4 sessions each, to Postfix
smtp-sinks on loopback, alternated REPS times (default 5); the median wall time of each is printed.
The difference is what the relays' turns (send/relays/rotation.rs) cost.

    python3 bench/tworelays.py target/release/campaign [-n 20000] [-r 5]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("binary")
p.add_argument("-n", type=int, default=20000)
p.add_argument("-r", "--reps", type=int, default=5)
args = p.parse_args()
scratch = Path(tempfile.mkdtemp(prefix="tworelays-"))
sinks = [e2e.SmtpSink(scratch), e2e.SmtpSink(scratch)]
one = e2e.make_campaign(scratch / "one", args.n, port=sinks[0].port)
two = e2e.make_campaign(scratch / "two", args.n, port=sinks[0].port)
toml = (two / "campaign.toml").read_text()
head = toml[: toml.rindex("\n[smtp]\n") + 1]
send = toml[toml.rindex("\n[send]\n") + 1 :]
relays = "".join(
    f'[[smtp]]\nname = "r{i}"\nhost = "127.0.0.1"\nport = {s.port}\nsecurity = "none"\n'
    f'hello_name = "bench.localhost"\nconcurrency = 4\n\n'
    for i, s in enumerate(sinks)
)
(two / "campaign.toml").write_text(head + relays + send)

times = {"one relay, 8 sessions": [], "two relays, 4 sessions each": []}
runs = zip(times, [(one, ["--concurrency", "8"]), (two, [])])
runs = list(runs)
for _ in range(args.reps):
    for name, (directory, extra) in runs:
        for old in [*directory.glob("results*"), *directory.glob("report.html")]:
            old.unlink()
        started = time.monotonic()
        run = subprocess.run(
            [args.binary, "run", str(directory), "--yes", "--no-progress", *extra],
            capture_output=True,
            text=True,
        )
        times[name].append(time.monotonic() - started)
        if run.returncode != 0:
            sys.exit(f"{name}: exit {run.returncode}\n{run.stderr[-2000:]}")
for name, t in times.items():
    print(f"{name}: median {statistics.median(t):.2f}s ({', '.join(f'{x:.2f}' for x in t)})")
for sink in sinks:
    sink.stop()
