from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Human evaluation"

    def ready(self):
        from annotation import login_throttle  # noqa: F401  (connects its signal receiver)
