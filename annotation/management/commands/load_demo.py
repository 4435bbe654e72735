import io
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotation import metric_runs
from annotation.ingest.judgments import import_judgments
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import Study

DEMO_DIR = Path(settings.BASE_DIR) / "fixtures" / "demo"
DEMO_SLUG = "alpacaeval-demo"
DEMO_INSTRUCTIONS = """\
Read the instruction, then both responses. Decide which response follows the instruction
better: more helpful, more correct, and clearer. Choose **tie** when they are equally good and
**both bad** when neither is acceptable.

Then rate each response (poor / acceptable / good) and tag any problem you see.
The model names are hidden until you vote; left and right are drawn at random.
"""
DEMO_SOURCES = """\
AlpacaEval (tatsu-lab/alpaca_eval, commit cd543a149df8, folder results/): 80 instructions
from its helpful_base, koala, oasst, selfinstruct and vicuna sets with the outputs of
gpt4_1106_preview, claude-2, vicuna-13b and alpaca-7b, and the verdicts of AlpacaEval 2.0's
GPT-4-turbo judge. Licence of the data: CC BY-NC 4.0 (code: Apache-2.0). Cite Li et al. (2023),
"AlpacaEval: An Automatic Evaluator of Instruction-following Models", and Dubois et al. (2024),
"Length-Controlled AlpacaEval".
"""
DEMO_ACCOUNTS = [
    ("grader", "grader", "grader-demo-pass"),
    ("grader2", "grader", "grader-demo-pass"),
    ("researcher", "researcher", "researcher-demo-pass"),
    ("admin", "admin", "admin-demo-pass"),
]
DEFAULT_URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = (
        "Load the demo study (80 AlpacaEval prompts x 4 models, from fixtures/demo/) and create "
        "demo accounts. Safe to run again: nothing is duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-accounts", action="store_true", help="only load the study")
        parser.add_argument(
            "--url",
            default=DEFAULT_URL,
            help=f"where the demo will be served, for the printed login link (default {DEFAULT_URL})",
        )

    def handle(self, *args, **options):
        summary = import_study(
            DEMO_DIR / "study.jsonl",
            DEMO_SLUG,
            StudyOptions(
                name="AlpacaEval demo: which answer is better?",
                instructions=DEMO_INSTRUCTIONS,
                tags=["harmful", "untrue", "unhelpful", "refusal", "context-loss", "formatting"],
                require_ratings=True if not Study.objects.filter(slug=DEMO_SLUG).exists() else None,
                pairs_per_prompt=2,
            ),
        )
        self.stdout.write(summary.describe())
        study = summary.study
        if not study.data_sources:
            study.data_sources = DEMO_SOURCES
            study.save(update_fields=["data_sources"])
        judged = import_judgments(
            DEMO_DIR / "judge_gpt4_turbo.arena.jsonl", DEMO_SLUG, "arena", model_judge=True
        )
        self.stdout.write(judged.describe(DEMO_SLUG))
        for metric in ("length", "distinct_2", "repeat_rate"):
            self.stdout.write(metric_runs.compute(study, metric).describe())
        if options["no_accounts"]:
            return
        login = options["url"].rstrip("/") + "/accounts/login/"
        self.stdout.write(f"\nDemo logins ({login}):")
        for username, role, password in DEMO_ACCOUNTS:
            call_command(
                "create_account",
                username,
                role=role,
                password=password,
                study=[DEMO_SLUG],
                stdout=io.StringIO(),
            )
            self.stdout.write(f"  {role:<10}  username: {username:<10}  password: {password}")
        self.stdout.write(
            "  (the admin account also opens the Django admin at "
            f"{options['url'].rstrip('/')}/admin/)"
        )
