#!/usr/bin/env python3
"""Checks for the Testcar chart and the sample manifests, used by tests/tools.d/30-chart.sh.

  validate [--k8s-version V] FILE...   every document against the Kubernetes schemas
  render --values F [--values F...] --namespace NS RENDERED
                                       the rendered chart matches the values it came from
  config RENDERED OUT                  write the injector config file out of the ConfigMap
  readme VALUES README                 every value of VALUES is described in README

Built-in kinds are validated offline by kubernetes-validate (strict: unknown fields fail).
The CRD kinds the chart can render (cert-manager Issuer/Certificate, Prometheus Operator
ServiceMonitor) are checked against the subset of their CRD schemas written below. Any other
kind is an error: nothing the chart renders may go unchecked.
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

try:
    import kubernetes_validate
    from kubernetes_validate import utils as kv_utils
except ImportError:  # pragma: no cover - the setup script installs it
    sys.exit("kubernetes-validate is not installed: run scripts/setup.d/30-helm.sh")

# --- CRD subsets --------------------------------------------------------------------------

_OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
_ISSUER_REF = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "kind": {"type": "string"}, "group": {"type": "string"}},
}
_USAGES = [
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
]
_CERTIFICATE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": _OBJECT_META,
        "spec": {
            "type": "object",
            "required": ["secretName", "issuerRef"],
            "additionalProperties": False,
            "properties": {
                "secretName": {"type": "string", "minLength": 1},
                "issuerRef": _ISSUER_REF,
                "commonName": {"type": "string", "maxLength": 64},
                "dnsNames": {"type": "array", "items": {"type": "string"}},
                "ipAddresses": {"type": "array", "items": {"type": "string"}},
                "isCA": {"type": "boolean"},
                "duration": _GO_DURATION,
                "renewBefore": _GO_DURATION,
                "usages": {"type": "array", "items": {"enum": _USAGES}},
                "privateKey": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                    },
                },
            },
        },
    },
}
_ISSUER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": _OBJECT_META,
        "spec": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                "selfSigned": {"type": "object"},
                "ca": {
                    "type": "object",
                    "required": ["secretName"],
                    "properties": {"secretName": {"type": "string", "minLength": 1}},
                },
            },
        },
    },
}
_PROM_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": _OBJECT_META,
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {"type": "object"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _PROM_DURATION,
                            "scrapeTimeout": _PROM_DURATION,
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Certificate"): _CERTIFICATE,
    ("cert-manager.io/v1", "Issuer"): _ISSUER,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _SERVICE_MONITOR,
}

# --- helpers -----------------------------------------------------------------------------


class Failures:
    """Collects failed checks so that one run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.items.append(what)

    def done(self, label: str) -> int:
        for item in self.items:
            print(f"FAIL {label}: {item}")
        if not self.items:
            print(f"ok   {label}")
        return 1 if self.items else 0


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with the same key twice: Helm and kubectl keep the
    last one silently, kustomize and other tools refuse the file."""


def _no_duplicates(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d]


def name_of(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def find(docs: list[dict], kind: str, name_suffix: str = "") -> list[dict]:
    return [d for d in docs if d.get("kind") == kind and d["metadata"]["name"].endswith(name_suffix)]


# --- validate ----------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    version = args.k8s_version or kv_utils.latest_version()
    failed = 0
    for file in args.files:
        path = Path(file)
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            print(f"FAIL {path}: not YAML: {e}")
            failed += 1
            continue
        if not docs:
            print(f"FAIL {path}: no Kubernetes object in the file")
            failed += 1
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            where = f"{path} {name_of(doc)}"
            try:
                if key in CRD_SCHEMAS:
                    jsonschema.validate(doc, CRD_SCHEMAS[key])
                    print(f"ok   {where} (CRD subset schema)")
                else:
                    kubernetes_validate.validate(doc, version, strict=True)
                    print(f"ok   {where} (Kubernetes {version})")
            except jsonschema.ValidationError as e:
                at = ".".join(str(p) for p in e.absolute_path) or "<root>"
                print(f"FAIL {where} against Kubernetes {version}: at {at}: {e.message}")
                failed += 1
            except kv_utils.SchemaNotFoundError as e:
                print(f"FAIL {where}: {e.message}")
                failed += 1
    return 1 if failed else 0


# --- render ------------------------------------------------------------------------------


def openssl(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], input=stdin, capture_output=True)


def check_helm_tls(f: Failures, secret: dict, ca_bundle: str, dns_names: list[str]) -> None:
    """The generated Secret holds a CA that signed a server certificate for the Service, and
    the webhook trusts exactly that CA."""
    data = secret.get("data", {})
    for key in ("tls.crt", "tls.key", "ca.crt"):
        f.check(key in data, f"TLS Secret lacks {key}")
    if not all(k in data for k in ("tls.crt", "tls.key", "ca.crt")):
        return
    f.check(ca_bundle == data["ca.crt"], "webhook caBundle is not the Secret's ca.crt")
    with tempfile.TemporaryDirectory() as tmp:
        ca, crt, key = Path(tmp, "ca.crt"), Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        ca.write_bytes(base64.b64decode(data["ca.crt"]))
        crt.write_bytes(base64.b64decode(data["tls.crt"]))
        key.write_bytes(base64.b64decode(data["tls.key"]))
        r = openssl("verify", "-purpose", "sslserver", "-CAfile", str(ca), str(crt))
        f.check(r.returncode == 0, f"tls.crt does not verify against ca.crt: {r.stdout.decode()} {r.stderr.decode()}")
        r = openssl("x509", "-in", str(crt), "-noout", "-ext", "subjectAltName")
        sans = r.stdout.decode()
        for name in dns_names:
            f.check(f"DNS:{name}" in sans, f"certificate has no SAN DNS:{name} (has {sans.strip()})")
        pub_crt = openssl("x509", "-in", str(crt), "-noout", "-pubkey").stdout
        pub_key = openssl("pkey", "-in", str(key), "-pubout").stdout
        f.check(pub_crt and pub_crt == pub_key, "tls.key does not belong to tls.crt")


def check_webhook(f: Failures, docs: list[dict], v: dict, ns: str, svc_name: str, port: int) -> None:
    hooks = find(docs, "MutatingWebhookConfiguration")
    f.check(len(hooks) == 1, f"expected one MutatingWebhookConfiguration, found {len(hooks)}")
    if not hooks:
        return
    mwc = hooks[0]
    f.check(mwc["metadata"]["name"] == f"{svc_name}-{ns}"[:63].rstrip("-"), f"webhook configuration name {mwc['metadata']['name']} does not carry the namespace (two releases would collide)")
    f.check(len(mwc.get("webhooks", [])) == 1, "expected exactly one webhook entry")
    w = mwc["webhooks"][0]
    wv = v["webhook"]
    f.check(w.get("admissionReviewVersions") == ["v1"], f"admissionReviewVersions {w.get('admissionReviewVersions')} != [v1]")
    f.check(w.get("sideEffects") == "None", f"sideEffects {w.get('sideEffects')} != None")
    f.check(w.get("failurePolicy") == wv["failurePolicy"], f"failurePolicy {w.get('failurePolicy')} != {wv['failurePolicy']}")
    f.check(w.get("timeoutSeconds") == wv["timeoutSeconds"], f"timeoutSeconds {w.get('timeoutSeconds')} != {wv['timeoutSeconds']}")
    f.check(w.get("reinvocationPolicy") == wv["reinvocationPolicy"], "reinvocationPolicy does not follow the values")
    conditions = {c["name"]: c["expression"] for c in w.get("matchConditions", [])}
    if wv["onlyTestcarPods"]:
        f.check("testcar.io/" in conditions.get("testcar-annotation-or-label", ""), "matchConditions do not limit the calls to pods with a testcar.io/ annotation or label")
        f.check("kubernetes.io/config.mirror" in conditions.get("not-a-mirror-pod", ""), "matchConditions do not skip mirror pods")
    else:
        f.check(not conditions, "matchConditions rendered although webhook.onlyTestcarPods is false")
    f.check(w.get("matchPolicy") == wv["matchPolicy"], "matchPolicy does not follow the values")
    svc = w.get("clientConfig", {}).get("service", {})
    f.check(svc == {"name": svc_name, "namespace": ns, "path": "/mutate", "port": port}, f"clientConfig.service is {svc}")
    f.check(
        w.get("rules") == [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}],
        f"rules are {w.get('rules')}",
    )
    exprs = w.get("namespaceSelector", {}).get("matchExpressions", [])
    notin = [e for e in exprs if e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "NotIn"]
    f.check(len(notin) == 1, "namespaceSelector lacks kubernetes.io/metadata.name NotIn")
    if notin:
        excluded = set(notin[0].get("values", []))
        for want in ["kube-system", ns, *v["excludeNamespaces"]]:
            f.check(want in excluded, f"namespace {want} is not excluded by the namespaceSelector")
    optin = v["webhook"]["namespaceOptIn"]
    opt = [e for e in exprs if e.get("key") == optin["label"]]
    if optin["enabled"]:
        f.check(opt == [{"key": optin["label"], "operator": "In", "values": [optin["value"]]}], f"namespace opt-in expression is {opt}")
    else:
        f.check(not opt and len(exprs) == 1, f"unexpected namespaceSelector expressions {exprs}")
    if v["webhook"]["objectSelector"]:
        f.check(w.get("objectSelector") == v["webhook"]["objectSelector"], f"objectSelector {w.get('objectSelector')} != values")
    else:
        f.check("objectSelector" not in w, "objectSelector rendered although the value is empty")

    mode = v["tls"]["mode"]
    annotations = mwc["metadata"].get("annotations") or {}
    ca_bundle = w.get("clientConfig", {}).get("caBundle")
    if mode == "certManager":
        f.check(annotations.get("cert-manager.io/inject-ca-from") == f"{ns}/{svc_name}", f"inject-ca-from is {annotations.get('cert-manager.io/inject-ca-from')}")
        f.check(ca_bundle is None, "caBundle set although cert-manager injects it")
        certs = find(docs, "Certificate")
        serving = [c for c in certs if c["metadata"]["name"] == svc_name]
        f.check(len(serving) == 1, "no serving Certificate named like the webhook")
        if serving:
            spec = serving[0]["spec"]
            f.check(spec["secretName"] == f"{svc_name}-tls", "Certificate secretName is not the mounted Secret")
            f.check(f"{svc_name}.{ns}.svc" in spec.get("dnsNames", []), "Certificate lacks the Service DNS name")
            ref = v["tls"]["certManager"]["issuerRef"]
            if ref:
                f.check(spec["issuerRef"] == ref, f"issuerRef {spec['issuerRef']} != values {ref}")
                f.check(not find(docs, "Issuer"), "chart created Issuers although issuerRef is given")
            else:
                issuers = {i["metadata"]["name"]: i for i in find(docs, "Issuer")}
                f.check(spec["issuerRef"]["name"] in issuers, "serving Certificate's issuer is not rendered")
                ca_issuer = issuers.get(spec["issuerRef"]["name"], {})
                ca_secret = ca_issuer.get("spec", {}).get("ca", {}).get("secretName")
                ca_certs = [c for c in certs if c["spec"].get("secretName") == ca_secret and c["spec"].get("isCA")]
                f.check(len(ca_certs) == 1, "the CA Issuer's secret is not issued by a CA Certificate")
        f.check(not find(docs, "Secret", "-tls"), "a TLS Secret is rendered although cert-manager issues it")
    else:
        f.check("cert-manager.io/inject-ca-from" not in annotations, "inject-ca-from set without cert-manager")
        f.check(bool(ca_bundle), "no caBundle in clientConfig")
        f.check(not find(docs, "Certificate") and not find(docs, "Issuer"), "cert-manager objects rendered")
        if mode == "helm":
            secrets = [s for s in find(docs, "Secret") if s["metadata"]["name"] == f"{svc_name}-tls"]
            f.check(len(secrets) == 1, "no generated TLS Secret")
            if secrets and ca_bundle:
                dns = [svc_name, f"{svc_name}.{ns}", f"{svc_name}.{ns}.svc", f"{svc_name}.{ns}.svc.cluster.local"]
                check_helm_tls(f, secrets[0], ca_bundle, dns)
        else:
            f.check(ca_bundle == v["tls"]["secret"]["caBundle"], "caBundle is not tls.secret.caBundle")
            f.check(not find(docs, "Secret", "-tls"), "a TLS Secret is rendered although an existing one is used")


def check_deployment(f: Failures, docs: list[dict], v: dict, svc_name: str) -> None:
    deps = find(docs, "Deployment")
    f.check(len(deps) == 1, f"expected one Deployment, found {len(deps)}")
    if not deps:
        return
    d = deps[0]
    spec = d["spec"]
    pod = spec["template"]["spec"]
    f.check(spec["replicas"] == v["replicaCount"], "replicas do not follow replicaCount")
    f.check("checksum/config" in spec["template"]["metadata"].get("annotations", {}), "no checksum/config pod annotation")
    f.check(pod.get("automountServiceAccountToken") is False, "service account token is mounted although the injector needs no API access")
    f.check((pod.get("nodeSelector") or {}) == v["nodeSelector"], f"nodeSelector {pod.get('nodeSelector')} != values {v['nodeSelector']}")
    psc = pod.get("securityContext", {})
    f.check(psc.get("runAsNonRoot") is True and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod securityContext is not restricted")
    c = pod["containers"][0]
    sc = c.get("securityContext", {})
    f.check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    f.check(sc.get("readOnlyRootFilesystem") is True, "root filesystem is writable")
    f.check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not all dropped")
    f.check(c.get("resources") == v["resources"], "container resources do not follow the values")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    f.check(ports.get("https") == v["webhookPort"], "https container port does not follow webhookPort")
    f.check(pod.get("hostNetwork", False) == v["hostNetwork"], "hostNetwork does not follow the values")
    if v["hostNetwork"]:
        f.check(pod.get("dnsPolicy") == "ClusterFirstWithHostNet", "on the host network without ClusterFirstWithHostNet the injector loses cluster DNS")
    f.check(ports.get("metrics") == v["metrics"]["port"], "metrics container port does not follow metrics.port")
    f.check(c.get("livenessProbe", {}).get("httpGet") == {"path": "/healthz", "port": "metrics"}, "liveness probe is not /healthz on metrics")
    f.check(c.get("readinessProbe", {}).get("httpGet") == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}, "readiness probe is not /readyz on the webhook's TLS port")
    args = dict(a.lstrip("-").split("=", 1) for a in c.get("args", []))
    f.check(args.get("drain-delay") == f"{v['drainDelaySeconds']}s", "--drain-delay does not follow drainDelaySeconds")
    f.check(args.get("shutdown-grace") == f"{v['shutdownGraceSeconds']}s", "--shutdown-grace does not follow shutdownGraceSeconds")
    f.check(pod.get("terminationGracePeriodSeconds", 30) > v["drainDelaySeconds"] + v["shutdownGraceSeconds"],
            "terminationGracePeriodSeconds does not cover the drain delay and the shutdown grace")
    f.check(args.get("listen") == f"0.0.0.0:{v['webhookPort']}", "--listen does not follow webhookPort")
    f.check(args.get("metrics-listen") == f"0.0.0.0:{v['metrics']['port']}", "--metrics-listen does not follow metrics.port")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {vol["name"]: vol for vol in pod.get("volumes", [])}
    for flag, vol in (("tls-cert", "tls"), ("tls-key", "tls"), ("config", "config")):
        path = args.get(flag, "")
        f.check(vol in mounts and path.startswith(mounts[vol] + "/"), f"--{flag}={path} is not inside the {vol} volume")
    f.check(vols.get("config", {}).get("configMap", {}).get("name") == svc_name, "config volume is not the injector ConfigMap")
    want_secret = v["tls"]["secret"]["name"] if v["tls"]["mode"] == "secret" else f"{svc_name}-tls"
    f.check(vols.get("tls", {}).get("secret", {}).get("secretName") == want_secret, "tls volume is not the serving certificate Secret")
    env = {e["name"]: e for e in c.get("env", [])}
    if v["scaleOut"]["enabled"]:
        d_verified = env.get("TESTCAR_INJECTOR_VERIFIED_DIR", {}).get("value", "")
        f.check("verified" in mounts and d_verified == mounts["verified"], "TESTCAR_INJECTOR_VERIFIED_DIR is not the verified volume's mount")
        cm = vols.get("verified", {}).get("configMap", {})
        f.check(cm.get("name") == v["scaleOut"]["configMapName"] and cm.get("optional") is True,
                "the verified volume is not the scaleOut.configMapName ConfigMap, optional")
    else:
        f.check("verified" not in vols and "TESTCAR_INJECTOR_VERIFIED_DIR" not in env, "the verified folder is mounted although scaleOut.enabled=false")
    f.check(env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace", "POD_NAMESPACE is not from the downward API")
    aff = pod.get("affinity", {}).get("podAntiAffinity", {})
    if v["affinity"]:
        f.check(pod.get("affinity") == v["affinity"], "affinity does not follow the values")
    elif v["antiAffinity"] == "soft":
        f.check("preferredDuringSchedulingIgnoredDuringExecution" in aff, "no preferred pod anti-affinity")
    elif v["antiAffinity"] == "hard":
        f.check("requiredDuringSchedulingIgnoredDuringExecution" in aff, "no required pod anti-affinity")
    else:
        f.check("affinity" not in pod, "affinity rendered although antiAffinity=none")
    pdbs = find(docs, "PodDisruptionBudget")
    want_pdb = v["podDisruptionBudget"]["enabled"] and v["replicaCount"] > 1
    f.check(len(pdbs) == (1 if want_pdb else 0), f"{len(pdbs)} PodDisruptionBudgets rendered, expected {int(want_pdb)}")
    if pdbs:
        f.check(pdbs[0]["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"], "PDB does not select the injector pods")
    svcs = find(docs, "Service")
    f.check(len(svcs) == 1, "expected one Service")
    if svcs:
        https = [p for p in svcs[0]["spec"]["ports"] if p["name"] == "https"]
        f.check(https and https[0]["port"] == v["service"]["port"] and https[0]["targetPort"] == "https", "Service does not map service.port to the https container port")
        f.check(svcs[0]["spec"]["selector"] == spec["selector"]["matchLabels"], "Service does not select the injector pods")
    # Least privilege: the injector's ServiceAccount is bound to nothing.
    sa = pod.get("serviceAccountName")
    for rb in find(docs, "RoleBinding") + find(docs, "ClusterRoleBinding"):
        for s in rb.get("subjects", []):
            f.check(not (s.get("kind") == "ServiceAccount" and s.get("name") == sa), f"{name_of(rb)} grants the injector's ServiceAccount API access")


def check_verified_rbac(f: Failures, docs: list[dict], v: dict, ns: str) -> None:
    """The gate may get and patch the one ConfigMap of verified ReplicaSets, nothing else."""
    g = v["gate"]
    roles = [r for r in find(docs, "Role") if r["metadata"]["name"].endswith("-gate-verified")]
    bindings = [b for b in find(docs, "RoleBinding") if b["metadata"]["name"].endswith("-gate-verified")]
    want = g["rbac"]["create"] and g["rbac"]["markVerified"] and v["scaleOut"]["enabled"]
    f.check(len(roles) == len(bindings) == (1 if want else 0), f"{len(roles)} gate-verified Roles rendered, expected {int(want)}")
    for role in roles:
        f.check(role["metadata"]["namespace"] == ns, "the gate-verified Role is not in the release namespace")
        f.check(role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [v["scaleOut"]["configMapName"]], "verbs": ["get", "patch"]}],
                f"{name_of(role)} rules are {role['rules']}")
    sa_ns = g["serviceAccount"]["namespace"] or ns
    for b in bindings:
        f.check(b["subjects"][0] == {"kind": "ServiceAccount", "name": g["serviceAccount"]["name"], "namespace": sa_ns}, f"{name_of(b)} does not bind the gate ServiceAccount")
        f.check(b["subjects"][1:] == g["extraSubjects"], f"{name_of(b)} extra subjects {b['subjects'][1:]}")
    cms = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"] == v["scaleOut"]["configMapName"]]
    f.check(len(cms) == (1 if v["scaleOut"]["enabled"] else 0), "the verified ConfigMap does not follow scaleOut.enabled")
    for cm in cms:
        # No data: Helm upgrades must leave the gate's keys alone.
        f.check("data" not in cm and cm["metadata"]["namespace"] == ns, "the verified ConfigMap renders data or sits outside the release namespace")


def component(d: dict) -> str:
    return d.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component", "")


def check_gate_rbac(f: Failures, docs: list[dict], v: dict, ns: str) -> None:
    g = v["gate"]
    check_verified_rbac(f, docs, v, ns)
    roles = [r for r in find(docs, "Role") if not r["metadata"]["name"].endswith("-gate-verified") and component(r) != "agent"]
    bindings = [b for b in find(docs, "RoleBinding") if not b["metadata"]["name"].endswith("-gate-verified") and component(b) != "agent"]
    if not g["rbac"]["create"]:
        f.check(not roles and not bindings, "gate Roles rendered although gate.rbac.create=false")
        return
    want_ns = g["rbac"]["namespaces"] or [ns]
    f.check(sorted(r["metadata"]["namespace"] for r in roles) == sorted(want_ns), "gate Roles are not one per gate.rbac.namespaces")
    want_rules = {
        ("", "pods"): {"get", "list"},  # the gate polls; it never watches
        ("", "pods/log"): {"get"},
        **({("", "pods/proxy"): {"get"}} if g["rbac"].get("podProxy") else {}),
        ("apps", "replicasets"): {"get", "list"},
        ("apps", "deployments"): {"get", "list"} | ({"update"} if g["rbac"].get("rollback") else set()),
        ("apps", "statefulsets"): {"get"},
    }
    for role in roles:
        got: dict = {}
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    got.setdefault((group, res), set()).update(rule["verbs"])
        f.check(got == want_rules, f"{name_of(role)} rules are {got}")
    sa_ns = g["serviceAccount"]["namespace"] or ns
    for b in bindings:
        subj = b["subjects"]
        f.check(subj[0] == {"kind": "ServiceAccount", "name": g["serviceAccount"]["name"], "namespace": sa_ns}, f"{name_of(b)} does not bind the gate ServiceAccount")
        f.check(subj[1:] == g["extraSubjects"], f"{name_of(b)} extra subjects {subj[1:]}")
    sas = [s for s in find(docs, "ServiceAccount") if s["metadata"]["name"] == g["serviceAccount"]["name"]]
    f.check(len(sas) == (1 if g["serviceAccount"]["create"] else 0), "gate ServiceAccount creation does not follow gate.serviceAccount.create")


def check_pod_faults_rbac(f: Failures, docs: list[dict], v: dict) -> None:
    """faults.pods: one Role and RoleBinding per namespace of the listed service accounts,
    with exactly the rules pod faults use (delete only with allowDelete), bound to exactly
    those service accounts; nothing when off."""
    p = v["faults"]["pods"]
    roles = [r for r in find(docs, "Role") if component(r) == "agent"]
    bindings = [b for b in find(docs, "RoleBinding") if component(b) == "agent"]
    if not p["enabled"]:
        f.check(not roles and not bindings, "pod-fault Roles rendered although faults.pods.enabled=false")
        return
    want_ns = sorted({sa["namespace"] for sa in p["serviceAccounts"]})
    f.check(sorted(r["metadata"]["namespace"] for r in roles) == want_ns, f"pod-fault Roles are not one per namespace of faults.pods.serviceAccounts {want_ns}")
    want_rules = {
        ("", "pods"): {"get", "list"} | ({"delete"} if p["allowDelete"] else set()),
        ("", "pods/eviction"): {"create"},
        ("policy", "poddisruptionbudgets"): {"get", "list"},
    }
    for role in roles:
        got: dict = {}
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    got.setdefault((group, res), set()).update(rule["verbs"])
        f.check(got == want_rules, f"{name_of(role)} rules are {got}, expected {want_rules}")
        f.check(not any("watch" in v or "*" in v for v in got.values()), f"{name_of(role)} grants watch or *")
    for b in bindings:
        ns = b["metadata"]["namespace"]
        want = sorted({sa["name"] for sa in p["serviceAccounts"] if sa["namespace"] == ns})
        got = sorted(s["name"] for s in b["subjects"] if s["kind"] == "ServiceAccount" and s["namespace"] == ns)
        f.check(got == want and len(b["subjects"]) == len(want), f"{name_of(b)} binds {b['subjects']}, expected the service accounts {want} of {ns}")
        f.check(b["roleRef"]["name"] in [r["metadata"]["name"] for r in roles if r["metadata"]["namespace"] == ns], f"{name_of(b)} refers to no pod-fault Role of {ns}")


def check_network_policies(f: Failures, docs: list[dict], v: dict, ns: str) -> None:
    """The opt-in policies select what they say, open the agent's port only to the named
    peers, and (allowOtherPorts) every other port of every protocol exactly once."""
    pols = find(docs, "NetworkPolicy")
    npv = v["networkPolicy"]
    inj = [p for p in pols if p["metadata"]["labels"].get("app.kubernetes.io/component") == "injector"]
    agent = [p for p in pols if p["metadata"]["labels"].get("app.kubernetes.io/component") == "agent"]
    f.check(len(inj) == (1 if npv["injector"]["enabled"] else 0), "injector NetworkPolicy does not follow networkPolicy.injector.enabled")
    for p in inj:
        f.check(p["metadata"]["namespace"] == ns, "injector NetworkPolicy is not in the release namespace")
        f.check(p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "injector", "injector NetworkPolicy does not select the injector")
        rules = {r["ports"][0]["port"]: r.get("from") for r in p["spec"]["ingress"]}
        f.check(rules.get(v["webhookPort"]) == (npv["injector"]["webhookFrom"] or None), f"webhook port peers {rules.get(v['webhookPort'])}")
        f.check(rules.get(v["metrics"]["port"]) == (npv["injector"]["metricsFrom"] or None), "metrics port peers")
    a = npv["agent"]
    want_ns = a["namespaces"] if a["enabled"] else []
    f.check(sorted(p["metadata"]["namespace"] for p in agent) == sorted(want_ns), "agent NetworkPolicies are not one per networkPolicy.agent.namespaces")
    port = v["agent"]["port"]
    for p in agent:
        f.check(p["spec"]["podSelector"] == {"matchLabels": {"testcar.io/injected": "true"}}, "agent NetworkPolicy does not select injected pods")
        f.check(p["spec"]["policyTypes"] == ["Ingress"], "agent NetworkPolicy restricts more than ingress")
        agent_rules = [r for r in p["spec"]["ingress"] if r["ports"] == [{"protocol": "TCP", "port": port}]]
        peers = a["apiServer"] + a["metricsFrom"]
        f.check([r.get("from") for r in agent_rules] == ([peers] if peers else []), f"agent port {port} peers {agent_rules}")
        other = [r for r in p["spec"]["ingress"] if r not in agent_rules]
        if not a["allowOtherPorts"]:
            f.check(other == [], "other ports allowed although allowOtherPorts=false")
            continue
        f.check(len(other) == 1 and "from" not in other[0], "other ports are not one rule from anywhere")
        for proto in ("TCP", "UDP", "SCTP"):
            covered = set()
            for r in other[0]["ports"]:
                if r["protocol"] == proto:
                    covered |= set(range(r["port"], r.get("endPort", r["port"]) + 1))
            f.check(covered == set(range(1, 65536)) - {port}, f"{proto}: other ports are not exactly 1-65535 but {port}")


def check_service_monitor(f: Failures, docs: list[dict], v: dict, ns: str) -> None:
    sms = find(docs, "ServiceMonitor")
    sm = v["metrics"]["serviceMonitor"]
    f.check(len(sms) == (1 if sm["enabled"] else 0), "ServiceMonitor does not follow metrics.serviceMonitor.enabled")
    if sms:
        s = sms[0]
        ep = s["spec"]["endpoints"][0]
        f.check(ep["port"] == "metrics" and ep["path"] == "/metrics", "ServiceMonitor does not scrape the metrics port's /metrics")
        svc = find(docs, "Service")[0]
        sel = s["spec"]["selector"]["matchLabels"]
        f.check(all(svc["metadata"]["labels"].get(k) == val for k, val in sel.items()), "ServiceMonitor selector does not match the Service labels")
        f.check(s["spec"]["namespaceSelector"]["matchNames"] == [ns], "ServiceMonitor does not look in the release namespace")
        for k, val in sm["labels"].items():
            f.check(s["metadata"]["labels"].get(k) == val, f"ServiceMonitor lacks label {k}")


def dashboards(docs: list[dict]) -> list[dict]:
    return [d for d in find(docs, "ConfigMap") if "grafana_dashboard" in (d["metadata"].get("labels") or {})]


def check_grafana_dashboard(f: Failures, docs: list[dict], v: dict, ns: str, chart_dir: Path) -> None:
    """The dashboard ConfigMap exists only when enabled, is labelled for the Grafana sidecar,
    sits where the values say, and embeds the chart's dashboard file unchanged."""
    gd = v["grafana"]["dashboard"]
    cms = dashboards(docs)
    f.check(len(cms) == (1 if gd["enabled"] else 0), f"{len(cms)} dashboard ConfigMaps rendered, grafana.dashboard.enabled={gd['enabled']}")
    if not cms:
        return
    cm = cms[0]
    meta = cm["metadata"]
    f.check(meta["labels"]["grafana_dashboard"] == "1", f"grafana_dashboard label is {meta['labels']['grafana_dashboard']!r}, not \"1\"")
    want_ns = gd["namespace"] or ns
    f.check(meta.get("namespace") == want_ns, f"dashboard ConfigMap is in {meta.get('namespace')}, not {want_ns}")
    annotations = meta.get("annotations") or {}
    if gd["folder"]:
        f.check(annotations.get("grafana_folder") == gd["folder"], f"grafana_folder annotation {annotations.get('grafana_folder')!r} != {gd['folder']!r}")
    else:
        f.check("grafana_folder" not in annotations, "grafana_folder annotation set although grafana.dashboard.folder is empty")
    data = cm.get("data") or {}
    f.check(set(data) == {"testcar.json"}, f"dashboard ConfigMap data keys {sorted(data)}")
    if "testcar.json" in data:
        want = json.loads((chart_dir / "dashboards/testcar.json").read_text())
        try:
            got = json.loads(data["testcar.json"])
        except json.JSONDecodeError as e:
            f.check(False, f"embedded testcar.json is not JSON: {e}")
        else:
            f.check(got == want, "embedded testcar.json differs from charts/testcar/dashboards/testcar.json")


def injector_config(docs: list[dict]) -> tuple[str, dict] | None:
    for cm in find(docs, "ConfigMap", "-injector"):
        if "config.yaml" in cm.get("data", {}):
            text = cm["data"]["config.yaml"]
            return text, yaml.safe_load(text)
    return None


# The injector config format (INTERFACES §1): the chart must render these keys and no other.
CONFIG_KEYS = {
    "agent": {
        "image", "imagePullPolicy", "allowImageOverride", "allowedRegistries", "resources",
        "nativeSidecar", "holdReadiness", "endpoints", "port", "timeout", "readyTimeout", "testsTimeout", "logFormat",
        "imagePullSecrets", "volumeSizeLimits", "extraEnv", "envFrom", "extraVolumes", "extraVolumeMounts",
        "runAsUser", "meshPortExclusion",
    },
    "kubernetesVersion": None,
    "excludeNamespaces": None,
    "onScaleOut": None,
}


def check_config(f: Failures, docs: list[dict], v: dict, app_version: str) -> None:
    found = injector_config(docs)
    f.check(found is not None, "no injector ConfigMap with config.yaml")
    if not found:
        return
    _, cfg = found
    f.check(set(cfg) == set(CONFIG_KEYS), f"config top-level keys {sorted(cfg)}")
    agent = cfg.get("agent", {})
    f.check(set(agent) == CONFIG_KEYS["agent"], f"config agent keys {sorted(agent)}")
    a = v["agent"]
    img = a["image"]
    want_image = f"{img['repository']}@{img['digest']}" if img["digest"] else f"{img['repository']}:{img['tag'] or app_version}"
    f.check(agent.get("image") == want_image, f"agent.image {agent.get('image')} != {want_image}")
    for key in ("imagePullPolicy", "allowImageOverride", "allowedRegistries", "resources", "nativeSidecar", "holdReadiness", "endpoints", "runAsUser", "meshPortExclusion", "port", "timeout", "readyTimeout", "testsTimeout", "logFormat", "imagePullSecrets", "extraEnv", "envFrom", "extraVolumes", "extraVolumeMounts"):
        f.check(agent.get(key) == a[key], f"agent.{key} {agent.get(key)!r} != values {a[key]!r}")
    # "" in the values is an unbounded volume: null in the config.
    want_limits = {k: (q or None) for k, q in a["volumeSizeLimits"].items()}
    f.check(agent.get("volumeSizeLimits") == want_limits, f"agent.volumeSizeLimits {agent.get('volumeSizeLimits')!r} != {want_limits!r}")
    f.check(cfg.get("excludeNamespaces") == v["excludeNamespaces"], "excludeNamespaces does not follow the values")
    f.check(cfg.get("onScaleOut") == v["scaleOut"]["onScaleOut"], "onScaleOut does not follow scaleOut.onScaleOut")
    f.check(re.match(r"^v?1\.[0-9]+\.[0-9]+", str(cfg.get("kubernetesVersion", ""))) is not None, f"kubernetesVersion {cfg.get('kubernetesVersion')!r} is not the cluster's version")
    deps = find(docs, "Deployment")
    if deps:
        import hashlib

        text = found[0].rstrip("\n")
        checksum = deps[0]["spec"]["template"]["metadata"]["annotations"].get("checksum/config")
        f.check(checksum == hashlib.sha256(text.encode()).hexdigest(), "checksum/config is not the sha256 of the rendered config")


def cmd_render(args: argparse.Namespace) -> int:
    values: dict = {}
    for vf in args.values:
        values = deep_merge(values, yaml.safe_load(Path(vf).read_text()) or {})
    for setting in args.set_json or []:
        key, _, raw = setting.partition("=")
        node = values
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = json.loads(raw)
    docs = load_docs(Path(args.rendered))
    chart = yaml.safe_load((Path(args.values[0]).parent / "Chart.yaml").read_text())
    ns = args.namespace
    full = values["fullnameOverride"] or (args.release if "testcar" in args.release else f"{args.release}-testcar")
    svc_name = f"{full}-injector"
    f = Failures()
    # These are placed by their own values and checked on their own.
    elsewhere = [id(d) for d in dashboards(docs)]
    for d in docs:
        meta = d.get("metadata", {})
        cluster_scoped = d["kind"] in ("MutatingWebhookConfiguration",)
        agent_policy = d["kind"] == "NetworkPolicy" and meta.get("labels", {}).get("app.kubernetes.io/component") == "agent"
        if not cluster_scoped and d["kind"] not in ("Role", "RoleBinding", "ServiceMonitor") and id(d) not in elsewhere and not agent_policy:
            f.check(meta.get("namespace") == ns, f"{name_of(d)} is not in the release namespace")
        f.check(meta.get("labels", {}).get("app.kubernetes.io/instance") == args.release, f"{name_of(d)} lacks the instance label")
    check_deployment(f, docs, values, svc_name)
    check_webhook(f, docs, values, ns, svc_name, values["service"]["port"])
    check_config(f, docs, values, chart["appVersion"])
    check_gate_rbac(f, docs, values, ns)
    check_pod_faults_rbac(f, docs, values)
    check_service_monitor(f, docs, values, ns)
    check_network_policies(f, docs, values, ns)
    check_grafana_dashboard(f, docs, values, ns, Path(args.values[0]).parent)
    return f.done(f"render {args.label or args.rendered}")


def cmd_config(args: argparse.Namespace) -> int:
    found = injector_config(load_docs(Path(args.rendered)))
    if not found:
        print(f"FAIL {args.rendered}: no injector ConfigMap with config.yaml")
        return 1
    Path(args.out).write_text(found[0])
    return 0


def leaf_paths(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        out = []
        for k, v in node.items():
            out += leaf_paths(v, f"{prefix}.{k}" if prefix else k)
        return out
    return [prefix]


def cmd_readme(args: argparse.Namespace) -> int:
    """Every leaf of values.yaml has a row in the README's values table, itself or through
    the map it belongs to (`resources` documents `resources.limits.memory`), and every row
    names a real value."""
    values = yaml.safe_load(Path(args.values).read_text())
    readme = Path(args.readme).read_text()
    rows = set(re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", readme, flags=re.M))
    leaves = leaf_paths(values)
    f = Failures()
    f.check(bool(rows), f"{args.readme} has no values table")
    for path in leaves:
        parts = path.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        f.check(bool(prefixes & rows), f"value {path} has no row in {args.readme}")
    for row in rows:
        f.check(any(leaf == row or leaf.startswith(row + ".") for leaf in leaves), f"{args.readme} documents {row}, which is not in values.yaml")
    return f.done(f"readme lists every value ({len(leaves)} leaves, {len(rows)} rows)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate")
    v.add_argument("--k8s-version")
    v.add_argument("files", nargs="+")
    r = sub.add_parser("render")
    r.add_argument("--values", action="append", required=True, help="chart values.yaml first, then overrides")
    r.add_argument("--set-json", action="append", help="KEY=JSON override, like helm --set-json")
    r.add_argument("--namespace", required=True)
    r.add_argument("--release", required=True)
    r.add_argument("--label")
    r.add_argument("rendered")
    c = sub.add_parser("config")
    c.add_argument("rendered")
    c.add_argument("out")
    m = sub.add_parser("readme")
    m.add_argument("values")
    m.add_argument("readme")
    args = p.parse_args()
    return {"validate": cmd_validate, "render": cmd_render, "config": cmd_config, "readme": cmd_readme}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
