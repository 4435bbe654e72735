"""Getting data in: every import, from files and from the API.

- `errors`: one error convention for all of them, ``FILE:LINE: field 'NAME': what is
  wrong`` (`ErrorList` collects, `ImportFileError` is what the caller catches);
- `reading`: input files (text, JSON lines and documents, CSV) and the limits on them;
- `writing`: bulk INSERTs without a model instance per row;
- `study_files`: prompts and outputs (``import_study``, the API's ``import_records``);
- `task_design`: which tasks the grading queue gets (every pair, or a balanced sample);
- `gold`: gold tasks; `judgments`: earlier judgments (arena logs, generic JSONL);
- `metric_scores`: automatic metric scores computed elsewhere.

Every import checks everything before it writes, writes in one transaction, and
changes nothing when run again on the same input.
"""

from annotation.ingest.errors import ErrorList, ImportFileError

__all__ = ["ErrorList", "ImportFileError"]
