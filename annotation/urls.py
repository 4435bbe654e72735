from django.urls import path

from annotation import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("studies/<slug:slug>/grade/", views.grade, name="grade"),
    path("studies/<slug:slug>/grade/<int:assignment_id>/", views.grade_submit, name="grade_submit"),
    path(
        "studies/<slug:slug>/grade/<int:assignment_id>/skip/", views.grade_skip, name="grade_skip"
    ),
    path(
        "studies/<slug:slug>/grade/<int:assignment_id>/unskip/",
        views.grade_unskip,
        name="grade_unskip",
    ),
    path("studies/<slug:slug>/grade/last/", views.grade_change_last, name="grade_change_last"),
    path("studies/<slug:slug>/grade/history/", views.grade_history, name="grade_history"),
    path(
        "studies/<slug:slug>/grade/answers/<int:judgment_id>/",
        views.grade_change,
        name="grade_change",
    ),
    path("studies/<slug:slug>/instructions/", views.instructions, name="instructions"),
    path("studies/<slug:slug>/results/", views.dashboard, name="dashboard"),
    path("studies/<slug:slug>/results/charts/<str:name>.svg", views.chart, name="chart"),
    path(
        "studies/<slug:slug>/results/charts/<str:name>.<str:fmt>",
        views.chart,
        name="chart_download",
    ),
    path("studies/<slug:slug>/results/judgments/", views.judgments, name="judgments"),
    path("studies/<slug:slug>/results/metric-jobs/", views.metric_jobs, name="metric_jobs"),
]
