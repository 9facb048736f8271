"""A trial's evaluation as a PDF (fpdf2), for anyone who can see the trial: the trial's
question and its answers, the scores with what each means, the decision, lessons learned and
what the orchestrator measured. Never the private notes. Pure: no I/O and no clock.

The PDF's built-in fonts cover Latin-1 only: other characters are written as their nearest
Latin-1 form (typographic quotes and dashes as plain ones), or "?" when there is none.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from orchestrator import evaluation as scheme
from orchestrator.models import Evaluation, Trial
from web import views

_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)


def latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def pdf(*, trial: Trial, evaluation: Evaluation, author: str, measured: scheme.Measured, owner: str) -> bytes:
    doc = _Document()
    doc.set_title(latin1(f"Evaluation: {trial.title}"))
    doc.set_creator("Innovation Den")
    doc.add_page()
    doc.heading(f"Evaluation: {trial.title}", size=18)
    state = "Complete" if evaluation.status == "complete" else "Draft: not every answer is given yet"
    doc.para(f"{state}. Recorded by {author} on {evaluation.recorded_at:%d %B %Y}. Trial owner: {owner}.")
    doc.para(f"Template: {trial.template_name} {trial.template_version}. Reference: {trial.id}.")

    doc.heading("The trial's question")
    doc.field("Hypothesis", trial.hypothesis)
    doc.field("Did the hypothesis hold?", scheme.HELD_NAMES.get(evaluation.hypothesis_held, "Not answered"))
    doc.field("Evidence", evaluation.hypothesis_evidence or "-")
    results = scheme.in_trial_order(trial.success_criteria, evaluation.criteria_results)
    if results:
        doc.heading("Success criteria", size=12)
        for result in results:
            met = scheme.MET_NAMES.get(result["met"], "Not answered")
            doc.field(result["criterion"], f"{met}. {result['evidence'] or '-'}")

    doc.heading("Scores")
    doc.para(
        "Each dimension scored 1 to 5: "
        + "; ".join(f"{n} {t.lower()}" for n, t in scheme.SCALE.items())
        + "."
    )
    for dimension, name in views.DIMENSION_NAMES.items():
        given = evaluation.scores.get(dimension) or {}
        score = given.get("score")
        said = f"{score} out of 5: {scheme.SCALE[score]}." if score in scheme.SCALE else "Not scored."
        doc.field(name, f"{said} {given.get('evidence') or ''}".strip())

    doc.heading("Decision and lessons")
    doc.field("Decision", views.DECISIONS[evaluation.decision][0] if evaluation.decision else "Not decided")
    doc.field("Lessons learned", evaluation.lessons_learned or "-")
    doc.field(
        "Evidence in the published report",
        "Yes" if evaluation.publish_evidence else "No: the report carries the answers and scores only",
    )

    doc.heading("What the service measured")
    ready = measured.time_to_ready_seconds
    doc.field("Time to ready", f"{ready:.0f} seconds" if ready is not None else "Never ready")
    active, asleep = measured.ready_seconds, measured.sleeping_seconds
    doc.field("Time in use", f"{active:.0f} seconds" if active is not None else "-")
    doc.field("Time asleep", f"{asleep:.0f} seconds" if asleep else "It never slept")
    availability = measured.availability
    doc.field("Availability while running", f"{availability * 100:.1f}%" if availability is not None else "-")
    doc.field("Teardown verified", "Yes" if measured.teardown_verified else "Not yet")
    return bytes(doc.output())


class _Document(FPDF):
    def heading(self, text: str, *, size: int = 14) -> None:
        self.set_font("Helvetica", "B", size)
        self.ln(2)
        self._write(text, height=size * 0.6)

    def para(self, text: str) -> None:
        self.set_font("Helvetica", "", 11)
        self._write(text, height=6)

    def field(self, key: str, value: str) -> None:
        self.set_font("Helvetica", "B", 11)
        self._write(key, height=6)
        self.set_font("Helvetica", "", 11)
        self._write(value, height=6)
        self.ln(1)

    def _write(self, text: str, *, height: float) -> None:
        self.multi_cell(0, height, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
