"""Shared by the test_trust_*.py files: `kzoo-train` run in this process, and one finished tiny run per module."""

import pytest

from kzoo.cli import train as train_tool

from _runs import tiny_run


def run_cli(argv, capsys):
    """`kzoo-train ARGV` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        train_tool.run(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny mlp run on synthetic data, without export (the module's tests share it)."""
    return tiny_run(tmp_path_factory, "mlp", export=False)
