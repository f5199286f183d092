from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

urlpatterns = [
    path("v1/clients/", views.ClientView.as_view()),
    path("v1/clients/batch/", views.ClientBatchView.as_view()),
    # <path:...> so an id with a slash can be read too (sent URL-encoded).
    path("v1/clients/<path:client_id>/scores/", views.ClientScoresView.as_view()),
    path("v1/clients/<path:client_id>/recommendations/", views.ClientRecommendationsView.as_view()),
    path("v1/clients/<path:client_id>/journeys/", views.ClientJourneysView.as_view()),
    path("v1/journeys/", views.JourneysView.as_view()),
    path("v1/purchases/", views.PurchaseView.as_view()),
    path("v1/purchases/batch/", views.PurchaseBatchView.as_view()),
    path("v1/activity/", views.ActivityView.as_view()),
    path("v1/activity/batch/", views.ActivityBatchView.as_view()),
    path("v1/survey-answers/", views.SurveyAnswerView.as_view()),
    path("v1/survey-answers/batch/", views.SurveyAnswerBatchView.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from its own URL (?script), as the Content Security Policy wants.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
