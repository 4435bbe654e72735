"""Stored HTML of prompts and responses (rendered once, at import), the study's
pairs-per-prompt design, and tasks outside the grading queue.

Existing prompts and responses are rendered here. Existing tasks stay in the queue, and an
existing study's design stays unrecorded (every pair) until an import passes
--pairs-per-prompt.
"""

import importlib

from django.db import migrations, models

CHUNK = 2000
TRIGGERS = importlib.import_module("annotation.migrations.0002_task_same_prompt_triggers")


def sqlite_triggers(statements):
    """On SQLite, adding a column with a default rebuilds the table, which drops the task
    triggers of migration 0002 (and refuses to rename a table they name): take them off
    around the rebuild and put them back after."""

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


def render_stored_texts(apps, schema_editor):
    from annotation.rendering import render_conversation, render_markdown

    Prompt = apps.get_model("annotation", "Prompt")
    Response = apps.get_model("annotation", "Response")
    for model, fields, target, render in (
        (
            Prompt,
            ("pk", "text", "messages"),
            "conversation_html",
            lambda text, messages: render_conversation(
                messages or [{"role": "user", "content": text}]
            ),
        ),
        (Response, ("pk", "text"), "html", render_markdown),
    ):
        last = 0
        while True:
            rows = list(
                model.objects.filter(pk__gt=last).order_by("pk").values_list(*fields)[:CHUNK]
            )
            if not rows:
                break
            model.objects.bulk_update(
                [model(pk=row[0], **{target: render(*row[1:])}) for row in rows], [target]
            )
            last = rows[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0007_results_refresh'),
    ]

    operations = [
        migrations.RunPython(
            sqlite_triggers(TRIGGERS.SQLITE_REVERSE), sqlite_triggers(TRIGGERS.SQLITE)
        ),
        migrations.RemoveIndex(
            model_name='task',
            name='task_handout_idx',
        ),
        migrations.AddField(
            model_name='prompt',
            name='conversation_html',
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.AddField(
            model_name='response',
            name='html',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='study',
            name='pairs_per_prompt',
            field=models.PositiveIntegerField(blank=True, help_text='model pairs per prompt in the grading queue (empty: every pair)', null=True),
        ),
        migrations.AddField(
            model_name='task',
            name='in_queue',
            field=models.BooleanField(default=True),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(fields=['study', 'is_gold', 'in_queue', 'slots_taken', 'order_key'], name='task_handout_idx'),
        ),
        migrations.AddConstraint(
            model_name='study',
            constraint=models.CheckConstraint(condition=models.Q(('pairs_per_prompt__isnull', True), ('pairs_per_prompt__gte', 1), _connector='OR'), name='study_pairs_per_prompt_positive'),
        ),
        migrations.RunPython(
            sqlite_triggers(TRIGGERS.SQLITE), sqlite_triggers(TRIGGERS.SQLITE_REVERSE)
        ),
        migrations.RunPython(render_stored_texts, migrations.RunPython.noop),
    ]
