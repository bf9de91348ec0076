"""The Chat Completions request — every parameter OpenAI defines is either honoured here or
refused with a 400 that names it — and the conversation it stands for."""

from typing import Any, Literal

from openai_harmony import Message, ToolDescription
from pydantic import Field

from ...config import CoreConfig
from ..conversation import (
    ToolChoice,
    TurnRequest,
    assistant,
    function_call,
    function_output,
    settings_for,
    unsupported,
    user,
)
from ..errors import APIError
from ..request import Echoed, Strict, check_stops, stop_strings


class ContentPart(Echoed):
    type: str
    text: str | None = None


class CalledFunction(Echoed):
    name: str
    arguments: str = ""


class ToolCall(Echoed):
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(Echoed):
    """A message; fields the server sent in an assistant message (refusal, annotations) may
    come back with it."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ChatTool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class StreamOptions(Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class ChosenFunction(Strict):
    name: str


class NamedTool(Strict):
    type: Literal["function"]
    function: ChosenFunction


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class ChatRequest(Strict):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedTool | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, int] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None

    @property
    def stops(self) -> list[str]:
        return stop_strings(self.stop)

    def check(self) -> None:
        """Refuse what is valid for OpenAI but not done here (a 400 naming the parameter)."""
        if self.n not in (None, 1) and self.stream:
            unsupported("n", "several choices are returned whole, not streamed")
        if self.top_p is not None and self.top_p != 1.0:
            unsupported("top_p", "only 1 (no nucleus cut) is supported; use temperature")
        if self.logprobs or self.top_logprobs:
            unsupported("logprobs" if self.logprobs else "top_logprobs",
                        "log probabilities are not available")
        if self.response_format is not None and self.response_format.type != "text":
            unsupported("response_format", f"only 'text' is supported, not "
                        f"{self.response_format.type!r}")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                unsupported(name, "only 0 is supported")
        if self.logit_bias:
            unsupported("logit_bias", "token biases are not applied")
        if self.verbosity not in (None, "medium"):
            unsupported("verbosity", "only 'medium' is supported")
        if self.modalities is not None and self.modalities != ["text"]:
            unsupported("modalities", "only ['text'] is supported")
        if self.service_tier not in (None, "auto", "default"):
            unsupported("service_tier", "only 'auto' and 'default' are supported")
        if self.store:
            unsupported("store", "chat completions are not stored (use the Responses API)")
        check_stops(self.stops)
        if isinstance(self.tool_choice, NamedTool):
            names = {tool.function.name for tool in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise APIError(400, f"tool_choice names the function "
                               f"{self.tool_choice.function.name!r}, which is not among the "
                               f"request's tools.", param="tool_choice.function.name",
                               code="invalid_value")
        if self.tool_choice in ("required",) and not self.tools:
            raise APIError(400, "tool_choice is 'required' but the request has no tools.",
                           param="tool_choice", code="invalid_value")

    @property
    def choice(self) -> ToolChoice:
        named = self.tool_choice
        if isinstance(named, NamedTool):
            return ToolChoice("function", named.function.name)
        return ToolChoice(named or "auto")


def _text(content: str | list[ContentPart] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, part in enumerate(content):
        if part.text is None:
            raise APIError(400, f"Invalid value for '{where}[{i}]': only text content is "
                           f"supported, not {part.type!r}.",
                           param=f"{where}[{i}]", code="unsupported_content")
        texts.append(part.text)
    return "".join(texts)


def to_turn(req: ChatRequest, base: CoreConfig) -> TurnRequest:
    req.check()
    instructions: list[str] = []
    calls: dict[str, str] = {}
    messages: list[Message] = []
    for i, m in enumerate(req.messages):
        text = _text(m.content, f"messages[{i}].content")
        if m.role in ("system", "developer"):
            instructions.append(text)
        elif m.role == "user":
            messages.append(user(text))
        elif m.role == "assistant":
            if reasoning := m.reasoning or m.reasoning_content:
                messages.append(assistant(reasoning, "analysis"))
            if text:
                messages.append(assistant(text))
            for call in m.tool_calls or []:
                calls[call.id] = call.function.name
                messages.append(function_call(call.function.name, call.function.arguments))
        else:
            name = calls.get(m.tool_call_id or "")
            if name is None:
                raise APIError(400, f"The tool message's tool_call_id {m.tool_call_id!r} "
                               f"matches no earlier assistant tool call.",
                               param=f"messages[{i}].tool_call_id")
            messages.append(function_output(name, text))
    functions = {
        f"functions.{tool.function.name}": ToolDescription.new(
            tool.function.name, tool.function.description, parameters=tool.function.parameters)
        for tool in req.tools or []
    }
    settings = settings_for(
        base,
        reasoning_effort=req.reasoning_effort,
        temperature=req.temperature,
        seed=req.seed,
        max_tokens=req.max_completion_tokens or req.max_tokens,
        developer_message="\n\n".join(instructions) if instructions else None,
    )
    # the last message is the new input; everything before it is history
    return TurnRequest(messages[:-1], messages[-1:], settings, functions, choice=req.choice)
