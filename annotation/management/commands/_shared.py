"""What several commands share: finding the study, and printing results as JSON or a table."""

import json


def write_result(command, payload, fmt: str, table_rows=None, columns=None) -> None:
    if fmt == "json":
        command.stdout.write(json.dumps(payload, indent=2, default=str))
        return
    rows = table_rows if table_rows is not None else payload
    columns = columns or (list(rows[0].keys()) if rows else [])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    command.stdout.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        command.stdout.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def study_or_error(slug: str):
    """The study a command names with --study, or a CommandError saying there is none."""
    from django.core.management.base import CommandError

    from annotation.models import Study

    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"no study with slug '{slug}'")
    return study
