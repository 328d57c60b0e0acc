#!/usr/bin/env python3
"""The chart keeps its generated webhook certificate across upgrades (tls.mode=helm).

There is no kube-apiserver on this machine, so this starts a stand-in on 127.0.0.1 that
answers what Helm asks a real one during `helm template --dry-run=server`: /version, the
discovery documents (/api, /api/v1, /apis, /apis/<group>/<version>, in the shapes a v1.34
API server returns) and GETs of single objects, 404 for objects it does not hold. Then:

1. no Secret in the "cluster": the chart generates a CA and a certificate;
2. the Secret from (1) in the cluster: the chart renders the very same certificate, key and
   CA, and the webhook's caBundle is that CA (an upgrade does not break TLS);
3. a Secret without ca.crt: the chart cannot trust it and generates a new pair;
4. the Secret from (1) and tls.helm.rotate=true: a new CA and certificate, the old CA kept in
   ca-previous.crt and in the caBundle next to the new one (pods still serving the old
   certificate stay trusted until the kubelet refreshes their Secret);
5. the rotated Secret on a later plain upgrade: kept as it is, the caBundle still holds both.

usage: check_tls_upgrade.py CHART NAMESPACE RELEASE
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def resource(name: str, kind: str, namespaced: bool = True) -> dict:
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": VERBS}


CORE = [
    resource("secrets", "Secret"),
    resource("configmaps", "ConfigMap"),
    resource("services", "Service"),
    resource("serviceaccounts", "ServiceAccount"),
    resource("namespaces", "Namespace", False),
]
GROUPS = {
    "apps/v1": [resource("deployments", "Deployment")],
    "policy/v1": [resource("poddisruptionbudgets", "PodDisruptionBudget")],
    "admissionregistration.k8s.io/v1": [resource("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False)],
    "rbac.authorization.k8s.io/v1": [resource("roles", "Role"), resource("rolebindings", "RoleBinding")],
}
VERSION = {
    "major": "1", "minor": "34", "gitVersion": "v1.34.1", "gitCommit": "93248f9ae092f571eb870b7664c534bfc7d00f03",
    "gitTreeState": "clean", "buildDate": "2025-09-09T19:37:43Z", "goVersion": "go1.24.6",
    "compiler": "gc", "platform": "linux/amd64",
}


class FakeApi(BaseHTTPRequestHandler):
    objects: dict[str, dict] = {}
    requests: list[str] = []

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        FakeApi.requests.append(path)
        if path == "/version":
            return self._send(200, VERSION)
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
        if path == "/api/v1":
            return self._send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": CORE})
        if path == "/apis":
            groups = [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in GROUPS
            ]
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path.startswith("/apis/") and path[6:] in GROUPS:
            return self._send(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": path[6:], "resources": GROUPS[path[6:]]})
        if path in FakeApi.objects:
            return self._send(200, FakeApi.objects[path])
        self._send(404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404,
                         "message": f"the server could not find the requested resource ({path})"})

    def log_message(self, *args: object) -> None:
        pass


def render(chart: str, ns: str, release: str, kubeconfig: str, *extra: str) -> list[dict]:
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    out = subprocess.run(
        ["helm", "template", release, chart, "-n", ns, "--dry-run=server", "--disable-openapi-validation", *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise SystemExit(f"FAIL helm template --dry-run=server: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pems(b64: str) -> list[str]:
    """The PEM certificates in a base64 bundle, normalised."""
    text = base64.b64decode(b64).decode()
    return ["-----BEGIN CERTIFICATE-----" + part.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----"
            for part in text.split("-----BEGIN CERTIFICATE-----")[1:]]


def verifies(bundle_b64: str, crt_b64: str) -> bool:
    """openssl verify of a serving certificate against a CA bundle, as the API server would."""
    with tempfile.TemporaryDirectory() as tmp:
        ca, crt = os.path.join(tmp, "ca.pem"), os.path.join(tmp, "crt.pem")
        with open(ca, "wb") as f:
            f.write(base64.b64decode(bundle_b64))
        with open(crt, "wb") as f:
            f.write(base64.b64decode(crt_b64))
        return subprocess.run(["openssl", "verify", "-CAfile", ca, crt], capture_output=True).returncode == 0


def tls_of(docs: list[dict], secret_name: str) -> tuple[dict, str]:
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == secret_name)
    hook = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    return secret["data"], hook["webhooks"][0]["clientConfig"]["caBundle"]


def main() -> int:
    chart, ns, release = sys.argv[1:4]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
            }, f)
        full = release if "testcar" in release else f"{release}-testcar"
        secret_name = f"{full}-injector-tls"
        secret_path = f"/api/v1/namespaces/{ns}/secrets/{secret_name}"

        first, first_bundle = tls_of(render(chart, ns, release, kubeconfig), secret_name)
        if secret_path not in FakeApi.requests:
            problems.append(f"the chart did not look up {secret_path}")
        if first_bundle != first["ca.crt"]:
            problems.append("install: caBundle is not the generated CA")

        # The Secret as the API server returns it after the install.
        FakeApi.objects[secret_path] = {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": secret_name, "namespace": ns, "uid": "3f1c2a9e-5b7d-4e7a-9c11-0d2f6b8e4a10",
                         "resourceVersion": "1234", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app.kubernetes.io/managed-by": "Helm"},
                         "annotations": {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns}},
            "data": first,
        }
        second, second_bundle = tls_of(render(chart, ns, release, kubeconfig), secret_name)
        for key in ("tls.crt", "tls.key", "ca.crt"):
            if second.get(key) != first[key]:
                problems.append(f"upgrade: {key} changed although the Secret exists")
        if second_bundle != first["ca.crt"]:
            problems.append("upgrade: caBundle is not the existing CA")

        FakeApi.objects[secret_path] = dict(FakeApi.objects[secret_path], data={k: v for k, v in first.items() if k != "ca.crt"})
        third, third_bundle = tls_of(render(chart, ns, release, kubeconfig), secret_name)
        if third["tls.crt"] == first["tls.crt"] or third["ca.crt"] == first["ca.crt"]:
            problems.append("a Secret without ca.crt was reused; its CA is unknown")
        if third_bundle != third["ca.crt"]:
            problems.append("regenerated: caBundle is not the new CA")

        FakeApi.objects[secret_path] = dict(FakeApi.objects[secret_path], data=first)
        fourth, fourth_bundle = tls_of(render(chart, ns, release, kubeconfig, "--set", "tls.helm.rotate=true"), secret_name)
        if fourth["tls.crt"] == first["tls.crt"] or fourth["ca.crt"] == first["ca.crt"]:
            problems.append("rotate: the certificate or CA was kept")
        if fourth.get("ca-previous.crt") != first["ca.crt"]:
            problems.append("rotate: the previous CA is not kept in ca-previous.crt")
        want = pems(fourth["ca.crt"]) + pems(first["ca.crt"])
        if pems(fourth_bundle) != want:
            problems.append(f"rotate: caBundle holds {len(pems(fourth_bundle))} certificates, not the new CA then the old one")
        if not verifies(fourth_bundle, first["tls.crt"]) or not verifies(fourth_bundle, fourth["tls.crt"]):
            problems.append("rotate: the caBundle does not verify both the old and the new serving certificate")

        FakeApi.objects[secret_path] = dict(FakeApi.objects[secret_path], data=fourth)
        fifth, fifth_bundle = tls_of(render(chart, ns, release, kubeconfig), secret_name)
        if fifth != fourth or pems(fifth_bundle) != want:
            problems.append("after a rotation a plain upgrade changed the Secret or dropped a CA from the caBundle")
    server.shutdown()
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print("ok   generated on install, reused on upgrade, regenerated when incomplete, rotated with the previous CA kept")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
