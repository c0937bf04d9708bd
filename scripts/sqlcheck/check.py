#!/usr/bin/env python3
"""Runs Abacus SQL on a current ClickHouse engine (chdb-core embeds ClickHouse 26.9).

The local server of the test stack is ClickHouse 18.16; production users run current
releases. Every statement Abacus runs must work on both, so this script replays SQL scripts
in one in-process chdb session and fails on the first statement that the modern engine
rejects.

Usage: check.py NAME=FILE [NAME=FILE ...]   (FILE '-' reads standard input)

A script is a sequence of statements, each ending with ';' at the end of a line (the format
`abacus schema print` emits). Lines starting with '--' are comments. All scripts run in order
in one fresh database directory, so later scripts may use the tables of earlier ones.
"""
import sys
import tempfile

import chdb


def statements(text):
    current = []
    for line in text.splitlines():
        current.append(line)
        code = line.split("--", 1)[0].rstrip()
        if code.endswith(";"):
            yield "\n".join(current).strip().rstrip(";")
            current = []
    rest = "\n".join(l for l in current if l.strip() and not l.strip().startswith("--"))
    if rest.strip():
        yield rest.strip()


def main(args):
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="abacus-sqlcheck-")
    conn = chdb.connect(f"file:{workdir}/check.db")
    version = conn.query("SELECT version()", "CSV").data().strip().strip('"')
    total = 0
    failures = 0
    for arg in args:
        name, _, path = arg.partition("=")
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        for i, stmt in enumerate(statements(text), 1):
            if all(l.strip().startswith("--") or not l.strip() for l in stmt.splitlines()):
                continue
            total += 1
            try:
                conn.query(stmt, "CSV")
            except Exception as exc:  # chdb raises its own error type
                failures += 1
                first = next(l for l in stmt.splitlines() if l.strip() and not l.strip().startswith("--"))
                print(f"FAILED {name} statement {i}: {first.strip()}\n  {exc}", file=sys.stderr)
    print(f"sqlcheck: {total - failures} passed, {failures} failed on ClickHouse {version} (chdb)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
