#!/usr/bin/env python3
"""The GitLab template (testcar-gate.yml) and the example pipeline, checked two ways:

1. against GitLab's CI JSON Schema (the copy check-jsonschema vendors from gitlab-org/gitlab,
   `--builtin-schema vendor.gitlab-ci`): the spec header, the job as written, the job as
   GitLab renders it with inputs, and example.gitlab-ci.yml;
2. the job's script run locally as the runner would (bash, the job's variables, the inputs
   interpolated) with the fake testcar-gate playing back recorded scenarios: exit codes (77
   for an allowed gate error, which allow_failure:exit_codes accepts), the JUnit where
   artifacts:reports:junit looks for it, the summary in the log.

    python3 integrations/gitlab/test_gitlab.py
"""
import hashlib
import json
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "testdata")
FAKE = os.path.join(TESTDATA, "fake-testcar-gate")
TEMPLATE = os.path.join(HERE, "testcar-gate.yml")
EXAMPLE = os.path.join(HERE, "example.gitlab-ci.yml")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def documents():
    header, job = read(TEMPLATE).split("\n---\n", 1)
    return header, job


def spec_inputs():
    return yaml.safe_load(documents()[0])["spec"]["inputs"]


def render(inputs):
    """The job document with $[[ inputs.x ]] replaced as GitLab does (defaults, then given)."""
    spec = spec_inputs()
    values = {name: s.get("default") for name, s in spec.items()}
    values.update(inputs)
    missing = [n for n, v in values.items() if v is None]
    assert not missing, f"inputs without default not given: {missing}"

    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    job = re.sub(r"\$\[\[ inputs\.([a-z-]+) \]\]", lambda m: text(values[m.group(1)]), documents()[1])
    unknown = re.findall(r"\$\[\[[^\]]*\]\]", job)
    assert not unknown, unknown
    return yaml.safe_load(job)


def check_jsonschema(path):
    p = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", path],
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


class Schema(unittest.TestCase):
    def validate(self, name, text):
        d = tempfile.mkdtemp()
        path = os.path.join(d, name)
        write(path, text)
        code, out = check_jsonschema(path)
        self.assertEqual(code, 0, f"{name}: {out}")

    def test_header_job_rendered_job_and_example_are_valid(self):
        header, job = documents()
        self.validate("header.yml", header)
        self.validate("job.yml", job)
        rendered = render({"namespace": "shop", "workload": "orders", "stage": "verify"})
        self.validate("rendered.yml", yaml.safe_dump(rendered))
        self.validate("example.gitlab-ci.yml", read(EXAMPLE))

    def test_the_schema_is_not_a_pushover(self):
        # the same check rejects what GitLab would reject
        bad = render({"namespace": "shop", "workload": "orders"})
        bad["testcar-gate"]["artifacts"]["reports"]["junit"] = {"path": "x"}
        d = tempfile.mkdtemp()
        write(os.path.join(d, "bad.yml"), yaml.safe_dump(bad))
        code, _ = check_jsonschema(os.path.join(d, "bad.yml"))
        self.assertNotEqual(code, 0)

    def test_junit_report_and_allowed_exit_code_are_wired(self):
        job = render({"namespace": "shop", "workload": "orders", "junit-path": "out/tests.xml"})["testcar-gate"]
        self.assertEqual(job["artifacts"]["reports"]["junit"], "out/tests.xml")
        self.assertEqual(job["artifacts"]["when"], "always")
        self.assertIn("testcar/summary.md", job["artifacts"]["paths"])
        self.assertEqual(job["allow_failure"], {"exit_codes": [77]})
        # every input is used
        for name in spec_inputs():
            self.assertIn(f"$[[ inputs.{name} ]]", documents()[1], name)
        # the default gate is the workspace's release
        cargo = read(os.path.join(HERE, "..", "..", "Cargo.toml"))
        version = re.search(r'\[workspace\.package\][^\[]*?\nversion = "([^"]+)"', cargo).group(1)
        self.assertEqual(spec_inputs()["gate-version"]["default"], version)
        self.assertIn(f"/v{version}/integrations/gitlab/testcar-gate.yml", read(EXAMPLE))
        # the example's inputs are the template's
        for inc in yaml.safe_load(read(EXAMPLE))["include"]:
            self.assertLessEqual(set(inc["inputs"]), set(spec_inputs()))


def run_job(inputs, scenario, env=None):
    job = render({"namespace": "shop", "workload": "orders", "gate-path": FAKE, **inputs})
    name = next(iter(job))
    spec = job[name]
    build = tempfile.mkdtemp(prefix="testcar-gitlab-")
    args_file = os.path.join(build, "args.json")
    e = {k: v for k, v in os.environ.items()}
    e.update({k: str(v) for k, v in spec["variables"].items()})
    e.update(TESTCAR_FAKE_SCENARIO=scenario, TESTCAR_FAKE_DIR=TESTDATA, TESTCAR_FAKE_ARGS_FILE=args_file,
             CI="true", GITLAB_CI="true")
    e.update(env or {})
    script = "\n".join(spec["script"])
    p = subprocess.run(["bash", "-c", script], cwd=build, env=e, capture_output=True, text=True, timeout=120)
    args = json.loads(read(args_file))["args"] if os.path.exists(args_file) else None
    return p, build, args, spec


class Job(unittest.TestCase):
    def test_passed(self):
        p, build, args, spec = run_job({}, "passed")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(build, spec["artifacts"]["reports"]["junit"])))
        self.assertIn("## Testcar gate: ✅ PASSED", p.stdout)
        self.assertEqual(args[:8], ["--namespace", "shop", "--deployment", "orders", "--timeout", "10m", "--min-pods", "1"])
        # by default the gate marks a passed ReplicaSet verified in its own default ConfigMap
        self.assertNotIn("--verified-configmap", args)
        self.assertNotIn("--no-mark-verified", args)

    def test_verified_configmap_and_mark_verified_reach_the_gate(self):
        p, _, args, _ = run_job({"verified-configmap": "platform/testcar-verified"}, "passed")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(args[args.index("--verified-configmap") + 1], "platform/testcar-verified")
        self.assertNotIn("--no-mark-verified", args)
        p, _, args, _ = run_job({"mark-verified": False}, "passed")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("--no-mark-verified", args)
        self.assertNotIn("--verified-configmap", args)

    def test_bad_verified_configmap_or_mark_verified_stops_before_the_gate(self):
        expected = ("expected NAMESPACE/NAME of a ConfigMap (namespace a DNS label, name a DNS subdomain), "
                    "e.g. testcar-system/testcar-verified")
        for value in ["testcar-verified", "Platform/testcar-verified", "platform/testcar/verified",
                      "a.b/testcar-verified", "platform/-verified", "x" * 64 + "/testcar-verified"]:
            p, _, args, _ = run_job({"verified-configmap": value}, "passed")
            self.assertEqual(p.returncode, 2, value)
            self.assertIn(f"verified-configmap '{value}': {expected}", p.stderr)
            self.assertIsNone(args, "the gate must not run")
        # GitLab refuses a non-boolean for a boolean input; the script refuses it too
        p, _, args, _ = run_job({"mark-verified": "sometimes"}, "passed")
        self.assertEqual(p.returncode, 2)
        self.assertIn("mark-verified 'sometimes': expected true or false", p.stderr)
        self.assertIsNone(args)

    def test_failed_fails_even_when_gate_errors_are_allowed(self):
        p, build, args, _ = run_job({"allow-gate-error": True, "rollback": True, "fail-fast": True,
                                     "kube-context": "shop/platform:aks"}, "failed")
        self.assertEqual(p.returncode, 1)
        self.assertIn("| orders-7c9f8d6b5-8mn4p | ❌ failed |", p.stdout)
        self.assertIn("--rollback", args)
        self.assertIn("--fail-fast", args)
        self.assertEqual(args[args.index("--context") + 1], "shop/platform:aks")

    def test_timeout_fails_or_is_allowed_to_fail(self):
        p, *_ = run_job({}, "timeout")
        self.assertEqual(p.returncode, 2)
        self.assertIn("**Error:** timed out after 5s", p.stdout)
        p, *_ = run_job({"allow-gate-error": True}, "timeout")
        self.assertEqual(p.returncode, 77)
        self.assertIn("exit 77 (allowed to fail)", p.stdout)

    def test_a_pod_that_could_not_test_is_a_gate_error(self):
        p, *_ = run_job({}, "error")
        self.assertEqual(p.returncode, 2)
        self.assertIn("**Error:** pod orders-7c9f8d6b5-2xkqz could not test", p.stdout)
        p, *_ = run_job({"allow-gate-error": True}, "error")
        self.assertEqual(p.returncode, 77)

    def test_bad_kubeconfig_is_a_gate_error(self):
        p, build, _, _ = run_job({}, "bad-kubeconfig")
        self.assertEqual(p.returncode, 2)
        self.assertIn("failed to parse kubeconfig YAML", p.stdout)
        self.assertTrue(os.path.isfile(os.path.join(build, "testcar/junit.xml")))

    def test_download_checks_the_sha256(self):
        root = tempfile.mkdtemp()
        rel = os.path.join(root, "v0.1.0")
        os.makedirs(rel)
        arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[os.uname().machine]
        asset = os.path.join(rel, f"testcar-gate-linux-{arch}")
        shutil.copy(FAKE, asset)
        write(os.path.join(rel, "sha256sums.txt"),
              f"{hashlib.sha256(read(asset, 'rb')).hexdigest()}  testcar-gate-linux-{arch}\n")

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=root, **kw)

            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            p, *_ = run_job({"gate-path": "", "gate-release-url": url}, "passed")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            write(asset, "\n# tampered\n", "a")
            p, _, args, _ = run_job({"gate-path": "", "gate-release-url": url}, "passed")
            self.assertEqual(p.returncode, 2)
            self.assertIn("checksum mismatch", p.stderr)
            self.assertIsNone(args)
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
