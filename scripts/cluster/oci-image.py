#!/usr/bin/env python3
"""Assemble a one-layer OCI image archive from files on this machine, for `ctr images import`.

There is no Docker engine or registry here, so the local cluster's images are built from the
workspace's binaries: each file is placed at its path with an owner and mode, a binary's shared
libraries (as `ldd` resolves them) can be added with it, and the archive names the image so
containerd imports it under that reference. The layer is deterministic (sorted, mtime 0).

    oci-image.py --name testcar.local/testcar-agent:dev --out agent.tar \
        --entrypoint /usr/local/bin/testcar-agent --cmd sidecar --user 65532:65532 \
        --file target/debug/testcar-agent=/usr/local/bin/testcar-agent --libs \
        --dir /etc/testcar/tests:65532:65532:0755 --passwd testcar:65532
"""

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile


def fail(message):
    print(f"oci-image: {message}", file=sys.stderr)
    sys.exit(2)


def shared_libraries(binary):
    """Paths of the shared objects (and the loader) a dynamic binary needs, as ldd lists them."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0 or "not a dynamic executable" in out.stdout + out.stderr:
        return []
    libs = []
    for line in out.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
        elif "not found" in line:
            fail(f"{binary}: {line.strip()}")
    return libs


class Layer:
    """The image's single filesystem layer, collected then written in path order."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            self.entries.setdefault(d, ("dir", None, 0, 0, 0o755))

    def add_file(self, src, dst, uid=0, gid=0, mode=None):
        if not os.path.isfile(src):
            fail(f"{src}: no such file (for {dst})")
        real = os.path.realpath(src)
        if mode is None:
            mode = os.stat(real).st_mode & 0o7777
        self._parents(dst)
        self.entries[dst] = ("file", real, uid, gid, mode)

    def add_bytes(self, data, dst, uid=0, gid=0, mode=0o644):
        self._parents(dst)
        self.entries[dst] = ("bytes", data, uid, gid, mode)

    def add_dir(self, dst, uid=0, gid=0, mode=0o755):
        self._parents(dst + "/x")
        self.entries[dst] = ("dir", None, uid, gid, mode)

    def add_link(self, dst, target):
        self._parents(dst)
        self.entries[dst] = ("link", target, 0, 0, 0o777)

    def write(self, fileobj):
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, payload, uid, gid, mode = self.entries[path]
                info = tarfile.TarInfo(path.lstrip("/"))
                info.uid, info.gid, info.mode, info.mtime = uid, gid, mode, 0
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "link":
                    info.type, info.linkname = tarfile.SYMTYPE, payload
                    tar.addfile(info)
                elif kind == "bytes":
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
                else:
                    info.size = os.path.getsize(payload)
                    with open(payload, "rb") as f:
                        tar.addfile(info, f)


def blob(tar, data_or_path, media_type):
    """Add a blob under blobs/sha256/ and return its descriptor."""
    h = hashlib.sha256()
    if isinstance(data_or_path, bytes):
        h.update(data_or_path)
        size = len(data_or_path)
    else:
        size = os.path.getsize(data_or_path)
        with open(data_or_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    digest = h.hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime = size, 0
    if isinstance(data_or_path, bytes):
        tar.addfile(info, io.BytesIO(data_or_path))
    else:
        with open(data_or_path, "rb") as f:
            tar.addfile(info, f)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": size}


def owner_mode(spec, default_mode):
    """Split `PATH[:UID:GID[:MODE]]`."""
    parts = spec.split(":")
    path = parts[0]
    uid = int(parts[1]) if len(parts) > 1 else 0
    gid = int(parts[2]) if len(parts) > 2 else uid
    mode = int(parts[3], 8) if len(parts) > 3 else default_mode
    return path, uid, gid, mode


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="image reference, e.g. testcar.local/x:dev")
    ap.add_argument("--out", required=True, help="archive to write")
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--cmd", action="append", default=[])
    ap.add_argument("--user", default="0:0")
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--file", action="append", default=[], help="SRC=DST[:UID:GID[:MODE]]")
    ap.add_argument("--dir", action="append", default=[], help="DST[:UID:GID[:MODE]]")
    ap.add_argument("--link", action="append", default=[], help="DST=TARGET (a symlink)")
    ap.add_argument("--libs", action="store_true", help="add the shared libraries of each --file")
    ap.add_argument("--passwd", action="append", default=[], help="NAME:UID (user and group)")
    args = ap.parse_args()

    if ":" not in args.name.rsplit("/", 1)[-1]:
        fail(f"--name {args.name}: expected a tag (NAME:TAG)")
    layer = Layer()
    binaries = []
    for spec in args.file:
        if "=" not in spec:
            fail(f"--file {spec}: expected SRC=DST")
        src, rest = spec.split("=", 1)
        dst, uid, gid, mode = owner_mode(rest, None)
        layer.add_file(src, dst, uid, gid, mode)
        binaries.append(src)
    if args.libs:
        for binary in binaries:
            for lib in shared_libraries(binary):
                layer.add_file(lib, lib)
    for spec in args.dir:
        layer.add_dir(*owner_mode(spec, 0o755))
    for spec in args.link:
        dst, target = spec.split("=", 1)
        layer.add_link(dst, target)
    users = [("root", 0)] + [(n, int(u)) for n, u in (p.split(":") for p in args.passwd)]
    passwd = "".join(f"{n}:x:{u}:{u}:{n}:/nonexistent:/sbin/nologin\n" for n, u in users)
    group = "".join(f"{n}:x:{u}:\n" for n, u in users)
    layer.add_bytes(passwd.encode(), "/etc/passwd")
    layer.add_bytes(group.encode(), "/etc/group")
    layer.add_dir("/tmp", 0, 0, 0o1777)

    out_dir = os.path.dirname(os.path.abspath(args.out))
    with tempfile.NamedTemporaryFile(dir=out_dir, suffix=".layer") as lf:
        layer.write(lf)
        lf.flush()
        with open(lf.name, "rb") as f:
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        diff_id = f"sha256:{h.hexdigest()}"
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + args.env
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": args.user,
                "Env": env,
                "Entrypoint": args.entrypoint or None,
                "Cmd": args.cmd or None,
                "WorkingDir": args.workdir,
                "Labels": {"org.opencontainers.image.source": "testcar local cluster"},
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "scripts/cluster/oci-image.py"}],
        }
        tmp_out = args.out + ".tmp"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as tar:
            layer_desc = blob(tar, lf.name, "application/vnd.oci.image.layer.v1.tar")
            config_desc = blob(
                tar, json.dumps(config, sort_keys=True).encode(),
                "application/vnd.oci.image.config.v1+json",
            )
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc,
                "layers": [layer_desc],
            }
            manifest_desc = blob(
                tar, json.dumps(manifest, sort_keys=True).encode(),
                "application/vnd.oci.image.manifest.v1+json",
            )
            manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
            manifest_desc["annotations"] = {
                "io.containerd.image.name": args.name,
                "org.opencontainers.image.ref.name": args.name.rsplit(":", 1)[1],
            }
            index = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [manifest_desc],
            }
            for name, data in (
                ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                ("index.json", json.dumps(index, sort_keys=True).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp_out, args.out)


if __name__ == "__main__":
    main()
