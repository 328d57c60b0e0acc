#!/usr/bin/env python3
"""The gate's Role is the same everywhere it is written down: docs/rbac-gate.yaml,
examples/k8s/gate-rbac.yaml and the chart's rendering (a file from `helm template` with
gate.rbac.create=true) grant exactly the rules the gate uses. The gate polls (list), it never
watches, so no rule grants `watch`; docs/gate.md's RBAC table names the same verbs.

usage: check_gate_rbac.py RENDERED.yaml
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WANT = {
    ("", "pods"): {"get", "list"},
    ("", "pods/log"): {"get"},
    ("", "pods/proxy"): {"get"},
    ("apps", "replicasets"): {"get", "list"},
    ("apps", "deployments"): {"get", "list"},
    ("apps", "statefulsets"): {"get"},
}


def rules_of(path: Path) -> list[tuple[str, dict]]:
    out = []
    for d in yaml.safe_load_all(path.read_text()):
        # The gate-verified Role (one ConfigMap, scale-out marks) is checked by check_manifests.py.
        if d and d.get("kind") == "Role" and not d["metadata"]["name"].endswith("-gate-verified"):
            got: dict = {}
            for rule in d["rules"]:
                for group in rule["apiGroups"]:
                    for res in rule["resources"]:
                        got.setdefault((group, res), set()).update(rule["verbs"])
            out.append((f"{path.name}: Role/{d['metadata']['name']}", got))
    return out


def main() -> int:
    problems = []
    files = [ROOT / "docs/rbac-gate.yaml", ROOT / "examples/k8s/gate-rbac.yaml", *map(Path, sys.argv[1:])]
    for f in files:
        roles = rules_of(f)
        if not roles:
            problems.append(f"{f}: no Role")
        for where, got in roles:
            if got != WANT:
                problems.append(f"{where}: rules {sorted((k, sorted(v)) for k, v in got.items())} are not the gate's {sorted((k, sorted(v)) for k, v in WANT.items())}")
            if any("watch" in v for v in got.values()):
                problems.append(f"{where}: grants watch; the gate polls and never watches")
    table = (ROOT / "docs/gate.md").read_text()
    m = re.search(r"^\| `pods` \| ([^|]*) \|", table, re.M)
    if not m or set(re.findall(r"`(\w+)`", m.group(1))) != WANT[("", "pods")]:
        problems.append("docs/gate.md: the RBAC table's `pods` row does not name get, list")
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"ok   gate Role the same in {len(files)} files, no watch")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
