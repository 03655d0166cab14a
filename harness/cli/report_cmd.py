"""`harness report`: build the static HTML site from stored results."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.option("--results", "results", multiple=True, type=click.Path(path_type=Path),
              help="Results folder or file (repeatable; default: results).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where the site is written (index.html, kernel pages, assets/).")
@click.option("--open", "open_browser", is_flag=True, help="Open the index in a web browser afterwards.")
@click.option("--serve", is_flag=True, help="Serve the site on http://127.0.0.1:PORT until Ctrl-C "
                                            "(never needed: the files work opened from disk).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve.")
def command(results, out_dir, open_browser, serve, port):
    """Build an offline HTML report: speed and divergence across backends, sizes, machines and commits."""
    from ..report import build_report

    paths = list(results) or [Path("results")]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise click.BadParameter(f"no results at {', '.join(missing)}; run `harness run` first or pass --results DIR",
                                 param_hint="--results")
    try:
        site = build_report(paths, out_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for w in site.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"report: {site.index} ({len(site.pages)} kernel page(s), {len(site.rebuilt)} rebuilt, {site.n_records} records, "
               f"{len(site.machines)} machine(s))")
    if open_browser:
        import webbrowser

        webbrowser.open(site.index.resolve().as_uri())
    if serve:
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site.out))
        with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
            click.echo(f"serving {site.out} on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C to stop)")
            try:
                httpd.serve_forever()
            except KeyboardInterrupt:
                pass
