"""Middleware: a Content-Security-Policy on every response, and a cap on request bodies.

Model outputs are untrusted text. The sanitiser removes scripts; the CSP header is
the second wall, so that a payload that slipped through still cannot run.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The API docs page loads its own assets; everything else gets the strict policy.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def body_too_large_message(length: int | None, limit: int) -> str:
    size = f"{length:,} bytes" if length is not None else "larger than the limit"
    return f"The request body is {size}; the limit is {limit:,} bytes (MAX_REQUEST_BODY_BYTES)."


class RequestBodyLimitMiddleware:
    """Refuse a body over settings.MAX_REQUEST_BODY_BYTES with 413 before anything reads it.

    Django caps form bodies (DATA_UPLOAD_MAX_MEMORY_SIZE), but DRF's parsers read the
    stream directly, so without this an API request could make a worker read any size.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            message = body_too_large_message(length, limit)
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
