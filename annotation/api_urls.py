"""The REST API's URLs, mounted at /api/ (see annotation/api/)."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from annotation.api import auth, root, views

STUDY = rf"studies/(?P<slug>{views.SLUG_REGEX})"

router = SimpleRouter()
router.register("studies", views.StudyViewSet, basename="api-study")
router.register(f"{STUDY}/prompts", views.PromptViewSet, basename="api-prompt")
router.register(f"{STUDY}/responses", views.ResponseViewSet, basename="api-response")
router.register(f"{STUDY}/judgments", views.JudgmentViewSet, basename="api-judgment")
router.register(f"{STUDY}/metric-scores", views.MetricScoreViewSet, basename="api-metric-score")
router.register(f"{STUDY}/results", views.ResultsViewSet, basename="api-results")
router.register(f"{STUDY}/exports", views.ExportViewSet, basename="api-export")

urlpatterns = [
    path("auth/token/", auth.ObtainToken.as_view(), name="api-token"),
    path("", root.ApiRootView.as_view(), name="api-root"),
    path("schema/", root.SchemaView.as_view(), name="api-schema"),
    path("docs/", views.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    # Last: anything else under /api/ is a JSON 404, never the HTML page.
    re_path(r"^(?P<unmatched>.*)$", views.not_found, name="api-not-found"),
]
