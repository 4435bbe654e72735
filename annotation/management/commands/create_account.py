from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.models import Membership, Study, User


class Command(BaseCommand):
    help = (
        "Create an account, or update its role, password and studies if it exists. "
        "Graders grade, researchers read and export results of their studies, admins do everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[c for c, _ in User.Role.choices])
        parser.add_argument("--password", required=True)
        parser.add_argument(
            "--study",
            action="append",
            default=[],
            metavar="SLUG",
            help="add to this study (repeatable)",
        )
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        username = options["username"].strip()
        if not username:
            raise CommandError("username is empty")
        if len(options["password"]) < 8:
            raise CommandError("--password must be at least 8 characters")
        studies = []
        for slug in options["study"]:
            study = Study.objects.filter(slug=slug).first()
            if study is None:
                raise CommandError(f"no study with slug '{slug}' (import it first)")
            studies.append(study)
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            user.role = options["role"]
            user.email = options["email"] or user.email
            user.apply_role()
            user.set_password(options["password"])
            user.save()
            for study in studies:
                Membership.objects.get_or_create(study=study, user=user)
        verb = "Created" if created else "Updated"
        where = f" in {', '.join(s.slug for s in studies)}" if studies else ""
        self.stdout.write(f"{verb} {user.role} '{username}'{where}.")
