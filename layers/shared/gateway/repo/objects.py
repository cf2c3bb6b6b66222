"""S3 objects: presigned URLs, object heads, streamed and ranged reads, reports written back.

The only module that sees S3's ClientError; it re-raises domain errors. The presigning client signs with
SigV4 for the function's region; with AWS_ENDPOINT_URL set (the local stack) the URLs point at that
endpoint, so a client on the same machine can PUT to them.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from gateway import aws
from gateway.config import get_settings
from gateway.errors import NotFound, Unavailable
from gateway.repo import error_code

logger = Logger(child=True)

MIN_PART = 5 * 1024 * 1024  # S3's smallest multipart part (all but the last)
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion", "NoSuchBucket"}


@dataclass(frozen=True)
class Head:
    bucket: str
    key: str
    size: int
    etag: str
    version: str | None


def _s3() -> Any:
    return aws.client("s3")


@lru_cache(maxsize=1)
def _presigner() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))


def reset() -> None:
    _presigner.cache_clear()


def _error(exc: ClientError, what: str) -> Exception:
    code = error_code(exc)
    if code in _MISSING:
        return NotFound(f"{what}: no such object")
    logger.warning("s3 call failed", extra={"error_code": code, "what": what})
    return Unavailable(f"The file store is unavailable ({code}); retry.")


def bucket() -> str:
    return get_settings().imports_bucket


def presign_put(key: str, expires: int) -> str:
    return str(
        _presigner().generate_presigned_url(
            "put_object", Params={"Bucket": bucket(), "Key": key}, ExpiresIn=expires, HttpMethod="PUT"
        )
    )


def presign_get(key: str, expires: int, file_name: str | None = None) -> str:
    params: dict[str, Any] = {"Bucket": bucket(), "Key": key}
    if file_name:
        params["ResponseContentDisposition"] = f'attachment; filename="{file_name}"'
    return str(_presigner().generate_presigned_url("get_object", Params=params, ExpiresIn=expires))


def head(bucket_name: str, key: str, version: str | None = None) -> Head:
    kwargs: dict[str, Any] = {"Bucket": bucket_name, "Key": key}
    if version:
        kwargs["VersionId"] = version
    try:
        resp = _s3().head_object(**kwargs)
    except ClientError as exc:
        raise _error(exc, key) from exc
    return Head(
        bucket_name, key, int(resp.get("ContentLength", 0)), str(resp.get("ETag", "")).strip('"'), version
    )


def read_range(source: Head, start: int, end: int) -> bytes:
    """Bytes [start, end] (inclusive) of the object version `source` names."""
    if source.size == 0 or start >= source.size:
        return b""
    kwargs: dict[str, Any] = {
        "Bucket": source.bucket,
        "Key": source.key,
        "Range": f"bytes={start}-{min(end, source.size - 1)}",
    }
    if source.version:
        kwargs["VersionId"] = source.version
    else:
        kwargs["IfMatch"] = f'"{source.etag}"'  # never mix two uploads of one key
    try:
        resp = _s3().get_object(**kwargs)
        return bytes(resp["Body"].read())
    except ClientError as exc:
        raise _error(exc, source.key) from exc


def stream(source: Head, start: int = 0) -> IO[bytes]:
    """The object from byte `start` on, as a buffered binary stream read from one GET (constant memory)."""
    if start >= source.size > 0:
        return io.BytesIO(b"")  # nothing after it (S3 would answer 416 to the range)
    kwargs: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key}
    if start:
        kwargs["Range"] = f"bytes={start}-"
    if source.version:
        kwargs["VersionId"] = source.version
    else:
        kwargs["IfMatch"] = f'"{source.etag}"'
    try:
        body = _s3().get_object(**kwargs)["Body"]
    except ClientError as exc:
        raise _error(exc, source.key) from exc
    return io.BufferedReader(_BodyReader(body), buffer_size=256 * 1024)


class _BodyReader(io.RawIOBase):
    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


class RangeReader(io.RawIOBase):
    """A seekable, read-only view of an S3 object through ranged GETs, with a few cached blocks.

    Lets zip readers (openpyxl) read an XLSX straight from S3: memory is `blocks * block_size`, whatever the
    object's size.
    """

    def __init__(self, source: Head, block_size: int = 1024 * 1024, blocks: int = 4) -> None:
        self.source = source
        self.block_size = block_size
        self._max_blocks = blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self._lock = threading.Lock()
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.source.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def _block(self, index: int) -> bytes:
        with self._lock:
            found = self._blocks.get(index)
            if found is not None:
                self._blocks.move_to_end(index)
                return found
        start = index * self.block_size
        data = read_range(self.source, start, start + self.block_size - 1)
        self.requests += 1
        with self._lock:
            self._blocks[index] = data
            while len(self._blocks) > self._max_blocks:
                self._blocks.popitem(last=False)
        return data

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), max(0, self.source.size - self._position))
        done = 0
        view = memoryview(buffer)
        while done < wanted:
            index, offset = divmod(self._position, self.block_size)
            block = self._block(index)
            chunk = block[offset : offset + wanted - done]
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._position += len(chunk)
        return done


# ------------------------------------------------------------------------------------------- writing
def put(key: str, body: bytes | IO[bytes], content_type: str = "text/csv; charset=utf-8") -> None:
    """Store `body` (bytes, or a seekable file read from where it stands) under `key` in one PUT."""
    try:
        _s3().put_object(Bucket=bucket(), Key=key, Body=body, ContentType=content_type)
    except ClientError as exc:
        raise _error(exc, key) from exc


def download(key: str, target: str | IO[bytes]) -> bool:
    """Copy an object of the bucket to a local file (a path, or a file written from where it stands), in
    1 MiB pieces; False when there is no such object."""
    try:
        body = _s3().get_object(Bucket=bucket(), Key=key)["Body"]
    except ClientError as exc:
        if error_code(exc) in _MISSING:
            return False
        raise _error(exc, key) from exc
    try:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(target, "wb")) if isinstance(target, str) else target
            for piece in body.iter_chunks(1024 * 1024):
                out.write(piece)
    finally:
        body.close()
    return True


def upload(key: str, path: str, content_type: str = "application/octet-stream") -> None:
    """Store a local file under `key` in one PUT, streamed from the file (not read into memory)."""
    with open(path, "rb") as body:
        put(key, body, content_type)


def delete(key: str) -> None:
    try:
        _s3().delete_object(Bucket=bucket(), Key=key)
    except ClientError as exc:
        if error_code(exc) not in _MISSING:
            raise _error(exc, key) from exc


def exists(key: str) -> bool:
    try:
        _s3().head_object(Bucket=bucket(), Key=key)
    except ClientError as exc:
        if error_code(exc) in _MISSING:
            return False
        raise _error(exc, key) from exc
    return True


def start_multipart(key: str, content_type: str = "text/csv; charset=utf-8") -> str:
    try:
        resp = _s3().create_multipart_upload(Bucket=bucket(), Key=key, ContentType=content_type)
    except ClientError as exc:
        raise _error(exc, key) from exc
    return str(resp["UploadId"])


def upload_part(key: str, upload_id: str, number: int, body: bytes | IO[bytes]) -> str:
    try:
        resp = _s3().upload_part(Bucket=bucket(), Key=key, UploadId=upload_id, PartNumber=number, Body=body)
    except ClientError as exc:
        raise _error(exc, key) from exc
    return str(resp["ETag"])


def complete_multipart(key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
    """Finish a multipart upload; finishing one that is already finished (a retried segment) is fine."""
    try:
        _s3().complete_multipart_upload(
            Bucket=bucket(),
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["n"], "ETag": p["etag"]} for p in parts]},
        )
    except ClientError as exc:
        if error_code(exc) == "NoSuchUpload" and exists(key):
            return
        raise _error(exc, key) from exc


def put_file(key: str, body: IO[bytes], content_type: str) -> None:
    """Upload a file object (multipart for large ones, by boto3's transfer manager)."""
    from boto3.exceptions import S3UploadFailedError

    try:
        _s3().upload_fileobj(body, bucket(), key, ExtraArgs={"ContentType": content_type})
    except ClientError as exc:
        raise _error(exc, key) from exc
    except S3UploadFailedError as exc:
        logger.warning("s3 upload failed", extra={"what": key})
        raise Unavailable("The file store is unavailable; retry.") from exc
