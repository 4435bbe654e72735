from django.core.management.base import BaseCommand, CommandError

from annotation.ingest import ImportFileError
from annotation.ingest.gold import import_gold


class Command(BaseCommand):
    help = (
        "Add gold tasks (known answers) to a study from JSONL: "
        '{"prompt_id": ..., "models": [A, B], "answer": A|B|"tie"|"both_bad"} for a pair, or '
        '{"prompt_id": ..., "model": M, "answer": LABEL} for a single response. They are mixed '
        "into graders' work at the study's gold rate (set it in the admin) and score gold accuracy."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--study", required=True)

    def handle(self, *args, **options):
        try:
            created = import_gold(options["file"], options["study"])
        except ImportFileError as exc:
            raise CommandError(f"nothing was imported:\n{exc}") from exc
        self.stdout.write(f"Added {created} gold tasks to '{options['study']}'.")
