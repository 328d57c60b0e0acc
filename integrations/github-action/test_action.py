#!/usr/bin/env python3
"""The Testcar gate action run locally the way the runner runs it: action.yml's step with its
env (every input mapped to INPUT_*, defaults from action.yml), GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY as files, RUNNER_TEMP, GITHUB_ACTION_PATH. testcar-gate is the fake one
playing back recorded gate scenarios (integrations/testdata). Asserts the step's exit code, the
outputs, the job summary, the annotations and the arguments the gate got.

    python3 integrations/github-action/test_action.py
"""
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "testdata")
FAKE = os.path.join(TESTDATA, "fake-testcar-gate")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


ACTION = yaml.safe_load(read(os.path.join(HERE, "action.yml")))
STEP = ACTION["runs"]["steps"][0]


def parse_output_file(path):
    """$GITHUB_OUTPUT: name=value lines (the action writes single-line values)."""
    out = {}
    for line in read(path).splitlines():
        name, _, value = line.partition("=")
        out[name] = value
    return out


def run_action(inputs, scenario=None, extra_env=None, ref=""):
    tmp = tempfile.mkdtemp(prefix="testcar-gha-")
    gh_out = os.path.join(tmp, "github_output")
    gh_sum = os.path.join(tmp, "step_summary")
    write(gh_out, "")
    write(gh_sum, "# Deploy\n\n")
    given = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    for name, value in inputs.items():
        assert name in ACTION["inputs"], f"{name} is not an input of action.yml"
        given[name] = value
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    # the step's env block, with ${{ inputs.x }} and ${{ github.action_ref }} as the runner fills them
    for key, expr in STEP["env"].items():
        m = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", expr)
        if m:
            env[key] = str(given[m.group(1)])
        elif expr == "${{ github.action_ref }}":
            env[key] = ref
        else:
            raise AssertionError(f"unexpected env expression {expr}")
    args_file = os.path.join(tmp, "args.json")
    env.update(
        GITHUB_OUTPUT=gh_out,
        GITHUB_STEP_SUMMARY=gh_sum,
        RUNNER_TEMP=tmp,
        GITHUB_ACTION_PATH=HERE,
        TESTCAR_FAKE_SCENARIO=scenario or "",
        TESTCAR_FAKE_ARGS_FILE=args_file,
        TESTCAR_FAKE_DIR=TESTDATA,
    )
    env.update(extra_env or {})
    assert STEP["shell"] == "bash"
    p = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", STEP["run"]],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=120,
    )
    args = json.loads(read(args_file)) if os.path.exists(args_file) else None
    return {
        "code": p.returncode,
        "stdout": p.stdout,
        "stderr": p.stderr,
        "outputs": parse_output_file(gh_out),
        "summary": read(gh_sum),
        "args": args["args"] if args else None,
        "tmp": tmp,
    }


BASE = {"namespace": "shop", "workload": "orders", "gate-path": FAKE}


class Action(unittest.TestCase):
    def test_every_input_reaches_the_script(self):
        mapped = {re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", v).group(1)
                  for k, v in STEP["env"].items() if k.startswith("INPUT_")}
        self.assertEqual(mapped, set(ACTION["inputs"]))
        for k, v in STEP["env"].items():
            if k.startswith("INPUT_"):
                self.assertEqual(k, "INPUT_" + v[len("${{ inputs."):-3].upper().replace("-", "_"))
        self.assertEqual(set(ACTION["outputs"]),
                         {"status", "exit-code", "junit-path", "result-json", "summary-markdown"})

    def test_passed(self):
        r = run_action(BASE, "passed")
        self.assertEqual(r["code"], 0, r["stdout"] + r["stderr"])
        o = r["outputs"]
        self.assertEqual(o["status"], "passed")
        self.assertEqual(o["exit-code"], "0")
        self.assertEqual(o["junit-path"], "testcar/junit.xml")
        self.assertTrue(os.path.isfile(os.path.join(r["tmp"], "testcar/junit.xml")))
        self.assertEqual(json.loads(read(o["result-json"]))["status"], "passed")
        self.assertTrue(r["summary"].startswith("# Deploy\n\n## Testcar gate: ✅ PASSED"), r["summary"])
        self.assertEqual(r["args"][:8], ["--namespace", "shop", "--deployment", "orders",
                                         "--timeout", "10m", "--min-pods", "1"])
        self.assertNotIn("--kubeconfig", r["args"])
        # by default the gate marks a passed ReplicaSet verified in its own default ConfigMap
        self.assertNotIn("--verified-configmap", r["args"])
        self.assertNotIn("--no-mark-verified", r["args"])
        self.assertIn("::group::testcar-gate --namespace shop", r["stdout"])

    def test_verified_configmap_and_mark_verified_reach_the_gate(self):
        r = run_action({**BASE, "verified-configmap": "platform/testcar-verified"}, "passed")
        self.assertEqual(r["code"], 0, r["stdout"] + r["stderr"])
        i = r["args"].index("--verified-configmap")
        self.assertEqual(r["args"][i + 1], "platform/testcar-verified")
        self.assertNotIn("--no-mark-verified", r["args"])
        r = run_action({**BASE, "mark-verified": "false"}, "passed")
        self.assertEqual(r["code"], 0, r["stdout"] + r["stderr"])
        self.assertIn("--no-mark-verified", r["args"])
        self.assertNotIn("--verified-configmap", r["args"])

    def test_failed_fails_the_step_with_the_table_in_the_summary(self):
        r = run_action({**BASE, "rollback": "true", "fail-fast": "true", "fail-on-error": "false"}, "failed")
        self.assertEqual(r["code"], 1)
        self.assertEqual(r["outputs"]["status"], "failed")
        self.assertEqual(r["outputs"]["exit-code"], "1")
        self.assertIn("::error title=Testcar gate::a pod's tests did not pass", r["stdout"])
        self.assertIn("| orders-7c9f8d6b5-8mn4p | ❌ failed | 1/2 | 2/5 | 61.0s |", r["summary"])
        self.assertIn("| orders-7c9f8d6b5-8mn4p | load | vusers.failed == 0 | failed | expected == 0, observed 50 |",
                      r["summary"])
        self.assertIn("--rollback", r["args"])
        self.assertIn("--fail-fast", r["args"])

    def test_timeout_fails_by_default_or_warns(self):
        r = run_action(BASE, "timeout")
        self.assertEqual(r["code"], 2)
        self.assertEqual(r["outputs"]["status"], "error")
        self.assertIn("::error title=Testcar gate::could not judge the rollout (exit 2): timed out after 5s", r["stdout"])
        self.assertIn("**Error:** timed out after 5s", r["summary"])
        r = run_action({**BASE, "fail-on-error": "false"}, "timeout")
        self.assertEqual(r["code"], 0)
        self.assertEqual(r["outputs"]["status"], "error")
        self.assertIn("::warning title=Testcar gate::could not judge", r["stdout"])

    def test_a_pod_that_could_not_test_is_a_gate_error(self):
        r = run_action(BASE, "error")
        self.assertEqual(r["code"], 2)
        self.assertEqual(r["outputs"]["status"], "error")
        self.assertIn("(exit 2): pod orders-7c9f8d6b5-2xkqz could not test: target never became ready", r["stdout"])
        self.assertIn("| orders-7c9f8d6b5-2xkqz | ⚠️ error |", r["summary"])

    def test_bad_kubeconfig(self):
        r = run_action({**BASE, "kubeconfig": "/nonexistent/kubeconfig"}, "bad-kubeconfig")
        self.assertEqual(r["code"], 2)
        self.assertIn("kubeconfig file /nonexistent/kubeconfig does not exist", r["stdout"])
        self.assertIsNone(r["args"], "the gate must not run")
        r = run_action({**BASE, "kubeconfig-content": "this: [is not a kubeconfig", "context": "kind-shop"},
                       "bad-kubeconfig")
        self.assertEqual(r["code"], 2)
        self.assertIn("failed to parse kubeconfig YAML", r["stdout"])
        i = r["args"].index("--kubeconfig")
        written = r["args"][i + 1]
        self.assertTrue(written.startswith(r["tmp"]), written)
        self.assertFalse(os.path.exists(written), "the kubeconfig written from the secret is removed")
        self.assertEqual(r["args"][i + 2:i + 4], ["--context", "kind-shop"])
        self.assertTrue(r["summary"].endswith("Verdict: **ERROR** (exit 2).\n"), r["summary"])

    def test_missing_and_bad_inputs(self):
        for inputs, message in [
            ({**BASE, "namespace": ""}, "input required: namespace"),
            ({**BASE, "workload": ""}, "input required: workload"),
            ({**BASE, "min-pods": "0"}, "min-pods must be a whole number"),
            ({**BASE, "workload-kind": "job"}, "workload-kind 'job'"),
            ({**BASE, "workload-kind": "selector", "rollback": "true"}, "rollback works with workload-kind deployment only"),
            ({**BASE, "fail-fast": "maybe"}, "fail-fast: expected true or false, not 'maybe'"),
            ({**BASE, "mark-verified": "sometimes"}, "mark-verified: expected true or false, not 'sometimes'"),
            ({**BASE, "verified-configmap": "testcar-verified"},
             "verified-configmap 'testcar-verified': expected NAMESPACE/NAME of a ConfigMap (namespace a DNS label,"
             " name a DNS subdomain), e.g. testcar-system/testcar-verified"),
            ({**BASE, "verified-configmap": "Platform/testcar-verified"}, "verified-configmap 'Platform/testcar-verified': expected"),
            ({**BASE, "verified-configmap": "platform/testcar/verified"}, "verified-configmap 'platform/testcar/verified': expected"),
            ({**BASE, "verified-configmap": "a.b/testcar-verified"}, "verified-configmap 'a.b/testcar-verified': expected"),
        ]:
            r = run_action(inputs, "passed")
            self.assertEqual(r["code"], 2, inputs)
            self.assertIn("::error title=Testcar gate::" + message, r["stdout"])
            self.assertIsNone(r["args"])
            self.assertEqual(r["outputs"], {})

    def test_a_crashing_gate_is_not_a_verdict(self):
        r = run_action(BASE, "no-such-scenario")
        self.assertEqual(r["code"], 3)
        self.assertIn("exited with 3, not a verdict", r["stdout"])
        self.assertIn("without writing its summary", r["summary"])


class Fetch(unittest.TestCase):
    """The release download: sha256sums.txt checked, a tampered binary refused."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="testcar-release-")
        rel = os.path.join(self.root, "v0.1.0")
        os.makedirs(rel)
        self.binary = read(FAKE, "rb")
        arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[os.uname().machine]
        self.asset = os.path.join(rel, f"testcar-gate-linux-{arch}")
        write(self.asset, self.binary, "wb")
        digest = hashlib.sha256(self.binary).hexdigest()
        write(os.path.join(rel, "sha256sums.txt"), f"{digest}  testcar-gate-linux-{arch}\n")
        root = self.root

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=root, **kw)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_release_named_by_the_action_ref(self):
        cache = tempfile.mkdtemp()
        inputs = {"namespace": "shop", "workload": "orders", "gate-release-url": self.base}
        r = run_action(inputs, "passed", {"RUNNER_TOOL_CACHE": cache}, ref="v0.1.0")
        self.assertEqual(r["code"], 0, r["stdout"] + r["stderr"])
        self.assertIn(f"Fetching testcar-gate 0.1.0 from {self.base}/v0.1.0", r["stdout"])
        self.assertTrue(os.access(os.path.join(cache, "testcar-gate", "0.1.0", "testcar-gate"), os.X_OK))
        # tampered: refused, nothing installed
        write(self.asset, b"\n# tampered\n", "ab")
        cache2 = tempfile.mkdtemp()
        r = run_action({**inputs, "gate-version": "0.1.0"}, "passed", {"RUNNER_TOOL_CACHE": cache2})
        self.assertEqual(r["code"], 2)
        self.assertIn("checksum mismatch", r["stdout"])
        self.assertFalse(os.path.exists(os.path.join(cache2, "testcar-gate", "0.1.0", "testcar-gate")))
        self.assertIsNone(r["args"])

    def test_a_branch_ref_without_a_gate_says_what_to_do(self):
        env = {"PATH": "/usr/bin:/bin"}
        r = run_action({"namespace": "shop", "workload": "orders"}, "passed", env, ref="main")
        self.assertEqual(r["code"], 2)
        self.assertIn("no testcar-gate: set gate-version", r["stdout"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
