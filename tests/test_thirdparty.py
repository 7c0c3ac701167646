"""The plain side of the real-suite tests: pytest's JUnit report read back per node id (no servers)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.thirdparty import RealFinding, junit_address, junit_outcomes, missing, unexplained

SUITE = """
    import pytest

    @pytest.fixture
    def breaks_in_teardown():
        yield
        raise RuntimeError("teardown")

    def test_passes():
        pass

    def test_fails_then_errors_in_teardown(breaks_in_teardown):
        assert False

    def test_passes_then_errors_in_teardown(breaks_in_teardown):
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfails():
        assert False

    @pytest.mark.xfail(reason="known")
    def test_xpasses():
        pass

    @pytest.mark.parametrize("value", ["a::b/c", "d"])
    def test_parametrized(value):
        assert value == "d"

    class TestGroup:
        def test_skips(self):
            pytest.skip("not here")
"""


def test_junit_outcomes_fold_like_the_harness(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "test_sample.py").write_text(textwrap.dedent(SUITE))
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:portability", f"--junitxml={junit}"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    module = "pkg/test_sample.py::"
    outcomes = junit_outcomes(junit)
    assert outcomes == {
        junit_address(module + "test_passes"): "passed",
        # Two <testcase> elements (pytest counts "1 failed, 1 error"); the harness: one failed test.
        junit_address(module + "test_fails_then_errors_in_teardown"): "failed",
        junit_address(module + "test_passes_then_errors_in_teardown"): "error",
        junit_address(module + "test_xfails"): "xfailed",
        junit_address(module + "test_xpasses"): "passed",
        junit_address(module + "test_parametrized[a::b/c]"): "failed",
        junit_address(module + "test_parametrized[d]"): "passed",
        junit_address(module + "TestGroup::test_skips"): "skipped",
    }
    assert junit_address(module + "TestGroup::test_skips") == ("pkg.test_sample.TestGroup", "test_skips")
    assert junit_address(module + "test_parametrized[a::b/c]") == ("pkg.test_sample", "test_parametrized[a::b/c]")


def test_a_real_finding_left_to_chance_may_be_absent_and_on_other_backends() -> None:
    fixed = RealFinding("PT204", "t.py::test_a @ t.py:3", ("postgresql", "sqlite"))
    chance = RealFinding("PT204", "t.py:9", by_chance=True)  # any test, any backends
    observed = [
        RealFinding("PT204", "t.py::test_a @ t.py:3", ("postgresql", "sqlite")),
        RealFinding("PT204", "t.py::test_b @ t.py:9", ("mariadb", "sqlite")),
        RealFinding("PT202", "t.py::test_c @ t.py:5", ("postgresql", "sqlite")),
    ]
    assert unexplained(observed, [fixed, chance]) == [observed[2]]
    assert missing(observed[1:], [fixed, chance]) == [fixed]
    assert missing([], [chance]) == []
    # A fixed one on other backends is not the same finding.
    assert unexplained([RealFinding("PT204", fixed.subject, ("mariadb",))], [fixed]) != []
