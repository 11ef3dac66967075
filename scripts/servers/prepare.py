"""Waits for the registry test servers and creates their bucket/container.

Prints, as JSON, what tests need: for each backend the registry URL and the
environment variables that point forest2onnx at the server.

Usage: python prepare.py S3_PORT GCS_PORT AZURE_PORT [GCS_BACKEND_PORT]
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import socket
import sys
import time
import urllib.request

BUCKET = "forest2onnx-test"
# Azurite's well-known development account (public, documented by Microsoft).
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3_KEY_ID = "forest2onnx-test-key"


def wait_for(port: int, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start listening on 127.0.0.1:{port} within {seconds:.0f} s")


def s3(port: int) -> dict:
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    # moto checks credentials once INITIAL_NO_AUTH_ACTION_COUNT actions have
    # passed: these first three create the user the tests sign with.
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="forest2onnx")
    iam.put_user_policy(
        UserName="forest2onnx",
        PolicyName="all",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }),
    )
    key = iam.create_access_key(UserName="forest2onnx")["AccessKey"]
    s3c = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
    )
    s3c.create_bucket(Bucket=BUCKET)
    return {
        "url": f"s3://{BUCKET}",
        "env": {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_REGION": "us-east-1",
        },
    }


def gcs(port: int) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/storage/v1/b",
        data=json.dumps({"name": BUCKET}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=30).read()
    return {
        "url": f"gs://{BUCKET}",
        "env": {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"},
    }


def azure(port: int) -> dict:
    # Create Container, signed with Shared Key as the REST API specifies.
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    version = "2021-10-04"
    canonical_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
    resource = f"/{AZ_ACCOUNT}/{AZ_ACCOUNT}/{BUCKET}\nrestype:container"
    to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canonical_headers + resource
    sig = base64.b64encode(
        hmac.new(base64.b64decode(AZ_KEY), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    # http.client, not urllib: urllib adds a Content-Type, which is signed.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "PUT",
        f"/{AZ_ACCOUNT}/{BUCKET}?restype=container",
        headers={
            "x-ms-date": date,
            "x-ms-version": version,
            "Authorization": f"SharedKey {AZ_ACCOUNT}:{sig}",
            "Content-Length": "0",
        },
    )
    resp = conn.getresponse()
    body = resp.read()
    if resp.status not in (201, 409):  # created, or already there
        sys.exit(f"azurite: cannot create the container: {resp.status} {body[:300]!r}")
    return {
        "url": f"az://{BUCKET}",
        "env": {
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": f"http://127.0.0.1:{port}",
            "AZURE_STORAGE_ACCOUNT_NAME": AZ_ACCOUNT,
            "AZURE_STORAGE_ACCOUNT_KEY": AZ_KEY,
        },
    }


def main() -> None:
    s3_port, gcs_port, az_port = (int(p) for p in sys.argv[1:4])
    for extra in sys.argv[4:]:
        wait_for(int(extra), "fake-gcs-server")
    wait_for(s3_port, "moto (S3)")
    wait_for(gcs_port, "fake-gcs-server front (GCS)")
    wait_for(az_port, "azurite (Azure)")
    print(json.dumps({"s3": s3(s3_port), "gcs": gcs(gcs_port), "azure": azure(az_port)}, indent=2))


if __name__ == "__main__":
    main()
