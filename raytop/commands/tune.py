"""`raytop tune SCRIPT [ARGS]`: find the advisor's fixes that can be applied as `--set`
overrides, measure each in interleaved trials, keep what helps beyond the noise, and print the
kept changes as code to paste, with their measured gain (docs/tune.md)."""

from __future__ import annotations

import ast
import json
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from raytop.commands.common import FORCE, FiniteFloatRange
from raytop.errors import BadInput
from raytop.tuning.candidates import code_lines
from raytop.tuning.overrides import parse_settings
from raytop.tuning.progress import TuneProgress, TuneView, verdict_line
from raytop.tuning.trials import trial_table
from raytop.tuning.tune import Round, TuneOptions, Tuner, TuneResult


def writes_somewhere(script: Path) -> list[str]:
    """The ``write_*`` calls of the script's source: every trial would write there again."""
    tree = ast.parse(script.read_text(errors="replace"))
    return sorted({node.func.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr.startswith("write_")})


def _say(line: str) -> None:
    print(f"raytop tune | {line}", file=sys.stderr, flush=True)


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _print_change(view: TuneView, line: str) -> None:
    if line:  # progress ticks of the running trial are for the live view only
        _say(line)


def _gain(r: Round) -> str:
    v = r.verdict
    return "n/a" if v.ratio is None else f"×{v.ratio:.2f} rows/s (×{v.low:.2f}..×{v.high:.2f})"


def code_to_paste(result: TuneResult) -> list[str]:
    lines = []
    in_force = set(result.settings)
    for r in result.kept:
        if not in_force.intersection(r.candidate):
            continue  # replaced by a later kept change of the same setting
        changes = code_lines(r.finding.fix) if r.finding else ["; ".join(r.candidate)]
        lines += [f"{change}  # raytop tune: {_gain(r)}" for change in changes]
    return lines


def print_summary(result: TuneResult) -> None:
    click.echo("trials (rows/s, GPU, machine load average):")
    for label, rate, gpu, load, ending in trial_table(result.trials):
        click.echo(f"  {rate:>10}  {gpu:>6}  load {load:>5}  {ending:>7}  {label}")
    click.echo("rounds:")
    for r in result.rounds:
        click.echo(f"  {verdict_line(r.candidate, r.verdict)}")
    if result.final is not None:
        click.echo(f"original -> tuned, fresh interleaved trials: {_gain(result.final)}")
    lines = code_to_paste(result)
    click.echo("the changes to make:" if lines else "nothing to change: no fix helped beyond "
               "the noise")
    for line in lines:
        click.echo(f"  {line}")


def _write_outputs(result: TuneResult, workdir: Path, report: Path | None, force: bool) -> None:
    summary = {"kept": list(result.settings), "code": code_to_paste(result),
               "rounds": [{"candidate": list(r.candidate), "kept": r.verdict.keep,
                           "ratio": r.verdict.ratio, "low": r.verdict.low,
                           "high": r.verdict.high, "why": r.verdict.why}
                          for r in result.rounds],
               "trials": [{"label": t.label, "settings": list(t.settings),
                           "rows_per_s": t.rows_per_s, "gpu_util": t.gpu_util,
                           "load_avg": t.load_avg, "exit_code": t.exit_code, "cut": t.cut,
                           "recording": str(t.recording)}
                          for t in result.trials]}
    (workdir / "tune.json").write_text(json.dumps(summary, indent=2))
    if report is not None and result.final is not None:
        from raytop.report import write_report

        written = write_report(result.final.trials[-1].recording, report, None,
                               baseline=result.final.baseline[-1].recording, force=force)
        _say(f"report (original -> tuned) written to {written}")


@click.command("tune", context_settings={"ignore_unknown_options": True,
                                         "allow_interspersed_args": False})
@click.option("--rounds", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="Changes to try at most.")
@click.option("--repeats", type=click.IntRange(min=1, max=10), default=2, show_default=True,
              help="Trials of each configuration per comparison (interleaved).")
@click.option("--trial-seconds", type=FiniteFloatRange(min=5), default=None,
              help="Cut each trial after this long (default: run the script to its end).")
@click.option("--warmup", "warmup_s", type=FiniteFloatRange(min=0), default=10.0,
              show_default=True, help="Seconds of each trial not judged (start-up).")
@click.option("--try", "tries", multiple=True, metavar="OPERATOR.key=value",
              help="Also try this setting once the advisor's fixes are used up (repeatable).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an original -> tuned report (.html/.md/.json).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where trial recordings go (default ./raytop-tune-<script>-<UTC time>).")
@click.option("--allow-writes", is_flag=True,
              help="Tune a script that writes (write_*): every trial writes again.")
@click.option("--headless", is_flag=True,
              help="No live view: a line on stderr per trial and verdict (CI).")
@FORCE
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(rounds, repeats, trial_seconds, warmup_s, tries, report_path, workdir, allow_writes,
            headless, force, script, args) -> None:
    """Apply the advisor's fixes one at a time, measure them, keep what helps."""
    if not script.is_file():
        raise BadInput(f"script not found: {script}")
    parse_settings(tries)  # bad --try values fail now, not in round 3
    writes = writes_somewhere(script)
    if writes and not allow_writes:
        raise BadInput(f"{script.name} calls {', '.join(writes)}: every trial would write again "
                       "(to the same destination, unless it takes one as an argument); point it "
                       "at a scratch location and pass --allow-writes")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = workdir or Path.cwd() / f"raytop-tune-{script.stem}-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    opts = TuneOptions(script=script, args=list(args), workdir=workdir, rounds=rounds,
                       repeats=repeats, trial_seconds=trial_seconds, warmup_s=warmup_s,
                       tries=tuple(tries))
    _say(f"trials in {workdir}")
    if headless or not sys.stdout.isatty():
        # a CI job's timeout sends SIGTERM: stop the running trial (its own session) as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
        result = Tuner(opts, TuneProgress(script.name, _print_change, live=False)).run()
    else:
        from raytop.tui.tune_app import run_tune_view

        shown = run_tune_view(opts, title=f"raytop tune {script.name}")
        if shown is None:
            _say(f"stopped before it finished (the view was closed); trials so far in {workdir}")
            raise SystemExit(130)
        result = shown
    print_summary(result)
    _write_outputs(result, workdir, report_path, force)
