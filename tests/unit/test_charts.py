"""The server-drawn comparison chart: its structure, its escaping, and that colour is never the
only way to tell trials apart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from orchestrator import evaluation as scheme
from web import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _all_scored(score: int) -> dict[str, float | None]:
    return dict.fromkeys(scheme.DIMENSIONS, score)


def _two() -> list[charts.Series]:
    return [
        charts.Series("Chatbot for benefits", _all_scored(4)),
        charts.Series("Form reader", {**_all_scored(2), "privacy": None}),
    ]


def test_the_chart_is_an_image_named_by_its_title_and_description() -> None:
    root = _parse(charts.comparison_chart(_two(), title="Scores side by side", chart_id="c1"))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("viewBox", "").startswith(f"0 0 {charts.WIDTH} ") and root.get("width") is None
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert title.text == "Scores side by side"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}" == "c1-title c1-desc"
    assert "A: Chatbot for benefits; B: Form reader" in (desc.text or "")
    assert root.find(f".//{SVG}script") is None and "script" not in charts.comparison_chart(_two(), title="t")


def test_one_bar_per_trial_per_scored_dimension_labelled_with_its_value() -> None:
    root = _parse(charts.comparison_chart(_two(), title="t"))
    bars = root.findall(f".//{SVG}rect[@class='den-chart__bar']")
    assert len(bars) == 8 + 7  # the second trial did not score privacy
    assert {(b.get("data-series"), b.get("data-dimension")) for b in bars} == {
        (k, d) for k in "AB" for d in scheme.DIMENSIONS
    } - {("B", "privacy")}
    assert {b.get("data-value") for b in bars if b.get("data-series") == "A"} == {"4"}
    values = [t.text for t in root.findall(f".//{SVG}text[@class='den-chart__value']")]
    assert values.count("4") == 8 and values.count("2") == 7
    # Scaled on the scheme's 0-5: a 4 is twice as long as a 2.
    widths = {b.get("data-series"): float(b.get("width", "0")) for b in bars}
    assert widths["A"] == 2 * widths["B"]


def test_a_missing_score_says_not_scored_instead_of_a_bar_of_zero() -> None:
    root = _parse(charts.comparison_chart(_two(), title="t"))
    (missing,) = root.findall(f".//{SVG}text[@class='den-chart__not-scored']")
    assert missing.text == "not scored"
    assert (missing.get("data-series"), missing.get("data-dimension")) == ("B", "privacy")


def test_each_dimension_of_the_scheme_is_named_once_in_order() -> None:
    root = _parse(charts.comparison_chart(_two(), title="t"))
    headings = [t.text for t in root.findall(f".//{SVG}text[@class='den-chart__heading']")]
    assert headings == list(scheme.DIMENSION_NAMES.values())


def test_the_legend_tells_trials_apart_by_letter_and_pattern_as_well_as_colour() -> None:
    series = [charts.Series(f"Trial {i}", _all_scored(3)) for i in range(len(charts.COLOURS))]
    root = _parse(charts.comparison_chart(series, title="t", chart_id="x"))
    items = root.findall(f".//{SVG}g[@class='den-chart__legend-item']")
    assert [[t.text for t in item.findall(f"{SVG}text")] for item in items] == [
        [charts.key(i), f"Trial {i}"] for i in range(len(series))
    ]
    patterns = root.findall(f".//{SVG}pattern")
    assert len({p.get("data-pattern") for p in patterns}) == len(series)  # a pattern each
    assert len({p.find(f"{SVG}rect").get("fill") for p in patterns}) == len(series)  # type: ignore[union-attr]
    assert [i.find(f"{SVG}rect").get("fill") for i in items] == [  # type: ignore[union-attr]
        f"url(#x-pattern-{i})" for i in range(len(series))
    ]


def test_the_letters_go_on_past_z() -> None:
    assert [charts.key(i) for i in (0, 1, 25, 26, 27, 51, 52)] == ["A", "B", "Z", "AA", "AB", "AZ", "BA"]


def test_every_piece_of_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quoted"'
    svg = charts.comparison_chart(
        [charts.Series(hostile, _all_scored(5))],
        {"user_need": 'Need <b>"met"</b>'},
        title='A "title" <script>',
        chart_id='c"><script>',
    )
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quoted&quot;" in svg
    root = _parse(svg)  # still well-formed XML
    assert root.find(f"{SVG}title").text == 'A "title" <script>'  # type: ignore[union-attr]
    assert hostile in [t.text for t in root.iter(f"{SVG}text")]


def test_trial_series_names_a_row_without_its_title_by_its_number() -> None:
    rows = [
        {"row": 1, "title": "Mine", **{f"{d}_score": 3 for d in scheme.DIMENSIONS}},
        {"row": 2, "title": "", **{f"{d}_score": None for d in scheme.DIMENSIONS}},
    ]
    first, second = charts.trial_series(rows)
    assert (first.name, first.scores["security"]) == ("Mine", 3)
    assert (second.name, second.scores["security"]) == ("Row 2", None)


def test_a_long_title_is_shortened_in_the_legend_only() -> None:
    name = "x" * 200
    root = _parse(charts.comparison_chart([charts.Series(name, _all_scored(1))], title="t"))
    (item,) = root.findall(f".//{SVG}g[@class='den-chart__legend-item']")
    shown = item.findall(f"{SVG}text")[1].text or ""
    assert shown.endswith("…") and len(shown) == charts.LEGEND_TITLE_CHARS
    assert name in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]
