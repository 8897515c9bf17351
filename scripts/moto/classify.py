"""Summarises a moto run's junit xml: pass counts per file, and failures grouped by message."""
import re, sys, collections, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
per_file = collections.defaultdict(lambda: [0, 0]); msgs = collections.defaultdict(list)
for tc in root.iter("testcase"):
    f = tc.get("classname", "").split(".")[-1]
    bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
    if tc.find("skipped") is not None: continue
    per_file[f][1] += 1
    if bad is None: per_file[f][0] += 1; continue
    m = (bad.get("message") or "").split("\n")[0]
    m = re.sub(r"\b(vpc|subnet|sg|i|eni|vol|ami|rtb|pcx|eipalloc|acl|igw|nat|eigw|dopt|r|snap|lt|key|sgr|eipassoc|eni-attach|vpce)-[0-9a-f]{8,17}\b", r"\1-X", m)
    msgs[m[:160]].append(f + "::" + tc.get("name"))
tp = sum(v[0] for v in per_file.values()); tt = sum(v[1] for v in per_file.values())
print(f"TOTAL {tp}/{tt} = {100*tp/max(tt,1):.1f}%")
for f, (p, t) in sorted(per_file.items(), key=lambda kv: kv[1][0]-kv[1][1]): print(f"  {f}: {p}/{t}")
if len(sys.argv) > 2:
    for m, tests in sorted(msgs.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(tests):3} {m}\n      " + " ".join(tests[:4]))
