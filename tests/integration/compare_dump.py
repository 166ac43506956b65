#!/usr/bin/python3
"""Compares the top-level elements radnode dump finds with those DCMTK's dcmdump
finds, for every file given. A file both reject is fine; a file one reads and
the other rejects is reported (radnode rejecting a file dcmdump reads is a
failure unless listed in the expected-rejections file with a reason).

usage: compare_dump.py RADNODE EXPECTED_REJECTIONS FILE...
"""
import re
import subprocess
import sys

TAG = re.compile(r"^\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)")


def top_tags(lines):
    tags = []
    for line in lines:
        m = TAG.match(line)
        if m and m.group(1).upper() != "FFFE":  # dcmdump shows delimiters at column 0
            tags.append((m.group(1).upper(), m.group(2).upper()))
    return tags


def dcmdump(path):
    p = subprocess.run(["dcmdump", "-q", "+E", path], capture_output=True, text=True,
                       errors="replace")
    ok = p.returncode == 0 and "E: " not in p.stderr
    return ok, top_tags(p.stdout.splitlines()), p.stderr.strip()


def radnode(exe, path):
    p = subprocess.run([exe, "dump", path], capture_output=True, text=True, errors="replace")
    return p.returncode == 0, top_tags(p.stdout.splitlines()), p.stderr.strip(), p.returncode


def main():
    exe, expected_file = sys.argv[1], sys.argv[2]
    expected = {}
    for line in open(expected_file):
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            expected[name] = reason
    failures = 0
    counts = {"same": 0, "both_reject": 0, "expected_reject": 0}
    for path in sys.argv[3:]:
        name = path.rsplit("/", 1)[-1]
        dok, dtags, derr = dcmdump(path)
        rok, rtags, rerr, rrc = radnode(exe, path)
        if rrc not in (0, 1):
            print(f"FAIL {name}: radnode exited {rrc} (crash?) {rerr}")
            failures += 1
            continue
        if not rok and not rerr:
            print(f"FAIL {name}: rejected without a message")
            failures += 1
            continue
        if dok and rok:
            if dtags != rtags:
                missing = [t for t in dtags if t not in rtags]
                extra = [t for t in rtags if t not in dtags]
                print(f"FAIL {name}: top-level elements differ; only dcmdump: {missing[:8]} "
                      f"only radnode: {extra[:8]}")
                failures += 1
            else:
                counts["same"] += 1
        elif not dok and not rok:
            counts["both_reject"] += 1
            print(f"ok   {name}: rejected by both: {rerr}")
        elif name in expected:
            counts["expected_reject"] += 1
            print(f"ok   {name}: {'radnode' if not rok else 'dcmdump'} rejects it ({expected[name]}): "
                  f"{rerr or derr}")
        else:
            who = "radnode" if not rok else "dcmdump"
            print(f"FAIL {name}: only {who} rejects it: {rerr if not rok else derr}")
            failures += 1
    print(f"summary: {counts['same']} same top-level elements, {counts['both_reject']} rejected by "
          f"both, {counts['expected_reject']} expected differences, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
