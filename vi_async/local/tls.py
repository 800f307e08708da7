"""HTTPS for the local server: a private CA and a certificate made at start-up, or given files.

The made CA (``trustme``, in the ``local`` extra) signs a certificate for the
loopback names (``127.0.0.1``, ``localhost``, ``::1``) and the server's host; its
certificate is written to a private temporary file, ``ca_path``, which a client
trusts with ``verify=ca_path`` or ``SSL_CERT_FILE``. It is removed when the server stops.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
from pathlib import Path

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MISSING_TRUSTME = (
    "tls=True without a certificate needs trustme to make one: "
    "pip install 'vi-async[local]' (or pass cert and key files)"
)


class ServerTLS:
    """The server side of TLS: its SSL context, and the CA file clients should trust."""

    def __init__(self, cert: str | None = None, key: str | None = None) -> None:
        """Choose the certificate; nothing is made before :meth:`context`.

        Args:
            cert: A PEM certificate (chain) file; None to make one at start-up.
            key: Its private key file (None: the key is in ``cert``).

        Raises:
            ValueError: ``key`` without ``cert``, or a file that does not exist.
        """
        if key is not None and cert is None:
            raise ValueError("a TLS key needs its certificate (cert)")
        for path in (cert, key):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"no such TLS file: {path}")
        self._cert, self._key = cert, key
        self._dir: str | None = None
        self.ca_path: str | None = None
        """The CA certificate to trust (PEM), when the server made its own; else None."""

    def context(self, host: str) -> ssl.SSLContext:
        """The server's SSL context; makes the CA and certificate when none was given.

        Args:
            host: The address the server listens on (named in the certificate too).

        Returns:
            A server-side context holding the certificate.

        Raises:
            RuntimeError: A certificate must be made and trustme is not installed.
        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if self._cert is not None:
            context.load_cert_chain(self._cert, self._key)
            return context
        try:
            import trustme
        except ImportError:
            raise RuntimeError(MISSING_TRUSTME) from None
        ca = trustme.CA(organization_name="vi-async local server")
        names = [*LOOPBACK_NAMES, *([host] if _nameable(host) else [])]
        ca.issue_cert(*dict.fromkeys(names)).configure_cert(context)
        self._dir = tempfile.mkdtemp(prefix="vi-local-tls-")
        self.ca_path = str(Path(self._dir) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        return context

    def cleanup(self) -> None:
        """Remove the made CA file, if any."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self.ca_path = None


def _nameable(host: str) -> bool:
    """True for a host a certificate can name (not a wildcard address such as 0.0.0.0)."""
    if not host or host in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return True
