"""Run pip-audit on the installed dependencies and say plainly what was and was not audited.

Exit 1 when a dependency has a known vulnerability that is not ignored below. PyPI's JSON API is asked
first, then OSV. When neither can be reached, or neither knows the installed versions (an offline or
partial PyPI mirror), the dependencies are NOT audited: that is printed loudly and, unless
PIP_AUDIT_REQUIRED=1, does not fail the run, since a machine without that network proves nothing either way.
"""

import json
import os
import subprocess
import sys

# Vulnerabilities accepted after review: {"ID": "why it does not apply"}. None today.
IGNORED: dict[str, str] = {}
OWN_PROJECT = "workvisit-portal"
SERVICES = ("pypi", "osv")


def _audit(service: str) -> tuple[list[dict] | None, str]:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    command += ["--vulnerability-service", service, "--timeout", "20"]
    for vuln_id in IGNORED:
        command += ["--ignore-vuln", vuln_id]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None, (result.stderr.strip().splitlines() or ["no output"])[-1]
    return [d for d in report.get("dependencies", []) if d.get("name") != OWN_PROJECT], ""


def main() -> int:
    required = os.environ.get("PIP_AUDIT_REQUIRED") == "1"
    problems = []
    for service in SERVICES:
        dependencies, error = _audit(service)
        if dependencies is None:
            problems.append(f"{service}: unreachable ({error})")
            continue
        skipped = [d for d in dependencies if d.get("skip_reason")]
        if len(skipped) == len(dependencies):
            problems.append(f"{service}: knows none of the installed versions ({skipped[0]['skip_reason']})")
            continue
        vulnerable = [d for d in dependencies if d.get("vulns")]
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
                print(f"pip-audit: {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
        for dependency in skipped:
            print(f"pip-audit: not audited: {dependency['skip_reason']}", file=sys.stderr)
        audited = len(dependencies) - len(skipped)
        print(
            f"pip-audit ({service}): {audited} of {len(dependencies)} dependencies audited, "
            f"{len(vulnerable)} with known vulnerabilities."
        )
        return 1 if vulnerable or (skipped and required) else 0
    print("pip-audit: DEPENDENCIES NOT AUDITED - no vulnerability service could be used:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print("  (set PIP_AUDIT_REQUIRED=1 to make this fail the run)", file=sys.stderr)
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main())
