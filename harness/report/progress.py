"""A live progress line per backend while the workers run."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from harness.execute import Worker
from harness.results import ERROR, FAILED


class WorkerProgress:
    """Show, per worker, tests done out of collected, failures so far, and elapsed time."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.fields[backend]:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> WorkerProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.__exit__(*exc_info)

    def update(self, workers: list[Worker]) -> None:
        for worker in workers:
            name = worker.target.name + (f" #{worker.repeat + 1}" if worker.repeat else "")
            if name not in self._tasks:
                self._tasks[name] = self._progress.add_task("", total=None, backend=name, state="waiting")
            results = worker.results
            counts = results.counts()
            bad = counts[FAILED] + counts[ERROR]
            if worker.process is None:
                state = "waiting"
            elif worker.returncode is None:
                state = "running" + (f", {bad} failed" if bad else "")
            else:
                state = "done" + (f", {bad} failed" if bad else "")
            self._progress.update(
                self._tasks[name],
                total=results.collected,
                completed=len(results.tests),
                state=state,
            )
