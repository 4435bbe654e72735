from django.core.management.base import BaseCommand, CommandError

from annotation import results
from annotation.management.commands._shared import study_or_error, write_result


class Command(BaseCommand):
    help = (
        "How well each automatic metric agrees with the human scores of a study: Pearson, "
        "Spearman and Kendall with bootstrap intervals at segment level (each response) and "
        "system level (per model), and pairwise accuracy on the human preferences."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--metric", help="only this metric")
        parser.add_argument("--format", choices=["table", "json"], default="table", dest="fmt")

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        payload = results.correlations(study)
        metrics = payload["metrics"]
        if options["metric"]:
            metrics = [m for m in metrics if m["metric"] == options["metric"]]
            if not metrics:
                known = ", ".join(m["metric"] for m in payload["metrics"]) or "none yet"
                raise CommandError(f"no scores for metric '{options['metric']}' (known: {known})")
        if options["fmt"] == "json":
            write_result(
                self, [{k: v for k, v in m.items() if k != "points"} for m in metrics], "json"
            )
            return
        rows = []
        for m in metrics:
            for level in ("segment", "system"):
                for human, c in m[level].items():
                    rows.append(
                        {
                            "metric": m["metric"],
                            "level": level,
                            "human": human,
                            "pearson": (c.get("pearson") or {}).get("r"),
                            "spearman": (c.get("spearman") or {}).get("r"),
                            "kendall": (c.get("kendall") or {}).get("r"),
                            "n": (c.get("pearson") or {}).get("n"),
                            "pairwise_accuracy": (m.get("pairwise_accuracy") or {}).get("accuracy"),
                            "error": c.get("error"),
                        }
                    )
        write_result(self, rows, "table")
