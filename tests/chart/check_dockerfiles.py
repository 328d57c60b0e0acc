#!/usr/bin/env python3
"""Checks what hadolint cannot know about Dockerfile.injector and Dockerfile.agent, since no
Docker engine runs here to build them: the builder is the official Rust image, the runtime
stage runs as non-root with OCI labels fed by the VERSION build-arg, `cargo build` names a
real package, binary and features of this workspace, a kerberos build carries MIT Kerberos'
runtime (libgssapi-krb5-2 and kinit), the agent carries curl for exec suites, the ENTRYPOINT is the binary copied out
of the builder (directly, or through the `binaries` stage that picks the builder or the release's
prebuilt dist/linux-$TARGETARCH/ binary by the BINARIES build-arg), every COPY source exists
and is not excluded by .dockerignore, and every base image is pinned by tag and digest
(`image:tag@sha256:<64 hex>`), the same image with the same digest in every Dockerfile and in
the workflows' build containers (the release binaries come from the same builder as the images).

usage: check_dockerfiles.py Dockerfile.injector Dockerfile.agent Dockerfile.gate
"""
from __future__ import annotations

import fnmatch
import re
import shlex
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OCI_LABELS = ["title", "description", "version", "source", "licenses"]
RUNTIMES = ("gcr.io/distroless/cc-debian12", "debian:bookworm-slim")
BUILDER = re.compile(r"rust:1\.\d+(?:\.\d+)?-bookworm@sha256:[0-9a-f]{64}$")
PINNED = re.compile(r"^(?P<name>[\w./-]+(?::\d+)?/?[\w./-]*):(?P<tag>[\w.-]+)@sha256:(?P<digest>[0-9a-f]{64})$")
WORKFLOWS = (".github/workflows/ci.yml", ".github/workflows/release.yml")
# image:tag -> (digest, where first seen), across every file checked in one run
SEEN: dict[str, tuple[str, str]] = {}


def pinned(ref: str, where: str, bad_at) -> None:
    """A base image reference must carry its tag and the digest of its index; one digest per tag."""
    m = PINNED.match(ref)
    if not m:
        bad_at(f"base image {ref} is not pinned by tag and digest (expected image:tag@sha256:<64 hex>)")
        return
    key = f"{m['name']}:{m['tag']}"
    first = SEEN.setdefault(key, (m["digest"], where))
    if first[0] != m["digest"]:
        bad_at(f"{key} is pinned to sha256:{m['digest'][:12]}… here but to sha256:{first[0][:12]}… at {first[1]}")


def instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, buf, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, args = buf.partition(" ")
        out.append((start, op.upper(), args.strip()))
        buf = ""
    return out


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    parts = rel.split("/")
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.rstrip("/")
        # a pattern matching a parent directory matches everything under it
        hit = any(fnmatch.fnmatch("/".join(parts[: i + 1]), p) for i in range(len(parts)))
        if "**" in p:
            hit = hit or fnmatch.fnmatch(rel, p.replace("**/", "*"))
        if hit:
            ignored = not neg
    return ignored


def check(path: Path, problems: list[str]) -> None:
    def bad(line: int, msg: str) -> None:
        problems.append(f"{path.name}:{line}: {msg}")

    ins = instructions(path.read_text())
    stages: list[list[tuple[int, str, str]]] = []
    for item in ins:
        if item[1] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(item)
    if len(stages) < 2:
        bad(1, "expected a multi-stage build (builder + runtime)")
        return
    builder, runtime = stages[0], stages[-1]
    stage_names = {s[0][2].split()[-1] for s in stages if s[0][2].split()[-2:-1] == ["AS"]}
    for stage in stages:
        line, _, args = stage[0]
        ref = args.split()[0]
        if ref == "scratch" or ref.startswith("${") or ref in stage_names:
            continue
        pinned(ref, f"{path.name}:{line}", lambda msg, line=line: bad(line, msg))
    b_from = builder[0][2].split()
    if not BUILDER.match(b_from[0]) or b_from[-2:] != ["AS", "builder"]:
        bad(builder[0][0], f"builder must be `FROM rust:1.N-bookworm@sha256:<digest> AS builder`, found `FROM {builder[0][2]}`")
    r_image = runtime[0][2].split()[0]
    if not r_image.startswith(RUNTIMES):
        bad(runtime[0][0], f"runtime image {r_image} is neither distroless cc nor debian slim")

    users = [i for i in runtime if i[1] == "USER"]
    if not users:
        bad(runtime[0][0], "runtime stage has no USER (it would run as root)")
    elif users[-1][2].split(":")[0] in ("root", "0"):
        bad(users[-1][0], "runtime stage runs as root")

    if not any(i[1] == "ARG" and i[2].split("=")[0] == "VERSION" for i in runtime):
        bad(runtime[0][0], "runtime stage lacks `ARG VERSION`")
    labels = " ".join(i[2] for i in runtime if i[1] == "LABEL")
    for name in OCI_LABELS:
        if f"org.opencontainers.image.{name}=" not in labels:
            bad(runtime[0][0], f"no org.opencontainers.image.{name} label")
    if 'org.opencontainers.image.version="${VERSION}"' not in labels:
        bad(runtime[0][0], "image version label is not the VERSION build-arg")

    # cargo build -p PKG [--features F]
    runs = " ".join(i[2] for i in builder if i[1] == "RUN")
    m = re.search(r"cargo build --release --locked -p ([\w-]+)(?: --features \"?([^\s\"]+)\"?)?", runs)
    if not m:
        bad(builder[0][0], "builder does not run `cargo build --release --locked -p <package>`")
        return
    pkg, features = m.group(1), m.group(2)
    manifest = ROOT / "crates" / pkg / "Cargo.toml"
    if not manifest.exists():
        bad(builder[0][0], f"package {pkg} is not a workspace crate")
        return
    cargo = tomllib.loads(manifest.read_text())
    bins = [b["name"] for b in cargo.get("bin", [])] or [pkg]
    if features:
        args = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in (i[2] for i in builder if i[1] == "ARG") if "=" in a}
        resolved = args.get(features.strip("${}"), features) if features.startswith("$") else features
        for feat in filter(None, resolved.split(",")):
            if feat not in cargo.get("features", {}):
                bad(builder[0][0], f"--features {feat}: crates/{pkg}/Cargo.toml has no feature {feat!r} (yet)")
        if "kerberos" in resolved.split(","):
            # The keytab login runs `kinit`; the binary links MIT GSSAPI.
            installs = " ".join(i[2] for i in runtime if i[1] == "RUN")
            for need, why in (("libgssapi-krb5-2", "the GSSAPI library"), ("krb5-user", "kinit")):
                if not re.search(rf"(?<![\w-]){re.escape(need)}(?![\w-])", installs):
                    bad(runtime[0][0], f"built with kerberos but the runtime does not install {need} ({why})")
    if pkg == "testcar-agent":
        # Exec suites (and examples/tests/*.sh) call curl; docs/agent.md promises it.
        installs = " ".join(i[2] for i in runtime if i[1] == "RUN")
        if not re.search(r"(?<![\w-])curl(?![\w-])", installs):
            bad(runtime[0][0], "the agent runtime does not install curl (exec suites and the examples use it; docs/agent.md lists it)")
    copies = [i for i in runtime if i[1] == "COPY" and "--from=builder" in i[2]]
    # The release path: `FROM ${BINARIES} AS binaries` selects `builder` (the default) or
    # `prebuilt`, which copies dist/linux-${TARGETARCH}/BIN to the path the builder installs to.
    via = [i for i in runtime if i[1] == "COPY" and "--from=binaries" in i[2]]
    if via:
        froms = {s[0][2].split()[-1]: s for s in stages if s[0][2].split()[-2:-1] == ["AS"]}
        pre_args = [i[2] for i in ins[: ins.index(stages[0][0])] if i[1] == "ARG"]
        if "BINARIES=builder" not in pre_args:
            bad(stages[0][0][0], "`ARG BINARIES=builder` (before the first FROM) is missing")
        if "binaries" not in froms or froms["binaries"][0][2].split()[0] != "${BINARIES}":
            bad(via[0][0], "COPY --from=binaries without a `FROM ${BINARIES} AS binaries` stage")
        pre = froms.get("prebuilt")
        pre_copies = [i[2].split() for i in (pre or []) if i[1] == "COPY"]
        for c in via:
            dest = c[2].split()[-2]  # COPY --from=binaries /out/BIN /usr/local/bin/BIN
            want = [p for p in pre_copies if p[-1] == dest and p[0] == f"dist/linux-${{TARGETARCH}}/{Path(dest).name}"]
            if not want:
                bad(c[0], f"no `prebuilt` stage copying dist/linux-${{TARGETARCH}}/{Path(dest).name} to {dest}")
            if not re.search(rf"install -D -m 0755 \S+ {re.escape(dest)}", runs):
                bad(c[0], f"the builder does not install the binary at {dest}")
            if dockerignored(f"dist/linux-amd64/{Path(dest).name}", [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]):
                bad(c[0], "dist/ (the release's prebuilt binaries) is excluded by .dockerignore")
        copies += [(c[0], c[1], c[2].replace("--from=binaries", "--from=builder")) for c in via]
    entry = [i for i in runtime if i[1] == "ENTRYPOINT"]
    if not entry:
        bad(runtime[0][0], "no ENTRYPOINT")
    else:
        target = shlex.split(entry[-1][2].strip("[]").replace(",", " "))[0]
        if Path(target).name not in bins:
            bad(entry[-1][0], f"ENTRYPOINT {target} is not a binary of {pkg} ({bins})")
        if not any(c[2].split()[-1] == target for c in copies):
            bad(entry[-1][0], f"ENTRYPOINT {target} is not copied from the builder")

    ignore = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    for line, op, args in builder:
        if op != "COPY" or "--from" in args:
            continue
        for src in args.split()[:-1]:
            src = src.rstrip("/")
            if not (ROOT / src).exists():
                bad(line, f"COPY source {src} does not exist in the repository")
            elif dockerignored(src, ignore):
                bad(line, f"COPY source {src} is excluded by .dockerignore")


def check_workflows(problems: list[str]) -> None:
    """The workflows' Rust build containers are the Dockerfiles' builder, the same reference."""
    builders = {(k, d, w) for k, (d, w) in SEEN.items() if k.startswith("rust:")}
    for rel in WORKFLOWS:
        path = ROOT / rel
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:container|image):\s*(rust:\S+)\s*$", line)
            if not m:
                continue
            pinned(m.group(1), f"{rel}:{n}", lambda msg, n=n, rel=rel: problems.append(f"{rel}:{n}: {msg}"))
            for key, digest, where in builders:
                if m.group(1) != f"{key}@sha256:{digest}":
                    problems.append(f"{rel}:{n}: build container {m.group(1)} is not the Dockerfiles' builder {key}@sha256:{digest[:12]}… ({where})")


def main() -> int:
    problems: list[str] = []
    for name in sys.argv[1:]:
        check(ROOT / name, problems)
    if any(Path(n).name.startswith("Dockerfile") and (ROOT / n).resolve().parent == ROOT for n in sys.argv[1:]):
        check_workflows(problems)
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"ok   {' '.join(sys.argv[1:])}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
