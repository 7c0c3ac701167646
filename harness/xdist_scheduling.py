"""How pytest-xdist hands a backend's tests to its workers: the same way on every backend.

xdist's default (``load``) hands tests out by timing, so a test runs after other tests on each
backend. What a test sees depends on what ran before it in its process (rows a
TransactionTestCase's flush recreated with new keys, the value labels of harness.identity),
so that would make differences no code has. Here each worker gets a fixed, contiguous share
of the collection, whole test classes (a module's test functions count as one class, as in
xdist's loadscope), decided from the collection alone: worker gw0 runs the same tests in
the same order on every backend. Shares are balanced by test count, not duration; a suite
that is one class runs in one worker.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScheduling


def static_shares(collection: list[str], workers: int) -> list[list[int]]:
    """The indices of ``collection`` each worker runs: whole classes, contiguous, in collection order."""
    scopes: list[list[int]] = []
    for index, nodeid in enumerate(collection):
        if scopes and _scope(collection[scopes[-1][0]]) == _scope(nodeid):
            scopes[-1].append(index)
        else:
            scopes.append([index])
    shares: list[list[int]] = [[] for _ in range(workers)]
    done = 0
    for group in scopes:
        middle = done + len(group) / 2  # the class goes to the share its middle falls in
        shares[min(workers - 1, int(middle * workers / len(collection)))].extend(group)
        done += len(group)
    return shares


class StaticScheduling(LoadScheduling):
    """xdist's load scheduling, but every worker's share is sent at once, as :func:`static_shares` says.

    A worker that crashes is replaced by xdist; the replacement takes what the crashed one had left
    (LoadScheduling's own rescheduling).
    """

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        nodes = sorted(self.nodes, key=_worker_number)
        for node, share in zip(nodes, static_shares(self.collection, len(nodes)), strict=True):
            if share:
                self.node2pending[node].extend(share)
                node.send_runtest_some(share)
            node.shutdown()


def _scope(nodeid: str) -> str:
    """``a.py::Class`` of ``a.py::Class::test``; ``a.py`` of ``a.py::test[1]``."""
    return nodeid.rsplit("::", 1)[0]


def _worker_number(node: Any) -> int:
    """gw0, gw1, ..., gw10 in that order."""
    return int(node.gateway.id.removeprefix("gw") or 0)
