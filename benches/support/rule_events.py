#!/usr/bin/env python3
# Differential events for comparing Sigma engines: for every rule, two events (as written and
# upper-cased) built from the values of each of its selections, so that most rules fire.
#   python3 benches/support/rule_events.py ../shared/corpus/sigma/rules /tmp/rule-events.ndjson
#   SIGMA_BENCH_EVENTS_FILE=/tmp/rule-events.ndjson SIGMA_BENCH_DUMP=/tmp/vigil-counts.txt \
#     SIGMA_BENCH_RULES=../shared/corpus/sigma/rules SIGMA_BENCH_ALL=/nonexistent cargo bench --bench sigma
import yaml, json, os, random, sys
random.seed(7)
root = sys.argv[1]
out = open(sys.argv[2], 'w')
n = 0
def val_for(mods, v):
    v = str(v) if not isinstance(v, str) else v
    v = v.replace('\\*', '*').replace('*', 'X').replace('?', 'Q')
    if 'cidr' in mods:
        import ipaddress
        try:
            net = ipaddress.ip_network(v, strict=False)
            return str(net.network_address + (1 if net.num_addresses > 1 else 0))
        except ValueError:
            return None
    if 'base64offset' in mods or 'base64' in mods or 're' in mods:
        return None
    if 'contains' in mods: return 'aa ' + v + ' bb'
    if 'startswith' in mods: return v + 'tail'
    if 'endswith' in mods: return 'C:\\head\\' + v
    return v
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.yml'): continue
        try:
            docs = list(yaml.safe_load_all(open(os.path.join(dp, f))))
        except Exception:
            continue
        for d in docs:
            det = (d or {}).get('detection') or {}
            for name, sel in det.items():
                if name == 'condition' or not isinstance(sel, dict):
                    continue
                for variant in range(2):
                    ev = {}
                    for k, v in sel.items():
                        parts = str(k).split('|'); field, mods = parts[0], parts[1:]
                        if not field: continue
                        vals = v if isinstance(v, list) else [v]
                        if 'all' in mods:
                            x = [val_for(mods, y) for y in vals]
                            if None in x: continue
                            ev[field] = ' '.join(x)
                        else:
                            y = random.choice(vals)
                            if y is None: continue
                            x = val_for(mods, y)
                            if x is None: continue
                            if variant == 1: x = x.upper()
                            ev[field] = x
                    if ev:
                        out.write(json.dumps(ev) + '\n'); n += 1
print(n, file=sys.stderr)
