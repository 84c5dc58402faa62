"""The README's result numbers agree with the committed reference results (results/readme_numbers.py)."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("cogapp")


@pytest.fixture(scope="module")
def numbers():
    spec = importlib.util.spec_from_file_location("readme_numbers", ROOT / "results/readme_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_numbers_are_the_committed_results(numbers, capsys):
    assert numbers.main(["--check"]) == 0, capsys.readouterr().out


def test_a_number_typed_by_hand_into_a_generated_block_fails_the_check(numbers, tmp_path, capsys):
    text = (ROOT / "README.md").read_text()
    start = text.index("]]] -->", text.index("readme_numbers.results_so_far()"))
    number = re.compile(r"\d+\.\d+").search(text, start)  # the block's first figure, one unit up in its last digit
    changed = number.group()[:-1] + str((int(number.group()[-1]) + 1) % 10)
    stale = tmp_path / "README.md"
    stale.write_text(text[:number.start()] + changed + text[number.end():])
    assert numbers.main(["--check", str(stale)]) != 0
    captured = capsys.readouterr()
    assert "README.md" in captured.out + captured.err
