#!/usr/bin/env python3
"""docs/pipelines.md's Azure DevOps and GitLab snippets use the wrappers as they are: every
input given to TestcarGate@0 is declared in task.json (pick lists with one of their options,
booleans as booleans), every input given to the GitLab template is in its spec, and the GitLab
snippet passes GitLab's CI JSON Schema; and the "Inputs" section names every input of the three
wrappers (task.json, action.yml, the template's spec). (The vendored Azure Pipelines schema enumerates
Microsoft's tasks and refuses any other, so it cannot check a custom task's step; the GitHub
snippet goes through actionlint in tests/tools.d/45-pipelines.sh.)

    python3 integrations/check_docs_examples.py
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.environ.get("TESTCAR_PIPELINES_DOC") or os.path.join(HERE, "..", "docs", "pipelines.md")


def read(path):
    with open(path) as f:
        return f.read()


def section(title):
    text = read(DOC)
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def yaml_blocks(title):
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section(title), re.S)]


def main():
    problems = []
    task = json.loads(read(os.path.join(HERE, "azure-devops", "TestcarGateV0", "task.json")))
    declared = {i["name"]: i for i in task["inputs"]}
    for alias_owner in task["inputs"]:
        for a in alias_owner.get("aliases", []):
            declared[a] = alias_owner
    steps = [s for b in yaml_blocks("Azure DevOps") for s in (b or {}).get("steps", [])
             if s.get("task", "").startswith("TestcarGate@")]
    if not steps:
        problems.append("Azure DevOps: no TestcarGate@0 step in the snippet")
    for s in steps:
        if s["task"] != f"TestcarGate@{task['version']['Major']}":
            problems.append(f"Azure DevOps: {s['task']} is not the task's major version")
        for name, value in s.get("inputs", {}).items():
            i = declared.get(name)
            if not i:
                problems.append(f"Azure DevOps: input {name} is not in task.json")
            elif i["type"] == "pickList" and str(value) not in i["options"]:
                problems.append(f"Azure DevOps: {name}: {value} is not one of {list(i['options'])}")
            elif i["type"] == "boolean" and not isinstance(value, bool):
                problems.append(f"Azure DevOps: {name}: {value!r} is not a boolean")
        for i in task["inputs"]:
            rule = i.get("visibleRule", "")
            m = re.fullmatch(r"(\w+) = (\w+)", rule)
            visible = not m or str(s["inputs"].get(m.group(1), declared[m.group(1)].get("defaultValue"))) == m.group(2)
            if i.get("required") and "defaultValue" not in i and visible and i["name"] not in s["inputs"]:
                problems.append(f"Azure DevOps: required input {i['name']} missing")

    header = read(os.path.join(HERE, "gitlab", "testcar-gate.yml")).split("\n---\n", 1)[0]
    spec = yaml.safe_load(header)["spec"]["inputs"]
    blocks = yaml_blocks("GitLab CI")
    includes = [inc for b in blocks for inc in (b or {}).get("include", [])
                if "testcar-gate.yml" in str(inc.get("remote", inc.get("component", "")))]
    if not includes:
        problems.append("GitLab CI: no include of testcar-gate.yml in the snippet")
    for inc in includes:
        for name in inc.get("inputs", {}):
            if name not in spec:
                problems.append(f"GitLab CI: input {name} is not in the template's spec")
        for name, s in spec.items():
            if "default" not in s and name not in inc.get("inputs", {}):
                problems.append(f"GitLab CI: required input {name} missing")
    for n, b in enumerate(blocks):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump(b, f)
        p = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", f.name],
                           capture_output=True, text=True)
        os.unlink(f.name)
        if p.returncode != 0:
            problems.append(f"GitLab CI: snippet {n + 1} fails GitLab's CI schema: {p.stdout}{p.stderr}")

    inputs_section = section("Inputs")
    action = yaml.safe_load(read(os.path.join(HERE, "github-action", "action.yml")))
    for tool, names in [("Azure DevOps", [i["name"] for i in task["inputs"]]),
                        ("GitHub Actions", list(action["inputs"])), ("GitLab CI", list(spec))]:
        for name in names:
            if f"`{name}`" not in inputs_section:
                problems.append(f"{tool}: input {name} is not in docs/pipelines.md's Inputs section")

    for p in problems:
        print(p)
    print(f"docs/pipelines.md snippets: {len(steps)} Azure DevOps step(s), {len(includes)} GitLab include(s), "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
