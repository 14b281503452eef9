"""HTTP snapshot endpoint so a station in another process can use the simulated camera.

``GET /frame?after=<monotonic s>&exposure_ms=..&gain=..&timeout_s=..`` returns a PNG with
``X-Frame-Timestamp`` (CLOCK_MONOTONIC seconds, comparable across processes on one machine),
``X-Frame-Index``, ``X-Exposure-Ms``, ``X-Gain`` and ``X-Frame-Metadata`` (JSON) headers.
504 means the camera timed out, 503 that it is disconnected.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from hw_sim.camera import SimCamera, SimCameraGone, SimCameraTimeout


class SnapshotServer:
    def __init__(self, camera: SimCamera, host: str = "127.0.0.1", port: int = 0) -> None:
        cam = camera

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet: one line per frame would drown the simulator's own output."""

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                if url.path != "/frame":
                    self.send_error(404, "only /frame is served")
                    return
                q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                try:
                    after = float(q.get("after", "0"))
                    exposure = float(q.get("exposure_ms", "10"))
                    gain = float(q.get("gain", "1"))
                    timeout = min(float(q.get("timeout_s", "2")), 10.0)
                except ValueError:
                    self.send_error(400, "after, exposure_ms, gain and timeout_s must be numbers")
                    return
                try:
                    frame = cam.grab(after, exposure, gain, timeout)
                except SimCameraTimeout as exc:
                    self.send_error(504, str(exc))
                    return
                except SimCameraGone as exc:
                    self.send_error(503, str(exc))
                    return
                ok, png = cv2.imencode(".png", frame.image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
                if not ok:
                    self.send_error(500, "PNG encoding failed")
                    return
                body = png.tobytes()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Frame-Timestamp", repr(frame.timestamp))
                self.send_header("X-Frame-Index", str(frame.index))
                self.send_header("X-Exposure-Ms", str(frame.exposure_ms))
                self.send_header("X-Gain", str(frame.gain))
                self.send_header("X-Frame-Metadata", json.dumps(frame.metadata))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hwsim-camera-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)
