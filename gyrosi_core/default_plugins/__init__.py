"""Built-in plugins: the core's own front-ends and handlers, registered through the same hooks
third-party plugins use, and loaded by name (`gyrosi_core.plugins.DEFAULT_PLUGINS`).

Each module imports only click and the option helpers at start-up; what a command needs to run
(the turn engine, the terminal, the server) is imported when it runs, so `gyrosi --help` stays
fast."""
