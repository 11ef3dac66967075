"""moto's S3 server on 127.0.0.1, serving one request at a time.

`moto_server` runs threaded, and its `If-None-Match: *` check and the write
that follows are two steps: concurrent conditional PUTs can both succeed,
which real S3 never allows. Served one at a time (HTTP/1.0, one request per
connection), each conditional PUT is atomic, as on S3.

Usage: python moto_s3.py PORT
"""

import signal
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False)


if __name__ == "__main__":
    main()
