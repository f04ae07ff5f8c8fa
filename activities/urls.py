from django.urls import path

from . import views

app_name = "activities"

urlpatterns = [
    path("<int:pk>/", views.activity_detail, name="activity_detail"),
]
