#!/usr/bin/env python3
"""Checks the sample manifests in examples/k8s the way a reader would rely on them:

- each workload's testcar.io/* annotations are known keys (read from the contract crate's
  annotations.rs, so a renamed key fails here) with values of the documented form;
- `configmap:<name>` and `testcar.io/auth-secret` name objects defined in the same file, the
  ConfigMap's scripts are Artillery scripts (config + scenarios), the auth Secret holds an
  auth.yaml with steps and only placeholder secret values (REPLACE-ME);
- the target's port is one the app container listens on, the app has a readinessProbe
  (the agent waits on it), and the Service selects the pods;
- a pod that sets `runAsNonRoot` has a numeric, non-zero `runAsUser` on the pod or on every
  container it applies to (else the kubelet refuses an image with a named user: "image has
  non-numeric user, cannot verify user is non-root");
- together the samples cover every tests source (shared, configmap, image, copy) and auth.

usage: check_examples.py FILE...
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
ANNOTATIONS_RS = ROOT / "crates/testcar-contract/src/annotations.rs"
SOURCES = {"shared", "configmap", "image", "copy"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)? ?(ms|s|m|h))+)$")
QUANTITY = re.compile(r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def known_keys() -> set[str]:
    text = ANNOTATIONS_RS.read_text()
    return set(re.findall(r'pub const [A-Z_]+: &str = "(testcar\.io/[a-z-]+)";', text))


def check_value(key: str, value: str) -> str | None:
    """None when `value` has the form the contract expects for `key`, else what is expected."""
    short = key.removeprefix("testcar.io/")
    if short in ("inject", "native-sidecar"):
        return None if value in ("true", "false") else '"true" or "false"'
    if short in ("target", "readiness"):
        u = urlparse(value)
        return None if u.scheme in ("http", "https") and u.hostname else "an http(s) URL"
    if short in ("timeout", "ready-timeout", "tests-timeout"):
        return None if DURATION.match(value) else "a duration"
    if short in ("cpu", "memory", "cpu-limit", "memory-limit"):
        return None if QUANTITY.match(value) else "a quantity"
    if short == "auth-secret":
        return None if DNS_SUBDOMAIN.match(value) else "a Secret name"
    if short == "tests":
        kind, _, arg = value.partition(":")
        if value == "shared":
            return None
        if kind == "configmap" and DNS_SUBDOMAIN.match(arg):
            return None
        if kind == "image" and arg and " " not in arg:
            return None
        if kind == "copy" and arg.startswith("/") and ".." not in arg:
            return None
        return "shared, configmap:<name>, image:<ref> or copy:<path>"
    if short == "containers":
        return None if all(DNS_SUBDOMAIN.match(c.strip()) for c in value.split(",")) else "container names"
    return None


def non_root_problems(pod_spec: dict) -> list[str]:
    """Containers whose effective runAsNonRoot is true without an effective numeric runAsUser."""
    pod_sc = pod_spec.get("securityContext") or {}
    out = []
    for c in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True:
            continue
        if isinstance(user, bool) or not isinstance(user, int):
            out.append(f"container {c.get('name')}: runAsNonRoot without a numeric runAsUser (pod or container); "
                       "the kubelet refuses an image whose USER is a name")
        elif user == 0:
            out.append(f"container {c.get('name')}: runAsNonRoot with runAsUser: 0")
    return out


def main() -> int:
    keys = known_keys()
    problems: list[str] = []
    covered: set[str] = set()
    if len(keys) < 10:
        problems.append(f"could not read the annotation keys from {ANNOTATIONS_RS}")
    for name in sys.argv[1:]:
        path = Path(name)
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        by_kind: dict[str, dict[str, dict]] = {}
        for d in docs:
            by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("StatefulSet", {}).values())
        for w in workloads:
            where = f"{path}: {w['kind']}/{w['metadata']['name']}"
            tmpl = w["spec"]["template"]
            ann = tmpl["metadata"].get("annotations", {})
            if ann.get("testcar.io/inject") != "true":
                problems.append(f"{where}: not opted in (testcar.io/inject: \"true\")")
                continue
            for k, v in ann.items():
                if not k.startswith("testcar.io/"):
                    continue
                if k not in keys:
                    problems.append(f"{where}: unknown annotation {k}")
                elif not isinstance(v, str):
                    problems.append(f"{where}: {k} must be a string, found {type(v).__name__}")
                elif (want := check_value(k, v)) is not None:
                    problems.append(f"{where}: {k}: {v!r} is not {want}")
            source = ann.get("testcar.io/tests", "shared")
            kind, _, arg = source.partition(":")
            covered.add(kind)
            if kind == "configmap":
                cm = by_kind.get("ConfigMap", {}).get(arg)
                if not cm:
                    problems.append(f"{where}: tests ConfigMap {arg} is not in the file")
                else:
                    scripts = {k: v for k, v in cm.get("data", {}).items() if k.endswith((".yml", ".yaml"))}
                    if not scripts:
                        problems.append(f"{where}: ConfigMap {arg} holds no test script")
                    for key, text in scripts.items():
                        script = yaml.safe_load(text)
                        if key != "testcar.yaml" and not ({"config", "scenarios"} <= set(script or {})):
                            problems.append(f"{where}: {arg}/{key} is not an Artillery script (config + scenarios)")
            if secret_name := ann.get("testcar.io/auth-secret"):
                covered.add("auth")
                secret = by_kind.get("Secret", {}).get(secret_name)
                if not secret:
                    problems.append(f"{where}: auth Secret {secret_name} is not in the file")
                else:
                    data = secret.get("stringData", {})
                    chain = yaml.safe_load(data.get("auth.yaml", "")) or {}
                    if not chain.get("steps"):
                        problems.append(f"{where}: auth Secret has no auth.yaml with steps")
                    for k, v in data.items():
                        if k != "auth.yaml" and "REPLACE-ME" not in v:
                            problems.append(f"{where}: Secret {secret_name} key {k} is not an obvious placeholder (REPLACE-ME)")
                    if "data" in secret:
                        problems.append(f"{where}: Secret {secret_name} uses data: placeholders must be readable (stringData)")
            problems.extend(f"{where}: {p}" for p in non_root_problems(tmpl["spec"]))
            containers = tmpl["spec"]["containers"]
            ports = {p["containerPort"] for c in containers for p in c.get("ports", [])}
            target = urlparse(ann.get("testcar.io/target", ""))
            if target.port not in ports:
                problems.append(f"{where}: target port {target.port} is not a container port ({sorted(ports)})")
            if target.hostname not in ("127.0.0.1", "localhost"):
                problems.append(f"{where}: target {target.geturl()} is not the pod's own loopback")
            if not any("readinessProbe" in c for c in containers):
                problems.append(f"{where}: no readinessProbe for the agent to wait on")
            labels = tmpl["metadata"].get("labels", {})
            services = [s for s in by_kind.get("Service", {}).values() if s["spec"]["selector"].items() <= labels.items()]
            if not services:
                problems.append(f"{where}: no Service in the file selects its pods")
    missing = (SOURCES | {"auth"}) - covered
    if missing:
        problems.append(f"no sample for: {', '.join(sorted(missing))}")
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"ok   {len(sys.argv) - 1} files; samples for {', '.join(sorted(covered))}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
