"""A throw-away Kubernetes control plane: Debian's etcd, kube-apiserver and
kube-controller-manager built by deploy/tools/build-kube.sh. No nodes: Pods stay Pending,
which is enough to see that every object is accepted and every controller acts on it."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helm.chart import ROOT

KUBE_BIN = ROOT / "var" / "tools" / "kube" / "bin"
TOKEN = "blindpost-chart-test-admin-token"


def _build_running() -> bool:
    """Whether `build-kube.sh --background` (started by `make test`) is still compiling."""
    pid_file = KUBE_BIN.parent / "build.pid"
    if not pid_file.exists():
        return False
    cmdline = Path(f"/proc/{pid_file.read_text().strip()}/cmdline")
    return cmdline.exists() and b"build-kube" in cmdline.read_bytes()


def await_binaries(within: float = 1200.0) -> None:
    """Waits for a background build; it runs at the lowest priority beside the suite, and
    this test is ordered last (tests/conftest.py) so that it seldom has to wait."""
    deadline = time.monotonic() + within
    while _build_running() and time.monotonic() < deadline:
        time.sleep(2)


def missing_binaries() -> str | None:
    """Why the control plane cannot start here, or None."""
    for binary in ("kube-apiserver", "kube-controller-manager"):
        if not (KUBE_BIN / binary).exists():
            log = KUBE_BIN.parent / "build.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            return f"{KUBE_BIN / binary} is missing: run deploy/tools/build-kube.sh\n{tail}"
    if not shutil.which("etcd"):
        return "etcd is missing: apt-get install -y etcd-server"
    if not shutil.which("openssl"):
        return "openssl is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class ControlPlane:
    workdir: Path
    port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def start(self) -> None:
        d = self.workdir
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=test-ca",
            cwd=d,
        )
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=kube-apiserver",
            cwd=d,
        )
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
            cwd=d,
        )
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
        (d / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
        etcd_port, peer_port, self.port = _free_port(), _free_port(), _free_port()
        etcd = f"http://127.0.0.1:{etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                "etcd",
                "--data-dir",
                str(d / "etcd"),
                "--listen-client-urls",
                etcd,
                "--advertise-client-urls",
                etcd,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"default={peer}",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(KUBE_BIN / "kube-apiserver"),
                "--etcd-servers",
                etcd,
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(self.port),
                "--cert-dir",
                str(d / "certs"),
                "--tls-cert-file",
                str(d / "server.crt"),
                "--tls-private-key-file",
                str(d / "server.key"),
                "--client-ca-file",
                str(d / "ca.crt"),
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                str(d / "sa.pub"),
                "--service-account-signing-key-file",
                str(d / "sa.key"),
                "--token-auth-file",
                str(d / "tokens.csv"),
                "--authorization-mode",
                "RBAC",
                "--service-cluster-ip-range",
                "10.96.0.0/16",
                "--endpoint-reconciler-type",
                "none",
            ],
        )
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "test",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.port}",
                                "certificate-authority": str(d / "ca.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                }
            )
        )
        self._wait_ready()
        self._spawn(
            "kube-controller-manager",
            [
                str(KUBE_BIN / "kube-controller-manager"),
                "--kubeconfig",
                str(self.kubeconfig),
                "--authentication-kubeconfig",
                str(self.kubeconfig),
                "--authorization-kubeconfig",
                str(self.kubeconfig),
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(_free_port()),
                "--cert-dir",
                str(d / "kcm-certs"),
                "--leader-elect=false",
                "--service-account-private-key-file",
                str(d / "sa.key"),
                "--root-ca-file",
                str(d / "ca.crt"),
            ],
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))

    def _wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                if self.get("/readyz", raw=True) == "ok":
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                log = (self.workdir / "kube-apiserver.log").read_text()[-2000:]
                raise RuntimeError(f"kube-apiserver not ready in {within} s:\n{log}")
            time.sleep(0.5)

    def get(self, path: str, raw: bool = False) -> Any:
        return self._call("GET", path, None, raw)

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self._call("POST", path, obj, False)

    def _call(self, method: str, path: str, obj: dict[str, Any] | None, raw: bool) -> Any:
        context = ssl.create_default_context(cafile=str(self.workdir / "ca.crt"))
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if obj is None else json.dumps(obj).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        # Always https to the loopback API server this class started.
        with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
            body = response.read().decode()
        return body if raw else json.loads(body)

    def items(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(path)["items"]
        return found

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
