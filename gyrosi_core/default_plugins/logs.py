"""`gyrosi logs`: list, search and show the logged conversations."""

from typing import Any

import click

from ..hookspecs import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @click.option("-n", "--count", default=3, show_default=True,
                  help="How many of the most recent turns (0: all).")
    @click.option("-q", "--query", help="Full-text search of prompts and answers (SQLite FTS5 "
                  "syntax: words, \"a phrase\", word*, OR, NOT).")
    @click.option("--cid", help="Only the turns of this conversation.")
    @click.option("--json", "as_json", is_flag=True, help="Print the turns, messages included, "
                  "as JSON.")
    def logs(count: int, query: str | None, cid: str | None, as_json: bool) -> None:
        """Show logged turns of `gyrosi run` and `gyrosi generate`, oldest first.

        The log is $GYROSI_HOME/logs.sqlite3; continue a conversation with
        `gyrosi generate -c` (the latest) or `--cid ID`.
        """
        import json

        from ..home import gyrosi_home
        from ..logs import open_log

        if count < 0:
            raise click.BadParameter("must be 0 or more.", param_hint="-n")
        turns = open_log(gyrosi_home()).turns(limit=count or None, query=query,
                                              conversation_id=cid)
        if as_json:
            click.echo(json.dumps([t.to_dict() for t in turns], ensure_ascii=False, indent=2))
            return
        if not turns:
            click.echo("No logged turns" + (" match." if query or cid else " yet."), err=True)
            return
        for turn in turns:
            _show(turn)


def _show(turn: Any) -> None:
    import datetime

    when = datetime.datetime.fromtimestamp(turn.started).isoformat(" ", "seconds")
    usage = f"{turn.prompt_tokens}+{turn.completion_tokens} tokens"
    click.echo(f"# {when} · {turn.conversation_id} · {turn.backend} · {turn.stop_reason} · "
               f"{usage} · {turn.seconds:.2f} s")
    click.echo("\n".join("> " + line for line in turn.prompt.splitlines() or [""]) + "\n")
    if turn.error:
        click.echo(f"error: {turn.error}\n")
    elif turn.answer:
        click.echo(turn.answer + "\n")
