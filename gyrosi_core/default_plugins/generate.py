"""`gyrosi generate`: one turn, final text on stdout (or everything as JSON)."""

import sys
from typing import Any

import click

from ..hookspecs import hookimpl
from ..options import engine_options, log_options, pass_host


def prompt_text(prompt: str | None) -> str:
    """The prompt, with piped standard input put before it (`cat notes | gyrosi generate
    "summarise"`); `-` is standard input alone."""
    if prompt == "-":
        return sys.stdin.read()
    piped = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    if prompt is None and not piped:
        raise click.UsageError("Give a PROMPT, or pipe text on standard input.")
    return "\n".join(part for part in (piped.rstrip("\n"), prompt) if part)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @click.argument("prompt", required=False)
    @engine_options
    @log_options
    @click.option("--json", "as_json", is_flag=True, help="Print every message and usage as JSON.")
    @pass_host
    def generate(host: Any, prompt: str | None, as_json: bool, **flags: Any) -> None:
        """Run one turn for PROMPT and print the final answer.

        Piped standard input is put before PROMPT ('-' reads standard input alone). The turn is
        logged (see `gyrosi logs`) unless --no-log is given; -c or --cid continues a logged
        conversation.
        """
        import json

        from ..events import MessageEnd, SourceCited, TurnEnd, TurnError
        from ..frontend import open_engine, start_conversation

        text = prompt_text(prompt)
        engine = open_engine(host, "generate", flags)
        messages: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        end, error = None, None
        try:
            conv, recorder = start_conversation(engine, "generate", flags)
            try:
                with recorder.turn(conv, text) as watch:
                    for event in engine.user_turn(conv, text):
                        watch.see(event)
                        if isinstance(event, MessageEnd):
                            messages.append(event.to_dict())
                        elif isinstance(event, SourceCited):
                            sources.append({"name": event.name, "position": event.position,
                                            "terms": list(event.terms)})
                        elif isinstance(event, TurnError):
                            error = event
                        elif isinstance(event, TurnEnd):
                            end = event
            finally:
                engine.end_conversation(conv)
        finally:
            engine.close()
        assert end is not None  # a turn always ends with TurnEnd
        if as_json:
            out = {
                "conversation_id": conv.id,
                "messages": messages,
                "final": end.final_text,
                "sources": sources,
                "stop_reason": end.stop_reason,
                "tool_rounds": end.tool_rounds,
                "usage": end.to_dict()["usage"],
                "error": error.message if error else None,
            }
            click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        elif end.stop_reason != "error":
            click.echo(end.final_text)
        if error is not None:
            if not as_json:
                click.echo(f"Error: {error.message}", err=True)
            sys.exit(1)
