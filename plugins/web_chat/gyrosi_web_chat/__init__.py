"""A web chat page for `gyrosi serve` (a client of the server's public API), and `gyrosi web`."""
