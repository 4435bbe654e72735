from django.core.management.base import BaseCommand

from annotation import results
from annotation.management.commands._shared import study_or_error, write_result


class Command(BaseCommand):
    help = (
        "Inter-rater agreement in a study, per question (verdict, rating, each tag): "
        "Krippendorff's alpha with a bootstrap interval, Fleiss' kappa, percent agreement; "
        "and per grader (agreement with the majority, gold accuracy, speed, share of ties). "
        "With --judges: each AI judge's agreement with the humans (MT-Bench style)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--graders", action="store_true", help="show the per-grader table")
        parser.add_argument("--judges", action="store_true", help="show AI judges against humans")
        parser.add_argument("--format", choices=["table", "json"], default="table", dest="fmt")

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        if options["judges"]:
            payload = results.judges(study)
            write_result(self, payload, options["fmt"], table_rows=payload["rows"])
            return
        payload = results.agreement(study)
        if options["graders"]:
            write_result(self, payload, options["fmt"], table_rows=payload["graders"])
            return
        columns = [
            "question",
            "level",
            "krippendorff_alpha",
            "alpha_ci_lower",
            "alpha_ci_upper",
            "fleiss_kappa",
            "percent_agreement",
            "n_pairable_items",
            "n_graders",
            "error",
        ]
        write_result(
            self, payload, options["fmt"], table_rows=payload["questions"], columns=columns
        )
