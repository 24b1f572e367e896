"""`econdsl lsp` driven as an editor drives it: a subprocess speaking JSON-RPC over stdio with Content-Length
framing. Every wait is bounded; the server is killed at the end whatever happens."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls")

TIMEOUT = 120  # seconds for any one reply (the first one includes importing the checker)

# Two errors: an undeclared name (E201) and an unknown function (E207). 𝛽 is outside the BMP (two UTF-16 code
# units), so the columns after it differ between the protocol's UTF-16 and the checker's code points.
MODEL = """model two
horizon 3
const 𝛽 = 0.5
agent A[2] index i
    state x = 0 in [0, 10]                   # stock held by each member
    action q in 0:1
    observe x[i]
    reward r[i]
end
step
    r[i] = 𝛽 * x[i] + q[i] + qq
    next x[i] = frob(x[i] + q[i])
end
end
"""
FIXED_ONE = MODEL.replace("frob(x[i] + q[i])", "min(x[i] + q[i], 10)")


class Client:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "econdsl.cli", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.inbox: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, value = line.split(":", 1)
                headers[key.lower()] = value.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, method: str, params: dict, request: bool = False) -> int | None:
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
        self.proc.stdin.flush()
        return msg.get("id")

    def wait(self, match) -> dict:
        while True:
            try:
                msg = self.inbox.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("no reply from econdsl lsp in time") from None
            if match(msg):
                return msg

    def request(self, method: str, params: dict) -> dict:
        rid = self.send(method, params, request=True)
        reply = self.wait(lambda m: m.get("id") == rid and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def diagnostics(self, uri: str, version: int) -> list[dict]:
        msg = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                        and m["params"]["uri"] == uri and m["params"].get("version") == version)
        return msg["params"]["diagnostics"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                rid = self.send("shutdown", {}, request=True)
                self.wait(lambda m: m.get("id") == rid)
                self.send("exit", {})
                self.proc.wait(timeout=10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def client():
    c = Client()
    yield c
    c.close()


def _utf16(line: str, text: str) -> int:
    """The UTF-16 offset of ``text`` in ``line``, as an LSP client counts."""
    return len(line[: line.index(text)].encode("utf-16-le")) // 2


def test_language_server_session(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "two.econ"
    path.write_text(MODEL, encoding="utf-8")
    uri = path.as_uri()
    caps = client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
    for cap in ("hoverProvider", "definitionProvider", "referencesProvider", "renameProvider",
                "completionProvider", "documentFormattingProvider"):
        assert caps["capabilities"].get(cap), cap
    client.send("initialized", {})
    client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "econ", "version": 1,
                                                          "text": MODEL}})
    lines = MODEL.split("\n")
    diags = sorted(client.diagnostics(uri, 1), key=lambda d: d["range"]["start"]["line"])
    assert [d["code"] for d in diags] == ["E201", "E207"]
    assert all(d["severity"] == 1 and d["source"] == "econdsl" for d in diags)
    qq_col = _utf16(lines[10], "qq")
    assert qq_col == lines[10].index("qq") + 1  # 𝛽 counts twice
    assert diags[0]["range"] == {"start": {"line": 10, "character": qq_col},
                                 "end": {"line": 10, "character": qq_col + len("qq")}}
    assert "`qq`" in diags[0]["message"] and "hint:" in diags[0]["message"]
    assert diags[1]["range"]["start"] == {"line": 11, "character": lines[11].index("frob")}

    client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                           "contentChanges": [{"text": FIXED_ONE}]})
    diags = client.diagnostics(uri, 2)
    assert [d["code"] for d in diags] == ["E201"]
    assert diags[0]["range"]["start"] == {"line": 10, "character": qq_col}

    lines = FIXED_ONE.split("\n")
    x_in_step = {"line": 10, "character": _utf16(lines[10], "x[i]")}
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": x_in_step})
    text = hover["contents"]["value"]
    assert "**state** `x` of `A`" in text
    assert "shape `[A]` (2)" in text
    assert "state x = 0 in [0, 10]" in text
    assert "stock held by each member" in text  # the doc comment on the declaration's line
    assert f"two.econ:5:{lines[4].index('x') + 1}" in text

    where = client.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": x_in_step})
    assert where["uri"] == uri
    col = lines[4].index("x")
    assert where["range"] == {"start": {"line": 4, "character": col}, "end": {"line": 4, "character": col + 1}}

    refs = client.request("textDocument/references", {"textDocument": {"uri": uri}, "position": x_in_step,
                                                      "context": {"includeDeclaration": True}})
    assert sorted(r["range"]["start"]["line"] for r in refs) == [4, 6, 10, 11, 11]

    beta = {"line": 10, "character": _utf16(lines[10], "𝛽")}
    edit = client.request("textDocument/rename", {"textDocument": {"uri": uri}, "position": beta,
                                                  "newName": "weight"})
    changes = edit["changes"][uri]
    assert sorted((c["range"]["start"]["line"], c["range"]["start"]["character"]) for c in changes) == [
        (2, 6), (10, lines[10].index("𝛽"))]
    assert all(c["newText"] == "weight" for c in changes)
    assert all(c["range"]["end"]["character"] - c["range"]["start"]["character"] == 2 for c in changes)

    items = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": {"line": 11, "character": 4}})
    labels = {i["label"] for i in items["items"]}
    assert {"x", "q", "𝛽", "A", "log", "sum", "next"} <= labels

    messy = FIXED_ONE.replace("horizon 3", "horizon   3").replace("reward r[i]", "  reward r[i]  # why")
    client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                           "contentChanges": [{"text": messy}]})
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 4, "insertSpaces": True}})
    (edit,) = edits
    assert edit["range"]["start"] == {"line": 0, "character": 0}
    assert edit["newText"] == FIXED_ONE.replace("reward r[i]", "reward r[i]" + " " * 30 + "# why")
