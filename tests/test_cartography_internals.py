"""The cartography callback's reliance on transformers / accelerate internals lives in one fenced module,
`hf_notlike/cartography/_trainer_internals.py`; this test fails with a message naming what changed when an upgrade
breaks one of its assumptions."""

import re
from pathlib import Path

import hf_notlike.cartography as cartography
from hf_notlike.cartography._trainer_internals import check_trainer_internals


def test_trainer_internals_still_hold():
    problems = check_trainer_internals()
    assert not problems, "transformers/accelerate changed what CartographyCallback relies on:\n" + "\n".join(problems)


def test_no_other_cartography_module_touches_internals():
    folder = Path(cartography.__file__).parent
    fenced = re.compile(r"object\.__setattr__|base_dataloader|stateful_callbacks")
    offenders = {
        path.name: fenced.findall(path.read_text())
        for path in folder.glob("*.py")
        if path.name != "_trainer_internals.py" and fenced.search(path.read_text())
    }
    assert not offenders, f"touch another library's internals only in _trainer_internals.py: {offenders}"
