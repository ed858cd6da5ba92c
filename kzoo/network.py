"""Whether a host answers: the few-second probe behind every offline check (tfds, hub presets, BERT checkpoints).

Downloaders (tfds, huggingface_hub, kagglehub, keras-hub) retry for minutes without a network; kzoo
opens one TCP connection first and fails in one line instead. Only the standard library here, so
any layer can ask.
"""

from __future__ import annotations

import socket


def network_reachable(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    """Return True when a TCP connection to `host:port` opens within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
