"""`gyrosi generate`: one turn, final text on stdout (or everything as JSON)."""

import json
import sys

import click

from ..events import MessageEnd, SourceCited, TurnEnd, TurnError
from ..frontend import engine_options, open_engine, pass_host
from ..hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("prompt")
    @engine_options
    @click.option("--json", "as_json", is_flag=True, help="Print every message and usage as JSON.")
    @pass_host
    def generate(host, prompt: str, as_json: bool, **flags):
        """Run one turn for PROMPT ('-' reads standard input) and print the final answer."""
        if prompt == "-":
            prompt = sys.stdin.read()
        engine = open_engine(host, "generate", flags)
        conv = engine.new_conversation()
        messages, sources, end, error = [], [], None, None
        try:
            for event in engine.user_turn(conv, prompt):
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
