#!/usr/bin/env python3
"""Writes charts/testcar/values.schema.json. The schema is kept as Python data so that the
shared pieces (quantities, durations, resources) are written once; run this after changing
it and commit both. tests/tools.d/30-chart.sh checks the committed file is up to date."""
import json
import sys
from pathlib import Path

QUANTITY = {
    "description": "Kubernetes resource quantity, e.g. 100m, 0.5, 64Mi",
    "oneOf": [
        {"type": "string", "pattern": r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$"},
        {"type": "number", "minimum": 0},
    ],
}
RESOURCE_LIST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY},
}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST},
}
# The injector's config takes cpu, memory and ephemeral-storage for the agent container.
AGENT_RESOURCE_LIST = {"type": "object", "additionalProperties": False, "properties": {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY}}
# An emptyDir sizeLimit of the agent's volumes; "" leaves the volume unbounded.
SIZE_LIMIT = {"anyOf": [{"const": ""}, QUANTITY]}
AGENT_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"requests": AGENT_RESOURCE_LIST, "limits": AGENT_RESOURCE_LIST},
}
# Testcar durations (crates/testcar-contract/src/duration.rs): seconds or number+unit groups.
TESTCAR_DURATION = {
    "type": "string",
    "pattern": r"^([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)? ?(ms|s|m|h))+)$",
    "not": {"pattern": r"^(0+(\.0*)? ?(ms|s|m|h)?)+$"},
    "description": "e.g. 90s, 10m, 1h30m; not zero",
}
GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
PROM_DURATION = {"type": "string", "pattern": r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$", "minLength": 2}
DNS_LABEL = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
DNS_SUBDOMAIN = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "maxLength": 253}
LABEL_KEY = {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT = {"type": "object"}
ARRAY_OF_OBJECTS = {"type": "array", "items": {"type": "object"}}
BOOL = {"type": "boolean"}
STR = {"type": "string"}
PULL_POLICY = {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}
IMAGE_REPO = {"type": "string", "minLength": 1, "pattern": r"^[^\s:@]+(:[0-9]+)?[^\s:@]*$"}
IMAGE_TAG = {"type": "string", "pattern": r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"}
DIGEST = {"type": "string", "pattern": r"^(sha256:[a-f0-9]{64})?$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def obj(props, required=None, extra=False, description=None):
    o = {"type": "object", "additionalProperties": extra, "properties": props}
    if required:
        o["required"] = required
    if description:
        o["description"] = description
    return o


LABEL_SELECTOR = obj(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": obj(
                {
                    "key": LABEL_KEY,
                    "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": STR},
                },
                required=["key", "operator"],
            ),
        },
    }
)

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Values of the Testcar chart",
    **obj(
        {
            "global": OBJECT,
            "nameOverride": STR,
            "fullnameOverride": STR,
            "commonLabels": STRING_MAP,
            "image": obj(
                {"repository": IMAGE_REPO, "tag": IMAGE_TAG, "digest": DIGEST, "pullPolicy": PULL_POLICY},
                required=["repository"],
            ),
            "imagePullSecrets": {"type": "array", "items": obj({"name": DNS_SUBDOMAIN}, required=["name"])},
            "replicaCount": {"type": "integer", "minimum": 1},
            "antiAffinity": {"type": "string", "enum": ["soft", "hard", "none"]},
            "affinity": OBJECT,
            "nodeSelector": STRING_MAP,
            "tolerations": ARRAY_OF_OBJECTS,
            "topologySpreadConstraints": ARRAY_OF_OBJECTS,
            "priorityClassName": STR,
            "drainDelaySeconds": {"type": "integer", "minimum": 0, "maximum": 60},
            "shutdownGraceSeconds": {"type": "integer", "minimum": 1, "maximum": 60},
            "podAnnotations": STRING_MAP,
            "podLabels": STRING_MAP,
            "resources": RESOURCES,
            "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}},
            "logFormat": {"type": "string", "enum": ["json", "text", "auto"]},
            "logLevel": {"type": "string", "minLength": 1},
            "podDisruptionBudget": obj(
                {
                    "enabled": BOOL,
                    "minAvailable": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]{1,3}%$"}]},
                }
            ),
            "service": obj({"port": PORT, "annotations": STRING_MAP}),
            "metrics": obj(
                {
                    "port": {**PORT, "not": {"enum": [8443]}},
                    "serviceMonitor": obj(
                        {
                            "enabled": BOOL,
                            "interval": PROM_DURATION,
                            "scrapeTimeout": PROM_DURATION,
                            "labels": STRING_MAP,
                            "namespace": {"anyOf": [{"const": ""}, DNS_LABEL]},
                        }
                    ),
                }
            ),
            "serviceAccount": obj({"create": BOOL, "name": {"anyOf": [{"const": ""}, DNS_SUBDOMAIN]}, "annotations": STRING_MAP}),
            "webhook": {
                **obj(
                {
                    "failurePolicy": {"type": "string", "enum": ["Ignore", "Fail"]},
                    "onlyTestcarPods": BOOL,
                    "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 30},
                    "reinvocationPolicy": {"type": "string", "enum": ["IfNeeded", "Never"]},
                    "matchPolicy": {"type": "string", "enum": ["Equivalent", "Exact"]},
                    "namespaceOptIn": obj({"enabled": BOOL, "label": LABEL_KEY, "value": {"type": "string", "pattern": r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", "maxLength": 63}}),
                    "objectSelector": LABEL_SELECTOR,
                    "annotations": STRING_MAP,
                }
                ),
                # With Fail, every pod in scope depends on the injector: a cluster-wide scope
                # would make CNI or cert-manager pods wait on it (and it on them).
                "if": {"properties": {"failurePolicy": {"const": "Fail"}}, "required": ["failurePolicy"]},
                "then": {
                    "description": "failurePolicy Fail needs webhook.namespaceOptIn.enabled or a webhook.objectSelector",
                    "anyOf": [
                        {"properties": {"namespaceOptIn": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}}, "required": ["namespaceOptIn"]},
                        {"properties": {"objectSelector": {"minProperties": 1}}, "required": ["objectSelector"]},
                    ],
                },
            },
            "tls": {
                **obj(
                    {
                        "mode": {"type": "string", "enum": ["helm", "certManager", "secret"]},
                        "helm": obj({"validityDays": {"type": "integer", "minimum": 1, "maximum": 36500}, "rotate": BOOL}),
                        "certManager": obj(
                            {
                                "issuerRef": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string", "minLength": 1},
                                        "kind": {"type": "string", "minLength": 1},
                                        "group": {"type": "string", "minLength": 1},
                                    },
                                    "if": {"minProperties": 1},
                                    "then": {"required": ["name"]},
                                },
                                "duration": GO_DURATION,
                                "renewBefore": GO_DURATION,
                            }
                        ),
                        "secret": obj({"name": {"anyOf": [{"const": ""}, DNS_SUBDOMAIN]}, "caBundle": {"type": "string", "pattern": r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}}),
                    }
                ),
                "if": {"properties": {"mode": {"const": "secret"}}, "required": ["mode"]},
                "then": {
                    "properties": {
                        "secret": {
                            "required": ["name", "caBundle"],
                            "properties": {"name": {"minLength": 1}, "caBundle": {"minLength": 1}},
                        }
                    },
                    "required": ["secret"],
                },
            },
            "webhookPort": PORT,
            "hostNetwork": BOOL,
            "excludeNamespaces": {"type": "array", "items": DNS_LABEL, "uniqueItems": True},
            "agent": obj(
                {
                    "image": obj({"repository": IMAGE_REPO, "tag": IMAGE_TAG, "digest": DIGEST}, required=["repository"]),
                    "imagePullPolicy": PULL_POLICY,
                    "allowImageOverride": BOOL,
                    "allowedRegistries": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "resources": AGENT_RESOURCES,
                    "nativeSidecar": BOOL,
                    "holdReadiness": BOOL,
                    "runAsUser": {"type": ["integer", "null"], "minimum": 1},
                    "meshPortExclusion": {"type": "string", "enum": ["auto", "always", "never"]},
                    "endpoints": obj({k: {"type": "string", "enum": ["off", "local", "token", "open"]} for k in ("result", "report", "metrics")}),
                    "port": PORT,
                    "timeout": TESTCAR_DURATION,
                    "readyTimeout": TESTCAR_DURATION,
                    "testsTimeout": TESTCAR_DURATION,
                    "logFormat": {"type": "string", "enum": ["json", "text"]},
                    "imagePullSecrets": {"type": "array", "items": DNS_SUBDOMAIN},
                    "volumeSizeLimits": obj({"tests": SIZE_LIMIT, "results": SIZE_LIMIT, "tmp": SIZE_LIMIT}),
                    # Kubernetes objects, checked in full by the injector (--check-config) and
                    # the API server; the schema catches the usual slip, a missing name.
                    "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}},
                    "envFrom": ARRAY_OF_OBJECTS,
                    "extraVolumes": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": DNS_LABEL}}},
                    "extraVolumeMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath"], "properties": {"name": DNS_LABEL, "mountPath": {"type": "string", "pattern": "^/"}}}},
                }
            ),
            "networkPolicy": obj(
                {
                    "injector": obj({"enabled": BOOL, "webhookFrom": ARRAY_OF_OBJECTS, "metricsFrom": ARRAY_OF_OBJECTS}),
                    "agent": {
                        **obj(
                            {
                                "enabled": BOOL,
                                "namespaces": {"type": "array", "items": DNS_LABEL, "uniqueItems": True},
                                "apiServer": ARRAY_OF_OBJECTS,
                                "metricsFrom": ARRAY_OF_OBJECTS,
                                "allowOtherPorts": BOOL,
                            }
                        ),
                        # Enabled with no namespace would create nothing and protect nobody.
                        "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
                        "then": {"properties": {"namespaces": {"minItems": 1}}},
                    },
                }
            ),
            "scaleOut": obj(
                {
                    "enabled": BOOL,
                    "configMapName": DNS_SUBDOMAIN,
                    "onScaleOut": {"type": "string", "enum": ["none", "smoke", "all"]},
                }
            ),
            "gate": obj(
                {
                    "rbac": obj({"create": BOOL, "rollback": BOOL, "podProxy": BOOL, "markVerified": BOOL, "namespaces": {"type": "array", "items": DNS_LABEL, "uniqueItems": True}}),
                    "serviceAccount": obj({"create": BOOL, "name": DNS_SUBDOMAIN, "namespace": {"anyOf": [{"const": ""}, DNS_LABEL]}}),
                    "extraSubjects": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["kind", "name"],
                            "properties": {
                                "kind": {"type": "string", "enum": ["User", "Group", "ServiceAccount"]},
                                "name": {"type": "string", "minLength": 1},
                                "namespace": STR,
                                "apiGroup": STR,
                            },
                            "additionalProperties": False,
                        },
                    },
                }
            ),
            "faults": obj(
                {
                    "pods": {
                        **obj(
                            {
                                "enabled": BOOL,
                                "allowDelete": BOOL,
                                "serviceAccounts": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["namespace", "name"],
                                        "properties": {"namespace": DNS_LABEL, "name": DNS_SUBDOMAIN},
                                        "additionalProperties": False,
                                    },
                                },
                            }
                        ),
                        # Enabled with nobody to bind would create Roles for no one.
                        "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
                        "then": {"properties": {"serviceAccounts": {"minItems": 1}}},
                    }
                }
            ),
            "grafana": obj(
                {
                    "dashboard": obj(
                        {
                            "enabled": BOOL,
                            "namespace": {"anyOf": [{"const": ""}, DNS_LABEL]},
                            # Becomes the grafana_folder annotation: any text, empty for none.
                            "folder": STR,
                        }
                    )
                }
            ),
        }
    ),
}


def main() -> int:
    out = Path(__file__).resolve().parents[2] / "charts/testcar/values.schema.json"
    text = json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        if out.read_text() != text:
            print(f"{out} is out of date: run python3 tests/chart/gen_schema.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
