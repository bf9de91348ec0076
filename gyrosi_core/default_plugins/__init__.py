"""Built-in plugins: the core's own front-ends and handlers, registered through the same hooks
third-party plugins use."""

from . import chat, handlers, info, oneshot, serve

MODULES = (handlers, chat, oneshot, serve, info)
