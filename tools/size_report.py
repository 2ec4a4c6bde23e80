#!/usr/bin/env python3
"""Size report of one board's static binary, from the linker's map file.

    tools/size_report.py BOARD STRIPPED_BINARY MAP_FILE [LABEL] [--top N]
                         [--budget BYTES]

Prints the stripped file size against the budget, then what the kept
input sections (after --gc-sections) add up to per dependency (mbedTLS,
LMDB, md4c, lettamx itself, the C library, libgcc) and per object file,
biggest first. Only sections that take room in the file count (.bss and
debugging sections do not). Exit status 1 when the file is over budget.

A GNU ld map lists each kept input section as
    " .text.name  0xADDR  0xSIZE  path/libx.a(member.o)"
(the name alone on the line before when it is long); the discarded ones
come first under "Discarded input sections" and are skipped.
"""

import argparse
import os
import re
import sys

# Output sections that take no room in the file, or are not loaded.
NOT_IN_FILE = (".bss", ".tbss", ".comment", ".debug", ".stab",
               ".ARM.attributes", ".gnu.attributes", ".note.GNU-stack",
               "/DISCARD/", ".gnu.warning")

# Archive (or object) name -> the dependency it belongs to.
DEPS = (
    (re.compile(r"libmbedtls\.a$"), "mbedTLS"),
    (re.compile(r"liblmdb\.a$"), "LMDB"),
    (re.compile(r"libmd4c\.a$"), "md4c"),
    (re.compile(r"liblettamx\.a$|/obj/src/cli/main\.o$|/obj/tests/"), "lettamx"),
    (re.compile(r"libc\.a$|crt1\.o$|crti\.o$|crtn\.o$|rcrt1\.o$"),
     "C library (musl)"),
    (re.compile(r"libgcc(_eh)?\.a$|crtbegin.*\.o$|crtend.*\.o$"), "libgcc"),
)

INPUT = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
OUTPUT = re.compile(r"^(\.\S+|/DISCARD/)(\s+0x([0-9a-f]+)\s+0x([0-9a-f]+))?")


def dependency(path):
    archive = path.split("(", 1)[0]
    for pattern, name in DEPS:
        if pattern.search(archive):
            return name
    return "other (%s)" % os.path.basename(archive)


def member(path):
    m = re.match(r"^(.*)\((.*)\)$", path)
    if m:
        return m.group(2)
    return os.path.basename(path)


def in_file(out_section):
    return not any(out_section.startswith(p) for p in NOT_IN_FILE)


def parse(map_path):
    """{(dependency, object): bytes} of the kept input sections."""
    sizes = {}
    out_section = None
    started = False
    pending = None  # an input section name alone on its line
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("Linker script and memory map"):
                started = True
                continue
            if not started:
                continue
            m = OUTPUT.match(line)
            if m:
                out_section = m.group(1)
                continue
            if re.match(r"^ \S+$", line):
                pending = line.strip()
                continue
            m = INPUT.match(line)
            if not m or out_section is None:
                pending = None
                continue
            name = m.group(1) or pending
            pending = None
            if not name or name.startswith("*"):   # *fill*, *(...)
                continue
            size = int(m.group(3), 16)
            where = m.group(4).strip()
            if size == 0 or not in_file(out_section) or \
                    where.startswith("0x") or not where:
                continue
            if where.startswith("load address"):
                continue
            key = (dependency(where), member(where))
            sizes[key] = sizes.get(key, 0) + size
    return sizes


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("board")
    ap.add_argument("binary")
    ap.add_argument("map")
    ap.add_argument("label", nargs="?", default="lettamx")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--budget", type=int, default=1 << 20)
    args = ap.parse_args(argv)

    size = os.path.getsize(args.binary)
    sizes = parse(args.map)
    total = sum(sizes.values())
    if total == 0:
        print("size %s: no input sections found in %s" % (args.board,
                                                          args.map))
        return 1
    ok = size <= args.budget
    print("size %s %s: %d bytes stripped, %.1f%% of the %d KiB budget%s"
          % (args.board, args.label, size, pct(size, args.budget),
             args.budget // 1024, "" if ok else "  OVER BUDGET"))
    deps = {}
    for (dep, _), n in sizes.items():
        deps[dep] = deps.get(dep, 0) + n
    print("  by dependency (%d bytes of sections):" % total)
    for dep, n in sorted(deps.items(), key=lambda kv: -kv[1]):
        print("    %8d  %5.1f%%  %s" % (n, pct(n, total), dep))
    print("  biggest object files:")
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:args.top]
    for (dep, obj), n in ranked:
        print("    %8d  %5.1f%%  %-22s %s" % (n, pct(n, total), obj, dep))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
