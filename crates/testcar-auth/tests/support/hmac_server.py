"""An independent HMAC verifier for testcar-auth's tests, written with Python's hmac module.

usage: hmac_server.py KEY_FILE PORT KEY_ID
Checks the default canonical string of the `hmac` step:
  METHOD \n PATH \n QUERY \n TIMESTAMP \n hex(sha256(body))
signed with HMAC-SHA256, base64, in X-Signature, with X-Timestamp (unix seconds, within
5 minutes) and X-Key-Id. Answers 200 "verified" or 401 with the reason.
"""
import base64
import hashlib
import hmac
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = open(sys.argv[1], "rb").read().strip()
PORT = int(sys.argv[2])
KEY_ID = sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def check(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        ts = self.headers.get("X-Timestamp", "")
        sig = self.headers.get("X-Signature", "")
        kid = self.headers.get("X-Key-Id", "")
        canonical = "\n".join(
            [self.command, url.path, url.query, ts, hashlib.sha256(body).hexdigest()]
        )
        expected = base64.b64encode(
            hmac.new(KEY, canonical.encode(), hashlib.sha256).digest()
        ).decode()
        if kid != KEY_ID:
            return self.answer(401, "unknown key id")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return self.answer(401, "stale timestamp")
        if not hmac.compare_digest(sig, expected):
            return self.answer(401, "bad signature")
        return self.answer(200, "verified")

    def answer(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = check

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
