"""The transport-neutral part of the bus: what a delivery is, what a source and a sink can do,
and how a bus URL is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit


class BusError(RuntimeError):
    """A transport failed: bad URL, broker unreachable, a message that could not be delivered."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it came off a transport: opaque bytes plus where they came from."""

    payload: bytes
    source: str  # the source URL without credentials, e.g. "kafka://127.0.0.1:9092/telemetry"
    ref: str  # "topic/partition/offset" (Kafka), "topic#mid" (MQTT), "memory#n"
    key: bytes | None = None


@runtime_checkable
class Source(Protocol):
    """Where messages come from. At-least-once: what ``poll`` returned is acknowledged only by
    ``commit``; whatever is not committed when the source dies comes again."""

    url: str  # the URL without credentials

    def poll(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries; possibly fewer, possibly none after ``timeout_s``."""
        ...

    def commit(self) -> None:
        """Everything ``poll`` returned so far is durably stored: acknowledge it."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Where messages go (downlink commands, exports)."""

    def send(self, topic: str, payload: bytes, key: bytes | None = None) -> None: ...

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything sent so far is acknowledged by the broker; BusError if not."""
        ...

    def close(self) -> None: ...


_SECRET_PARAMS = ("password", "secret", "token")


@dataclass(frozen=True, slots=True)
class BusUrl:
    """A bus URL taken apart: ``scheme://[user[:password]@]hosts/path?params``.

    ``hosts`` is kept as written (``h1:9092,h2:9092`` is one Kafka bootstrap list). A ``#`` in
    the path is an MQTT wildcard, not a fragment."""

    scheme: str
    hosts: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BusUrl:
        if "://" not in url:
            raise BusError(f"not a bus URL (want scheme://...): {url!r}")
        parts = urlsplit(url.replace("#", "%23"))
        netloc = parts.netloc
        username = password = None
        if "@" in netloc:
            userinfo, netloc = netloc.rsplit("@", 1)
            user, sep, pw = userinfo.partition(":")
            username = unquote(user) or None
            password = unquote(pw) if sep else None
        params: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in params:
                where = f"{parts.scheme}://{netloc}{parts.path}"  # no credentials
                raise BusError(f"parameter {key!r} given twice in {where!r}")
            params[key] = value
        return cls(
            scheme=parts.scheme.lower(),
            hosts=netloc,
            path=unquote(parts.path),
            params=params,
            username=username,
            password=password,
        )

    def public(self) -> str:
        """The URL without credentials (user, password, secret parameters)."""
        path = quote(self.path, safe="/,+#*:@!$&'()=;-_.~")
        query = urlencode([(k, v) for k, v in self.params.items() if not _is_secret(k)], safe=",:/")
        return f"{self.scheme}://{self.hosts}{path}" + (f"?{query}" if query else "")

    def host_port(self, default_port: int) -> tuple[str, int]:
        """A single ``host[:port]`` (MQTT); IPv6 literals in brackets."""
        hosts = self.hosts
        if not hosts or "," in hosts:
            raise BusError(f"want exactly one host:port in {self.public()!r}")
        if hosts.startswith("["):
            host, _, rest = hosts[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = hosts.partition(":")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise BusError(f"bad port in {self.public()!r}") from None
        return host, port

    def names(self) -> list[str]:
        """The path as a comma-separated list of topics (or topic filters)."""
        return [name for name in self.path.lstrip("/").split(",") if name]


def _is_secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_PARAMS)


def redact(url: str) -> str:
    """``url`` without credentials, for logs and ``Delivery.source``; never raises."""
    try:
        return BusUrl.parse(url).public()
    except (BusError, ValueError):
        return url.split("://", 1)[0] + "://?"


def int_param(params: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BusError(f"parameter {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise BusError(f"parameter {name}={value} is below {minimum}")
    return value


def check_params(
    params: dict[str, str], known: set[str], url: str, *, dotted_pass: bool = False
) -> None:
    """Refuse unknown parameters (typos); ``dotted_pass`` lets ``a.b`` keys through."""
    unknown = sorted(k for k in params if k not in known and not (dotted_pass and "." in k))
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise BusError(f"unknown parameter(s) {', '.join(unknown)} in {url!r}; known: {names}")
