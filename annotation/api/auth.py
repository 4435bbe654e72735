"""POST /api/auth/token/: a user's API token for their username and password.

DRF's own view, with the API's bounded JSON parser (a hostile body is a 400, not a
500) and a username no longer than a username can be.
"""

from __future__ import annotations

from rest_framework import parsers, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken

from annotation.api.parsers import JSONBodyParser


class TokenRequestSerializer(AuthTokenSerializer):
    username = serializers.CharField(label="Username", write_only=True, max_length=150)


class ObtainToken(ObtainAuthToken):
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONBodyParser)
    serializer_class = TokenRequestSerializer
