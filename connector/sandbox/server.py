"""Serving an emulator's ASGI app with uvicorn in a background thread, over HTTP or TLS.

The Salesforce emulator must speak TLS because simple-salesforce hard-codes ``https://``; the
HubSpot emulator may (``Sandbox(hubspot_tls=True)``), with a certificate from the same CA. The
certificate comes from a throwaway certificate authority (``trustme``) whose PEM file clients
trust explicitly, so nothing ever switches verification off.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn

HOST = "127.0.0.1"


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the throwaway CA certificate (for clients) and the server's key and chain."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600 from the start, no window)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)


def ensure_tls_files(directory: Path) -> TLSFiles:
    """The CA and 127.0.0.1/localhost certificate in ``directory``, created if any is missing."""
    files = TLSFiles(directory / "sandbox-ca.pem", directory / "server-cert.pem",
                     directory / "server-key.pem")
    if all(path.is_file() for path in (files.ca_file, files.cert_file, files.key_file)):
        files.key_file.chmod(0o600)  # a key written by an older version may be wider
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="leadscore sandbox CA")
    cert = ca.issue_cert(HOST, "localhost")
    ca.cert_pem.write_to_path(str(files.ca_file))
    cert.cert_chain_pems[0].write_to_path(str(files.cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert_file), append=True)
    write_private(files.key_file, cert.private_key_pem.bytes())
    return files


def bind_socket(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port=0`` picks a free one)."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every answer waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port}: {exc.strerror}; pick another --port") from exc
    sock.listen(512)
    return sock


class ServerThread:
    """One uvicorn server running ``app`` in a daemon thread until :meth:`stop`."""

    def __init__(self, app, *, port: int = 0, tls: TLSFiles | None = None, name: str = "sandbox"):
        self.sock = bind_socket(port)
        self.port = self.sock.getsockname()[1]
        self.scheme = "https" if tls else "http"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_keep_alive=30, backlog=512,
            # Idle keep-alive clients never close their side; without a bound, stop() would
            # wait for them until the join timeout.
            timeout_graceful_shutdown=1,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"{name}-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        """The URL clients use, e.g. ``https://127.0.0.1:8443``."""
        return f"{self.scheme}://{HOST}:{self.port}"

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving and wait until the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit, wait for its thread, and release the port."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.sock.close()

