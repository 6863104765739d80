"""The Advisor says exactly what it said when advisor_dump.json was recorded, tick by tick, on
every committed input (tests/analysis/advisor_dump.py): a change made for speed must not change a
finding. If the findings changed on purpose (a new or changed rule), record them:
``python -m tests.analysis.advisor_dump --write``."""

from __future__ import annotations

import json

from .advisor_dump import GOLDEN, differences, digest, dump


def test_the_advisor_says_what_it_said():
    now = digest(dump())
    diff = differences(json.loads(GOLDEN.read_text()), now)
    assert not diff, ("the advisor's findings changed (python -m tests.analysis.advisor_dump --out F "
                      "before and after, then diff; --write if on purpose):\n" + "\n".join(diff))
