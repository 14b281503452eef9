"""Prometheus metrics of one app, in their own registry (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "station_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "station_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.checks = Counter(
            "station_checks",
            "Checks finished, by state and verdict",
            ["state", "verdict"],
            registry=self.registry,
        )
        self.logins = Counter(
            "station_logins", "Login attempts by result", ["result"], registry=self.registry
        )
        self.scan_seconds = Histogram(
            "station_scan_seconds",
            "Time from start to recorded result of a tray scan",
            buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
            registry=self.registry,
        )
        self.running = Gauge("station_checks_running", "Checks running now", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
