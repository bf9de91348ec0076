"""Tools the model can call, and routing a recipient to the tool that answers it."""

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from gpt_oss.tools.tool import Tool
from openai_harmony import Author, Message, Role, TextContent, ToolDescription, ToolNamespaceConfig
from pydantic import ValidationError

from .harmony import message_text


@dataclass
class FunctionTool:
    """A developer-declared function (`functions.NAME`): JSON arguments in, text out.

    `FunctionTool.from_function(fn)` builds one from a plain typed function: its name, its
    docstring as the description, and the JSON schema of its parameters from their type hints.
    """

    name: str  # without the `functions.` prefix
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None) -> "FunctionTool":
        """A tool from `fn`; the model's arguments are validated against its type hints."""
        from pydantic import TypeAdapter, validate_call

        description = inspect.getdoc(fn) or ""
        schema = TypeAdapter(cast(Any, fn)).json_schema()  # a function: its arguments
        properties = {  # pydantic's titles only repeat the names: tokens the model need not read
            name: {k: v for k, v in prop.items() if k != "title"}
            for name, prop in schema.get("properties", {}).items()
        }
        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        if schema.get("required"):
            parameters["required"] = schema["required"]
        if schema.get("$defs"):
            parameters["$defs"] = schema["$defs"]
        return cls(name or fn.__name__, description, validate_call(fn), parameters)

    @property
    def recipient(self) -> str:
        return f"functions.{self.name}"

    def description_for_model(self) -> ToolDescription:
        return ToolDescription.new(self.name, self.description, parameters=self.parameters)


class ToolCallError(Exception):
    """A tool call the model got wrong; the text goes back to the model, not to the user."""


def namespace_config(tool: Tool) -> ToolNamespaceConfig:
    """gpt-oss tools expose `tool_config`; a plain `Tool` is described by its instruction."""
    config = getattr(tool, "tool_config", None)
    if isinstance(config, ToolNamespaceConfig):
        return config
    return ToolNamespaceConfig(name=tool.name, description=tool.instruction(), tools=[])


def tool_message(recipient: str, text: str, channel: str | None) -> Message:
    """A message from tool `recipient` back to the assistant."""
    msg = Message.from_author_and_content(Author.new(Role.TOOL, recipient), TextContent(text=text))
    msg = msg.with_recipient("assistant")
    return msg.with_channel(channel) if channel else msg


def _call_function(tool: FunctionTool, raw_args: str, loop: asyncio.AbstractEventLoop) -> str:
    try:
        args = json.loads(raw_args) if raw_args.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolCallError(f"Error: arguments are not valid JSON ({exc.msg}).") from exc
    if not isinstance(args, dict):
        raise ToolCallError("Error: arguments must be a JSON object.")
    try:
        result = tool.fn(**args)
    except (TypeError, ValidationError) as exc:  # wrong, missing or mistyped arguments
        raise ToolCallError(f"Error: bad arguments for {tool.recipient}: {exc}.") from exc
    if inspect.isawaitable(result):
        result = _run(loop, _await(result))
    return result if isinstance(result, str) else json.dumps(result)


def _run[T](loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    """`work` on the conversation's loop. Called from code that runs inside another event loop
    (a notebook, an async application, Playwright's sync API), this thread cannot run a second
    loop, so the conversation's loop runs on a worker thread for the call."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running here: the usual case
        return loop.run_until_complete(work)
    with ThreadPoolExecutor(1, thread_name_prefix="gyrosi-tool") as pool:
        return pool.submit(loop.run_until_complete, work).result()


async def _await(value: Awaitable[Any]) -> Any:
    return await value


async def _collect(tool: Tool, message: Message) -> list[Message]:
    return [m async for m in tool.process(message)]


def dispatch(
    tools: dict[str, Tool | FunctionTool], call: Message, loop: asyncio.AbstractEventLoop
) -> list[Message]:
    """Run the tool `call` addresses and return the messages to append to the conversation.

    Async tools run on `loop`, the conversation's own event loop, so a stateful tool (a kernel
    client, an HTTP session) keeps working across calls.

    Every failure — unknown recipient, bad arguments, a tool that raises — becomes a tool
    message the model can read and react to; the turn never crashes on the model's mistakes.
    """
    recipient = call.recipient or ""
    text = message_text(call)
    tool = tools.get(recipient) or tools.get(recipient.split(".", 1)[0])
    try:
        if tool is None:
            known = ", ".join(sorted(tools)) or "none"
            raise ToolCallError(f"Error: no tool named {recipient!r} (available: {known}).")
        if isinstance(tool, FunctionTool):
            return [tool_message(recipient, _call_function(tool, text, loop), call.channel)]
        return _run(loop, _collect(tool, call))
    except ToolCallError as exc:
        return [tool_message(recipient, str(exc), call.channel)]
    except Exception as exc:  # a tool bug must not end the user's session
        return [tool_message(recipient, f"Error: {type(exc).__name__}: {exc}", call.channel)]
