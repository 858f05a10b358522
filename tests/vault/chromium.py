"""A private headless Chromium (Debian's package, installed by
deploy/tools/install-chromium.sh) driven over the DevTools protocol: it loads a page and
answers what a reader sees (``document.body.innerText``, which honours CSS) and whether it
prints (a PDF of it)."""

from __future__ import annotations

import base64
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.polling import eventually
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "tools" / "install-chromium.sh"


def ensure_installed() -> None:
    if not shutil.which("chromium"):
        subprocess.run(["bash", str(INSTALL)], check=True)


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        async for message in self.ws:
            answer = message.json()
            if answer.get("id") == ident:
                assert "error" not in answer, answer["error"]
                return dict(answer["result"])
        raise ConnectionError("Chromium closed the DevTools connection")

    async def open(self, path: Path) -> None:
        await self.call("Page.navigate", url=path.as_uri())  # an absolute path (tmp_path)

        async def loaded() -> bool:
            ready = await self.evaluate("document.readyState")
            return ready == "complete"

        await eventually(loaded, within=30, what="the page to load")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return answer["result"].get("value")

    async def text(self) -> str:
        return str(await self.evaluate("document.body.innerText"))

    async def pdf(self) -> bytes:
        answer = await self.call("Page.printToPDF")
        return base64.b64decode(answer["data"])


@asynccontextmanager
async def headless_chromium() -> AsyncIterator[Page]:
    ensure_installed()
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with aiohttp.ClientSession() as session:

                async def page_socket() -> str:
                    async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                        pages = [p for p in await response.json() if p["type"] == "page"]
                    return str(pages[0]["webSocketDebuggerUrl"])

                url = await eventually(
                    page_socket,
                    within=60,
                    what="Chromium's DevTools endpoint",
                    ignoring=(aiohttp.ClientError, IndexError),
                )
                async with session.ws_connect(url, max_msg_size=0) as ws:
                    yield Page(ws)
        finally:
            process.terminate()
            process.wait(timeout=30)
