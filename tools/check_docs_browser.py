"""Open built HTML pages in headless Chromium and check them (used by tools/check_docs.sh).

For each page: no console errors (``console.error``, uncaught exceptions, failed resource
loads), MathJax finished with no math errors, and no raw LaTeX left in the visible text (outside
code blocks). Talks to Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``), so it needs only the standard library and a ``chromium`` binary.

Usage: ``python tools/check_docs_browser.py HTML_DIR page.html [page.html ...]``
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

RAW_LATEX = re.compile(r"\\(?:[a-zA-Z]{2,}|[\(\)\[\]\|])|\$\$|(?<![\w$])\$[^$\s][^$]*\$(?![\w$])")

EVAL_TEXT = r"""
(async () => {
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - t0 < 3000) {
    await new Promise(r => setTimeout(r, 50));
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const root = (document.querySelector('.bd-article') || document.body).cloneNode(true);
  const nMath = document.querySelectorAll('mjx-container').length;
  const nErr = document.querySelectorAll('mjx-merror').length;
  root.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .MathJax').forEach(e => e.remove());
  const broken = Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.src);
  return JSON.stringify({text: root.textContent, nMath, nErr, broken,
                         mathjax: !!(window.MathJax && MathJax.version), title: document.title});
})()
"""


class Chrome:
    def __init__(self, binary):
        r_in, w_in = os.pipe()     # we write, Chromium reads on fd 3
        r_out, w_out = os.pipe()   # Chromium writes on fd 4, we read

        def child_fds():
            os.dup2(r_in, 3)
            os.dup2(w_out, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1280,900",
                "--allow-file-access-from-files", "about:blank"]
        # fds 3 and 4 must survive close_fds, which runs after preexec_fn
        self.proc = subprocess.Popen(args, pass_fds=(3, 4, r_in, w_out), preexec_fn=child_fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_in)
        os.close(w_out)
        self.w, self.r = os.fdopen(w_in, "wb", buffering=0), os.fdopen(r_out, "rb", buffering=0)
        self.buf, self.next_id, self.events = b"", 0, []

    def _read_msg(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = self.r.read(65536)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_msg(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, session, timeout=60):
        deadline = time.time() + timeout
        for i, m in enumerate(self.events):
            if m.get("method") == name and m.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            m = self._read_msg(deadline)
            if m.get("method") == name and m.get("sessionId") == session:
                return m
            self.events.append(m)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def check_page(chrome, url):
    target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    sess = chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for dom in ("Runtime", "Log", "Page"):
        chrome.send(f"{dom}.enable", session=sess)
    chrome.events.clear()
    chrome.send("Page.navigate", {"url": url}, session=sess)
    chrome.wait_event("Page.loadEventFired", sess)
    res = chrome.send("Runtime.evaluate", {"expression": EVAL_TEXT, "awaitPromise": True,
                                           "returnByValue": True}, session=sess, timeout=60)
    info = json.loads(res["result"]["value"])
    problems = []
    for m in chrome.events:
        if m.get("sessionId") != sess:
            continue
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {args}")
        elif meth == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            problems.append(f"uncaught exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif meth == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            problems.append(f"log error: {e.get('text')} {e.get('url', '')}")
    for src in info["broken"]:
        problems.append(f"broken image: {src}")
    if info["nErr"]:
        problems.append(f"{info['nErr']} MathJax errors")
    raw = sorted(set(RAW_LATEX.findall(info["text"])))
    if raw:
        problems.append(f"raw LaTeX on the page: {raw[:10]}")
    chrome.send("Target.closeTarget", {"targetId": target})
    chrome.events.clear()
    return info, problems


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    html_dir, pages = os.path.abspath(argv[1]), argv[2:]
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                   if shutil.which(b)), None)
    if binary is None:
        print("check_docs_browser: no chromium binary found", file=sys.stderr)
        return 2
    chrome = Chrome(binary)
    failed = 0
    try:
        for page in pages:
            path = os.path.join(html_dir, page)
            if not os.path.exists(path):
                print(f"FAIL {page}: not built")
                failed += 1
                continue
            info, problems = check_page(chrome, "file://" + path)
            state = "FAIL" if problems else "ok  "
            print(f"{state} {page}: title {info['title']!r}, {info['nMath']} formulas rendered, "
                  f"MathJax {'loaded' if info['mathjax'] else 'absent'}")
            for p in problems:
                print(f"       {p}")
            failed += bool(problems)
    finally:
        chrome.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
