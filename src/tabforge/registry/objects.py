"""One bucket prefix of an S3-compatible store, in the few operations a registry needs.

Everything boto3 says is turned here into either data, a ``Conflict`` (a conditional write
lost a race: the caller reads again and retries) or one ``TabforgeError`` line naming
the registry: no credentials, credentials refused, no such bucket, access denied, an
endpoint that does not answer. Configuration is the standard AWS one (credentials chain,
``AWS_ENDPOINT_URL``, ``AWS_REGION``); the region defaults to us-east-1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tabforge.errors import ConfigError, NotFoundError, StorageError, TabforgeError
from tabforge.registry.layout import ELSEWHERE

DEFAULT_REGION = "us-east-1"
# Codes of a conditional request that did not hold (412) or raced another (409).
CONFLICTS = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
DENIED = {"AccessDenied", "AllAccessDisabled", "403"}
MISSING = {"NoSuchKey", "404", "NotFound"}


class Conflict(Exception):
    """A conditional write found the object changed (or gone, or present) meanwhile."""


def s3_client() -> Any:
    """An S3 client from the standard AWS configuration (region default us-east-1)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        region_name=session.region_name or DEFAULT_REGION,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    return session.client("s3", config=config)


class Bucket:
    """Keys under ``prefix`` in ``bucket``; ``location`` (s3://...) names it in messages."""

    def __init__(self, bucket: str, prefix: str, location: str, client: Any = None) -> None:
        self.bucket, self.prefix, self.location = bucket, prefix, location
        self.client = client if client is not None else s3_client()

    def key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts) if self.prefix else parts)

    def list(self, *parts: str) -> dict[str, str]:
        """Every key under ``parts`` (relative to it) -> its ETag."""
        base = self.key(*parts, "") if parts or self.prefix else ""
        found: dict[str, str] = {}
        with self.errors("list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    found[item["Key"][len(base) :]] = str(item.get("ETag", ""))
        return found

    def exists(self) -> bool:
        """True if the bucket is there (NotFoundError, with the reason, if it is not)."""
        with self.errors("list"):
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(""), MaxKeys=1)
        return True

    def get(self, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and ETag; None when there is no such key."""
        try:
            with self.errors(f"read {key} from"):
                answer = self.client.get_object(Bucket=self.bucket, Key=key)
                return answer["Body"].read(), str(answer["ETag"])
        except _Missing:
            return None

    def put(
        self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False
    ) -> str:
        """Write an object, conditionally if asked; its new ETag. Conflict if the condition
        does not hold (for ``if_match``, also when the object is gone)."""
        conditions: dict[str, str] = {}
        if if_match is not None:
            conditions["IfMatch"] = if_match
        if if_absent:
            conditions["IfNoneMatch"] = "*"
        try:
            with self.errors(f"write {key} to", conditional=bool(conditions)):
                answer = self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, **conditions
                )
                return str(answer.get("ETag", ""))
        except _Missing as exc:
            raise Conflict(key) from exc  # If-Match on an object deleted meanwhile

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        conditions = {"IfMatch": if_match} if if_match is not None else {}
        try:
            with self.errors(f"delete {key} from", conditional=bool(conditions)):
                self.client.delete_object(Bucket=self.bucket, Key=key, **conditions)
        except _Missing as exc:
            if if_match is not None:
                raise Conflict(key) from exc

    @contextmanager
    def errors(self, action: str, *, conditional: bool = False) -> Iterator[None]:
        """botocore's exceptions as one line each (``action`` completes "cannot ...")."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except NoCredentialsError as exc:
            raise ConfigError(
                f"no AWS credentials for {self.location}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or another source AWS tools read"
            ) from exc
        except ClientError as exc:
            raise self._client_error(exc, action, conditional=conditional) from exc
        except BotoCoreError as exc:  # unreachable endpoint, timeouts, bad configuration
            raise StorageError(f"cannot {action} {self.location}: {exc}") from exc

    def _client_error(self, exc: Any, action: str, *, conditional: bool) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = error.get("Message") or code or status
        if conditional and (code in CONFLICTS or status in ("412", "409")):
            return Conflict(action)
        if code == "NoSuchBucket":
            return NotFoundError(f"bucket {self.bucket} does not exist ({ELSEWHERE})")
        if code in MISSING:
            return _Missing(action)
        if code in REFUSED:
            return ConfigError(f"the AWS credentials were refused by {self.location}: {message}")
        if code in DENIED or status == "403":
            return StorageError(f"cannot {action} {self.location}: access denied ({message})")
        return StorageError(f"cannot {action} {self.location}: {message}")


class _Missing(TabforgeError):
    """No such key (callers turn it into None, or a Conflict for a conditional write)."""
