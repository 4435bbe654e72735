from django.core.management.base import BaseCommand, CommandError

from annotation import results, schedule
from annotation.management.commands._shared import study_or_error, write_result
from annotation.models import Study


class Command(BaseCommand):
    help = (
        "Set a study's hand-out options and show where they stand. Swapped re-serve: "
        "--repeat-fraction F re-serves that share of each grader's pair tasks to them later "
        "with the sides swapped (0 = off), after at least --repeat-after N of their other "
        "tasks; the result is each grader's swap consistency. Pair scheduling: --schedule "
        "adaptive serves first the model pairs whose next vote most narrows the leaderboard's "
        "rating intervals; the study stops at --vote-budget N counted votes, and with "
        "--stop-when-separated (the default) pairs, then the study, stop once their rating "
        "intervals separate. Without options, prints the current state."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--repeat-fraction", type=float)
        parser.add_argument("--repeat-after", type=int)
        parser.add_argument("--schedule", choices=Study.Schedule.values)
        budget = parser.add_mutually_exclusive_group()
        budget.add_argument("--vote-budget", type=int)
        budget.add_argument("--no-vote-budget", action="store_true")
        parser.add_argument(
            "--stop-when-separated", action="store_true", default=None, dest="separated"
        )
        parser.add_argument("--keep-serving-separated", action="store_false", dest="separated")
        parser.add_argument("--format", choices=["table", "json"], default="table", dest="fmt")

    def handle(self, *args, **options):
        study = study_or_error(options["study"])
        changes = _changes(options)
        if changes:
            for name, value in changes.items():
                setattr(study, name, value)
            study.save(update_fields=list(changes))
        if changes or schedule.scheduled(study):
            schedule.refresh(study)
            study.refresh_from_db()
        state = schedule.state(study)
        state["repeat_fraction"] = study.repeat_fraction
        state["repeat_after"] = study.repeat_after
        state["swap_consistency"] = results.swap_consistency(study)["pooled"]
        if options["fmt"] == "json":
            write_result(self, state, "json")
            return
        for name in (
            "schedule",
            "vote_budget",
            "stop_when_separated",
            "repeat_fraction",
            "repeat_after",
        ):
            self.stdout.write(f"{name}: {state[name]}")
        self.stdout.write(
            f"serving: {'no, stopped: ' + state['stop'] if state['stopped'] else 'yes'}"
        )
        pairs = state["summary"].get("pairs") or []
        if pairs:
            columns = ["priority", "model_a", "model_b", "votes", "score", "stopped", "reason"]
            write_result(self, pairs, "table", columns=columns)
        if state["swap_consistency"]:
            write_result(self, state["swap_consistency"], "table")


def _changes(options) -> dict:
    """The options given, checked: a CommandError names a value out of range."""
    changes = {}
    fraction = options["repeat_fraction"]
    if fraction is not None:
        if not 0 <= fraction <= 1:
            raise CommandError(f"--repeat-fraction must be between 0 and 1, got {fraction}")
        changes["repeat_fraction"] = fraction
    after = options["repeat_after"]
    if after is not None:
        if after < 0:
            raise CommandError(f"--repeat-after must be 0 or more, got {after}")
        changes["repeat_after"] = after
    if options["schedule"]:
        changes["schedule"] = options["schedule"]
    if options["vote_budget"] is not None:
        if options["vote_budget"] < 1:
            raise CommandError(f"--vote-budget must be at least 1, got {options['vote_budget']}")
        changes["vote_budget"] = options["vote_budget"]
    if options["no_vote_budget"]:
        changes["vote_budget"] = None
    if options["separated"] is not None:
        changes["stop_when_separated"] = options["separated"]
    return changes
