"""How every Kafka client of the project authenticates: TLS and SASL (``ACTIONLOG_KAFKA_SECURITY_*``,
``ACTIONLOG_KAFKA_SSL_*``, ``ACTIONLOG_KAFKA_SASL_*``).

Inconsistent combinations are refused here, once, with one line naming the variable: a SASL
protocol without a username, a TLS file that is missing or not PEM, a TLS or SASL variable set
while the protocol does not use it (a setting that would silently do nothing).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from actionlog.core import env as e
from actionlog.core.errors import ConfigError
from actionlog.core.secret import Secret

__all__ = ["MECHANISMS", "PROTOCOLS", "KafkaSecurity", "key_password"]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

PROTOCOL = "ACTIONLOG_KAFKA_SECURITY_PROTOCOL"
CA_FILE = "ACTIONLOG_KAFKA_SSL_CA_FILE"
CERT_FILE = "ACTIONLOG_KAFKA_SSL_CERT_FILE"
KEY_FILE = "ACTIONLOG_KAFKA_SSL_KEY_FILE"
KEY_PASSWORD = "ACTIONLOG_KAFKA_SSL_KEY_PASSWORD"
CHECK_HOSTNAME = "ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME"
MECHANISM = "ACTIONLOG_KAFKA_SASL_MECHANISM"
USERNAME = "ACTIONLOG_KAFKA_SASL_USERNAME"
PASSWORD = "ACTIONLOG_KAFKA_SASL_PASSWORD"

_TLS_VARIABLES = (CA_FILE, CERT_FILE, KEY_FILE, KEY_PASSWORD, CHECK_HOSTNAME)
_SASL_VARIABLES = (MECHANISM, USERNAME, PASSWORD)


@dataclass(frozen=True)
class KafkaSecurity:
    """Security of the Kafka connections (the default: PLAINTEXT, no authentication).

    Attributes:
        protocol: ``PLAINTEXT``, ``SSL`` (TLS), ``SASL_PLAINTEXT`` or ``SASL_SSL`` (SASL over TLS).
        ca_file: PEM file of the CA(s) that signed the brokers' certificates; None: the system's.
        cert_file: PEM client certificate (mutual TLS); it may hold the key too.
        key_file: PEM private key of ``cert_file`` when it is a file of its own.
        key_password: password of an encrypted private key.
        check_hostname: the broker's certificate must name the host the client connects to (the
            chain is verified either way).
        sasl_mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
        username: SASL user.
        password: SASL password.
    """

    protocol: str = "PLAINTEXT"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    check_hostname: bool = True
    sasl_mechanism: str = "PLAIN"
    username: str = ""
    password: Secret | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        """The security settings, checked for consistency.

        Raises:
            ConfigError: one line naming the variable that is wrong, missing or useless.
        """
        protocol = _upper_choice(env, PROTOCOL, cls.protocol, PROTOCOLS)
        d = cls(protocol=protocol)
        for names, used, what in ((_TLS_VARIABLES, d.tls, "TLS"), (_SASL_VARIABLES, d.sasl, "SASL")):
            given = [name for name in names if env.get(name, "").strip()]
            if given and not used:
                raise ConfigError(
                    f"{given[0]} is set but {PROTOCOL}={protocol} does not use {what}; "
                    f"set {PROTOCOL} to {'SSL or SASL_SSL' if what == 'TLS' else 'SASL_SSL or SASL_PLAINTEXT'}"
                )
        if d.sasl:
            for name in (USERNAME, PASSWORD):
                if not env.get(name, "").strip():
                    raise ConfigError(f"{name} is required with {PROTOCOL}={protocol}")
        security = cls(
            protocol=protocol,
            ca_file=e.optional_file(env, CA_FILE),
            cert_file=e.optional_file(env, CERT_FILE),
            key_file=e.optional_file(env, KEY_FILE),
            key_password=e.secret(env, KEY_PASSWORD),
            check_hostname=e.flag(env, CHECK_HOSTNAME, cls.check_hostname),
            sasl_mechanism=_upper_choice(env, MECHANISM, cls.sasl_mechanism, MECHANISMS),
            username=e.text(env, USERNAME, ""),
            password=e.secret(env, PASSWORD),
        )
        if security.tls:
            _check_pem(security)
        return security


def _upper_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = e.text(env, name, default).upper()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def _check_pem(security: KafkaSecurity) -> None:
    """Load the TLS files once, so that a file that is not what it should be stops the command here
    rather than as a failed connection later."""
    if security.cert_file is None:
        for name, value in ((KEY_FILE, security.key_file), (KEY_PASSWORD, security.key_password)):
            if value is not None:
                raise ConfigError(f"{name} is set without {CERT_FILE}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if security.ca_file is not None:
        try:
            context.load_verify_locations(cafile=security.ca_file)
        except ssl.SSLError as exc:
            reason = exc.reason or "not PEM"
            raise ConfigError(f"{CA_FILE}={security.ca_file}: no CA certificate loads from it ({reason})") from None
    if security.cert_file is not None:
        try:
            context.load_cert_chain(security.cert_file, security.key_file, key_password(security))
        except ssl.SSLError:
            raise ConfigError(
                f"{CERT_FILE}={security.cert_file}: the client certificate and its key do not load (not PEM, "
                f"a key that does not match, a key of its own not in {KEY_FILE}, or an encrypted key "
                f"without its {KEY_PASSWORD})"
            ) from None


def key_password(security: KafkaSecurity) -> str:
    """The private key's password for `ssl.SSLContext.load_cert_chain`: never None, because None
    makes OpenSSL ask for it on the terminal (a hung process) when the key is encrypted."""
    return security.key_password.reveal() if security.key_password else ""
