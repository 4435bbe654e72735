from django.core.management.base import BaseCommand, CommandError

from annotation.ingest import ImportFileError
from annotation.ingest.judgments import import_judgments


class Command(BaseCommand):
    help = (
        "Import earlier judgments into a study. --format arena: JSON or JSONL battle records "
        "(model_a, model_b, winner, and optionally question_id, judge, turn, language, tstamp, "
        "conversation_a, conversation_b; missing prompts and responses are created from the "
        "conversations). --format jsonl: one judgment per line with prompt_id, grader, model_a, "
        "model_b, verdict, ratings and tags (or model and rating for a single response). "
        "All or nothing; rerunning changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--study", required=True)
        parser.add_argument("--format", required=True, choices=["arena", "jsonl"], dest="fmt")
        parser.add_argument(
            "--model-judge",
            action="store_true",
            help="the judges are models (e.g. a GPT-4 judge): their accounts are of kind model judge",
        )
        parser.add_argument(
            "--judge", default="imported", help="grader name for records without a judge"
        )

    def handle(self, *args, **options):
        try:
            summary = import_judgments(
                options["file"],
                options["study"],
                options["fmt"],
                model_judge=options["model_judge"],
                default_judge=options["judge"],
            )
        except ImportFileError as exc:
            raise CommandError(f"nothing was imported:\n{exc}") from exc
        self.stdout.write(summary.describe(options["study"]))
