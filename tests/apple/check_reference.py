#!/usr/bin/env python3
"""Compares the double's command and flag table with the `container` CLI
reference: every command it knows must be documented with exactly the
long and short flags it accepts. Usage: check_reference.py REFERENCE.md DOUBLE"""
import importlib.machinery
import re
import sys

ref_text = open(sys.argv[1]).read()
double = importlib.machinery.SourceFileLoader("double", sys.argv[2]).load_module()

documented = {}
for section in re.split(r"\n### ", ref_text)[1:]:
    title = re.match(r"`container ([a-z0-9 -]+?)(?: \(([a-z]+)\))?`", section)
    if not title:
        continue
    body = section.split("\n### ")[0]
    longs, shorts = set(), {}
    for m in re.finditer(r"^\*\s+`([^`]+)`", body, re.M):
        spec = m.group(1)
        for alt in spec.split("/"):
            names = [n.strip().split(" ")[0] for n in alt.split(",")]
            short = [n[1:] for n in names if re.fullmatch(r"-[a-zA-Z]", n)]
            long_ = [n[2:] for n in names if n.startswith("--")]
            for l in long_:
                longs.add(l)
            if short and long_:
                shorts[short[0]] = long_[0]
            elif short:  # only a short spelling: its own name
                longs.add(short[0])
                shorts[short[0]] = short[0]
    documented[title.group(1)] = (longs, shorts)

errors = []
for cmd, (spec, shorts) in double.COMMANDS.items():
    if cmd not in documented:
        errors.append("%s: not in the reference" % cmd)
        continue
    longs, ref_shorts = documented[cmd]
    aliases = {a for a, target in double.ALIASES.items() if target in spec}
    have = set(spec) | aliases
    if have != longs:
        errors.append("%s: flags differ: double only %s, reference only %s" % (cmd, sorted(have - longs),
                                                                              sorted(longs - have)))
    if shorts != ref_shorts:
        errors.append("%s: short flags differ: double %s, reference %s" % (cmd, shorts, ref_shorts))
for e in errors:
    print(e)
print("%d commands compared, %d differences" % (len(double.COMMANDS), len(errors)))
sys.exit(1 if errors else 0)
