"""bench/chain restart phase: how long `gateway serve` takes, on a stored chain of a given length, to listen (the
port answers /v1/health) and to be ready (chain verified, derived tables proven, data served).

    python3 bench/restart_timing.py <gateway-binary> <data-dir> <database-url> <suite> <runs> <blocks> <out.json>

Each run starts the node, reads its standard output for LISTENING and READY, checks /v1/health (status `starting`
or `ok`), then stops it with SIGTERM and waits for it to exit. Times count from the process launch."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

binary, data_dir, database_url, suite, runs, blocks, out_path = sys.argv[1:8]
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
measurements = []
for run in range(int(runs)):
    start = time.monotonic()
    node = subprocess.Popen(
        [binary, "serve", "--port", "0", "--database-url", database_url, "--data-dir", data_dir, "--suite", suite,
         "--departments", os.path.join(data_dir, "departments", "departments.json"),
         "--policies", os.path.join(repo, "Policies"), "--schemas", os.path.join(repo, "Schemas"),
         "--node-id", "node-1", "--log-level", "error"],
        stdout=subprocess.PIPE, text=True)
    listen = ready = None
    health_status = None
    port = None
    for line in node.stdout:
        if line.startswith("LISTENING "):
            listen = time.monotonic() - start
            port = int(line.split()[1].rsplit(":", 1)[1])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=30) as answer:
                health_status = json.load(answer)["status"]
        elif line.startswith("READY "):
            ready = time.monotonic() - start
            break
    node.send_signal(signal.SIGTERM)
    node.wait(timeout=60)
    if listen is None or ready is None:
        sys.exit(f"run {run + 1}: the node exited before it was ready (status {node.returncode})")
    print(f"[restart] run {run + 1}: listening after {listen:.2f} s (health said {health_status!r}), ready after {ready:.2f} s",
          file=sys.stderr)
    measurements.append({"listen_s": listen, "ready_s": ready, "health_at_listen": health_status})
json.dump({"kind": "restart", "suite": suite, "blocks": int(blocks), "runs": measurements}, open(out_path, "w"))
