"""Station-side hardware: the lamp controller (serial protocol) and the camera."""
