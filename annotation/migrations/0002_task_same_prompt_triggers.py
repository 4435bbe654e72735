"""Database triggers: a task's responses must answer the task's own prompt.

A check constraint cannot look into another table, so this invariant is kept
by triggers, written for each database the app supports.
"""

from django.db import migrations

MESSAGE = "task responses must answer the task prompt"

SQLITE = [
    f"""
    CREATE TRIGGER IF NOT EXISTS task_same_prompt_{op.lower()}
    BEFORE {op} ON annotation_task
    FOR EACH ROW
    WHEN (SELECT prompt_id FROM annotation_response WHERE id = NEW.response_a_id) != NEW.prompt_id
      OR (NEW.response_b_id IS NOT NULL AND
          (SELECT prompt_id FROM annotation_response WHERE id = NEW.response_b_id) != NEW.prompt_id)
    BEGIN
      SELECT RAISE(ABORT, '{MESSAGE}');
    END;
    """
    for op in ("INSERT", "UPDATE")
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS task_same_prompt_{op};" for op in ("insert", "update")]

POSTGRES = [
    f"""
    CREATE OR REPLACE FUNCTION annotation_task_same_prompt() RETURNS trigger AS $$
    BEGIN
      IF (SELECT prompt_id FROM annotation_response WHERE id = NEW.response_a_id) <> NEW.prompt_id
         OR (NEW.response_b_id IS NOT NULL AND
             (SELECT prompt_id FROM annotation_response WHERE id = NEW.response_b_id)
               <> NEW.prompt_id) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    DROP TRIGGER IF EXISTS task_same_prompt ON annotation_task;
    """,
    """
    CREATE TRIGGER task_same_prompt
    BEFORE INSERT OR UPDATE OF prompt_id, response_a_id, response_b_id ON annotation_task
    FOR EACH ROW EXECUTE FUNCTION annotation_task_same_prompt();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS task_same_prompt ON annotation_task;",
    "DROP FUNCTION IF EXISTS annotation_task_same_prompt();",
]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(
                f"No task trigger for database {schema_editor.connection.vendor!r}; "
                "the app supports SQLite and PostgreSQL."
            )
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}),
        )
    ]
