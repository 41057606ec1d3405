from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.errors import ConfigError
from gatebook.ingest.stdout import LineParser, compile_regex, parse_lines


def test_prefixed_json_lines() -> None:
    pts = parse_lines(['gatebook: {"epoch": 2, "loss": 0.5, "val": {"acc": 0.9}, "name": "x"}',
                       'not a metric {"loss": 1}', '  gatebook: {"step": 7, "lr": 1e-3}'])
    assert pts == [("epoch", 2, 2.0), ("loss", 2, 0.5), ("val.acc", 2, 0.9), ("lr", 7, 0.001)]


def test_nan_and_infinity_in_json_lines() -> None:
    pts = parse_lines(['gatebook: {"loss": NaN, "g": Infinity}'])
    assert math.isnan(pts[0][2]) and pts[1][2] == math.inf


def test_chunk_boundaries_never_split_a_metric() -> None:
    text = 'gatebook: {"epoch": 1, "loss": 0.25}\n' * 50
    for size in (1, 3, 7, 64):
        parser = LineParser()
        pts = []
        for i in range(0, len(text), size):
            pts += parser.feed(text[i:i + size])
        assert pts == [("epoch", 1, 1.0), ("loss", 1, 0.25)] * 50


def test_last_line_without_newline_is_parsed_at_close() -> None:
    parser = LineParser()
    assert parser.feed('gatebook: {"a": 1}') == []
    assert parser.close() == [("a", None, 1.0)]


def test_a_line_redrawn_with_carriage_returns_is_read_as_its_last_text() -> None:
    """tqdm.write clears the bar (\\r, spaces, \\r) and writes its line: that line is parsed."""
    parser = LineParser(kv=True)
    bar = "".join(f"\r{i:>3}%|{'#' * (i // 10):<10}| {i}/100" for i in range(40))
    pts = parser.feed(bar + "\r" + " " * 30 + '\rgatebook: {"step": 39, "loss": 0.5}\r\n')
    pts += parser.feed(bar + "\repoch=2 acc=0.75\n")
    assert pts == [("loss", 39, 0.5), ("epoch", 2, 2.0), ("acc", 2, 0.75)]


def test_key_value_pairs() -> None:
    parser = LineParser(kv=True)
    pts = parser.feed("epoch=3 loss=0.31 acc=91.5% lr=1e-4 note=fast path=/a=b\n")
    assert pts == [("epoch", 3, 3.0), ("loss", 3, 0.31), ("acc", 3, 91.5), ("lr", 3, 1e-4)]


def test_regexes() -> None:
    parser = LineParser(regexes=[r"Epoch (?P<epoch>\d+)/\d+ .* val_loss: (?P<val_loss>[-\d.eE]+)"])
    assert parser.feed("Epoch 4/10 - 3s - val_loss: 0.125\n") == [("epoch", 4, 4.0), ("val_loss", 4, 0.125)]
    with pytest.raises(ConfigError, match="no named group"):
        compile_regex(r"loss: [\d.]+")
    with pytest.raises(ConfigError, match="not valid"):
        compile_regex(r"(?P<x>[")


def test_bad_json_is_counted_not_fatal() -> None:
    parser = LineParser()
    assert parser.feed("gatebook: {not json\ngatebook: [1, 2]\n") == []
    assert len(parser.errors) == 2


def test_prose_after_the_prefix_is_not_a_metric_line() -> None:
    """gatebook's own messages from the command's process (a hook saying why training ends) are
    not metric lines, and not errors either."""
    parser = LineParser()
    text = "gatebook: gate early: loss 0.17 >= 0.001 at step 20: ending Lightning training\ngatebook: {\"a\": 1}\n"
    assert parser.feed(text) == [("a", None, 1.0)]
    assert parser.errors == []


@given(st.text(), st.booleans())
def test_arbitrary_output_never_crashes_the_parser(text: str, kv: bool) -> None:
    parser = LineParser(kv=kv, regexes=[r"loss (?P<loss>\S+)"])
    pts = parser.feed(text) + parser.close()
    for key, step, value in pts:
        assert isinstance(key, str) and isinstance(value, float)
        assert step is None or isinstance(step, int)


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_/@.-]{0,20}", fullmatch=True),
                       st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8))
def test_json_lines_round_trip(values: dict[str, float]) -> None:
    import json

    values = {k: v for k, v in values.items() if k not in ("step", "epoch")}
    pts = parse_lines(["gatebook: " + json.dumps(values)])
    assert {k: v for k, _, v in pts} == values
