#!/usr/bin/env python3
"""A scripted viewer for the compose smoke test.

Opens N WebSockets to signaling (through the proxy), sends each a `join` with a real Chromium SDP
offer and a login token (`--token`, or CAMVIEW_TOKEN: from POST /auth/login), and requires an `answer` on every socket within the timeout; an `error` frame fails at once.
While all sockets are still open it runs an optional check command (the smoke script uses it to
see that the proxy spread the viewers over the replicas), then sends `leave` and closes.
Exit status: 0 when every viewer got an answer (and the check passed), 1 otherwise.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

from websockets.sync.client import connect


def join(stack, url, camera, offer, token, deadline):
    ws = stack.enter_context(connect(url, open_timeout=max(1.0, deadline - time.monotonic()), close_timeout=2))
    msg = {"type": "join", "camera": camera, "sdpOffer": offer}
    if token:
        msg["token"] = token
    ws.send(json.dumps(msg))
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer before the deadline")
        msg = json.loads(ws.recv(timeout=remaining))
        kind = msg.get("type")
        if kind == "answer":
            sdp = msg.get("sdpAnswer", "")
            if not sdp.startswith("v=0") or "m=video" not in sdp or "a=fingerprint:" not in sdp:
                raise ValueError(f"answer is not a WebRTC video SDP: {sdp[:200]!r}")
            return ws, msg["viewerId"], sdp
        if kind == "error":
            raise RuntimeError(f"signaling answered error {msg.get('code')}: {msg.get('message')}")
        # streamState / ice frames may come first; keep reading.


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--camera", required=True)
    p.add_argument("--offer", required=True, help="file holding the SDP offer")
    p.add_argument("--token", default=os.environ.get("CAMVIEW_TOKEN", ""),
                   help="login token sent in every join (default: $CAMVIEW_TOKEN)")
    p.add_argument("--viewers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds for every answer")
    p.add_argument("check", nargs=argparse.REMAINDER, help="command run while the sockets are open")
    a = p.parse_args()
    with open(a.offer, newline="") as f:
        offer = f.read()

    deadline = time.monotonic() + a.timeout
    sockets = []
    with contextlib.ExitStack() as stack:
        return run(a, stack, sockets, offer, deadline)


def run(a, stack, sockets, offer, deadline):
    try:
        for i in range(a.viewers):
            started = time.monotonic()
            ws, viewer_id, sdp = join(stack, a.url, a.camera, offer, a.token, deadline)
            sockets.append(ws)
            print(f"viewer {i + 1}: answer for {viewer_id} in {time.monotonic() - started:.2f}s "
                  f"({len(sdp)} bytes SDP)", flush=True)
        check = [c for c in a.check if c != "--"]
        if check:
            rc = subprocess.call(check)
            if rc != 0:
                print(f"check {check} failed with {rc}", file=sys.stderr)
                return 1
        return 0
    except Exception as e:  # any failure is the test's verdict, printed plainly
        print(f"viewer {len(sockets) + 1}: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                ws.send(json.dumps({"type": "leave"}))


if __name__ == "__main__":
    sys.exit(main())
