"""Findings alerts: newly opened and newly resolved findings POSTed as JSON to ITAM_WEBHOOK_URL.

Delivery runs on a background thread fed by a queue, so a slow or dead receiver never blocks or
fails an ingest. Each POST carries up to `BATCH` events, is signed with HMAC-SHA256 of the body in
`X-Itam-Signature: sha256=<hex>` when ITAM_WEBHOOK_SECRET is set, and is retried with exponential
backoff on a connection error or a non-2xx answer. At process exit the queue gets a bounded time to
drain (ITAM_WEBHOOK_EXIT_SECONDS, default 10).
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone

log = logging.getLogger(__name__)

BATCH = 100
SIGNATURE_HEADER = "X-Itam-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value a receiver recomputes to check the sender."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs batches of finding events from one daemon thread; `submit` never blocks."""

    def __init__(self, url: str, secret: str | None = None, attempts: int = 5, backoff_seconds: float = 1.0,
                 timeout_seconds: float = 10.0):
        self.url, self.secret = url, secret
        self.attempts, self.backoff, self.timeout = attempts, backoff_seconds, timeout_seconds
        self.delivered = self.failed = 0
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="itam-webhook", daemon=True)
        self._thread.start()

    def submit(self, events: list[dict]) -> None:
        """Queue events for delivery (returns at once)."""
        sent_at = datetime.now(timezone.utc).isoformat()
        for start in range(0, len(events), BATCH):
            body = {"sent_at": sent_at, "events": events[start:start + BATCH]}
            self._queue.put(json.dumps(body, default=str).encode())

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the queue to drain; True if everything was attempted."""
        done = threading.Event()

        def drain() -> None:
            self._queue.join()
            done.set()
        threading.Thread(target=drain, daemon=True).start()
        return done.wait(timeout)

    def _work(self) -> None:
        while True:
            body = self._queue.get()
            try:
                self._deliver(body)
            finally:
                self._queue.task_done()

    def _deliver(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "itam-graph"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        for attempt in range(self.attempts):
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.warning("webhook %s attempt %d failed: %s", self.url, attempt + 1, exc)
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * 2 ** attempt)   # on this delivery thread only
        self.failed += 1


_sender: WebhookSender | None = None
_lock = threading.Lock()


def from_env() -> WebhookSender | None:
    """The process's sender for ITAM_WEBHOOK_URL (None when unset), drained at exit for a bounded time."""
    global _sender
    url = os.environ.get("ITAM_WEBHOOK_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        log.warning("ITAM_WEBHOOK_URL %r is not an http(s) URL; no alerts sent", url)
        return None
    with _lock:
        if _sender is None or _sender.url != url:
            _sender = WebhookSender(url, os.environ.get("ITAM_WEBHOOK_SECRET") or None)
            exit_wait = float(os.environ.get("ITAM_WEBHOOK_EXIT_SECONDS", "10"))
            atexit.register(_sender.flush, exit_wait)
        return _sender


def env_notifier() -> Callable[[list[dict]], None] | None:
    """`notify_from_env` when a webhook is configured, else None (an evaluation then reads no events)."""
    return notify_from_env if from_env() is not None else None


def notify_from_env(events: list[dict]) -> None:
    """Send events to the configured webhook, if any."""
    sender = from_env()
    if sender is not None:
        sender.submit(events)
