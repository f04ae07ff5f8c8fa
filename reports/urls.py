from django.urls import path

from . import review, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("review/", review.review_list, name="review"),
    path("review/confirm/", review.review_confirm, name="review_confirm"),
    path("review/<int:pk>/", review.review_record, name="review_record"),
]
