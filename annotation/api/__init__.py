"""The REST API under /api/: thin DRF viewsets over the app's domain functions.

Each view names the role it needs (`required_role`, and `write_role` for writes);
one permission class (`permissions.HasStudyRole`) enforces it through
annotation.access. Writes sent with an Idempotency-Key replay their first
response when retried (`idempotency.idempotent`).
"""
