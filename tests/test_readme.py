"""What the README and the entries' descriptions say about the zoo agrees with the registry."""

import re
from pathlib import Path

import pytest

import kzoo
from kzoo.entry_config import describe_config
from kzoo.zoo import entry_summaries

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_zoo_rows() -> dict:
    """{entry: (parameters cell, reference cell)} of the README's zoo table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## The zoo", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        match = re.match(r"`(\w+)`", cells[0])
        if match:
            rows[match.group(1)] = (cells[3], cells[4])
    return rows


@pytest.mark.smoke
def test_the_readme_zoo_table_is_the_registrys():
    rows = readme_zoo_rows()
    summaries = {s["entry"]: s for s in entry_summaries()}
    assert sorted(rows) == sorted(summaries)
    for name, (parameters, reference_cell) in rows.items():
        summary = summaries[name]
        assert int(parameters.replace(",", "")) == summary["parameters"], name
        value = summary["reference"]["value"]
        if value is None:
            continue
        shown = value * 100 if summary["reference"]["metric"] == "accuracy" else value  # accuracy as a percentage
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", reference_cell)]
        assert any(abs(n - shown) < 1e-6 for n in numbers), (name, reference_cell, shown)


# Words of a tuning diary, not of a description of the model a user gets.
HISTORY = re.compile(r"\b(session|issue \d+|until|earlier|trial run|used to|now has)\b", re.IGNORECASE)


@pytest.mark.parametrize("name", kzoo.list_models())
def test_each_description_states_only_what_its_config_is(name):
    config = kzoo.get_config(name)
    description = config.get("description", "")
    assert " ".join(description.split()[:6]) in " ".join(describe_config(name).split())  # --describe shows it
    assert not HISTORY.search(description), description
    if re.search(r"lowercase", description, re.IGNORECASE):
        assert config["data"].get("lowercase"), description
    sizes = {v for k, v in config["model"].items() if k.endswith("vocab_size")}
    for number in re.findall(r"vocabular(?:y|ies) of ([\d,]+)", description):
        assert int(number.replace(",", "")) in sizes, description
    source = str(config["reference"].get("source", ""))
    value = config["reference"].get("value")
    if value is not None:  # the summary prints "against the reference V (source)": V once
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", source)]
        assert value not in numbers and round(value * 100, 6) not in numbers, source
