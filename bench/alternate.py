"""Send time of several `campaign` binaries, alternated: each sends bench/e2e.py's campaign of N
recipients (default 20,000) to one Postfix smtp-sink at concurrency 8, REPS times in turn (default
3), and the median wall time of each is printed. For telling which commit changed the send's speed
(a bisect), where bench/e2e.py's full run per binary takes minutes.

    python3 bench/alternate.py OLD/campaign NEW/campaign [-n 20000] [-r 3]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("binaries", nargs="+")
p.add_argument("-n", type=int, default=20000)
p.add_argument("-r", "--reps", type=int, default=3)
args = p.parse_args()
scratch = Path(tempfile.mkdtemp(prefix="alternate-"))
sink = e2e.SmtpSink(scratch)
campaign = e2e.make_campaign(scratch, args.n, port=sink.port)

binaries = [str(Path(b).resolve()) for b in args.binaries]
times = {b: [] for b in binaries}
for rep in range(args.reps):
    for i, binary in enumerate(binaries):
        log = scratch / f"results-{rep}-{i}.csv"
        cmd = [binary, "run", str(campaign), "--concurrency", "8", "--log", str(log),
               "--no-progress"]
        started = time.monotonic()
        subprocess.run(cmd, capture_output=True, cwd=scratch, check=True)
        times[binary].append(time.monotonic() - started)
sink.stop()
for binary, ts in times.items():
    median = sorted(ts)[len(ts) // 2]
    print(f"{binary}: median {median:.2f}s ({', '.join(f'{t:.2f}' for t in ts)})")
