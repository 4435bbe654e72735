from django.core.management.base import BaseCommand, CommandError

from annotation import exports
from annotation.management.commands._shared import study_or_error


class Command(BaseCommand):
    help = (
        "Export a study's judgments. Formats: csv, jsonl, parquet, xlsx (one row per judgment; "
        "xlsx adds a summary sheet and one sheet per --slice-by value), preferences (JSONL "
        "prompt/chosen/rejected for reward-model and DPO training), arena (JSONL battles for "
        "`python -m scoring leaderboard`), scores (CSV, one row per response with automatic "
        "metrics and human columns, for `python -m scoring correlate`), card (a Markdown model-card snippet: size, models, graders "
        "and their aggregated self-reported demographics, agreement, results, data sources)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--format", required=True, choices=exports.FORMATS, dest="fmt")
        parser.add_argument(
            "--output", required=True, help="file to write ('-' for standard output)"
        )
        parser.add_argument(
            "--slice-by", help="xlsx: one sheet per value of this prompt metadata key"
        )
        parser.add_argument(
            "--unanimous", action="store_true", help="preferences: only unanimous tasks"
        )
        parser.add_argument(
            "--min-agreement",
            type=float,
            default=0.0,
            help="preferences: minimum share of votes for the winner",
        )
        parser.add_argument(
            "--drop-ties",
            action="store_true",
            help="preferences: count only decisive votes (ties ignored)",
        )

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        fmt = options["fmt"]
        if fmt in ("parquet", "xlsx") and options["output"] == "-":
            raise CommandError(f"{fmt} is a binary format: give a file with --output")
        filters = exports.PreferenceFilters(
            unanimous=options["unanimous"],
            min_agreement=options["min_agreement"],
            drop_ties=options["drop_ties"],
        )
        try:
            if options["output"] == "-":
                for chunk in exports.stream(study, fmt, filters=filters):
                    self.stdout.write(chunk.decode("utf-8"), ending="")
                return
            with open(options["output"], "wb") as out:
                exports.write(study, fmt, out, filters=filters, slice_by=options["slice_by"])
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"{options['output']}: cannot write ({exc.strerror})") from exc
        self.stderr.write(f"Wrote {fmt} export of '{study.slug}' to {options['output']}.")
