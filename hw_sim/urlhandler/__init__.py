"""pyserial URL handlers provided by the simulator (``hwsim://NAME``).

``register()`` adds this package to ``serial.protocol_handler_packages``; a ``SimStation``
with ``port="memory"`` calls it when it starts, so the station's transport opens
``hwsim://`` URLs through plain ``serial.serial_for_url`` without knowing the simulator.
"""

from __future__ import annotations

import serial

PACKAGE = "hw_sim.urlhandler"


def register() -> None:
    """Make pyserial resolve ``hwsim://NAME`` (idempotent)."""
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)
