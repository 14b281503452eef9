"""The station as an appliance on a Raspberry Pi: systemd units, kiosk, udev, log rotation."""
