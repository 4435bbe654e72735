"""POST /api/auth/token/: a user's API token for their username and password.

DRF's own view, with the API's bounded JSON parser (a hostile body is a 400, not a
500), a username no longer than a username can be, and the login throttle: failed
attempts count as on the login page, a locked-out username or address gets 429 with
Retry-After, and a success clears that username's failures.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from annotation import login_throttle
from annotation.api import schema
from annotation.api.parsers import JSONBodyParser


class TokenCredentialsSerializer(AuthTokenSerializer):
    username = serializers.CharField(label="Username", write_only=True, max_length=150)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text='send it as "Authorization: Token TOKEN"')


class ObtainToken(ObtainAuthToken):
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONBodyParser)
    serializer_class = TokenCredentialsSerializer
    schema_error_statuses = (429,)

    @extend_schema(
        auth=[],  # public: this is where a client gets its credentials
        request=TokenCredentialsSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(
                {"anyOf": [schema.VALIDATION_ERRORS, schema.ERROR]},
                description="Missing fields, or no active user with this username and "
                "password (`non_field_errors`); also a refused body (`detail`).",
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # axes marks the request it was given (this DRF request) when the failure
            # just recorded reached the limit, or when the client was already locked out.
            if getattr(request, "axes_locked_out", False):
                credentials = {"username": serializer.initial_data.get("username")}
                return login_throttle.lockout_response(request, credentials=credentials)
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        login_throttle.reset_failures(user.get_username())
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
