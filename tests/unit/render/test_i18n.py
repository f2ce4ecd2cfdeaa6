import pytest

from pulltrace.model import StepKind
from pulltrace.render.i18n import CATALOGUE, translator


def test_every_english_label_has_a_chinese_one():
    assert set(CATALOGUE["zh"]) == set(CATALOGUE["en"])


def test_every_step_kind_has_a_label():
    for lang in CATALOGUE:
        t = translator(lang)
        for kind in StepKind:
            assert t(f"kind_{kind}") != f"kind_{kind}"


def test_seed_vocabulary():
    t = translator("zh")
    assert (t("step"), t("request"), t("response")) == ("步骤", "请求", "返回")
    assert translator("en")("layers_fetched", fetched=1, total=3) == "1 of 3 fetched"


def test_unknown_language():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        translator("fr")
