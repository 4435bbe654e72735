from django.core.management.base import BaseCommand, CommandError

from annotation import results
from annotation.management.commands._shared import study_or_error, write_result


class Command(BaseCommand):
    help = (
        "A study's leaderboard from its human verdicts: Bradley-Terry rating on the Elo scale "
        "with a bootstrap interval and rank range, battles, win rate, Good-Result-Ratio with a "
        "Wilson interval. The same numbers as the dashboard and the API."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--bootstrap", type=int, default=results.DEFAULT_BOOTSTRAP)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--format", choices=["table", "json"], default="table", dest="fmt")

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        if options["bootstrap"] < 1:
            raise CommandError("--bootstrap must be at least 1")
        board = results.leaderboard(study, bootstrap=options["bootstrap"], seed=options["seed"])
        for note in board["notes"]:
            self.stderr.write(note)
        columns = [
            "rank",
            "model",
            "rating",
            "ci_lower",
            "ci_upper",
            "battles",
            "win_rate",
            "grr",
            "grr_ci_lower",
            "grr_ci_upper",
        ]
        write_result(self, board["rows"], options["fmt"], columns=columns)
