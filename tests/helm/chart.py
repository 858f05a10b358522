"""Rendering the chart for the tests: `helm template` with the chart's ci/ values files."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "blindpost"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
SECRETS = CHART / "ci" / "secrets-values.yaml"
ALL_FEATURES = CHART / "ci" / "all-features-values.yaml"
HELM = ROOT / "var" / "tools" / "bin" / "helm"
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}

Doc = dict[str, Any]


def install_helm() -> Path:
    subprocess.run(["bash", str(ROOT / "deploy" / "tools" / "install-helm.sh")], check=True)
    return HELM


def helm_template(
    *sets: str, values: Path | None = SECRETS, release: str = "bp"
) -> subprocess.CompletedProcess[str]:
    return _template(sets, values, release)


@functools.cache  # the same render is asked for by many tests; helm takes a second each
def _template(
    sets: tuple[str, ...], values: Path | None, release: str
) -> subprocess.CompletedProcess[str]:
    args = [str(HELM), "template", release, str(CHART)]
    if values is not None:
        args += ["-f", str(values)]
    for value in sets:
        args += ["--set", value]
    return subprocess.run(args, capture_output=True, text=True)


def render(*sets: str, values: Path | None = SECRETS, release: str = "bp") -> list[Doc]:
    import yaml

    result = helm_template(*sets, values=values, release=release)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    """Deployments and StatefulSets by their component (the service name)."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] in WORKLOAD_KINDS
    }


def container(workload: Doc) -> Doc:
    containers: list[Doc] = workload["spec"]["template"]["spec"]["containers"]
    return containers[0]


def environment(docs: list[Doc], workload: Doc) -> dict[str, Any]:
    """What the service's process sees: ConfigMap and Secret data, then its own env (the
    env entries win, as in Kubernetes). valueFrom entries are kept as their source."""
    env: dict[str, Any] = {}
    sources = container(workload).get("envFrom", [])
    config_maps = by_kind(docs, "ConfigMap")
    secrets = by_kind(docs, "Secret")
    for source in sources:
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source and source["secretRef"]["name"] in secrets:
            env.update(secrets[source["secretRef"]["name"]].get("stringData", {}))
    for entry in container(workload).get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
