"""The preflight: each declared large resource of a profile fetched once, its sha256 kept as the reference.

A profile may leave a large route's content undeclared (neither `pattern` nor `sha256`): any content is
fine, as long as it is the same every time. Before the cases (`lab check`, a session's first case), the
lab GETs each declared size once from the target and keeps its length and sha256; the cases that read a
large body check it against that reference (lab.chaos.model.adapt), never against the bundled server's pattern.
"""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from lab.errors import LabError
from lab.profiles import Profile

READ_CHUNK_BYTES = 1 << 16
# A large resource of up to a few hundred MiB arrives in seconds on loopback; a target that sends nothing for
# this long is not ready, and `lab check` says so.
REQUEST_TIMEOUT_S = 30.0

# GET path -> (status, body length, body sha256)
Fetch = Callable[[str], tuple[int, int, str]]


def needs_preflight(profile: Profile | None) -> bool:
    return profile is not None and profile.routes.large is not None and profile.routes.large.needs_preflight


def with_references(profile: Profile, fetched: Mapping[int, tuple[int, int, str]]) -> Profile:
    """The profile with each fetched size's sha256 as its large route's reference (size -> status, length, sha).

    A size the target does not answer 200 with exactly that many bytes is a LabError naming the key to fix.
    """
    large = profile.routes.large
    assert large is not None
    references = dict(large.references)
    for size, (status, length, digest) in sorted(fetched.items()):
        path = large.url_path(size)
        if status != 200:
            raise LabError(f"{profile.source}: preflight: GET {path} answered {status}, not 200 (routes.large.path)")
        if length != size:
            raise LabError(f"{profile.source}: preflight: GET {path} sent {length} bytes, the profile says {size} "
                           "(routes.large.sizes/size)")
        references[size] = digest
    routes = replace(profile.routes, large=replace(large, references=tuple(sorted(references.items()))))
    return replace(profile, routes=routes)


def fetch_references(profile: Profile, fetch: Fetch) -> Profile:
    """Each declared size whose content is not known yet, fetched once."""
    large = profile.routes.large
    if large is None or not large.needs_preflight:
        return profile
    unknown = [size for size in large.sizes if large.digest(size) is None]
    return with_references(profile, {size: fetch(large.url_path(size)) for size in unknown})


def http_fetch(url: str) -> Fetch:
    """A Fetch from the target at `url` (a fresh connection per request, the body hashed as it arrives)."""
    parts = urlsplit(url)

    def fetch(path: str) -> tuple[int, int, str]:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                                timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            digest, length = hashlib.sha256(), 0
            while chunk := response.read(READ_CHUNK_BYTES):
                digest.update(chunk)
                length += len(chunk)
            return response.status, length, digest.hexdigest()
        except (OSError, http.client.HTTPException) as error:
            raise LabError(f"preflight: GET {path} from the target failed: {type(error).__name__}: {error}") from None
        finally:
            connection.close()

    return fetch
