"""The Responses API request — every parameter OpenAI defines is either honoured here or refused
with a 400 that names it — and the conversation it stands for."""

from typing import Annotated, Any, Literal

from openai_harmony import Message, ToolDescription
from pydantic import Discriminator, Field, Tag

from ...config import CoreConfig
from ..conversation import (
    BUILTIN_TOOLS,
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
from ..request import Echoed, Strict

# -- input items ----------------------------------------------------------------------------


class TextPart(Echoed):
    type: Literal["input_text", "output_text", "text"]
    text: str


class SummaryPart(Echoed):
    type: Literal["summary_text"]
    text: str


class ReasoningPart(Echoed):
    type: Literal["reasoning_text"]
    text: str


class MessageItem(Echoed):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[TextPart]


class ReasoningItem(Echoed):
    type: Literal["reasoning"]
    summary: list[SummaryPart] = Field(default_factory=list)
    content: list[ReasoningPart] | None = None


class FunctionCallItem(Echoed):
    type: Literal["function_call"]
    name: str
    arguments: str
    call_id: str


class FunctionCallOutputItem(Echoed):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[TextPart]


class BuiltinCallItem(Echoed):
    """A web_search_call or code_interpreter_call sent back: what already ran (the stored
    conversation holds its messages)."""

    type: Literal["web_search_call", "code_interpreter_call"]


def _item_type(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("type", "message")  # an "easy" message carries no type
    return getattr(value, "type", None)


type InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[BuiltinCallItem, Tag("web_search_call")]
    | Annotated[BuiltinCallItem, Tag("code_interpreter_call")],
    Discriminator(_item_type),
]

# -- tools ----------------------------------------------------------------------------------


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class BuiltinTool(Echoed):
    """web_search (and its aliases) or code_interpreter: a tool plugin the server runs."""

    type: Literal["web_search", "web_search_preview", "browser_search", "code_interpreter"]


type Tool = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[BuiltinTool, Tag("web_search")]
    | Annotated[BuiltinTool, Tag("web_search_preview")]
    | Annotated[BuiltinTool, Tag("browser_search")]
    | Annotated[BuiltinTool, Tag("code_interpreter")],
    Discriminator(_item_type),
]


class NamedFunction(Strict):
    type: Literal["function"]
    name: str


# -- the request ----------------------------------------------------------------------------


class Reasoning(Strict):
    effort: Literal["low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(Strict):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(Strict):
    model: str | None = None
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedFunction = "auto"
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, gt=0)
    max_tool_calls: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    previous_response_id: str | None = None
    store: bool | None = True
    stream: bool | None = False
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    include: list[str] | None = None
    background: bool | None = None
    truncation: Literal["auto", "disabled"] | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def check(self) -> None:
        """Refuse what is valid for OpenAI but not done here (a 400 naming the parameter)."""
        if self.top_p is not None and self.top_p != 1.0:
            unsupported("top_p", "only 1 (no nucleus cut) is supported; use temperature")
        if self.background:
            unsupported("background", "responses always run in the foreground")
        if self.include:
            unsupported("include", "no extra output data can be included")
        if self.truncation == "auto":
            unsupported("truncation", "only 'disabled' is supported (an input that does not "
                        "fit is a context_length_exceeded error)")
        if self.top_logprobs:
            unsupported("top_logprobs", "log probabilities are not available")
        if self.service_tier not in (None, "auto", "default"):
            unsupported("service_tier", "only 'auto' and 'default' are supported")
        if self.reasoning is not None and self.reasoning.summary is not None:
            unsupported("reasoning.summary", "the reasoning is returned whole as "
                        "reasoning_text, never summarised")
        if self.text is not None:
            if self.text.format is not None and self.text.format.type != "text":
                unsupported("text.format", f"only 'text' is supported, not "
                            f"{self.text.format.type!r}")
            if self.text.verbosity not in (None, "medium"):
                unsupported("text.verbosity", "only 'medium' is supported")
        if self.tool_choice == "required" and not self.tools:
            raise APIError(400, "tool_choice is 'required' but the request has no tools.",
                           param="tool_choice", code="invalid_value")
        if isinstance(self.tool_choice, NamedFunction):
            names = {t.name for t in self.tools or [] if isinstance(t, FunctionTool)}
            if self.tool_choice.name not in names:
                raise APIError(400, f"tool_choice names the function {self.tool_choice.name!r}, "
                               f"which is not among the request's tools.",
                               param="tool_choice.name", code="invalid_value")

    @property
    def choice(self) -> ToolChoice:
        named = self.tool_choice
        return ToolChoice("function", named.name) if isinstance(named, NamedFunction) \
            else ToolChoice(named)

    def builtin_types(self) -> list[str]:
        return [tool.type for tool in self.tools or []
                if isinstance(tool, BuiltinTool) and tool.type in BUILTIN_TOOLS]


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def to_turn(req: ResponsesRequest, base: CoreConfig, history: list[Message],
            calls: dict[str, str]) -> TurnRequest:
    """The conversation a request continues (`history`, from previous_response_id) plus its
    input. `calls` maps call ids to function names and is extended with the input's calls."""
    req.check()
    instructions = [req.instructions] if req.instructions else []
    new: list[Message] = []
    items: list[Any] = [MessageItem(role="user", content=req.input)] \
        if isinstance(req.input, str) else req.input
    for i, item in enumerate(items):
        if isinstance(item, MessageItem):
            text = _text(item.content)
            if item.role in ("system", "developer"):
                instructions.append(text)
            elif item.role == "user":
                new.append(user(text))
            else:
                new.append(assistant(text))
        elif isinstance(item, ReasoningItem):
            text = "".join(c.text for c in item.content or []) or \
                "".join(s.text for s in item.summary)
            new.append(assistant(text, "analysis"))
        elif isinstance(item, FunctionCallItem):
            calls[item.call_id] = item.name
            new.append(function_call(item.name, item.arguments))
        elif isinstance(item, FunctionCallOutputItem):
            name = calls.get(item.call_id)
            if name is None:
                raise APIError(400, f"No function call with call_id {item.call_id!r} precedes "
                               f"this function_call_output.", param=f"input[{i}].call_id")
            new.append(function_output(name, _text(item.output)))
        # web_search_call / code_interpreter_call items record what already ran: the stored
        # conversation holds their messages, and a client resubmitting them needs nothing here.
    functions = {
        f"functions.{tool.name}": ToolDescription.new(
            tool.name, tool.description or "",
            parameters=tool.parameters or {"type": "object", "properties": {}})
        for tool in req.tools or [] if isinstance(tool, FunctionTool)
    }
    effort = req.reasoning.effort if req.reasoning else None
    settings = settings_for(
        base,
        reasoning_effort=effort,
        temperature=req.temperature,
        max_tokens=req.max_output_tokens,
        max_tool_rounds=req.max_tool_calls,
        developer_message="\n\n".join(instructions) if instructions else None,
    )
    return TurnRequest(history, new, settings, functions, choice=req.choice)
