"""pyserial URL handlers provided by the simulator (``hwsim://NAME``).

``register()`` adds this package to ``serial.protocol_handler_packages``; the station's
transport calls it when it is given an ``hwsim://`` URL.
"""

from __future__ import annotations

import serial

PACKAGE = "hw_sim.urlhandler"


def register() -> None:
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)
