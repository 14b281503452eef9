"""Hardware simulator for Check Station: lamp controller, camera and the world they observe."""
