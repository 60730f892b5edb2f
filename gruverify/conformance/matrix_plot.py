"""The conformance matrix as a picture: a heat map of targets (rows) x checks (columns).

``plot_matrix(doc, path)`` draws a ``matrix.json`` document (``gruverify.conformance.matrix``) with
one colour per status and writes a PNG; it needs matplotlib (the ``plot`` extra) and raises
ImportError without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["COLOURS", "LEGEND_EDGE", "matrix_figure", "plot_matrix"]

COLOURS: dict[str, tuple[str, str]] = {
    "passed": ("#4caf50", "pass"),
    "xpass": ("#8bc34a", "xpass"),
    "warning": ("#ffc107", "warn"),
    "xfail": ("#ff9800", "xfail"),
    "failed": ("#e53935", "fail"),
    "error": ("#6a1b9a", "error"),
    "skipped": ("#e0e0e0", "skip (missing feature)"),
    "ignored": ("#bdbdbd", "ignored"),
    "unavailable": ("#ffffff", "unavailable here"),
}
"""Status -> (colour, legend label)."""

LEGEND_EDGE = "#9e9e9e"
"""The edge of each legend patch: grey, visible around the white of "unavailable"."""


def _cell(row: Mapping[str, Any], check: str) -> int:
    """The status index of one cell (a check a target did not run counts as skipped)."""
    status = "unavailable" if row["verdict"] == "unavailable" else row["checks"].get(check)
    return list(COLOURS).index(status if status in COLOURS else "skipped")


def matrix_figure(doc: Mapping[str, Any]) -> Any:
    """The heat map of ``doc`` as a matplotlib figure (Agg backend): one cell per target and
    check in its status's colour, a legend of the statuses used (each patch edged in grey, so
    the white "unavailable" shows) to the right of the grid, top-aligned with it, and a title
    with the version, profile and date."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    statuses = list(COLOURS)
    checks, rows = list(doc["checks"]) or ["(no check ran)"], list(doc["targets"])
    grid = [[_cell(row, c) for c in checks] for row in rows]
    fig, ax = plt.subplots(figsize=(2.5 + 0.42 * len(checks), 1.6 + 0.34 * len(rows)))
    cmap = ListedColormap([COLOURS[s][0] for s in statuses])
    ax.imshow(grid or [[0]], cmap=cmap, vmin=-0.5, vmax=len(statuses) - 0.5, aspect="auto")
    ax.set_xticks(range(len(checks)), checks, rotation=60, ha="right", fontsize=8)
    labels = [f"{r['target']} ({r['library']} {r['version']})".replace(" )", ")") for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xticks([x - 0.5 for x in range(1, len(checks))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(rows))], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    used = {s for line in grid for s in line}
    handles = [
        Patch(facecolor=COLOURS[s][0], edgecolor=LEGEND_EDGE, label=COLOURS[s][1])
        for i, s in enumerate(statuses)
        if i in used
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(
        f"gruverify {doc['gruverify_version']} conformance matrix, profile {doc['profile']}, "
        f"{str(doc['date'])[:10]}",
        fontsize=10,
    )
    return fig


def plot_matrix(doc: Mapping[str, Any], path: str) -> str:
    """Write the heat map of ``doc`` (``matrix_figure``) to ``path`` (PNG); returns ``path``."""
    import matplotlib.pyplot as plt

    fig = matrix_figure(doc)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
