"""The GyroSI engine: frozen physics, the atlas of its state space, and (next) memory and speech."""
