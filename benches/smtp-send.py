#!/usr/bin/env python3
"""Sends prepared messages over SMTP as fast as S sessions can, one transaction after another
per session (no pipelining), and prints the messages per second and the replies seen.

smtp-source sends one file over and over; a load whose messages must differ (DSNs that each
name another recipient, with their own Message-ID) needs this instead. Run it against
smtp-sink as well to have the baseline of the same client in the same run.

Usage: smtp-send.py HOST:PORT JOBS [SESSIONS]
JOBS: lines of `MAIL_FROM<TAB>RCPT_TO<TAB>FILE` (FILE: a message with CRLF or LF lines).
"""
import asyncio, sys, time, collections


async def reply(r):
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return line.decode(errors="replace").strip()


async def session(host, port, jobs, codes):
    r, w = await asyncio.open_connection(host, port)
    await reply(r)
    w.write(b"EHLO load.test\r\n"); await reply(r)
    for mail_from, rcpt, data in jobs:
        w.write(f"MAIL FROM:<{mail_from}>\r\n".encode())
        a = await reply(r)
        w.write(f"RCPT TO:<{rcpt}>\r\n".encode())
        b = await reply(r)
        if not (a.startswith("250") and b.startswith("250")):
            codes[b[:3] if a.startswith("250") else a[:3]] += 1
            w.write(b"RSET\r\n"); await reply(r)
            continue
        w.write(b"DATA\r\n"); await reply(r)
        w.write(data)
        codes[(await reply(r))[:3]] += 1
    w.write(b"QUIT\r\n")
    await w.drain()
    w.close()


def load(path):
    raw = open(path, "rb").read().replace(b"\r\n", b"\n").split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    body = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in raw)
    return body + b".\r\n"


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    jobs = []
    for line in open(sys.argv[2]):
        f, t, p = line.rstrip("\n").split("\t")
        jobs.append((f, t, load(p)))
    parts = [jobs[i::sessions] for i in range(sessions)]
    codes = collections.Counter()
    t0 = time.monotonic()
    await asyncio.gather(*(session(host, int(port), p, codes) for p in parts if p))
    dt = time.monotonic() - t0
    print(f"{len(jobs)} messages in {dt:.2f} s: {len(jobs) / dt:,.0f} msg/s; replies {dict(codes)}")


asyncio.run(main())
