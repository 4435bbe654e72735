from django.core.management.base import BaseCommand, CommandError

from annotation.ingest import ImportFileError
from annotation.ingest.metric_scores import import_scores
from annotation.management.commands._shared import study_or_error


class Command(BaseCommand):
    help = (
        "Import automatic metric scores computed elsewhere. csv/jsonl: rows with prompt_id and "
        "model, and either metric + value columns or one column per metric. lm-eval: "
        "lm-evaluation-harness per-sample logs (samples_*.jsonl) for the responses of --model; "
        "each numeric field (acc, exact_match, ...) becomes a metric. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--study", required=True)
        parser.add_argument(
            "--format", required=True, choices=["csv", "jsonl", "lm-eval"], dest="fmt"
        )
        parser.add_argument("--model", help="lm-eval: the model whose responses the log scored")
        parser.add_argument("--prefix", default="", help="prefix for metric names, e.g. 'mmlu:'")
        parser.add_argument(
            "--id-field", help="lm-eval: the field of `doc` holding the prompt id (default: doc_id)"
        )

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        try:
            count = import_scores(
                options["file"],
                study,
                options["fmt"],
                model=options["model"],
                prefix=options["prefix"],
                id_field=options["id_field"],
            )
        except ImportFileError as exc:
            raise CommandError(f"nothing was imported:\n{exc}") from exc
        self.stdout.write(f"Imported {count} metric scores into '{study.slug}'.")
