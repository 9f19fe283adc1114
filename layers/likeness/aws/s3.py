"""S3 adapter for uploads and derived images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectHead:
    size: int
    content_type: str


class BlobStore:
    def __init__(self, *, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(
        self, key: str, data: bytes, *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )

    def get(self, key: str) -> bytes:
        resp = self._client.get_object(Bucket=self.bucket, Key=key)
        return bytes(resp["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
        return len(keys)

    def signed_url(self, key: str, *, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        )

    # -- large objects (media files): never read whole into memory
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        try:
            resp = self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(resp["ContentLength"])

    def head(self, key: str) -> ObjectHead | None:
        """The object's size and Content-Type, or None when there is no such object."""
        try:
            resp = self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectHead(size=int(resp["ContentLength"]), content_type=str(resp.get("ContentType", "")))

    def get_head(self, key: str, length: int) -> bytes:
        """The object's first ``length`` bytes (enough to sniff its format)."""
        resp = self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max(length, 1) - 1}")
        return bytes(resp["Body"].read())

    def copy(self, source_key: str, key: str) -> None:
        """Server-side copy (multipart above 5 GB: boto3's managed transfer)."""
        self._client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, key)

    def download(self, key: str, path: str) -> None:
        """Stream the object to a local file."""
        self._client.download_file(self.bucket, key, path)

    def signed_upload_url(
        self,
        key: str,
        *,
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> str:
        """A presigned PUT for ``key``: the client uploads the body itself (``curl -T file URL``).

        A ``content_type`` / ``content_length`` given here is signed (SigV4 signs those headers):
        S3 refuses a PUT that sends other values, so the client must send exactly these."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type is not None:
            params["ContentType"] = content_type
        if content_length is not None:
            params["ContentLength"] = content_length
        return str(self._client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in))
