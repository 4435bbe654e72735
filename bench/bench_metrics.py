"""Throughput of the automatic metrics on real AlpacaEval responses (prints figures only).

    .venv/bin/python bench/bench_metrics.py [--data FILE] [--pairs 500] [--threads N]
        [--batch-size 16] [--max-length 256] [--device cpu] [--bf16]

Items are the study's prompts answered by four models (claude-2, gpt35_turbo_instruct,
vicuna-13b, alpaca-7b) with gpt4_1106_preview's answer as the reference, as in a study with
reference answers: each reference serves four responses, so 500 responses need about 625
embeddings. A second embedding run pairs 500 different prompts (every text distinct), the
worst case. Model load and a warm-up batch are outside the timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from scoring.metrics import MetricInput, get_metric  # noqa: E402
from scoring.metrics.embedding import EmbeddingSimilarity  # noqa: E402

REFERENCE_MODEL = "gpt4_1106_preview"
RESPONSE_MODELS = ["claude-2", "gpt35_turbo_instruct", "vicuna-13b", "alpaca-7b"]
TEXT_METRICS = ["length", "length_tokens", "repeat_rate", "distinct_2", "bleu", "chrf", "rouge_l"]


def output_text(output) -> str:
    return output["text"] if isinstance(output, dict) else output


def load_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def shared_reference_items(rows: list[dict], n: int) -> list[MetricInput]:
    items = []
    for row in rows:
        for model in RESPONSE_MODELS:
            reference = output_text(row["outputs"][REFERENCE_MODEL])
            items.append(MetricInput(row["prompt"], output_text(row["outputs"][model]), reference))
    return items[:n]


def distinct_items(rows: list[dict], n: int) -> list[MetricInput]:
    return [
        MetricInput(
            row["prompt"],
            output_text(row["outputs"][RESPONSE_MODELS[0]]),
            output_text(row["outputs"][REFERENCE_MODEL]),
        )
        for row in rows[:n]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data" / "alpacaeval" / "study.jsonl",
        help="a study JSONL file with the five AlpacaEval models' outputs",
    )
    parser.add_argument("--pairs", type=int, default=500, help="responses to score")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="texts per forward pass")
    parser.add_argument("--max-length", type=int, default=256, help="tokens kept per text")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--bf16", action="store_true", help="run the encoder under bfloat16 autocast (CPU or GPU)"
    )
    args = parser.parse_args()

    rows = load_rows(args.data)
    items = shared_reference_items(rows, args.pairs)
    print(f"{len(items)} responses from {args.data}")

    print("\ntext metrics")
    for name in TEXT_METRICS:
        run = get_metric(name).run(items)
        print(f"  {name:<14} {run.items_per_second:>10.0f} responses/s")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    metric = EmbeddingSimilarity(max_length=args.max_length)
    options = dict(batch_size=args.batch_size, device=args.device)
    started = time.perf_counter()
    metric.run(items[:8], **options)  # loads the model and warms up
    print(
        f"\nembedding_similarity: all-MiniLM-L6-v2 on {args.device}, "
        f"{torch.get_num_threads()} threads, batch {args.batch_size or metric.default_batch_size}, "
        f"max {args.max_length} tokens{', bf16 autocast' if args.bf16 else ''} "
        f"(load and warm-up {time.perf_counter() - started:.1f} s)"
    )
    scenarios = [
        ("reference shared by 4 responses", items),
        ("every text distinct", distinct_items(rows, args.pairs)),
    ]
    for label, scenario in scenarios:
        texts = len({item.response for item in scenario} | {item.reference for item in scenario})
        device_type = torch.device(args.device).type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.bf16):
            run = metric.run(scenario, **options)
        print(
            f"  {label:<32} {run.items_per_second:>7.1f} responses/s "
            f"({texts} texts, {texts / run.seconds:.1f} texts/s, {run.seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
