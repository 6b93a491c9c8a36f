"""Throwaway TLS material (the same openssl recipe as the local broker's: scripts/kafka.sh certs)
and Kafka client options built with the standard library only, independently of actionlog's."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

from testkit.kafka import KAFKA_SH, ROOT

__all__ = ["client_tls_options", "encrypt_key", "throwaway_certs"]


def throwaway_certs(directory: Path) -> Path:
    """A fresh CA (ca.pem, ca.key), server (server.pem/.key, for 127.0.0.1 and localhost) and client
    (client.pem/.key) certificates in ``directory``; returns it."""
    subprocess.run([str(KAFKA_SH), "certs", str(directory)], check=True, cwd=ROOT)
    return directory


def encrypt_key(key: Path, out: Path, password: str) -> Path:
    """``key`` encrypted with ``password`` (PKCS#8, AES-256) into ``out``."""
    subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(key), "-out", str(out), "-passout", "stdin"],
        input=password.encode(),
        check=True,
        capture_output=True,
    )
    return out


def client_tls_options(
    ca_file: Path, *, cert: Path | None = None, key: Path | None = None, sasl: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """aiokafka options of a test client over TLS; ``sasl`` is (mechanism, user, password)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        context.load_cert_chain(cert, key)
    options: dict[str, Any] = {"security_protocol": "SSL", "ssl_context": context}
    if sasl is not None:
        mechanism, user, password = sasl
        options.update(
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,
            sasl_plain_username=user,
            sasl_plain_password=password,
        )
    return options
