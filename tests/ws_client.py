#!/usr/bin/python3
"""A WebSocket JSON-RPC 2.0 client of `swctl serve` for the tests, written
with Python's `websockets` (unix_connect), driven line by line on stdin:

  call METHOD PARAMS-JSON   send a request; print its answer (one line)
  send METHOD PARAMS-JSON   send a request; print {"sent": ID} at once
  next SECONDS              print the next notification, or {"timeout": true}
  quit                      close the connection

Notifications are kept in arrival order while requests are answered; each
printed notification gets "received_ms" (this client's clock, ms since the
epoch) beside the server's "time_ms"."""

import asyncio
import json
import sys
import time

import websockets


async def main(path):
    async with websockets.unix_connect(path, "ws://localhost/", max_size=None) as ws:
        notes = asyncio.Queue()
        answers = {}
        arrived = asyncio.Event()

        async def reader():
            async for raw in ws:
                m = json.loads(raw)
                if "id" in m and "method" not in m:
                    answers[m["id"]] = m
                    arrived.set()
                else:
                    m["received_ms"] = int(time.time() * 1000)
                    await notes.put(m)

        task = asyncio.create_task(reader())
        loop = asyncio.get_running_loop()
        next_id = 0
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            cmd, _, rest = line.strip().partition(" ")
            if cmd in ("call", "send"):
                method, _, params = rest.partition(" ")
                next_id += 1
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": next_id,
                                          "method": method,
                                          "params": json.loads(params or "{}")}))
                if cmd == "send":
                    print(json.dumps({"sent": next_id}), flush=True)
                    continue
                while next_id not in answers:
                    arrived.clear()
                    await arrived.wait()
                out = answers.pop(next_id)
            elif cmd == "next":
                try:
                    out = await asyncio.wait_for(notes.get(), float(rest))
                except asyncio.TimeoutError:
                    out = {"timeout": True}
            else:
                out = {"client_error": "unknown command " + cmd}
            print(json.dumps(out), flush=True)
        task.cancel()


asyncio.run(main(sys.argv[1]))
