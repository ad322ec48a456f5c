"""The S3 adapter: the one module that imports boto3 (ARCHITECTURE section 2).

:class:`S3Bucket` offers what the media store and the audit checkpoints need of an
S3-compatible object store (AWS, SeaweedFS, MinIO, ...), with botocore's errors turned
into ours (:class:`~vms.errors.StoreUnavailable`, an ``Unavailable``, for a store that
does not answer or refuses our key: the same request may succeed later;
:class:`~vms.errors.DataLoss` for bytes that do not match, :class:`~vms.errors.NotFound`,
:class:`~vms.errors.PermissionDenied` for a delete that Object Lock refuses). Credentials
are given to the client and never logged; this module logs keys and version ids only.

Every write is verified by the server: a single PUT carries the SHA-256 of the whole
body (``x-amz-checksum-sha256``), a multipart upload the SHA-256 of each part, and the
server refuses (``BadDigest``) bytes that differ. Writes of originals are conditional
(``If-None-Match: *``): an existing object is never overwritten (INV-2).

Those bodies are sent with an unsigned payload (``x-amz-content-sha256:
UNSIGNED-PAYLOAD``): a signed payload is one more SHA-256 of the same bytes, computed by
the client for the signature, which adds nothing to the checksum header the server
already verifies, and that header is itself signed, so the body stays bound to the
signed request. (SeaweedFS without IAM does not even check a signed payload's hash: a
tampered body passes it and is refused only by the checksum; docs/design/storage.md.)
Every other request (no body of ours, or XML built by botocore) keeps boto3's default
signing.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from vms.errors import (
    DataLoss,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    VMSError,
)
from vms.faults import crash_point

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
#: S3's limits: parts per multipart upload, and the largest object.
MAX_PARTS = 10_000
MAX_OBJECT_BYTES = 5 * 1024**4
#: The largest object one CopyObject copies; larger ones are copied part by part.
MAX_COPY_BYTES = 5 * 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    prefix: str = ""
    max_connections: int = 10
    part_bytes: int = 64 * 1024**2
    # Writes under :meth:`S3Bucket.bounded` (recorder segments): seconds to connect and
    # per read, and tries in all ([store] segment_timeout_seconds, segment_attempts).
    segment_timeout_seconds: float = 5.0
    segment_attempts: int = 2

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return f"S3Settings(endpoint={self.endpoint!r}, bucket={self.bucket!r})"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    version_id: str | None
    modified: dt.datetime | None = None  # LastModified, on the server's clock (listings)


@dataclass(frozen=True)
class Upload:
    """An unfinished multipart upload (the S3 analogue of a ``tmp/*.part`` file)."""

    key: str
    upload_id: str
    initiated: dt.datetime
    metadata: dict[str, str]


def b64_sha256(data: bytes | memoryview) -> str:
    return b64(hashlib.sha256(data).digest())


def b64(digest: bytes) -> str:
    """A digest as the ``x-amz-checksum-*`` headers carry it."""
    return base64.b64encode(digest).decode()


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


REFUSED = ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def translate(exc: Exception, what: str, *, held: bool = False) -> VMSError:
    """One place that turns the S3 client's errors into ours, naming the object.

    The store refusing a request (403) is the deployment's problem, never the user's
    right: :class:`Unavailable` naming the settings to check, so a caller keeps what it
    was storing and can retry (a BWC upload is not failed for good, TAG-5). Only a
    delete (``held``) refused is :class:`PermissionDenied`: Object Lock keeps a held
    object (INV-3)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _code(exc)
        if code in ("NoSuchKey", "404", "NotFound", "NoSuchVersion", "NoSuchUpload"):
            return NotFound(f"object store: {what} does not exist ({code})")
        if code in REFUSED and held:
            return PermissionDenied(f"object store refused {what} ({code})")
        if code in REFUSED:
            return StoreUnavailable(
                f"object store refused {what} ({code}): check [store] access_key_id, its "
                "secret and the bucket's policy"
            )
        if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
            return DataLoss(f"object store: {what}: the bytes received differ ({code})")
        return StoreUnavailable(f"object store: {what} failed ({code or exc})")
    if isinstance(exc, botocore.exceptions.BotoCoreError | OSError):
        return StoreUnavailable(f"object store: {what} failed ({type(exc).__name__}: {exc})")
    return StoreUnavailable(f"object store: {what} failed ({exc!r})")


class ObjectChunks(Iterator[bytes]):
    """The chunks of an object body being read; :meth:`close` (also at the end, or on a
    read error) gives its connection back, even when no chunk was read (a web response
    closed before its body was sent)."""

    def __init__(self, key: str, stream: Any) -> None:
        self.key = key
        self._body = stream
        self._chunks = stream.iter_chunks(READ_CHUNK)

    def __next__(self) -> bytes:
        try:
            chunk: bytes = next(self._chunks)
            return chunk
        except StopIteration:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise translate(exc, self.key) from None

    def close(self) -> None:
        self._body.close()


class S3Bucket:
    """One bucket (under a key prefix) of an S3-compatible store."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._client = self._make_client(settings, sign_payload=True)
        # Bodies that carry our SHA-256 checksum header (see the module's text).
        self._checksummed = self._make_client(settings, sign_payload=False)
        self._probe: Any = None  # check()'s client: short timeouts, no retries
        # bounded()'s clients (plain, checksummed), made at its first use.
        self._bounded_clients: tuple[Any, Any] | None = None
        self._local = threading.local()  # whether this thread's writes are bounded
        self._clients_lock = threading.Lock()
        self._lock_enabled: bool | None = None

    @staticmethod
    def _make_client(
        settings: S3Settings,
        *,
        sign_payload: bool,
        probe_seconds: float | None = None,
        attempts: int = 1,
    ) -> Any:
        s3: dict[str, Any] = {"addressing_style": "path"}
        if not sign_payload:
            s3["payload_signing_enabled"] = False
        timeouts: dict[str, Any] = {
            "retries": {"max_attempts": 3, "mode": "standard"},
            "connect_timeout": 10,
            "read_timeout": 120,
        }
        if probe_seconds is not None:  # a readiness probe, a bounded write: short tries
            timeouts = {
                "retries": {"max_attempts": attempts, "mode": "standard"},
                "connect_timeout": probe_seconds,
                "read_timeout": probe_seconds,
            }
        return boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint or None,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key or None,
            config=botocore.config.Config(
                max_pool_connections=settings.max_connections,
                s3=s3,
                # Checksums only where we give them (ours are the SHA-256 we verify).
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                **timeouts,
            ),
        )

    def require_bucket(self) -> None:
        """The bucket exists and answers (HEAD); NotFound or Unavailable naming it. For
        work that reads a missing object as done (the purge): with a wrong bucket name
        every object would look missing."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise translate(exc, f"bucket {self.bucket}") from None

    def check(self, seconds: float) -> None:
        """The bucket answers (HEAD, one try of at most ``seconds`` per step): readiness
        (vms/health.py). Unavailable naming why when it does not."""
        if self._probe is None:
            self._probe = self._make_client(self.settings, sign_payload=True, probe_seconds=seconds)
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise translate(exc, f"bucket {self.bucket}") from None

    def close(self) -> None:
        """Close the pooled connections of every client made so far (left open, they
        stayed so until the garbage collector found them)."""
        with self._clients_lock:
            clients = [self._client, self._checksummed, self._probe, *(self._bounded_clients or ())]
        for client in clients:
            if client is not None:
                client.close()

    def key(self, name: str) -> str:
        return self.prefix + name

    @contextlib.contextmanager
    def bounded(self) -> Iterator[None]:
        """Uploads made by this thread meanwhile (:meth:`put_file`, all its parts) wait
        at most ``segment_timeout_seconds`` per connect and read, ``segment_attempts``
        tries: a recorder segment, whose writer must not hang on a hung store for minutes
        while its camera's packets queue up (they are kept for retry instead)."""
        before = getattr(self._local, "bounded", False)
        self._local.bounded = True
        try:
            yield
        finally:
            self._local.bounded = before

    def _writers(self) -> tuple[Any, Any]:
        """The (plain, checksummed) clients of this thread's uploads (see bounded())."""
        if not getattr(self._local, "bounded", False):
            return self._client, self._checksummed
        with self._clients_lock:
            if self._bounded_clients is None:
                plain, checksummed = (
                    self._make_client(
                        self.settings,
                        sign_payload=signed,
                        probe_seconds=self.settings.segment_timeout_seconds,
                        attempts=self.settings.segment_attempts,
                    )
                    for signed in (True, False)
                )
                self._bounded_clients = (plain, checksummed)
            return self._bounded_clients

    @property
    def client(self) -> Any:
        """The boto3 client (benchmarks compare against it with the same settings)."""
        return self._client

    # -- bucket ---------------------------------------------------------------------------

    def ensure_bucket(self, *, object_lock: bool = True) -> None:
        """Create the bucket when missing (with Object Lock when asked): tests, demos."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise translate(exc, f"bucket {self.bucket}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, f"bucket {self.bucket}") from None
        try:
            self._client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=object_lock)
        except Exception as exc:
            raise translate(exc, f"creating bucket {self.bucket}") from None

    def object_lock(self) -> bool:
        """Whether the bucket has Object Lock (legal holds) enabled (asked once)."""
        if self._lock_enabled is None:
            try:
                found = self._client.get_object_lock_configuration(Bucket=self.bucket)
                status = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._lock_enabled = status == "Enabled"
            except botocore.exceptions.ClientError as exc:
                if "ObjectLockConfiguration" not in _code(exc) and _code(exc) not in (
                    "NotImplemented",
                    "404",
                ):
                    raise translate(exc, f"Object Lock of bucket {self.bucket}") from None
                self._lock_enabled = False
            except botocore.exceptions.BotoCoreError as exc:
                raise translate(exc, f"bucket {self.bucket}") from None
            log.info(
                "bucket %s: Object Lock %s", self.bucket, "on" if self._lock_enabled else "off"
            )
        return self._lock_enabled

    # -- writing --------------------------------------------------------------------------

    def put_bytes(
        self, name: str, data: bytes, *, legal_hold: bool = False, create_only: bool = True
    ) -> StoredObject:
        """PUT a small object, its SHA-256 verified by the server; with ``create_only`` an
        existing object is never replaced (:class:`FileExistsError`)."""
        key = self.key(name)
        extra: dict[str, Any] = {}
        if create_only:
            extra["IfNoneMatch"] = "*"
        if legal_hold and self.object_lock():
            extra["ObjectLockLegalHoldStatus"] = "ON"
        try:
            reply = self._checksummed.put_object(
                Bucket=self.bucket, Key=key, Body=data, ChecksumSHA256=b64_sha256(data), **extra
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                raise FileExistsError(key) from None
            raise translate(exc, key) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, key) from None
        return StoredObject(key, len(data), reply.get("VersionId"))

    def put_file(
        self,
        name: str,
        path: Path,
        size: int,
        sha256: str | None = None,
        parts: Sequence[bytes] | None = None,
    ) -> StoredObject:
        """Upload ``path`` (``size`` bytes, not written any more) as a new object.

        Up to one part it is a single PUT carrying the whole file's SHA-256 (``sha256``
        when the caller hashed the file, so the server checks the bytes against the
        object's name); above, a multipart upload whose parts each carry theirs (``parts``,
        hashed by the caller with the file; else, or when the file needs larger parts
        than ``part_bytes`` (:meth:`part_size`), hashed here in the sending thread), sent
        ``max_connections`` at a time, each read with ``pread``. The object exists only
        once complete; an existing object is never replaced (:class:`FileExistsError`).
        The returned size is the server's (HEAD), compared by the caller.
        """
        key = self.key(name)
        if size > MAX_OBJECT_BYTES:  # refused before a byte is sent
            raise InvalidArgument(
                f"{key} is {size} bytes, more than the object store's largest object "
                f"({MAX_OBJECT_BYTES} bytes, S3's 5 TiB)"
            )
        client, checksummed = self._writers()  # chosen in the caller's thread
        try:
            if size <= self.settings.part_bytes:
                data = path.read_bytes()
                checksum = b64(bytes.fromhex(sha256)) if sha256 else b64_sha256(data)
                try:
                    checksummed.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=data,
                        ChecksumSHA256=checksum,
                        IfNoneMatch="*",
                    )
                except botocore.exceptions.ClientError as exc:
                    if _code(exc) in ("PreconditionFailed", "412"):
                        raise FileExistsError(key) from None
                    raise
            else:
                self._multipart(key, path, size, parts, (client, checksummed))
            head = client.head_object(Bucket=self.bucket, Key=key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, key) from None
        return StoredObject(key, int(head["ContentLength"]), head.get("VersionId"))

    def part_size(self, size: int) -> int:
        """The part size of a multipart upload of ``size`` bytes: ``[store] part_bytes``,
        or for a file that would need more than S3's :data:`MAX_PARTS` parts at that size
        (above about 625 GiB at 64 MiB, 49 GiB at 5 MiB), the smallest whole number of
        MiB that fits it in :data:`MAX_PARTS` (550 MiB at the 5 TiB object limit, under
        S3's 5 GiB part limit)."""
        need = -(-size // MAX_PARTS)
        return max(self.settings.part_bytes, -(-need // MIB) * MIB)

    def _multipart(
        self,
        key: str,
        path: Path,
        size: int,
        given: Sequence[bytes] | None = None,
        clients: tuple[Any, Any] | None = None,
    ) -> None:
        client, checksummed = clients or (self._client, self._checksummed)
        part = self.part_size(size)
        if part != self.settings.part_bytes:
            given = None  # hashed for [store] part_bytes: each part is hashed as sent
        count = (size + part - 1) // part
        if given is not None and len(given) != count:
            raise ValueError(f"{len(given)} part checksums for {count} parts of {key}")
        started = client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ChecksumAlgorithm="SHA256",
            Metadata={"vms-host": os.uname().nodename, "vms-pid": str(os.getpid())},
        )
        upload_id = started["UploadId"]
        fd = os.open(path, os.O_RDONLY)

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * part
            data = os.pread(fd, min(part, size - offset), offset)
            checksum = b64(given[number - 1]) if given is not None else b64_sha256(data)
            reply = checksummed.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumSHA256=checksum,
            )
            crash_point("ingest.after-part")
            return {
                "PartNumber": number,
                "ETag": reply["ETag"],
                "ChecksumSHA256": reply.get("ChecksumSHA256") or checksum,
            }

        try:
            # Larger parts, fewer at a time: memory stays max_connections x part_bytes.
            budget = self.settings.max_connections * self.settings.part_bytes
            with concurrent.futures.ThreadPoolExecutor(
                max(1, min(self.settings.max_connections, budget // part)),
                thread_name_prefix="s3-part",
            ) as pool:
                parts = list(pool.map(send, range(1, count + 1)))
            if self.exists(key, client):
                raise FileExistsError(key)
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        finally:
            os.close(fd)

    # -- reading --------------------------------------------------------------------------

    def exists(self, key: str, client: Any = None) -> bool:
        try:
            (client or self._client).head_object(Bucket=self.bucket, Key=key)
            return True
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise translate(exc, key) from None

    def head(self, name: str) -> StoredObject:
        key = self.key(name)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise translate(exc, key) from None
        return StoredObject(key, int(head["ContentLength"]), head.get("VersionId"))

    def read(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start..end`` (inclusive; ``end`` None: to the end) of an object
        in chunks, never holding the whole object. The GET is sent by this call, not at
        the first chunk: a store that refuses it (503, timeout, missing) raises here, so
        a web response fails before its status line, never as a 200 cut off after the
        headers."""
        key = self.key(name)
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except Exception as exc:
            raise translate(exc, key) from None
        return ObjectChunks(key, body)

    def read_bytes(self, name: str) -> bytes:
        return b"".join(self.read(name))

    def list_objects(self, under: str) -> Iterator[StoredObject]:
        """Objects (current versions) whose name starts with ``under``, in key order."""
        prefix = self.key(under)
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(
                        item["Key"], int(item["Size"]), None, item.get("LastModified")
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, f"listing {prefix}") from None

    def versions(self, name: str, *, null: bool = False) -> list[str]:
        """Version ids of exactly this object (newest first); [] on an unversioned bucket.
        ``null``: with the *null* version too (an object stored before versioning was
        turned on, or while it was suspended), which a delete must name to remove it."""
        key = self.key(name)
        try:
            listed = self._listed_versions(key, "Versions")
        except Exception as exc:
            raise translate(exc, key) from None
        skipped = (None,) if null else (None, "null")
        return [str(v["VersionId"]) for v in listed if v.get("VersionId") not in skipped]

    def _listed_versions(self, key: str, kind: str) -> list[dict[str, Any]]:
        """The ``Versions`` or ``DeleteMarkers`` of exactly ``key``, every page of them:
        S3 answers 1,000 at most at a time, and a delete that read only the first page
        left the versions past it (the footage readable after its destruction). Listed
        whole before the caller deletes any."""
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=key
        )
        return [v for page in pages for v in page.get(kind, []) if v["Key"] == key]

    def uploads(self, under: str) -> list[Upload]:
        """Unfinished multipart uploads under ``under`` (a crashed writer's leftovers),
        every page of them: S3 answers 1,000 at most at a time (SeaweedFS 10,000), and
        reading only the first left the rest unreported and never aborted. Listed whole
        before the caller aborts any (the pages follow key and upload-id markers)."""
        prefix = self.key(under)
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            found = []
            for page in pages:
                for u in page.get("Uploads", []):
                    found.append(Upload(u["Key"], u["UploadId"], u["Initiated"], {}))
            return found
        except Exception as exc:
            raise translate(exc, f"uploads under {prefix}") from None

    def abort(self, upload: Upload) -> None:
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
            )
        except Exception as exc:
            raise translate(exc, upload.key) from None

    # -- holds and deletion ---------------------------------------------------------------

    def set_legal_hold(self, name: str, on: bool) -> int:
        """Put (or release) a legal hold on every version of the object; returns how many
        versions were set. Nothing (0) when the bucket has no Object Lock."""
        if not self.object_lock():
            return 0
        key = self.key(name)
        status = "ON" if on else "OFF"
        versions = self.versions(name)
        for version in versions:
            try:
                self._client.put_object_legal_hold(
                    Bucket=self.bucket,
                    Key=key,
                    VersionId=version,
                    LegalHold={"Status": status},
                )
            except Exception as exc:
                raise translate(exc, f"{key} version {version}") from None
        return len(versions)

    def legal_hold(self, name: str) -> bool:
        """Whether the current version of the object is under a legal hold."""
        if not self.object_lock():
            return False
        key = self.key(name)
        try:
            reply = self._client.get_object_legal_hold(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if _code(exc).startswith("NoSuchObjectL") or _code(exc) == "InvalidRequest":
                return False
            raise translate(exc, key) from None
        return bool(reply.get("LegalHold", {}).get("Status") == "ON")

    def delete(self, name: str) -> None:
        """Delete the object and every version of it (a held version is refused:
        :class:`PermissionDenied`); nothing to do when it is gone."""
        key = self.key(name)
        try:
            # The null version named too: without its id, a versioned bucket only lays a
            # delete marker over it, and removing the markers below brings it back.
            versions = self.versions(name, null=True)
            if not versions:
                self._client.delete_object(Bucket=self.bucket, Key=key)
            for version in versions:
                self._client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
            for m in self._listed_versions(key, "DeleteMarkers"):
                self._client.delete_object(Bucket=self.bucket, Key=key, VersionId=m["VersionId"])
        except Exception as exc:
            raise translate(exc, key, held=True) from None

    def copy(self, name: str, to: str) -> None:
        """Server-side copy (repairs: an orphan moved aside keeps its bytes); an object
        above :data:`MAX_COPY_BYTES` (S3's 5 GiB CopyObject limit) is copied in ranges of
        :meth:`part_size` (UploadPartCopy), the upload aborted when one fails."""
        source = {"Bucket": self.bucket, "Key": self.key(name)}
        try:
            size = int(self._client.head_object(**source)["ContentLength"])
            if size <= MAX_COPY_BYTES:
                self._client.copy_object(Bucket=self.bucket, Key=self.key(to), CopySource=source)
            else:
                self._copy_parts(source, self.key(to), size)
        except Exception as exc:
            raise translate(exc, self.key(name)) from None

    def _copy_parts(self, source: dict[str, str], key: str, size: int) -> None:
        part = self.part_size(size)
        upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, part), 1):
                end = min(start + part, size) - 1
                reply = self._client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": reply["CopyPartResult"]["ETag"]})
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
