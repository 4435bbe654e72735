"""Charts: SVG, PNG and PDF downloads, vector throughout, readable text, legends off the points."""

import re

import pytest
from django.urls import reverse

from annotation import charts
from annotation.handout import Vote
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db

MAGIC = {"svg": b"<?xml", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


@pytest.fixture
def graded(pair_study):
    users = [make_user(f"c{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    # The second grader calls every pair a tie: a perfectly ordered set of verdicts leaves
    # every Bradley-Terry rating unbounded, and the ratings chart would have nothing to draw.
    for user, verdict in zip(users, (better_side, lambda a: "tie"), strict=True):
        grade_until_done(
            pair_study,
            user,
            lambda a, verdict=verdict: Vote(
                verdict=verdict(a), ratings={"left": "good", "right": "poor"}
            ),
        )
    from annotation import metric_runs

    metric_runs.compute(pair_study, "length")
    return pair_study


@pytest.fixture
def rita(graded):
    user = make_user("rita", "researcher")
    join(graded, user)
    return user


@pytest.mark.parametrize("name", ["ratings", "grr", "winrate", "scatter-length-good_rate"])
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_every_chart_downloads_in_every_format(client, graded, rita, name, fmt):
    client.force_login(rita)
    response = client.get(reverse("chart_download", args=[graded.slug, name, fmt]), {"download": 1})
    assert response.status_code == 200
    assert response["Content-Type"] == charts.FORMATS[fmt]
    assert response.content.startswith(MAGIC[fmt])
    assert response["Content-Disposition"] == f'attachment; filename="pairs-{name}.{fmt}"'


def test_the_svg_on_the_page_is_shown_inline_and_downloads_on_request(client, graded, rita):
    client.force_login(rita)
    inline = client.get(reverse("chart", args=[graded.slug, "ratings"]))
    assert "Content-Disposition" not in inline
    assert inline["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    download = client.get(reverse("chart", args=[graded.slug, "ratings"]), {"download": "1"})
    assert download["Content-Disposition"] == 'attachment; filename="pairs-ratings.svg"'
    assert download.content == inline.content


def test_an_unknown_format_or_chart_is_404(client, graded, rita):
    client.force_login(rita)
    assert (
        client.get(reverse("chart_download", args=[graded.slug, "ratings", "gif"])).status_code
        == 404
    )
    assert (
        client.get(reverse("chart_download", args=[graded.slug, "pie", "png"])).status_code == 404
    )
    assert (
        client.get(
            reverse("chart_download", args=[graded.slug, "scatter-nope-good_rate", "png"])
        ).status_code
        == 404
    )


def test_graders_get_no_chart_downloads(client, graded):
    grader = make_user("g", "grader")
    join(graded, grader)
    client.force_login(grader)
    assert (
        client.get(reverse("chart_download", args=[graded.slug, "winrate", "pdf"])).status_code
        == 403
    )


def _svg(client, study, name) -> str:
    return client.get(reverse("chart", args=[study.slug, name])).content.decode()


def test_the_win_rate_matrix_is_vector(client, graded, rita):
    """Its SVG embeds no raster image: a data: image is what the chart's CSP blocked."""
    client.force_login(rita)
    for name in ("ratings", "grr", "winrate", "scatter-length-good_rate"):
        svg = _svg(client, graded, name)
        assert "<image" not in svg and "data:image" not in svg, name
    pdf = client.get(reverse("chart_download", args=[graded.slug, "winrate", "pdf"])).content
    assert b"/Subtype /Image" not in pdf


def _font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r"font-size: ([\d.]+)px", svg)]


def test_text_is_text_and_large_enough(client, graded, rita):
    """Labels are <text> in the SVG (not outlines) in at least 10 pt, the cells of the
    matrix; axis labels, ticks and legends 11 pt (the browser test checks them on screen)."""
    client.force_login(rita)
    for name in ("ratings", "grr", "winrate", "scatter-length-good_rate"):
        svg = _svg(client, graded, name)
        sizes = _font_sizes(svg)
        assert "<text" in svg and sizes, name
        assert min(sizes) >= charts.SMALL_FONT >= 10, (name, min(sizes))
        assert sizes.count(charts.FONT_SIZE) >= 3, name
    assert "alpha-model" in _svg(client, graded, "winrate")


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_scatter_legend_never_covers_a_point():
    """Many models and points in every corner: the legend stands outside the plot area."""
    points = [
        {"model": f"model-{m}", "bleu": x, "good_rate": y}
        for m in range(8)
        for x, y in ((0, 0), (0, 1), (1, 0), (1, 1), (0.5, 0.5), (0.9, 0.95))
    ]
    fig = charts.metric_scatter_figure(points, "bleu", "good_rate")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not _overlaps(legend, ax.get_window_extent())
    for collection in ax.collections:
        for x, y in ax.transData.transform(collection.get_offsets()):
            assert not (legend.x0 <= x <= legend.x1 and legend.y0 <= y <= legend.y1)
    # The legend is not cut off by the saved file's bounds either.
    svg = charts.render(fig, "svg").decode()
    assert all(f"model-{m}" in svg for m in range(8))
